package svc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/eventlog/svcauth"
	"crm/services/wire"
)

// service stands in for an area service: it speaks the command API's
// contract (services/wire) and keeps what it records in memory. A command
// is recorded once per idempotency key and a repeat answers the first
// outcome, marked duplicate; the metadata headers go into the recorded
// event; an email without "@" is refused as BAD_USER_INPUT on field email.
// The real services are held to the same contract by their own tests and
// by cmd/crm's, which run the gateway against them; these tests are about
// the client.
type service struct {
	area string

	mu     sync.Mutex
	byKey  map[string]wire.Result // by command key: "name:idempotencyKey"
	events []eventlog.Event
	tokens []string // the X-Consistency-Token of every command, in order
}

func newService(area string) *service {
	return &service{area: area, byKey: map[string]wire.Result{}}
}

// testKey is the service key the tests' clients sign with and service
// verifies.
var testKey = svcauth.Random()

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	actor, err := testKey.Verify(svcauth.BearerToken(r))
	if err != nil {
		errcode.WriteHTTP(w, errcode.New(errcode.Unauthenticated, "a valid service credential is required"))
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, wire.CommandsPrefix)
	if r.Method != http.MethodPost || !ok {
		errcode.WriteHTTP(w, errcode.New(errcode.NotFound, "no such command"))
		return
	}
	var body struct {
		wire.CommandOptions
		Email string `json:"email"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		errcode.WriteHTTP(w, errcode.Invalid("body", "the body is not valid JSON"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = append(s.tokens, r.Header.Get(wire.HeaderConsistencyToken))
	if body.Email != "" && !strings.Contains(body.Email, "@") {
		errcode.WriteHTTP(w, errcode.Invalid("email", "email is not an address"))
		return
	}
	key := name + ":" + body.IdempotencyKey
	res, dup := s.byKey[key]
	if dup && body.IdempotencyKey != "" {
		res.Duplicate = true
	} else {
		pos := int64(len(s.events) + 1)
		ev := eventlog.Event{ID: fmt.Sprint("ev-", pos), StreamID: fmt.Sprint("s-", pos), Version: 1, Position: pos,
			Type: name, Data: json.RawMessage(`{}`), Metadata: eventlog.Metadata{
				Actor: actor, CorrelationID: r.Header.Get(wire.HeaderCorrelationID),
				TraceParent: r.Header.Get(wire.HeaderTraceParent), IdempotencyKey: key}}
		s.events = append(s.events, ev)
		res = wire.Result{Area: s.area, StreamID: ev.StreamID, Version: 1, Position: pos, Events: []eventlog.Event{ev}}
		s.byKey[key] = res
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// recorded counts the events recorded under the command key.
func (s *service) recorded(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.events {
		if e.Metadata.IdempotencyKey == key {
			n++
		}
	}
	return n
}

// sentTokens returns the consistency tokens the commands carried.
func (s *service) sentTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...)
}
