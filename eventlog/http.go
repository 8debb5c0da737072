package eventlog

import (
	"context"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"crm/eventlog/errcode"
	"crm/eventlog/svcauth"
)

// MaxPageLimit caps the events one HTTP page carries.
const MaxPageLimit = 1000

// LogPage is the answer of GET /events and GET /streams/{id}/events.
type LogPage struct {
	Events []Event `json:"events"`
	// Head is the last committed position of the log when the page was read
	// (GET /events only).
	Head int64 `json:"head,omitempty"`
}

// PageMediaType is the compact encoding of a LogPage that Client asks for:
// the page as one encoding/gob value, each event's data carried as bytes.
// Decoding it costs about a quarter of the JSON page, whose event data the
// decoder must scan twice, and the server skips compacting every event's
// data into the JSON. JSON stays the default answer, for people and
// tools; Client decodes whichever the server answers.
const PageMediaType = "application/vnd.crm.log-page+gob"

// NewHandler serves the log to readers that catch up:
//
//	GET /events?after=POS&limit=N           events after log position POS
//	GET /streams/{id}/events?after=V&limit=N events of one stream after version V
//
// after defaults to 0 and limit to 100 (at most MaxPageLimit). The page is
// JSON, or PageMediaType when the request's Accept names it. A malformed
// or out-of-range parameter answers 400 with code BAD_USER_INPUT and the
// parameter as field; nothing else is accepted.
func NewHandler(l *Log) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		after, limit, err := pageParams(r.URL.Query())
		if err != nil {
			errcode.WriteHTTP(w, err)
			return
		}
		// Head first: every event up to it is committed, so the page never
		// claims a head below its own events.
		head, err := l.Head(r.Context())
		if err == nil {
			var evs []Event
			evs, err = l.ReadLog(r.Context(), after, limit)
			if err == nil {
				writePage(w, r, LogPage{Events: nonNil(evs), Head: max(head, lastPos(evs))})
				return
			}
		}
		internalError(w, r, err)
	})
	mux.HandleFunc("GET /streams/{id}/events", func(w http.ResponseWriter, r *http.Request) {
		after, limit, err := pageParams(r.URL.Query())
		if err != nil {
			errcode.WriteHTTP(w, err)
			return
		}
		id := r.PathValue("id")
		if id == "" || len(id) > 200 {
			errcode.WriteHTTP(w, errcode.Invalid("id", "stream id must be 1 to 200 characters"))
			return
		}
		evs, err := l.ReadStream(r.Context(), id, after, limit)
		if err != nil {
			internalError(w, r, err)
			return
		}
		writePage(w, r, LogPage{Events: nonNil(evs)})
	})
	return mux
}

func pageParams(q url.Values) (after int64, limit int, err error) {
	for k := range q {
		if k != "after" && k != "limit" {
			return 0, 0, errcode.Invalid(k, "unknown parameter")
		}
	}
	limit = 100
	if s := q.Get("after"); s != "" {
		after, err = strconv.ParseInt(s, 10, 64)
		if err != nil || after < 0 {
			return 0, 0, errcode.Invalid("after", "after must be a non-negative integer")
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageLimit {
			return 0, 0, errcode.Invalid("limit", "limit must be an integer from 1 to %d", MaxPageLimit)
		}
		limit = n
	}
	return after, limit, nil
}

func lastPos(evs []Event) int64 {
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Position
}

func nonNil(evs []Event) []Event {
	if evs == nil {
		return []Event{}
	}
	return evs
}

// writePage answers page as PageMediaType when r accepts it, else as JSON.
func writePage(w http.ResponseWriter, r *http.Request, page LogPage) {
	if acceptsPage(r.Header.Values("Accept")) {
		w.Header().Set("Content-Type", PageMediaType)
		_ = gob.NewEncoder(w).Encode(page)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(page)
}

// acceptsPage reports whether Accept header values name PageMediaType
// (with a q above zero).
func acceptsPage(accept []string) bool {
	for _, v := range accept {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err == nil && mt == PageMediaType && params["q"] != "0" {
				return true
			}
		}
	}
	return false
}

func internalError(w http.ResponseWriter, r *http.Request, err error) {
	slog.ErrorContext(r.Context(), "eventlog: serving log", "path", r.URL.Path, "err", err)
	errcode.WriteHTTP(w, errcode.New(errcode.Unavailable, "event log unavailable"))
}

// Client reads an area's log over HTTP from the handler of NewHandler.
type Client struct {
	// BaseURL is where the handler is mounted, e.g. "http://127.0.0.1:8101".
	BaseURL string
	// HTTP defaults to a client with a 30 s timeout.
	HTTP *http.Client
	// Key, when set, signs every request with a service credential for
	// Subject (a component's name: "projector", "gateway", the reading
	// area's name...). The area services serve their logs only to callers
	// holding one (docs/api.md).
	Key     *svcauth.Key
	Subject string
}

var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

// ReadLog has the contract of (*Log).ReadLog; limit is capped at
// MaxPageLimit. A 4xx/5xx answer comes back as the *errcode.Error it carried.
func (c *Client) ReadLog(ctx context.Context, after int64, limit int) ([]Event, error) {
	if limit <= 0 || limit > MaxPageLimit {
		limit = MaxPageLimit
	}
	u := fmt.Sprintf("%s/events?after=%d&limit=%d", c.BaseURL, after, limit)
	page, err := c.get(ctx, u)
	if err != nil {
		return nil, err
	}
	return page.Events, nil
}

// Head has the contract of (*Log).Head over HTTP: the position of the last
// committed event (0 for an empty log), read from the head of a page asked
// for past any position. It fails like ReadLog.
func (c *Client) Head(ctx context.Context) (int64, error) {
	page, err := c.get(ctx, fmt.Sprintf("%s/events?after=%d&limit=1", c.BaseURL, int64(math.MaxInt64)))
	if err != nil {
		return 0, err
	}
	return page.Head, nil
}

// ReadStream has the contract of (*Log).ReadStream over HTTP.
func (c *Client) ReadStream(ctx context.Context, streamID string, afterVersion int64, limit int) ([]Event, error) {
	if limit <= 0 || limit > MaxPageLimit {
		limit = MaxPageLimit
	}
	u := fmt.Sprintf("%s/streams/%s/events?after=%d&limit=%d", c.BaseURL, url.PathEscape(streamID), afterVersion, limit)
	page, err := c.get(ctx, u)
	if err != nil {
		return nil, err
	}
	return page.Events, nil
}

func (c *Client) get(ctx context.Context, u string) (LogPage, error) {
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return LogPage{}, fmt.Errorf("eventlog client: %w", err)
	}
	req.Header.Set("Accept", PageMediaType+", application/json;q=0.5")
	if c.Key != nil {
		if err := c.Key.Authorize(req, c.Subject); err != nil {
			return LogPage{}, fmt.Errorf("eventlog client: %w", err)
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return LogPage{}, fmt.Errorf("eventlog client: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var body errcode.Body
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(raw, &body) == nil && body.Error != nil {
			return LogPage{}, fmt.Errorf("eventlog client: %s: %w", u, body.Error)
		}
		return LogPage{}, fmt.Errorf("eventlog client: %s: %w", u, errcode.New(errcode.CodeForStatus(resp.StatusCode), "HTTP %d", resp.StatusCode))
	}
	var page LogPage
	decode := json.NewDecoder(resp.Body).Decode
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == PageMediaType {
		decode = gob.NewDecoder(resp.Body).Decode
	}
	if err := decode(&page); err != nil {
		return LogPage{}, fmt.Errorf("eventlog client: %s: decode: %w", u, err)
	}
	return page, nil
}
