package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"

	"crm/eventlog/testenv"
	"crm/graph/live"
	"crm/projector"
)

// TestAccessSubscriptions subscribes as every role over the WebSocket
// transport to every entity subscription (and to a customer's personal
// data), then announces changes of rows out of some scopes followed by
// changes every allowed subscriber sees: each subscriber gets exactly the
// pushes its scope sees, in order, so a row it may not see was never
// pushed; a subscription its role may not run is FORBIDDEN at once.
func TestAccessSubscriptions(t *testing.T) {
	t.Parallel()
	rdb, ns := testenv.Redis(t)
	channel := ns + ":changes"
	hub := live.NewHub(rdb, channel, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go hub.Run(ctx)
	e := newEnv(t, func(c *Config) {
		c.Resolver.Hub = hub
		c.Transports = []graphql.Transport{transport.Websocket{}}
	})
	w := seedAccess(e)
	waitUntil(t, "the hub to subscribe", func() bool {
		n, err := rdb.PubSubNumSub(ctx, channel).Result()
		return err == nil && n[channel] > 0
	})

	subs := map[string]string{
		"c": `subscription {customerChanged {name}}`,
		"a": `subscription {appointmentChanged {location}}`,
		"d": `subscription {dealChanged {product}}`,
		"p": `subscription {customerChanged {name email}}`,
	}
	// What each role's subscriptions get: pushes in order, or FORBIDDEN.
	want := map[string]map[string]string{
		"admin":     {"c": "Bob Brown,Carol Clark,Alice Adams", "a": "Harbour,Cafe,Office", "d": "canoe,yacht", "p": "Bob Brown,Carol Clark,Alice Adams"},
		"manager":   {"c": "Bob Brown,Alice Adams", "a": "Cafe,Office", "d": "yacht", "p": "Bob Brown,Alice Adams"},
		"sales":     {"c": "Alice Adams", "a": "Office", "d": "yacht", "p": "Alice Adams"},
		"marketing": {"c": "Bob Brown,Carol Clark,Alice Adams", "a": forbidden, "d": "canoe,yacht", "p": forbidden},
		"viewer":    {"c": "Bob Brown,Carol Clark,Alice Adams", "a": "Harbour,Cafe,Office", "d": "canoe,yacht", "p": forbidden},
	}
	clients := map[string]*wsConn{}
	subscribed := 0
	for _, role := range roleColumns[:5] {
		c := dialAs(t, e, w.as[role])
		clients[role] = c
		for id, q := range subs {
			c.send(t, map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": q}})
			if want[role][id] != forbidden {
				subscribed++
			}
		}
	}
	waitUntil(t, "every allowed subscription", func() bool { return hub.Subscribers() == subscribed })

	change := func(kind, id string) projector.Change { return projector.Change{Kind: kind, ID: id} }
	msg, _ := json.Marshal([]projector.Announcement{{Projection: "all", Area: "customers", Changes: []projector.Change{
		change(projector.KindCustomer, w.bob), change(projector.KindCustomer, w.carol), change(projector.KindCustomer, w.alice),
		change(projector.KindAppointment, w.aptCarol), change(projector.KindAppointment, w.apt2), change(projector.KindAppointment, w.apt1),
		change(projector.KindDeal, w.dealCarol), change(projector.KindDeal, w.deal1),
	}}})
	if err := rdb.Publish(ctx, channel, msg).Err(); err != nil {
		t.Fatal(err)
	}
	for role, c := range clients {
		got := map[string][]string{}
		done := map[string]bool{}
		last := map[string]string{"c": "Alice Adams", "p": "Alice Adams", "a": "Office", "d": "yacht"}
		for len(done) < len(subs) {
			m := c.read(t)
			id, _ := m["id"].(string)
			switch m["type"] {
			case "next":
				var p struct {
					Data   map[string]map[string]any `json:"data"`
					Errors []gqlError                `json:"errors"`
				}
				raw, _ := json.Marshal(m["payload"])
				_ = json.Unmarshal(raw, &p)
				if len(p.Errors) > 0 {
					got[id] = append(got[id], p.Errors[0].Extensions["code"].(string))
					continue
				}
				for _, v := range p.Data {
					for _, k := range []string{"name", "location", "product"} {
						if s, ok := v[k].(string); ok {
							got[id] = append(got[id], s)
							if s == last[id] {
								done[id] = true
							}
						}
					}
				}
			case "complete", "error":
				done[id] = true
				if m["type"] == "error" {
					got[id] = append(got[id], "error")
				}
			}
		}
		for id := range subs {
			if g := strings.Join(got[id], ","); g != want[role][id] {
				t.Errorf("%s, subscription %s: got %q, want %q", role, subs[id], g, want[role][id])
			}
		}
	}
}

// wsConn is a graphql-transport-ws client as one principal.
type wsConn struct{ c *websocket.Conn }

func dialAs(t *testing.T, e *env, principal string) *wsConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http"), &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: http.Header{principalHeader: []string{principal}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	w := &wsConn{c}
	w.send(t, map[string]any{"type": "connection_init"})
	if m := w.read(t); m["type"] != "connection_ack" {
		t.Fatalf("init answered %v", m)
	}
	return w
}

func (w *wsConn) send(t *testing.T, m map[string]any) {
	t.Helper()
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

// read returns the next message other than a ping or pong.
func (w *wsConn) read(t *testing.T) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		_, b, err := w.c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		if m["type"] == "ping" || m["type"] == "pong" || m["type"] == "ka" {
			continue
		}
		return m
	}
}

// waitUntil waits for cond, checking it every few milliseconds, for at most
// 10 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		if !cond() {
			return fmt.Errorf("waiting for %s", what)
		}
		return nil
	})
}
