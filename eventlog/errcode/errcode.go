// Package errcode is the one error type shared by the areas, the event log
// and the gateway: an error carries a Code from the contract, an optional
// field and a message that is safe to show to clients. Errors are classified
// once, where they arise, and translated once at the edge (HTTP status,
// GraphQL extensions).
package errcode

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Code is one of the error codes of the runtime contract.
type Code string

// The contract's codes.
const (
	BadUserInput       Code = "BAD_USER_INPUT"
	NotFound           Code = "NOT_FOUND"
	Conflict           Code = "CONFLICT"
	ConsistencyTimeout Code = "CONSISTENCY_TIMEOUT"
	Unavailable        Code = "UNAVAILABLE"
	Unauthenticated    Code = "UNAUTHENTICATED"
	Forbidden          Code = "FORBIDDEN"
	Internal           Code = "INTERNAL"
	// SlowConsumer ends an event feed subscription (eventRecorded) whose
	// subscriber fell more than the gateway's buffer behind; the error's
	// extensions.cursor is where to resume. GraphQL only (no HTTP status).
	SlowConsumer Code = "SLOW_CONSUMER"
	// RateLimited refuses an operation over its principal's rate or
	// connection limits; extensions.retryAfter (seconds) says when to try
	// again. GraphQL only.
	RateLimited Code = "RATE_LIMITED"
)

// Error is an error whose Message may be shown to a client.
type Error struct {
	Code    Code   `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// Cause is the underlying error, for logs only: never shown.
	Cause error `json:"-"`
}

func (e *Error) Error() string {
	s := string(e.Code) + ": " + e.Message
	if e.Field != "" {
		s = string(e.Code) + ": " + e.Field + ": " + e.Message
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Wrap returns an error with a code and a client-safe message whose cause
// (kept for logs) is err.
func Wrap(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Cause: err}
}

// New returns an error with a code and a client-safe message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a BAD_USER_INPUT error about one input field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: BadUserInput, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Of returns the coded error inside err, or nil when err carries none.
func Of(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// CodeOf returns err's code: "" for nil, Internal when err carries no code.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	if e := Of(err); e != nil {
		return e.Code
	}
	return Internal
}

// Public returns what a client may see of err: the coded error itself, or a
// bare INTERNAL error whose message says no more than that.
func Public(err error) *Error {
	if e := Of(err); e != nil {
		return e
	}
	return &Error{Code: Internal, Message: "internal error"}
}

// HTTPStatus maps a code to the HTTP status the services answer with.
func HTTPStatus(c Code) int {
	switch c {
	case BadUserInput:
		return http.StatusBadRequest
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case ConsistencyTimeout:
		return http.StatusGatewayTimeout
	case Unavailable:
		return http.StatusServiceUnavailable
	case Unauthenticated:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case RateLimited:
		return http.StatusTooManyRequests
	default:
		return http.StatusInternalServerError
	}
}

// CodeForStatus is the inverse of HTTPStatus, for clients of the services.
func CodeForStatus(status int) Code {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return BadUserInput
	case http.StatusNotFound:
		return NotFound
	case http.StatusConflict, http.StatusPreconditionFailed:
		return Conflict
	case http.StatusGatewayTimeout:
		return ConsistencyTimeout
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return Unavailable
	case http.StatusUnauthorized:
		return Unauthenticated
	case http.StatusForbidden:
		return Forbidden
	case http.StatusTooManyRequests:
		return RateLimited
	default:
		return Internal
	}
}

// Body is the JSON body of every 4xx/5xx answer of the services.
type Body struct {
	Error *Error `json:"error"`
}

// WriteHTTP answers with err's public form and the matching status. Errors
// without a code are logged by the caller, never shown.
func WriteHTTP(w http.ResponseWriter, err error) {
	pub := Public(err)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(HTTPStatus(pub.Code))
	_ = json.NewEncoder(w).Encode(Body{Error: pub})
}
