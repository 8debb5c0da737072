// Package wire is the HTTP contract between the gateway and the area
// services, imported by both sides: the command envelope (CommandOptions)
// and answer (Result), the consistency token, the headers that carry the
// token and the request's metadata, and the command paths. It holds no
// server or client machinery: services/kit serves this contract and
// graph/svc calls it. Refusals travel as errcode.Body (crm/eventlog/errcode),
// the error shape every layer shares. docs/api.md describes the API.
package wire

import "crm/eventlog"

// MaxBodyBytes caps a command's JSON body.
const MaxBodyBytes = 64 << 10

// Headers of the command API, all optional, each at most 200 printable
// characters. The body carries the command itself, including
// idempotencyKey and expectedVersion (see CommandOptions). Besides these,
// every request but /healthz carries the service credential
// ("Authorization: Bearer ...", crm/eventlog/svcauth), whose subject is
// the command's actor; no header names the actor.
const (
	// HeaderCorrelationID is recorded in every event's metadata (the
	// service generates one when it is absent).
	HeaderCorrelationID = "X-Correlation-Id"
	// HeaderCausationID is the id of what caused the command.
	HeaderCausationID = "X-Causation-Id"
	// HeaderTraceParent is the W3C trace context.
	HeaderTraceParent = "Traceparent"
	// HeaderConsistencyToken carries a Token (Token.String, ParseToken).
	HeaderConsistencyToken = "X-Consistency-Token"
)

// CommandOptions are the fields every command body may carry. Command
// bodies embed it.
type CommandOptions struct {
	// IdempotencyKey makes a retry record nothing new and answer with the
	// first outcome. Keys are scoped per command name and principal (the
	// credential's subject) within an area, and bound to the command: the
	// same key with another command body is a CONFLICT.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// ExpectedVersion, when set, makes the command CONFLICT unless the
	// entity's stream is at that version.
	ExpectedVersion *int64 `json:"expectedVersion,omitempty"`
}

// Options returns the options themselves, so that a server can reach them
// in any command struct that embeds CommandOptions.
func (o *CommandOptions) Options() *CommandOptions { return o }

// Result is the answer of a command (200): what was recorded.
type Result struct {
	Area     string `json:"area"`
	StreamID string `json:"streamId"`
	// Version is the primary stream's version after the command.
	Version int64 `json:"version"`
	// Position is the log position of the last event recorded (0 when
	// the command recorded nothing).
	Position  int64            `json:"position"`
	Events    []eventlog.Event `json:"events"`
	Duplicate bool             `json:"duplicate,omitempty"`
}
