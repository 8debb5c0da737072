// Package kit is the small library the four area services share: running a
// decision against the event log with optimistic concurrency, idempotency
// and retries, serving the command API whose contract is services/wire
// (strict decoding, answers), replicas and area wiring. It knows no area;
// an area imports no other area's code but its published events
// (services/AREA/contract).
package kit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/services/wire"
)

// DomainEvent is what every area's domain events are: a stable type name
// and the stream the event belongs to. Their JSON form is the event data.
type DomainEvent interface {
	EventType() string
	StreamID() string
}

// Plan is a decision's outcome, ready to append.
type Plan struct {
	// Primary is the stream of the entity the command is about; its
	// version is the one a client's expectedVersion refers to.
	Primary string
	// Events to append, the primary stream's first. None means the
	// command changes nothing (an idempotent repeat): nothing is recorded.
	Events []DomainEvent
	// Versions are the versions of the aggregates the decision was made
	// on, by stream id (0 for a stream without events). Every stream an
	// event goes to must be here: it is appended at that expected version,
	// so a decision made on stale state loses the race and is retried.
	Versions map[string]int64
	// Guessed says the decision read nothing and took every stream it
	// appends to for new (Versions 0): a command that creates an entity
	// and claims a unique value may guess so on its first attempt
	// (MayGuess). The append checks the guess, so it costs no read: a
	// stream that exists after all fails it with a version conflict, and
	// the command is decided again on the streams as read; a repeated
	// idempotency key answers the first outcome, as the lookup Run skips
	// for a guess would have.
	Guessed bool
}

// MayGuess reports whether a decision may guess (Plan.Guessed): only on
// the first attempt of a command, never after a guess failed.
func MayGuess(ctx context.Context) bool {
	first, _ := ctx.Value(firstAttemptKey{}).(bool)
	return first
}

type firstAttemptKey struct{}

// Executor runs the commands of one area against its log.
type Executor struct {
	Area string
	Log  *eventlog.Log
	// MaxAttempts bounds the retries of a decision that lost a race
	// (default 10).
	MaxAttempts int
	// ResolveWait bounds how long an append whose outcome is unknown
	// (eventlog.ErrOutcomeUnknown) is looked up by its idempotency key
	// while the database may be coming back (default 5s, and never past
	// the request's context).
	ResolveWait time.Duration
}

// Run decides and appends one command. When meta carries an idempotency
// key already recorded, it returns the first outcome (Duplicate) without
// deciding; a guessed decision (Plan.Guessed) learns it from the append.
// With expected set (the client's expectedVersion), a primary stream at
// another version is CONFLICT; otherwise a lost race is decided again on
// fresh state, up to MaxAttempts times.
//
// An append whose outcome is unknown (the connection was lost while COMMIT
// was on the wire) is resolved by its idempotency key: recorded, Run
// answers the recorded outcome (Duplicate); not recorded, it decides and
// appends again (the same key makes that safe). Without a key, or when the
// key cannot be looked up within ResolveWait, the error is INTERNAL
// "the outcome of the write is unknown", never UNAVAILABLE (which says
// nothing was recorded).
func (x *Executor) Run(ctx context.Context, meta eventlog.Metadata, expected *int64, decide func(ctx context.Context) (Plan, error)) (wire.Result, error) {
	// The idempotency check rides with the decision's first Load (one round
	// trip for both); it is done on its own when the decision loads nothing.
	var pl *pendingLookup
	if meta.IdempotencyKey != "" {
		pl = &pendingLookup{log: x.Log, key: meta.IdempotencyKey}
	}
	attempts := x.MaxAttempts
	if attempts <= 0 {
		attempts = 10
	}
	for attempt := 1; ; attempt++ {
		dctx := context.WithValue(ctx, firstAttemptKey{}, attempt == 1)
		if pl != nil && !pl.done {
			dctx = context.WithValue(dctx, pendingLookupKey{}, pl)
		}
		plan, err := decide(dctx)
		if pl != nil && !pl.done && (err != nil || !plan.Guessed) {
			pl.prev, pl.found, pl.err = x.Log.Lookup(ctx, pl.key)
			pl.done = true
		}
		if pl != nil && pl.done && !pl.answered {
			pl.answered = true
			if pl.err != nil {
				return wire.Result{}, unavailable(pl.err)
			}
			if pl.found {
				return x.recorded(meta, pl.prev)
			}
		}
		if err != nil {
			return wire.Result{}, err
		}
		current := plan.Versions[plan.Primary]
		if expected != nil && *expected != current {
			return wire.Result{}, &errcode.Error{Code: errcode.Conflict, Field: "expectedVersion",
				Message: fmt.Sprintf("expected version %d, but it is at version %d", *expected, current)}
		}
		if len(plan.Events) == 0 {
			return wire.Result{Area: x.Area, StreamID: plan.Primary, Version: current, Events: []eventlog.Event{}}, nil
		}
		appends, err := group(plan)
		if err != nil {
			return wire.Result{}, err
		}
		res, err := x.Log.AppendMulti(ctx, meta, appends...)
		var vc *eventlog.VersionConflictError
		if errors.Is(err, eventlog.ErrOutcomeUnknown) {
			prev, recorded, rerr := x.resolve(ctx, meta.IdempotencyKey)
			switch {
			case rerr != nil:
				return wire.Result{}, unknownOutcome(meta.IdempotencyKey, errors.Join(err, rerr))
			case recorded:
				return x.recorded(meta, prev)
			case attempt >= attempts:
				return wire.Result{}, unknownOutcome(meta.IdempotencyKey, err)
			}
			continue // not recorded: the transaction is gone
		}
		switch {
		case errors.As(err, &vc):
			if expected != nil && vc.StreamID == plan.Primary {
				return wire.Result{}, &errcode.Error{Code: errcode.Conflict, Field: "expectedVersion",
					Message: fmt.Sprintf("expected version %d, but it is at version %d", *expected, vc.Actual)}
			}
			if attempt >= attempts {
				return wire.Result{}, errcode.New(errcode.Conflict, "too many concurrent changes, try again")
			}
			continue
		case err != nil:
			return wire.Result{}, unavailable(err)
		}
		if res.Duplicate { // a racing append recorded the key first
			return x.recorded(meta, res)
		}
		return x.result(plan.Primary, res, current), nil
	}
}

// recorded answers a command whose idempotency key was recorded before:
// with the first outcome when the key came with the same command (the same
// CommandHash), else CONFLICT on idempotencyKey (nothing is recorded).
func (x *Executor) recorded(meta eventlog.Metadata, prev eventlog.AppendResult) (wire.Result, error) {
	if meta.CommandHash != "" && (len(prev.Events) == 0 || prev.Events[0].Metadata.CommandHash != meta.CommandHash) {
		return wire.Result{}, &errcode.Error{Code: errcode.Conflict, Field: "idempotencyKey",
			Message: "the idempotencyKey was already used with another command"}
	}
	return x.result(primaryOf(prev.Events), prev, 0), nil
}

// ReactionActor is the actor of what a reaction appends; the metadata's
// OnBehalfOf names the causing event's actor.
const ReactionActor = "system"

// ReactionMeta is the metadata of what a reaction to cause appends to
// target's stream: actor ReactionActor on behalf of cause's actor, caused
// by the event (CausationID), in its correlation (cause's id when it has
// none) and trace context, under the idempotency key
// "reaction:<cause id>:<target>", so a redelivered cause records nothing
// new. Command keys never start with "reaction:" (see IdempotencyKey).
func ReactionMeta(cause eventlog.Event, target string) eventlog.Metadata {
	corr := cause.Metadata.CorrelationID
	if corr == "" {
		corr = cause.ID
	}
	return eventlog.Metadata{
		CausationID:    cause.ID,
		CorrelationID:  corr,
		IdempotencyKey: "reaction:" + cause.ID + ":" + target,
		Actor:          ReactionActor,
		OnBehalfOf:     cause.Metadata.Actor,
		TraceParent:    cause.Metadata.TraceParent,
	}
}

func (x *Executor) result(primary string, res eventlog.AppendResult, current int64) wire.Result {
	v := res.StreamVersion(primary)
	if v == 0 {
		v = current
	}
	return wire.Result{Area: x.Area, StreamID: primary, Version: v, Position: res.LastPosition(), Events: res.Events, Duplicate: res.Duplicate}
}

func primaryOf(evs []eventlog.Event) string {
	if len(evs) == 0 {
		return ""
	}
	return evs[0].StreamID
}

// group turns a plan's events into one append per stream, in the order the
// streams first appear, each at the version the decision saw.
func group(plan Plan) ([]eventlog.StreamAppend, error) {
	var appends []eventlog.StreamAppend
	index := map[string]int{}
	for _, e := range plan.Events {
		s := e.StreamID()
		i, ok := index[s]
		if !ok {
			v, loaded := plan.Versions[s]
			if !loaded {
				return nil, fmt.Errorf("kit: decision wrote to stream %s it did not load", s)
			}
			i = len(appends)
			index[s] = i
			appends = append(appends, eventlog.StreamAppend{StreamID: s, ExpectedVersion: v})
		}
		data, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("kit: encode %s: %w", e.EventType(), err)
		}
		appends[i].Events = append(appends[i].Events, eventlog.NewEvent{Type: e.EventType(), Data: data})
	}
	return appends, nil
}

// resolve looks key up after an append with an unknown outcome, retrying
// (with backoff) while the database does not answer, for up to ResolveWait.
// Without a key there is nothing to look up: the error says so.
func (x *Executor) resolve(ctx context.Context, key string) (eventlog.AppendResult, bool, error) {
	if key == "" {
		return eventlog.AppendResult{}, false, errors.New("kit: no idempotency key to resolve the outcome by")
	}
	wait := x.ResolveWait
	if wait <= 0 {
		wait = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	backoff := 20 * time.Millisecond
	for {
		res, ok, err := x.Log.Lookup(ctx, key)
		if err == nil {
			return res, ok, nil
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return eventlog.AppendResult{}, false, fmt.Errorf("resolve %s: %w", key, err)
		case <-t.C:
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// unknownOutcome is the answer to a write that may or may not have been
// recorded. INTERNAL, not UNAVAILABLE: that code says nothing was recorded.
func unknownOutcome(key string, err error) error {
	if key == "" {
		return errcode.Wrap(errcode.Internal, err,
			"the outcome of the write is unknown; send an idempotencyKey so that a retry is safe")
	}
	return errcode.Wrap(errcode.Internal, err, "the outcome of the write is unknown; retry with the same idempotencyKey")
}

// unavailable marks a storage failure: nothing was recorded (an append
// whose outcome is unknown is answered by unknownOutcome instead).
func unavailable(err error) error {
	if errcode.Of(err) != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return errcode.Wrap(errcode.Unavailable, err, "the event store is unavailable")
}

// Load reads a stream and folds each event, decoded by decode, into the
// aggregate through apply. It returns the stream's version.
func Load[E any](ctx context.Context, log *eventlog.Log, streamID string, decode func(string, []byte) (E, error), apply func(E)) (int64, error) {
	var evs []eventlog.Event
	var err error
	if pl, _ := ctx.Value(pendingLookupKey{}).(*pendingLookup); pl != nil && !pl.done && pl.log == log {
		pl.prev, pl.found, evs, pl.err = log.LookupAndReadStream(ctx, pl.key, streamID)
		pl.done, err = true, pl.err
	} else {
		evs, err = log.ReadAllStream(ctx, streamID)
	}
	if err != nil {
		return 0, unavailable(err)
	}
	for _, ev := range evs {
		e, err := decode(ev.Type, ev.Data)
		if err != nil {
			return 0, fmt.Errorf("load %s v%d: %w", streamID, ev.Version, err)
		}
		apply(e)
	}
	if len(evs) == 0 {
		return 0, nil
	}
	return evs[len(evs)-1].Version, nil
}

// Events converts a domain's events to DomainEvents.
func Events[E DomainEvent](evs []E) []DomainEvent {
	out := make([]DomainEvent, len(evs))
	for i, e := range evs {
		out[i] = e
	}
	return out
}

// pendingLookup is a command's idempotency check waiting to ride with the
// first Load of its decision (see Executor.Run).
type pendingLookup struct {
	log      *eventlog.Log
	key      string
	done     bool // looked up
	answered bool // and acted on
	found    bool
	prev     eventlog.AppendResult
	err      error
}

type pendingLookupKey struct{}
