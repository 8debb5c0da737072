package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"crm/graph/auth"
)

// TestConsoleOIDC signs in to a crm gateway's console with the
// Authorization Code flow with PKCE against crm dev's development issuer
// (another origin), for real: an answer (?code&state) to no sign-in of
// this browser is refused; the console offers "Sign in with
// <issuer host>", the issuer's page lists its users, choosing the sales
// rep returns to the gateway's console signed in as her, with her
// customers, and the code is gone from the address bar.
func TestConsoleOIDC(t *testing.T) {
	dev, env := startDev(t)
	f := consoleFixtures(t, dev)
	gw := startGateway(t, dev, append(env, "CRM_AUTH_CLIENT_ID=console"))

	resp, err := http.Get(gw.url + "/app/config.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var cfg struct {
		Issuer, ClientID string
		Dev              bool
	}
	if err := json.Unmarshal(body, &cfg); err != nil || cfg.Issuer != dev.url+auth.DevPath || cfg.ClientID != "console" || cfg.Dev {
		t.Fatalf("gateway's /app/config.json: %s %v", body, err)
	}

	ctx := startChromium(t)
	b := &consoleBrowser{t: t, url: gw.url, shots: t.TempDir()}

	// An answer to no sign-in of this browser is refused, and its code
	// leaves the address bar.
	b.do(ctx, chromedp.Navigate(gw.url+"/app/?code=forged&state=forged"), chromedp.WaitVisible("#oidc-signin"))
	b.waitText(ctx, ".signin .error", "not of a sign-in started here", 5*time.Second)
	if at, err := chromedp.Run(ctx, chromedp.Location()); err != nil || at != gw.url+"/app/" {
		t.Fatalf("after a forged answer the console is at %s (%v)", at, err)
	}

	host := strings.TrimPrefix(dev.url, "http://")
	b.do(ctx, chromedp.Navigate(gw.url+"/app/"), chromedp.WaitVisible("#oidc-signin"))
	b.waitText(ctx, "#oidc-signin", "Sign in with "+host, 5*time.Second)
	if n := b.count(ctx, "button[data-sub]"); n != 0 {
		t.Fatalf("the gateway's console offers %d development users", n)
	}
	b.do(ctx, chromedp.Click("#oidc-signin"), chromedp.WaitVisible(`button[data-sub="`+f.repSub+`"]`))
	location := func() string {
		t.Helper()
		at, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	at := location()
	if !strings.HasPrefix(at, dev.url+auth.DevPath+"/authorize?") || !strings.Contains(at, "code_challenge_method=S256") {
		t.Fatalf("the sign-in page is at %s", at)
	}
	b.do(ctx, chromedp.Click(`button[data-sub="`+f.repSub+`"]`), chromedp.WaitVisible("#customers"))
	b.waitText(ctx, "#signed-in-as", "Grace Hopper", 5*time.Second)
	b.waitText(ctx, "#customers", "Ada Lovelace", 10*time.Second)
	if at = location(); at != gw.url+"/app/#/customers" {
		t.Fatalf("signed in at %s, want the gateway's console without the code", at)
	}

	// A reload keeps the session; signing out and in again goes through
	// the issuer again.
	b.do(ctx, chromedp.Reload(), chromedp.WaitVisible("#customers"))
	b.waitText(ctx, "#signed-in-as", "Grace Hopper", 5*time.Second)
	b.do(ctx, chromedp.Click(`.who button`), chromedp.WaitVisible("#oidc-signin"),
		chromedp.Click("#oidc-signin"), chromedp.WaitVisible(`button[data-sub="admin"]`),
		chromedp.Click(`button[data-sub="admin"]`), chromedp.WaitVisible("#customers"))
	b.waitText(ctx, "#signed-in-as", "Admin", 5*time.Second)
	b.waitText(ctx, "#customers", "Barbara Liskov", 10*time.Second)
}
