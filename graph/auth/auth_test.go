package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

var demo = []DevUser{
	{Subject: "ada", Name: "Ada", Role: Admin},
	{Subject: "sam", Name: "Sam", Role: Sales, SalespersonID: "sp-1"},
	{Subject: "vic", Name: "Vic", Role: Viewer},
}

func newDev(t *testing.T, issuer string) *DevIssuer {
	t.Helper()
	d, err := NewDevIssuer(issuer, "crm", func(context.Context) ([]DevUser, error) { return demo, nil })
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// signWith signs claims with a fresh key of its own (a forger's).
func signWith(t *testing.T, claims map[string]any) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	d := newDev(t, "http://127.0.0.1:1/dev")
	v := d.Verifier()
	other := newDev(t, "http://127.0.0.1:2/dev")
	wrongAud, err := NewDevIssuer(d.Issuer(), "other", func(context.Context) ([]DevUser, error) { return demo, nil })
	if err != nil {
		t.Fatal(err)
	}

	good, _, err := d.Token(ctx, "sam", 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "sam" || p.Role != Sales || p.SalespersonID != "sp-1" || p.Name != "Sam" || time.Until(p.Expiry) < 50*time.Minute {
		t.Fatalf("principal %+v", p)
	}

	sign := func(d *DevIssuer, u DevUser) string {
		tok, _, err := d.Sign(u, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	expired, _, _ := d.Sign(demo[0], time.Second)
	bad := map[string]string{
		"empty":                     "",
		"garbage":                   "not.a.token",
		"expired":                   expired,
		"other issuer":              sign(other, demo[0]),
		"wrong audience":            sign(wrongAud, demo[0]),
		"forged signature":          signWith(t, map[string]any{"iss": d.Issuer(), "aud": "crm", "sub": "ada", "exp": time.Now().Add(time.Hour).Unix(), DefaultRoleClaim: "admin"}),
		"no role":                   sign(d, DevUser{Subject: "x"}),
		"unknown role":              sign(d, DevUser{Subject: "x", Role: "root"}),
		"sales without salesperson": sign(d, DevUser{Subject: "x", Role: Sales}),
		"tampered payload":          tamper(t, good),
	}
	v.now = func() time.Time { return time.Now().Add(2 * time.Second) } // past expired's expiry
	for name, tok := range bad {
		if p, err := v.Verify(ctx, tok); err == nil {
			t.Errorf("%s: accepted as %+v", name, p)
		} else if _, ok := err.(*Error); !ok {
			t.Errorf("%s: error %T %v, want *Error", name, err, err)
		} else if tok != "" && strings.Contains(err.Error(), tok) {
			t.Errorf("%s: the error echoes the token", name)
		}
	}
}

// tamper makes the token's subject "ada" while keeping its signature.
func tamper(t *testing.T, tok string) string {
	parts := strings.Split(tok, ".")
	var claims map[string]any
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(raw, &claims)
	claims["sub"], claims[DefaultRoleClaim] = "ada", "admin"
	raw, _ = json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

func TestRoleClaims(t *testing.T) {
	for _, c := range []struct {
		claim string
		value any
		want  Role
	}{
		{"crm_role", "viewer", Viewer},
		{"roles", []any{"viewer", "admin", "x"}, Admin},
		{"realm_access.roles", map[string]any{"roles": []any{"offline", "marketing"}}, Marketing},
		{"crm_role", 42, ""},
	} {
		claims := map[string]any{}
		path := strings.Split(c.claim, ".")
		if len(path) == 2 {
			claims[path[0]] = c.value
		} else {
			claims[c.claim] = c.value
		}
		if got := roleOf(lookup(claims, c.claim)); got != c.want {
			t.Errorf("%s=%v: role %q, want %q", c.claim, c.value, got, c.want)
		}
	}
}

// TestDiscovery verifies through the issuer's discovery document and
// JWKS, over HTTP, as a gateway with CRM_AUTH_ISSUER does; and through a
// keys file, as an air-gapped one does.
func TestDiscovery(t *testing.T) {
	ctx := context.Background()
	d, srv, v := serveDev(t)
	tok := devToken(t, srv.URL, "ada")
	if p, err := v.Verify(ctx, tok); err != nil || p.Role != Admin {
		t.Fatalf("verify over JWKS: %+v %v", p, err)
	}
	if _, err := NewVerifier(ctx, Config{Issuer: srv.URL + "/nowhere", Audience: "crm"}); err == nil {
		t.Fatal("discovery of a missing issuer succeeded")
	}

	dir := t.TempDir()
	resp, err := http.Get(srv.URL + DevPath + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	_ = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	jwks, _ := json.Marshal(set)
	der, _ := x509.MarshalPKIXPublicKey(d.key.Public())
	files := map[string][]byte{"keys.json": jwks, "keys.pem": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		v, err := NewVerifier(ctx, Config{Issuer: d.Issuer(), Audience: "crm", KeysFile: path})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p, err := v.Verify(ctx, tok); err != nil || p.Subject != "ada" {
			t.Fatalf("%s: %+v %v", name, p, err)
		}
	}
}

// serveDev serves a development issuer over HTTP, as crm dev does, and
// returns it with a verifier that discovers it (its keys over HTTP).
func serveDev(t *testing.T) (*DevIssuer, *httptest.Server, *Verifier) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	d := newDev(t, srv.URL+DevPath)
	mux.Handle(DevPath+"/", d.Handler())
	v, err := NewVerifier(context.Background(), Config{Issuer: d.Issuer(), Audience: "crm"})
	if err != nil {
		t.Fatal(err)
	}
	return d, srv, v
}

// devToken gets a token the way scripts do: POST /dev/token.
func devToken(t *testing.T, base, sub string) string {
	t.Helper()
	resp, err := http.Post(base+DevPath+"/token", "application/json", strings.NewReader(`{"sub":"`+sub+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.ExpiresIn <= 0 {
		t.Fatalf("dev token: %d %v %+v", resp.StatusCode, err, out)
	}
	return out.AccessToken
}

func TestMiddleware(t *testing.T) {
	d := newDev(t, "http://127.0.0.1:1/dev")
	h := Middleware(d.Verifier(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(FromContext(r.Context()).Subject))
	}))
	tok, _, _ := d.Token(context.Background(), "vic", 0)
	for _, c := range []struct {
		auth string
		code int
		body string
	}{
		{"", 401, "UNAUTHENTICATED"},
		{"Basic abc", 401, "UNAUTHENTICATED"},
		{"Bearer nope", 401, "UNAUTHENTICATED"},
		{"Bearer " + tok, 200, "vic"},
		{"bearer  " + tok, 200, "vic"},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/graphql", strings.NewReader(`{}`))
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		h.ServeHTTP(rec, req)
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.body) {
			t.Errorf("%q: %d %s", c.auth, rec.Code, rec.Body)
		}
	}
}
