package projector

import (
	"io/fs"

	"crm/eventlog"
	"crm/eventlog/consumer"
)

// Events is the event history read model (table events): every event of
// the four areas as recorded (with the actor of their metadata), for entity
// histories and the event feed (Query.events, eventRecorded). Its changes name the event (kind Event, the event's id)
// with Refs "area" and "streamId".
type Events struct{}

// Name implements Projection.
func (Events) Name() string { return "events" }

// Sources implements Projection.
func (Events) Sources() []string {
	return []string{AreaCustomers, AreaAppointments, AreaRelationships, AreaCampaigns}
}

// Migrations implements Projection.
func (Events) Migrations() fs.FS { return migrationsOf("events") }

// Tables implements Projection.
func (Events) Tables() []string { return []string{"events"} }

// Apply implements Projection. It fails when the event's data is not JSON
// or on a database error.
func (Events) Apply(b *consumer.Batch, schema string, ev eventlog.Event, area string, out *[]Change) error {
	// One statement per batch for all its events: nothing else reads the
	// table within a batch.
	b.Rows(`INSERT INTO `+schema+`.events (area, position, id, stream_id, version, type, data, occurred_at, actor)
		SELECT a, p, i, s, v, t, d, o, NULLIF(act, '') FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[],
			$5::bigint[], $6::text[], $7::text[]::json[], $8::timestamptz[], $9::text[]) AS x(a, p, i, s, v, t, d, o, act)
		ON CONFLICT (area, position) DO NOTHING`,
		area, ev.Position, ev.ID, ev.StreamID, ev.Version, ev.Type, string(ev.Data), ev.RecordedAt, ev.Metadata.Actor)
	*out = append(*out, Change{Kind: KindEvent, ID: ev.ID, Refs: refs("area", area, "streamId", ev.StreamID)})
	return nil
}
