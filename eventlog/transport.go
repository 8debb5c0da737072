package eventlog

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	segjson "github.com/segmentio/encoding/json"
)

// The Redis transport's wire format, shared by the relay (writer) and the
// consumer framework (reader). Each area's log is split into partitions by
// Partition(streamID, n); partition p of area a lives in the Redis stream
// StreamKey(ns, a, p). An entry's Redis id is "<position>-0", so a repeated
// XADD of an entry the stream already holds is refused by Redis itself.
const (
	fieldPosition = "pos"
	fieldPrev     = "prev"
	fieldID       = "id"
	fieldStream   = "stream"
	fieldVersion  = "ver"
	fieldType     = "type"
	fieldData     = "data"
	fieldMeta     = "meta"
	fieldAt       = "at"
)

// StreamKey is the Redis stream that carries partition p of an area's log.
func StreamKey(namespace, area string, partition int) string {
	return fmt.Sprintf("%s:events:%s:%d", namespace, area, partition)
}

// EntryID is the Redis stream entry id of the event at position pos.
func EntryID(pos int64) string { return strconv.FormatInt(pos, 10) + "-0" }

// EncodeEntry returns the fields of ev's stream entry. prev is the position
// of the previous event of the same partition (0 for the first), which lets
// a consumer see that entries are missing (trimmed, or lost with Redis).
func EncodeEntry(ev Event, prev int64) map[string]any {
	meta, _ := json.Marshal(ev.Metadata)
	return map[string]any{
		fieldPosition: ev.Position,
		fieldPrev:     prev,
		fieldID:       ev.ID,
		fieldStream:   ev.StreamID,
		fieldVersion:  ev.Version,
		fieldType:     ev.Type,
		fieldData:     string(ev.Data),
		fieldMeta:     string(meta),
		fieldAt:       ev.RecordedAt.UTC().Format(time.RFC3339Nano),
	}
}

// DecodeEntry is the inverse of EncodeEntry, for the values go-redis returns.
func DecodeEntry(values map[string]any) (ev Event, prev int64, err error) {
	str := func(k string) (string, error) {
		v, ok := values[k]
		if !ok {
			return "", fmt.Errorf("stream entry: missing field %q", k)
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("stream entry: field %q is %T", k, v)
		}
		return s, nil
	}
	num := func(k string) (int64, error) {
		s, err := str(k)
		if err != nil {
			return 0, err
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stream entry: field %q: %w", k, err)
		}
		return n, nil
	}
	if ev.Position, err = num(fieldPosition); err != nil {
		return
	}
	if prev, err = num(fieldPrev); err != nil {
		return
	}
	if ev.Version, err = num(fieldVersion); err != nil {
		return
	}
	if ev.ID, err = str(fieldID); err != nil {
		return
	}
	if ev.StreamID, err = str(fieldStream); err != nil {
		return
	}
	if ev.Type, err = str(fieldType); err != nil {
		return
	}
	var data, meta, at string
	if data, err = str(fieldData); err != nil {
		return
	}
	ev.Data = json.RawMessage(data)
	if meta, err = str(fieldMeta); err != nil {
		return
	}
	if err = segjson.Unmarshal([]byte(meta), &ev.Metadata); err != nil {
		err = fmt.Errorf("stream entry: metadata: %w", err)
		return
	}
	if at, err = str(fieldAt); err != nil {
		return
	}
	if ev.RecordedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
		err = fmt.Errorf("stream entry: time: %w", err)
	}
	return
}

// RelayedKey holds the last log position the relay of an area has copied
// into its partition streams: once it reads H, every entry at or below H is
// in its stream (or was trimmed, or lost with Redis).
func RelayedKey(namespace, area string) string {
	return fmt.Sprintf("%s:relayed:%s", namespace, area)
}
