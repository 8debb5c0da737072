package appointments

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/eventlog/pgmigrate"
	"crm/services/appointments/domain"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate creates or upgrades, in schema, the area's event log
// (eventlog.Migrate) and then the area's own tables: the appointment index
// that Inline maintains, filled from the events already in the log when it
// is first created. Idempotent and safe to run from several processes at
// once. It fails on an invalid schema name or a database error.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	if err := eventlog.Migrate(ctx, pool, schema); err != nil {
		return err
	}
	return pgmigrate.Apply(ctx, pool, schema, Area, migrationFiles)
}

// Inline returns the log's inline projection (eventlog.Config.Inline) for
// a log in schema: it keeps schema.appointment_index (see Migrate) in step
// with the Appointment* events of each commit, in the commit's transaction.
// Other events (the calendar's) need nothing. The function fails, and so
// refuses the commit's appends, when schema is not a valid name or an
// appointment event cannot be decoded.
func Inline(schema string) func(events []eventlog.Event) ([]eventlog.Statement, error) {
	// Within one commit the last event of an appointment wins; across
	// commits the version guard keeps a row from going back, should a
	// statement ever be replayed.
	upsert := "INSERT INTO " + schema + ".appointment_index AS i " +
		"(appointment_id, customer_id, salesperson_id, starts_at, ends_at, status, version, position) " +
		"SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::bigint[], $8::bigint[]) " +
		"ON CONFLICT (appointment_id) DO UPDATE SET customer_id = excluded.customer_id, " +
		"salesperson_id = excluded.salesperson_id, starts_at = excluded.starts_at, ends_at = excluded.ends_at, " +
		"status = excluded.status, version = excluded.version, position = excluded.position " +
		"WHERE i.version < excluded.version"
	return func(events []eventlog.Event) ([]eventlog.Statement, error) {
		if !pgmigrate.ValidIdent(schema) {
			return nil, fmt.Errorf("appointments: inline index: invalid schema %q", schema)
		}
		rows := indexRows{at: map[string]int{}}
		for _, ev := range events {
			if err := rows.add(ev); err != nil {
				return nil, err
			}
		}
		if len(rows.id) == 0 {
			return nil, nil
		}
		return []eventlog.Statement{{SQL: upsert, Args: []any{rows.id, rows.customer, rows.salesperson,
			rows.starts, rows.ends, rows.status, rows.version, rows.position}}}, nil
	}
}

// indexRows are the index rows of one commit, as column arrays.
type indexRows struct {
	at                                map[string]int // appointment id -> row
	id, customer, salesperson, status []string
	starts, ends                      []time.Time
	version, position                 []int64
}

func (r *indexRows) add(ev eventlog.Event) error {
	var status domain.Status
	switch ev.Type {
	case domain.TypeAppointmentScheduled, domain.TypeAppointmentRescheduled:
		status = domain.StatusScheduled
	case domain.TypeAppointmentCancelled:
		status = domain.StatusCancelled
	case domain.TypeAppointmentCompleted:
		status = domain.StatusCompleted
	default:
		return nil
	}
	e, err := domain.Decode(ev.Type, ev.Data)
	if err != nil {
		return fmt.Errorf("appointments: inline index: event %s: %w", ev.ID, err)
	}
	var customer, salesperson string
	var starts, ends time.Time
	switch e := e.(type) {
	case domain.AppointmentScheduled:
		customer, salesperson, starts, ends = e.CustomerID, e.SalespersonID, e.StartsAt, e.EndsAt
	case domain.AppointmentRescheduled:
		customer, salesperson, starts, ends = e.CustomerID, e.SalespersonID, e.StartsAt, e.EndsAt
	case domain.AppointmentCancelled:
		customer, salesperson, starts, ends = e.CustomerID, e.SalespersonID, e.StartsAt, e.EndsAt
	case domain.AppointmentCompleted:
		customer, salesperson, starts, ends = e.CustomerID, e.SalespersonID, e.StartsAt, e.EndsAt
	}
	i, ok := r.at[ev.StreamID]
	if !ok {
		i = len(r.id)
		r.at[ev.StreamID] = i
		r.id = append(r.id, ev.StreamID)
		r.customer, r.salesperson, r.status = append(r.customer, ""), append(r.salesperson, ""), append(r.status, "")
		r.starts, r.ends = append(r.starts, time.Time{}), append(r.ends, time.Time{})
		r.version, r.position = append(r.version, 0), append(r.position, 0)
	}
	if ev.Version < r.version[i] {
		return nil
	}
	r.customer[i], r.salesperson[i], r.status[i] = customer, salesperson, string(status)
	r.starts[i], r.ends[i] = starts, ends
	r.version[i], r.position[i] = ev.Version, ev.Position
	return nil
}

// index reads the appointment index.
type index struct {
	pool     *pgxpool.Pool
	upcoming string
}

func newIndex(pool *pgxpool.Pool, schema string) index {
	return index{pool: pool, upcoming: "SELECT appointment_id FROM " + schema + ".appointment_index " +
		"WHERE customer_id = $1 AND status = 'SCHEDULED' AND starts_at > $2 ORDER BY starts_at, appointment_id"}
}

// Upcoming returns the ids of the customer's scheduled appointments that
// start after t, earliest first.
func (x index) Upcoming(ctx context.Context, customerID string, t time.Time) ([]string, error) {
	if x.pool == nil {
		return nil, errors.New("appointments: the service has no pool for its appointment index")
	}
	rows, err := x.pool.Query(ctx, x.upcoming, customerID, t)
	if err != nil {
		return nil, errcode.Wrap(errcode.Unavailable, err, "the appointment index is unavailable")
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, errcode.Wrap(errcode.Unavailable, err, "the appointment index is unavailable")
	}
	return out, nil
}
