package kittest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/services/kit"
	"crm/services/wire"
)

// FuzzTarget is an area's command API under fuzzing: the area's real
// handler (kit.Mux over its routes) on a migrated schema, its log, and its
// command names.
type FuzzTarget struct {
	Handler http.Handler
	Log     *eventlog.Log
	Names   []string
}

// NewFuzzTarget returns the target serving routes over l as the area does
// (kit.Mux), named after the routes.
func NewFuzzTarget(l *eventlog.Log, routes []kit.Route) FuzzTarget {
	t := FuzzTarget{Handler: kit.Mux(l, Key(), routes...), Log: l}
	for _, r := range routes {
		t.Names = append(t.Names, r.Name)
	}
	return t
}

// Seed is one seed input of FuzzCommands: a command name and its body,
// optionally with one header (see FuzzHeaders) set to Value.
type Seed struct {
	Name   string
	Body   string
	Header uint8
	Value  string
}

// FuzzHeaders are the headers a fuzz input may set, by index (the input's
// header byte modulo len+1; the last choice sets none). Content-Type is
// application/json and Authorization a valid credential for Actor unless
// the input replaces them.
var FuzzHeaders = []string{
	wire.HeaderCorrelationID, wire.HeaderCausationID, "Authorization",
	wire.HeaderTraceParent, wire.HeaderConsistencyToken, "Content-Type",
}

// contractCodes are the codes a command may answer with.
var contractCodes = map[errcode.Code]bool{
	errcode.BadUserInput: true, errcode.NotFound: true, errcode.Conflict: true,
	errcode.ConsistencyTimeout: true, errcode.Unavailable: true,
	errcode.Unauthenticated: true, errcode.Forbidden: true,
}

// genericBodies are malformed or borderline bodies every command is
// seeded with: wrong JSON kinds, unknown fields, trailing data, bad
// options, truncated input.
var genericBodies = []string{
	``, `{}`, `null`, `[]`, `"x"`, `1`, `{} {}`, `{}x`, `{`, `{"a":1}`,
	`{"idempotencyKey":5}`, `{"idempotencyKey":"k\u0000"}`, `{"expectedVersion":-1}`,
	`{"expectedVersion":1e400}`, `{"expectedVersion":"1"}`, `{"id":null}`, `{"id":[]}`,
	`{"id":"cus_00000000-0000-4000-8000-00000000000"}`, "\xff\xfe", `{"name":"\ud800"}`,
}

// FuzzCommands fuzzes target's command decoding: a command name (the area's
// own or any other), a body and one optional header. It adds the generic
// seeds for every command name, then seeds, and checks every input with
// CheckCommand.
func FuzzCommands(f *testing.F, target FuzzTarget, seeds ...Seed) {
	f.Helper()
	for _, name := range target.Names {
		for _, b := range genericBodies {
			f.Add(name, []byte(b), uint8(len(FuzzHeaders)), "")
		}
	}
	f.Add("no-such-command", []byte(`{}`), uint8(0), "")
	f.Add("../events", []byte(`{}`), uint8(0), "")
	f.Add("", []byte(`{}`), uint8(0), "")
	for _, s := range seeds {
		f.Add(s.Name, []byte(s.Body), s.Header, s.Value)
	}
	f.Fuzz(func(t *testing.T, name string, body []byte, header uint8, value string) {
		CheckCommand(t, target, name, body, header, value)
	})
}

// CheckCommand posts body to /commands/name (with the chosen header) and
// checks the answer's contract:
//   - no panic (the handler runs in the test's goroutine);
//   - 200 is a JSON wire.Result of the area;
//   - a redirect happens only for a path the router cleans (".."), and
//     records nothing;
//   - anything else is a JSON errcode.Body whose code is a contract code
//     other than INTERNAL (no input may make a command fail internally),
//     whose status is the code's, with a message, and a field for
//     BAD_USER_INPUT; and the area's log head has not moved.
func CheckCommand(t testing.TB, target FuzzTarget, name string, body []byte, header uint8, value string) {
	t.Helper()
	before := Head(t, target.Log)
	req := &http.Request{
		Method:     http.MethodPost,
		URL:        &url.URL{Path: "/commands/" + name},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Host:       "area.test",
		RemoteAddr: "192.0.2.1:1234",
	}
	req.Header.Set("Authorization", Bearer(t, Actor))
	req.RequestURI = req.URL.RequestURI()
	req.ContentLength = int64(len(body))
	req.Body = io.NopCloser(bytes.NewReader(body))
	if i := int(header) % (len(FuzzHeaders) + 1); i < len(FuzzHeaders) {
		req.Header.Set(FuzzHeaders[i], value)
	}
	rec := httptest.NewRecorder()
	target.Handler.ServeHTTP(rec, req)
	res := rec.Result()
	raw := rec.Body.Bytes()

	switch {
	case res.StatusCode == http.StatusOK:
		var r wire.Result
		if err := json.Unmarshal(raw, &r); err != nil || r.Area == "" || r.StreamID == "" && len(r.Events) > 0 {
			t.Fatalf("%q: 200 with body %q (%v)", name, raw, err)
		}
		if r.Position > 0 && Head(t, target.Log) < r.Position {
			t.Fatalf("%q: answered position %d beyond the log head", name, r.Position)
		}
		return
	case res.StatusCode >= 300 && res.StatusCode < 400:
		if p := req.URL.Path; path.Clean(p) == p || res.Header.Get("Location") == "" {
			t.Fatalf("%q: redirect %d to %q for a clean path", name, res.StatusCode, res.Header.Get("Location"))
		}
	default:
		checkRefusal(t, name, body, res, raw)
	}
	if after := Head(t, target.Log); after != before {
		t.Fatalf("%q %q: refused with %d, but the log head moved from %d to %d", name, body, res.StatusCode, before, after)
	}
}

func checkRefusal(t testing.TB, name string, body []byte, res *http.Response, raw []byte) {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%q: status %d with content type %q, body %q", name, res.StatusCode, ct, raw)
	}
	var b errcode.Body
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || b.Error == nil {
		t.Fatalf("%q: status %d with body %q (%v)", name, res.StatusCode, raw, err)
	}
	e := b.Error
	switch {
	case !contractCodes[e.Code]:
		t.Fatalf("%q: status %d with code %q (%s): not a refusal of the contract", name, res.StatusCode, e.Code, raw)
	case res.StatusCode != errcode.HTTPStatus(e.Code):
		t.Fatalf("%q: status %d for code %s", name, res.StatusCode, e.Code)
	case e.Message == "":
		t.Fatalf("%q: %s without a message", name, e.Code)
	case e.Code == errcode.BadUserInput && e.Field == "":
		t.Fatalf("%q: BAD_USER_INPUT without a field: %s", name, raw)
	case strings.Contains(e.Field, "CommandOptions") && !bytes.Contains(body, []byte("CommandOptions")):
		t.Fatalf("%q: the field names a Go type, not the JSON field: %s", name, raw)
	}
}

// FixedID is a well-formed id of the given prefix numbered n, the same in
// every run, for seeds that name entities (ids.New draws random ones).
func FixedID(prefix string, n int) string {
	return fmt.Sprintf("%s_00000000-0000-4000-8000-%012x", prefix, n)
}
