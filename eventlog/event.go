// Package eventlog is the append-only event log each area keeps in its own
// PostgreSQL database (or schema). It offers optimistic concurrency per
// stream, idempotent appends, reads by stream and in log order, and an HTTP
// handler that serves the log to readers catching up.
//
// Log order is commit order: appends go through one writer per process that
// group-commits the requests waiting at that moment in a single transaction
// under a transaction-scoped advisory lock, so positions become visible in
// the order they were assigned and a reader following the log never skips an
// event. See docs/eventlog.md.
package eventlog

import (
	"encoding/json"
	"hash/fnv"
	"time"
)

// Expected versions with a special meaning for Append.
const (
	// AnyVersion appends whatever the stream's current version is.
	AnyVersion int64 = -1
	// NoStream requires that the stream has no events yet.
	NoStream int64 = 0
)

// Metadata travels with every event of one append.
type Metadata struct {
	CorrelationID  string `json:"correlationId,omitempty"`
	CausationID    string `json:"causationId,omitempty"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// Actor is who issued the command: the subject of the service
	// credential it came with (the user the gateway verified), or
	// "system" for what a reaction appends.
	Actor string `json:"actor,omitempty"`
	// OnBehalfOf is, for a reaction's events, the actor of the event that
	// caused them.
	OnBehalfOf string `json:"onBehalfOf,omitempty"`
	// CommandHash fingerprints the command an idempotency key was first
	// used with, so that the key reused with another command can be told
	// from a retry (services/kit). Empty for appends without a key.
	CommandHash string `json:"commandHash,omitempty"`
	// TraceParent is the W3C trace context of the command.
	TraceParent string `json:"traceparent,omitempty"`
}

// NewEvent is an event to append. ID is generated when empty.
type NewEvent struct {
	ID   string
	Type string
	Data json.RawMessage
}

// Event is one recorded event.
type Event struct {
	ID         string          `json:"id"`
	StreamID   string          `json:"streamId"`
	Version    int64           `json:"version"`
	Position   int64           `json:"position"`
	Type       string          `json:"type"`
	Data       json.RawMessage `json:"data"`
	Metadata   Metadata        `json:"metadata"`
	RecordedAt time.Time       `json:"recordedAt"`
}

// Partition returns the partition (0..n-1) of a stream id: FNV-1a 32 of the
// id modulo n. Relay and consumers must agree on it.
func Partition(streamID string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(streamID))
	return int(h.Sum32() % uint32(n))
}
