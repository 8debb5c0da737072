package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestDevCodeFlow runs the development issuer's Authorization Code flow
// with PKCE the way a browser does: discovery, the user list, a choice,
// the redirect with code and state, and the code's redemption; then a
// wrong verifier, a reused code, a wrong redirect_uri or client, and an
// expired code are refused.
func TestDevCodeFlow(t *testing.T) {
	ctx := context.Background()
	d, srv, v := serveDev(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := http.Get(d.Issuer() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if disc.Authorization != d.Issuer()+"/authorize" || disc.Token != d.Issuer()+"/token" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("discovery: %+v %v", disc, resp.Header)
	}

	const client, redirect = "console", "http://127.0.0.1:9/app/"
	verifier := strings.Repeat("v", 20) + base64.RawURLEncoding.EncodeToString([]byte("a verifier of the test"))
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	params := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirect}, "scope": {"openid profile"},
		"state": {"st-1"}, "nonce": {"n-1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}

	// The page lists the users; choosing one redirects with a code.
	resp, err = http.Get(disc.Authorization + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	_, _ = page.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(page.String(), `data-sub="sam"`) || !strings.Contains(page.String(), `value="st-1"`) {
		t.Fatalf("authorize page: %d\n%s", resp.StatusCode, page.String())
	}
	code := func(sub string) string {
		t.Helper()
		form := url.Values{}
		for k, vs := range params {
			form[k] = vs
		}
		form.Set("sub", sub)
		resp, err := noRedirect.PostForm(disc.Authorization, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), redirect+"?") ||
			loc.Query().Get("state") != "st-1" || loc.Query().Get("code") == "" {
			t.Fatalf("authorize as %s: %d %q", sub, resp.StatusCode, resp.Header.Get("Location"))
		}
		return loc.Query().Get("code")
	}
	redeem := func(form url.Values) (int, map[string]any, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, disc.Token, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://127.0.0.1:9")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out, resp.Header
	}
	grant := func(code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {client}, "code_verifier": {verifier}}
	}

	t.Run("good path", func(t *testing.T) {
		c := code("sam")
		status, out, h := redeem(grant(c))
		if status != 200 || out["token_type"] != "Bearer" || out["expires_in"].(float64) <= 0 || h.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:9" {
			t.Fatalf("redeem: %d %v %v", status, out, h)
		}
		p, err := v.Verify(ctx, out["access_token"].(string))
		if err != nil || p.Subject != "sam" || p.Role != Sales || p.SalespersonID != "sp-1" {
			t.Fatalf("the token: %+v %v", p, err)
		}
		if out["id_token"] == nil {
			t.Error("no id_token")
		}
		// reused code
		if status, out, _ := redeem(grant(c)); status != 400 || out["error"] != "invalid_grant" {
			t.Fatalf("reused code: %d %v", status, out)
		}
	})
	t.Run("wrong verifier", func(t *testing.T) {
		c := code("ada")
		g := grant(c)
		g.Set("code_verifier", strings.Repeat("x", 43))
		if status, out, _ := redeem(g); status != 400 || out["error"] != "invalid_grant" {
			t.Fatalf("wrong verifier: %d %v", status, out)
		}
		// the failed attempt used the code up
		if status, _, _ := redeem(grant(c)); status != 400 {
			t.Fatalf("the code after a failed attempt: %d", status)
		}
		g = grant(code("ada"))
		g.Del("code_verifier")
		if status, _, _ := redeem(g); status != 400 {
			t.Fatalf("no verifier: %d", status)
		}
	})
	t.Run("wrong redirect_uri or client", func(t *testing.T) {
		g := grant(code("ada"))
		g.Set("redirect_uri", "http://127.0.0.1:9/elsewhere/")
		if status, out, _ := redeem(g); status != 400 || out["error"] != "invalid_grant" {
			t.Fatalf("wrong redirect_uri: %d %v", status, out)
		}
		g = grant(code("ada"))
		g.Set("client_id", "other")
		if status, _, _ := redeem(g); status != 400 {
			t.Fatalf("wrong client: %d", status)
		}
	})
	t.Run("expired code", func(t *testing.T) {
		c := code("ada")
		d.mu.Lock()
		d.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
		d.mu.Unlock()
		defer func() { d.mu.Lock(); d.now = time.Now; d.mu.Unlock() }()
		if status, out, _ := redeem(grant(c)); status != 400 || !strings.Contains(out["error_description"].(string), "expired") {
			t.Fatalf("expired code: %d %v", status, out)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		for name, change := range map[string]func(url.Values){
			"no PKCE":        func(q url.Values) { q.Del("code_challenge") },
			"plain PKCE":     func(q url.Values) { q.Set("code_challenge_method", "plain") },
			"token response": func(q url.Values) { q.Set("response_type", "token") },
			"bad redirect":   func(q url.Values) { q.Set("redirect_uri", "javascript:alert(1)") },
		} {
			q := url.Values{}
			for k, vs := range params {
				q[k] = vs
			}
			change(q)
			resp, err := http.Get(disc.Authorization + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 400 {
				t.Errorf("%s: %d", name, resp.StatusCode)
			}
			q.Set("sub", "ada")
			if resp, err := noRedirect.PostForm(disc.Authorization, q); err != nil || resp.StatusCode != 400 {
				t.Errorf("%s: choosing a user: %v %v", name, resp.StatusCode, err)
			}
		}
	})
	// The JSON form of /dev/token is unchanged.
	if tok := devToken(t, srv.URL, "vic"); tok == "" {
		t.Fatal("no token")
	}
}
