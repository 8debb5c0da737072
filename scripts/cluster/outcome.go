package cluster

import (
	"context"
	"time"
)

// Result is how a mutation ended for its client.
type Result int

const (
	// Pending: not answered yet.
	Pending Result = iota
	// Acked: success, possibly after open answers retried with the same
	// idempotency key.
	Acked
	// Refused: an error whose code says nothing was recorded.
	Refused
	// Unresolved: still open when the retry window closed.
	Unresolved
)

// definite are the codes whose answer says nothing was recorded
// (CONTRACT.md).
var definite = map[string]bool{"BAD_USER_INPUT": true, "CONFLICT": true, "NOT_FOUND": true, "UNAVAILABLE": true}

// Outcome is what sending one mutation came to, over all its attempts.
type Outcome struct {
	SentAt, DoneAt time.Time
	Attempts       int
	// Open counts the answers that left the outcome open: transport
	// errors, CONSISTENCY_TIMEOUT, INTERNAL, uncoded errors...
	Open int
	// Transport counts the attempts that failed with a transport error.
	Transport int
	Result    Result
	Code      string // the final error code when Refused
	LastErr   string
}

// Send sends a mutation with attempt until its outcome is known: success,
// or an error whose code says nothing was recorded. Any other answer
// leaves the outcome open and the mutation is sent again, with the same
// idempotency key (attempt must send the same one every time), after a
// backoff of 100 ms doubling up to 2 s, until window has passed since the
// first attempt; then the result is Unresolved. After an open answer a
// later UNAVAILABLE proves nothing (the first attempt may have been
// recorded), so it is retried too.
//
// transport, when not nil, is called after a transport error (unless ctx
// has ended); when it returns true the mutation is sent again at once,
// without the backoff (a client failing over to another gateway).
//
// Send fills o and returns the last answer, the acknowledged one when
// o.Result is Acked.
func (o *Outcome) Send(ctx context.Context, window time.Duration, attempt func() (GQLResponse, error), transport func() bool) GQLResponse {
	o.SentAt = time.Now()
	deadline := o.SentAt.Add(window)
	backoff := 100 * time.Millisecond
	for {
		o.Attempts++
		r, err := attempt()
		code := r.Code()
		switch {
		case err == nil && code == "":
			o.Result, o.DoneAt = Acked, time.Now()
			return r
		case err == nil && definite[code] && !(o.Open > 0 && code == "UNAVAILABLE"):
			o.Result, o.Code, o.DoneAt = Refused, code, time.Now()
			o.LastErr = r.Errors[0].Message
			return r
		case err != nil:
			o.Open++
			o.Transport++
			o.LastErr = err.Error()
			if ctx.Err() == nil && transport != nil && transport() {
				continue
			}
		default:
			o.Open++
			o.LastErr = code + ": " + r.Errors[0].Message
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			o.Result, o.DoneAt = Unresolved, time.Now()
			return r
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
