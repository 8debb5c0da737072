package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"crm/eventlog/svcauth"
	"crm/eventlog/testenv"
	"crm/graph/auth"
)

// TestAuthentication runs crm dev and a crm gateway trusting its issuer,
// and checks every kind of bad token over HTTP and WebSocket, the expiry
// of a live subscription, the open endpoints, and the development
// issuer's users.
func TestAuthentication(t *testing.T) {
	dev, env := startDev(t)
	gw := startGateway(t, dev, env)
	ctx := context.Background()

	// A forger with the same issuer URL and audience but its own key, and
	// the right key with the wrong audience, are both refused.
	forger, err := auth.NewDevIssuer(dev.url+auth.DevPath, "crm", nil)
	if err != nil {
		t.Fatal(err)
	}
	forged, _, _ := forger.Sign(auth.DevUser{Subject: "admin", Role: auth.Admin}, time.Hour)
	otherAud, _ := auth.NewDevIssuer(dev.url+auth.DevPath, "not-crm", nil)
	wrongAud, _, _ := otherAud.Sign(auth.DevUser{Subject: "admin", Role: auth.Admin}, time.Hour)
	otherIss, _ := auth.NewDevIssuer("http://127.0.0.1:1/dev", "crm", nil)
	wrongIss, _, _ := otherIss.Sign(auth.DevUser{Subject: "admin", Role: auth.Admin}, time.Hour)
	short := devTokenFor(t, dev, "admin", 1)
	testenv.Eventually(t, 10*time.Second, func() error { // until short has expired
		r, err := dev.post(strings.NewReader(`{"query":"{ __typename }"}`), map[string]string{"Authorization": "Bearer " + short})
		if err != nil {
			return err
		}
		r.Body.Close()
		if r.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("the 1 s token is still accepted: HTTP %d", r.StatusCode)
		}
		return nil
	})
	bad := map[string]string{"none": "", "garbage": "Bearer abc.def.ghi", "not bearer": "Basic YWRtaW46YWRtaW4=",
		"forged": "Bearer " + forged, "wrong audience": "Bearer " + wrongAud, "wrong issuer": "Bearer " + wrongIss, "expired": "Bearer " + short}

	for _, s := range []*system{dev, gw} {
		for name, h := range bad {
			req, _ := http.NewRequest(http.MethodPost, s.url+"/graphql", strings.NewReader(`{"query":"{ customers { totalCount } }"}`))
			req.Header.Set("Content-Type", "application/json")
			if h != "" {
				req.Header.Set("Authorization", h)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var r gqlResponse
			_ = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "UNAUTHENTICATED" || r.Data != nil {
				t.Errorf("%s: HTTP %d %+v", name, resp.StatusCode, r)
			}
			for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
				if err := refusedWS(ctx, s, proto, strings.TrimPrefix(h, "Bearer ")); err != nil {
					t.Errorf("%s over %s: %v", name, proto, err)
				}
			}
		}
		for _, path := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get(s.url + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s%s: HTTP %d without a token", s.url, path, resp.StatusCode)
			}
		}
	}

	// What each mode exposes: GraphiQL, introspection and /metrics under
	// crm dev only (unless switched on: startGateway sets CRM_METRICS=on);
	// the console in both; and only for loopback Host names.
	for _, c := range []struct {
		s          *system
		path, host string
		code       int
	}{
		{dev, "/", "", 200}, {dev, "/metrics", "", 200}, {gw, "/", "", 404}, {gw, "/metrics", "", 200}, // startGateway switches CRM_METRICS on
		{dev, "/app/", "", 200}, {gw, "/app/", "", 200}, {gw, "/app/assets/app.js", "", 200}, {gw, "/app/", "rebound.example", 421},
		{dev, "/", "localhost", 200}, {dev, "/", "evil.example", 421}, {dev, "/dev/users", "evil.example", 421},
		{gw, "/graphql", "rebound.example", 421}, {dev, "/healthz", "evil.example", 200},
	} {
		req, _ := http.NewRequest(http.MethodGet, c.s.url+c.path, nil)
		if c.host != "" {
			req.Host = c.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("GET %s%s (Host %q): HTTP %d, want %d", c.s.url, c.path, c.host, resp.StatusCode, c.code)
		}
	}
	// CRM_METRICS_ADDR moves /metrics to a listener of its own.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	admin := ln.Addr().String()
	ln.Close()
	moved := startCmd(t, append(append([]string{}, env...), "CRM_AUTH_ISSUER="+dev.url+auth.DevPath, "CRM_METRICS_ADDR="+admin), "gateway")
	for url, code := range map[string]int{moved.url + "/metrics": 404, "http://" + admin + "/metrics": 200, "http://" + admin + "/graphql": 404} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("GET %s: HTTP %d, want %d", url, resp.StatusCode, code)
		}
	}
	if r := gw.gql(t, `{ __schema { queryType { name } } }`, nil); len(r.Errors) == 0 {
		t.Errorf("crm gateway answers introspection by default: %s", r.Data["__schema"])
	}
	if r := dev.gql(t, `{ __schema { queryType { name } } }`, nil); len(r.Errors) > 0 {
		t.Errorf("crm dev refuses introspection: %+v", r.Errors)
	}

	// An anonymous body is not read: a 2 MiB one is refused for want of a
	// token, not for its size.
	resp, err := http.Post(dev.url+"/graphql", "application/json", strings.NewReader(strings.Repeat(" ", 2<<20)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous 2 MiB body: HTTP %d, want 401", resp.StatusCode)
	}

	// The development issuer exists only under crm dev.
	resp, err = http.Get(gw.url + "/dev/users")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("crm gateway serves /dev/users: HTTP %d", resp.StatusCode)
	}
	// Its users: the fixed three, then one per salesperson.
	dev.gql(t, `mutation { registerSalesperson(input: {name: "Grace", email: "grace@example.com", role: MANAGER}) { id } }`, nil).ok(t, "registerSalesperson", &struct{ ID string }{})
	var users []auth.DevUser
	resp, err = http.Get(dev.url + "/dev/users")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&users)
	resp.Body.Close()
	roles := map[auth.Role]int{}
	for _, u := range users {
		roles[u.Role]++
		if u.Role == auth.Manager && (u.SalespersonID == "" || u.Name != "Grace") {
			t.Errorf("manager %+v", u)
		}
	}
	if roles[auth.Admin] != 1 || roles[auth.Marketing] != 1 || roles[auth.Viewer] != 1 || roles[auth.Manager] != 1 {
		t.Errorf("dev users %+v", users)
	}

	// A live subscription ends when its token expires, on both gateways;
	// the client resumes on a fresh connection with a new token.
	for _, s := range []*system{dev, gw} {
		c := &system{url: s.url, token: devTokenFor(t, dev, "admin", 3)}
		w := dialWS(t, c, false)
		w.subscribe(t, "1", `subscription { customerChanged { id } }`)
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		var cerr error
		for cerr == nil {
			_, _, cerr = w.c.Read(rctx)
		}
		cancel()
		if errors.Is(cerr, context.DeadlineExceeded) {
			t.Errorf("%s: the subscription outlived its token", s.url)
		}
		c.token = devTokenFor(t, dev, "admin", 0)
		dialWS(t, c, false).subscribe(t, "1", `subscription { customerChanged { id } }`)
	}
}

// devTokenFor asks crm dev for a token of sub valid for ttl seconds (0:
// the issuer's default).
func devTokenFor(t *testing.T, dev *system, sub string, ttl int) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"sub": sub, "expires_in": ttl})
	resp, err := http.Post(dev.url+"/dev/token", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" || (ttl > 0 && out.ExpiresIn != ttl) {
		t.Fatalf("dev token: HTTP %d %+v %v", resp.StatusCode, out, err)
	}
	return out.AccessToken
}

// refusedWS checks that a connection_init with token is answered by a
// close with 4403 and no connection_ack.
func refusedWS(ctx context.Context, s *system, proto, token string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/graphql", &websocket.DialOptions{Subprotocols: []string{proto}})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	payload := map[string]any{}
	if token != "" {
		payload["authorization"] = "Bearer " + token
	}
	init, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": payload})
	if err := c.Write(ctx, websocket.MessageText, init); err != nil {
		return err
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			if code := websocket.CloseStatus(err); code != auth.CloseForbidden {
				return errors.New("closed with " + code.String() + ", want 4403: " + err.Error())
			}
			return nil
		}
		if strings.Contains(string(b), "connection_ack") {
			return errors.New("acknowledged: " + string(b))
		}
	}
}

// crm gateway refuses to start without an issuer, and crm dev, whose
// issuer hands out any user's token, refuses a non-loopback address.
func TestAuthStartRefusals(t *testing.T) {
	dbURL := testenv.Database(t)
	_, ns := testenv.Redis(t)
	env := []string{"CRM_DATABASE_URL=" + dbURL, "CRM_NAMESPACE=" + ns, "CRM_REDIS_URL=" + testenv.RedisURL(), "CRM_SERVICE_KEY=" + svcauth.NewSecret()}
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"gateway"}, "CRM_HTTP_ADDR=127.0.0.1:0", "CRM_AUTH_ISSUER is required"},
		{[]string{"dev"}, "CRM_HTTP_ADDR=0.0.0.0:0", "loopback"},
	} {
		code, _, stderr := crm(t, append(env, c.env), c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("crm %v with %s: exit %d, stderr %s", c.args, c.env, code, stderr)
		}
	}
}
