package kit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/eventlog/svcauth"
	"crm/services/wire"
)

// Request is what a command handler gets besides its decoded body.
type Request struct {
	Meta  eventlog.Metadata
	Token wire.Token
	// Expected is the client's expectedVersion, nil when absent.
	Expected *int64
}

// Command adapts a command function to an HTTP handler: it decodes the
// body strictly into a fresh T, builds the metadata from the verified
// credential (Mux puts its subject in the request's context: the actor),
// the headers and the idempotency key, runs fn and answers 200 with the
// Result, or the coded error with its status. Errors without a code are
// logged and answered as INTERNAL without their text. A request without a
// verified subject is refused UNAUTHENTICATED.
func Command[T any, PT interface {
	*T
	Options() *wire.CommandOptions
}](name string, log *slog.Logger, fn func(ctx context.Context, cmd *T, req Request) (wire.Result, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		actor, ok := svcauth.Subject(r.Context())
		if !ok {
			errcode.WriteHTTP(w, errcode.New(errcode.Unauthenticated, "a valid service credential is required"))
			return
		}
		cmd := PT(new(T))
		if err := DecodeJSON(w, r, cmd); err != nil {
			errcode.WriteHTTP(w, err)
			return
		}
		opts := cmd.Options()
		req, err := newRequest(r, name, actor, opts)
		if err != nil {
			errcode.WriteHTTP(w, err)
			return
		}
		if req.Meta.IdempotencyKey != "" {
			req.Meta.CommandHash = commandHash(name, cmd)
		}
		res, err := fn(r.Context(), (*T)(cmd), req)
		if err != nil {
			if c := errcode.CodeOf(err); c == errcode.Internal || c == errcode.Unavailable {
				log.ErrorContext(r.Context(), "command failed", "command", name,
					"correlationId", req.Meta.CorrelationID, "err", err)
			}
			errcode.WriteHTTP(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	}
}

// IdempotencyKey is the key a command's idempotencyKey k is recorded
// under: scoped to the command name and to the principal (actor), so that
// one caller's key never answers another's command. The actor is quoted,
// so no choice of actor and k collides with another.
func IdempotencyKey(name, actor, k string) string {
	return name + ":" + strconv.Quote(actor) + ":" + k
}

// commandHash fingerprints the decoded command (its canonical JSON, so
// spacing and field order do not matter) with its name: base64url of
// SHA-256.
func commandHash(name string, cmd any) string {
	raw, err := json.Marshal(cmd)
	if err != nil { // a decoded command always encodes; be safe anyway
		raw = []byte(err.Error())
	}
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write(raw)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func newRequest(r *http.Request, name, actor string, opts *wire.CommandOptions) (Request, error) {
	var req Request
	hdr := func(field, key string) (string, error) {
		v := r.Header.Get(key)
		if len(v) > 200 || !utf8.ValidString(v) || strings.ContainsFunc(v, func(c rune) bool { return c < 0x20 }) {
			return "", errcode.Invalid(field, "header %s must be at most 200 printable characters", key)
		}
		return v, nil
	}
	var err error
	m := &req.Meta
	m.Actor = actor
	if m.CorrelationID, err = hdr("correlationId", wire.HeaderCorrelationID); err != nil {
		return req, err
	}
	if m.CorrelationID == "" {
		m.CorrelationID = uuid.NewString()
	}
	if m.CausationID, err = hdr("causationId", wire.HeaderCausationID); err != nil {
		return req, err
	}
	if m.TraceParent, err = hdr("traceparent", wire.HeaderTraceParent); err != nil {
		return req, err
	}
	if k := opts.IdempotencyKey; k != "" {
		if len(k) > 200 || !utf8.ValidString(k) || strings.ContainsFunc(k, func(c rune) bool { return c < 0x20 }) {
			return req, errcode.Invalid("idempotencyKey", "idempotencyKey must be at most 200 printable characters")
		}
		m.IdempotencyKey = IdempotencyKey(name, actor, k)
	}
	if v := opts.ExpectedVersion; v != nil {
		if *v < 0 {
			return req, errcode.Invalid("expectedVersion", "expectedVersion must not be negative")
		}
		req.Expected = v
	}
	if req.Token, err = wire.ParseToken(r.Header.Get(wire.HeaderConsistencyToken)); err != nil {
		return req, err
	}
	return req, nil
}

// DecodeJSON decodes a request body into v, strictly: Content-Type
// application/json (required), at most wire.MaxBodyBytes, no unknown
// fields, exactly one JSON value. Every refusal is BAD_USER_INPUT naming
// the field where one is known ("body" otherwise), and never repeats the
// body.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return errcode.Invalid("body", "the body must be application/json (Content-Type)")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wire.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errcode.Invalid("body", "the body exceeds %d bytes", wire.MaxBodyBytes)
		}
		return errcode.Invalid("body", "the body could not be read")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return errcode.Invalid("body", "the body must hold exactly one JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errcode.Invalid("body", "the body must hold exactly one JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		// encoding/json names an embedded struct's fields through the Go
		// type ("CommandOptions.expectedVersion"); clients know the JSON name.
		field := strings.TrimPrefix(typeErr.Field, "CommandOptions.")
		if field == "" {
			field = "body"
		}
		return errcode.Invalid(field, "%s must be a JSON %s", field, jsonKind(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errcode.Invalid("body", "the body is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		field := name
		if field == "" { // {"": 1}: still a refusal with a field
			field = "body"
		}
		return errcode.Invalid(field, "unknown field %q", name)
	default:
		var invalid *errcode.Error
		if errors.As(err, &invalid) {
			return invalid
		}
		return errcode.Invalid("body", "the body is not a valid command")
	}
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "number"
	case "ptr":
		return "value of the right type"
	case "slice":
		return "array"
	case "struct", "map":
		return "object"
	}
	return k
}

// Route is one command of an area's API, for documentation and clients.
type Route struct {
	Name    string // e.g. "register-customer": POST /commands/register-customer
	Handler http.Handler
}

// Mux mounts an area's commands under /commands/NAME, its log under
// /events and /streams/{id}/events, and /healthz. A POST to any other
// /commands/ path answers 404 NOT_FOUND as JSON.
//
// Everything but /healthz requires a service credential key verifies
// (svcauth.Key.Require): without one, or with one expired, malformed or
// signed with another key, the answer is 401 UNAUTHENTICATED and nothing
// is read or recorded. A command's actor is the credential's subject.
// Mux panics when key is nil.
func Mux(log *eventlog.Log, key *svcauth.Key, routes ...Route) *http.ServeMux {
	if key == nil {
		panic("kit.Mux: nil service key")
	}
	mux := http.NewServeMux()
	for _, r := range routes {
		mux.Handle("POST "+wire.CommandPath(r.Name), key.Require(r.Handler))
	}
	// An unknown command is a coded refusal like any other, not the
	// router's plain-text 404.
	mux.Handle("POST "+wire.CommandsPrefix, key.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		errcode.WriteHTTP(w, errcode.New(errcode.NotFound, "no such command"))
	})))
	logAPI := key.Require(eventlog.NewHandler(log))
	mux.Handle("GET /events", logAPI)
	mux.Handle("GET /streams/{id}/events", logAPI)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	return mux
}
