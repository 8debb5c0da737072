package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestConsole drives the console (/app) in a real Chromium against a real
// crm dev: a sales rep edits a customer's phone and sees it and its event;
// an admin sees who did it; two browsers watch one schedule an appointment
// live; a double booking shows CONFLICT at the time field and records
// nothing; screenshots of every screen go to CRM_SCREENSHOTS (make
// screenshots: docs/screenshots), else to a temporary directory.
func TestConsole(t *testing.T) {
	s, _ := startDev(t)
	f := consoleFixtures(t, s)

	shots := os.Getenv("CRM_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	browserCtx := startChromium(t)
	// Each user in a browser context of its own (own session storage);
	// a tab lives as long as the context of its first Run, so that one
	// has no deadline.
	open := func(parent context.Context, opts ...chromedp.ContextOption) context.Context {
		ctx, cancel := chromedp.NewContext(parent, opts...)
		t.Cleanup(cancel)
		if err := chromedp.Do(ctx); err != nil {
			t.Fatalf("open a tab: %v", err)
		}
		return ctx
	}
	newUser := func() context.Context {
		ctx := open(browserCtx, chromedp.WithNewBrowserContext())
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
			t.Fatal(err)
		}
		return ctx
	}
	b := &consoleBrowser{t: t, url: s.url, shots: shots}

	admin := newUser()
	b.signIn(admin, "admin", "#customers")
	b.shot(admin, "customers")
	activity := open(admin) // a second tab
	b.do(activity, chromedp.Navigate(s.url+"/app/#/activity"), chromedp.WaitVisible("#activity"))

	t.Run("phone edit and history", func(t *testing.T) {
		b := b.sub(t)
		rep := newUser()
		b.signIn(rep, f.repSub, "#customers")
		b.do(rep, chromedp.SetValue("#search", "Ada"), chromedp.Click(`form[role=search] button[type=submit]`))
		b.waitText(rep, "#customer-count", "1 customers", 5*time.Second)
		b.do(rep, chromedp.Click(`#customers a`), chromedp.WaitVisible("#contact-form"))
		b.do(rep, chromedp.SetValue("#contact-phone", "+44 20 7946 0999"), chromedp.Click("#contact-form button[type=submit]"))
		b.waitText(rep, "#customer-phone", "+442079460999", 5*time.Second)
		b.waitText(rep, "#history", "CustomerUpdated", 5*time.Second)
		// A phone the server refuses: its error at the phone field.
		b.do(rep, chromedp.SetValue("#contact-phone", "12"), chromedp.Click("#contact-form button[type=submit]"))
		b.waitText(rep, "#contact-phone-error", "BAD_USER_INPUT", 5*time.Second)
		b.shot(rep, "customer")
		if n := b.count(rep, "#team-form"); n != 0 {
			t.Errorf("a sales rep is offered the account team form")
		}
		// The admin sees who changed it.
		b.do(admin, chromedp.Navigate(s.url+"/app/#/customer/"+f.ada))
		b.waitText(admin, "#history", "by "+f.repSub, 5*time.Second)
		b.waitText(activity, "#activity", "CustomerUpdated", 5*time.Second)
	})

	t.Run("live agenda and double booking", func(t *testing.T) {
		b := b.sub(t)
		a, other := newUser(), newUser()
		b.signIn(a, f.repSub, "#customers")
		b.signIn(other, f.repSub, "#customers")
		tab := open(other) // the other user's second tab
		b.do(other, chromedp.Navigate(s.url+"/app/#/agenda"), chromedp.WaitVisible("#agenda"))
		b.do(tab, chromedp.Navigate(s.url+"/app/#/customer/"+f.ada), chromedp.WaitVisible("#customer-appointments"))
		b.do(a, chromedp.Navigate(s.url+"/app/#/agenda"), chromedp.WaitVisible("#schedule-form"))
		b.waitText(other, "#connection", "Live", 5*time.Second)
		b.waitText(tab, "#connection", "Live", 5*time.Second)

		start := time.Now().UTC().Truncate(24 * time.Hour).Add(48*time.Hour + 14*time.Hour)
		at := start.Format("2006-01-02T15:04")
		shown := start.Format("2006-01-02 15:04")
		b.do(a, chromedp.SetValue("#schedule-customerId", f.ada), chromedp.SetValue("#schedule-startsAt", at),
			chromedp.SetValue("#schedule-location", "Head office"), chromedp.Click("#schedule-form button[type=submit]"))
		b.waitText(a, "#agenda", shown, 5*time.Second)
		// The other browser, without reloading: within a second.
		b.waitText(other, "#agenda", shown, time.Second)
		b.waitText(tab, "#customer-appointments", shown, time.Second)

		// The same slot again, for another customer: CONFLICT at the time.
		b.do(a, chromedp.SetValue("#schedule-customerId", f.grace), chromedp.SetValue("#schedule-startsAt", at),
			chromedp.Click("#schedule-form button[type=submit]"))
		b.waitText(a, "#schedule-startsAt-error", "CONFLICT", 5*time.Second)
		b.shot(a, "agenda")
		var got struct{ TotalCount int }
		s.gql(t, `query($sp: ID!) { appointments(filter: {salespersonId: $sp}) { totalCount } }`, map[string]any{"sp": f.rep}).ok(t, "appointments", &got)
		if got.TotalCount != 1 {
			t.Errorf("appointments of the rep after the double booking: %d, want 1", got.TotalCount)
		}
		if n := b.count(a, "#agenda li[data-id]"); n != 1 {
			t.Errorf("agenda shows %d appointments, want 1", n)
		}

		// Moved an hour later, then cancelled: the other browser follows.
		later := start.Add(time.Hour)
		b.do(a, chromedp.Click("#agenda .apt-actions .buttons button:nth-child(1)"), chromedp.WaitVisible(`#agenda .apt-actions input[name="startsAt"]`),
			chromedp.SetValue(`#agenda .apt-actions input[name="startsAt"]`, later.Format("2006-01-02T15:04")),
			chromedp.Click("#agenda .apt-actions form button[type=submit]"))
		b.waitText(a, "#agenda", later.Format("2006-01-02 15:04"), 5*time.Second)
		b.waitText(other, "#agenda", later.Format("2006-01-02 15:04"), time.Second)
		b.do(a, chromedp.Click("#agenda .apt-actions .buttons button:nth-child(2)"), chromedp.WaitVisible(`#agenda .apt-actions input[name="reason"]`),
			chromedp.SetValue(`#agenda .apt-actions input[name="reason"]`, "customer asked"),
			chromedp.Click("#agenda .apt-actions form button[type=submit]"))
		b.waitText(other, "#agenda", "CANCELLED", time.Second)
		b.waitText(tab, "#customer-appointments", "CANCELLED", time.Second)
	})

	t.Run("connection lost and back", func(t *testing.T) {
		b := b.sub(t)
		// The browser reaches the gateway through a proxy that can drop
		// every connection and refuse new ones: the network going away.
		px := newFlakyProxy(t, strings.TrimPrefix(s.url, "http://"))
		b.url = "http://" + px.addr
		c := newUser()
		b.signIn(c, f.repSub, "#customers")
		b.do(c, chromedp.Navigate(b.url+"/app/#/customer/"+f.grace), chromedp.WaitVisible("#contact-form"))
		b.waitText(c, "#connection", "Live", 5*time.Second)
		px.setDown(true)
		b.waitText(c, "#connection", "Connection lost", 10*time.Second)
		b.shot(c, "connection-lost")
		// Changed while the browser is cut off.
		s.mutateID(t, "updateCustomer", "UpdateCustomerInput", map[string]any{"id": f.grace, "phone": "+33 1 23 45 67 89"})
		px.setDown(false)
		b.waitText(c, "#connection", "Live", 15*time.Second)
		b.waitText(c, "#customer-phone", "+33123456789", 5*time.Second)
		// And live again: the next change arrives without a reload.
		s.mutateID(t, "updateCustomer", "UpdateCustomerInput", map[string]any{"id": f.grace, "phone": "+33 1 23 45 67 00"})
		b.waitText(c, "#customer-phone", "+33123456700", time.Second)
	})

	t.Run("keyboard only", func(t *testing.T) {
		b := b.sub(t)
		k := newUser()
		b.do(k, chromedp.Navigate(s.url+"/app/"), chromedp.WaitVisible(`button[data-sub="admin"]`))
		b.tabTo(k, `button[data-sub="admin"]`)
		b.do(k, chromedp.KeyEvent("\r"), chromedp.WaitVisible("#customers"))
		b.tabTo(k, "#search")
		b.do(k, chromedp.KeyEvent("Barbara\r"))
		b.waitText(k, "#customer-count", "1 customers", 5*time.Second)
		b.tabTo(k, "#customers a")
		b.do(k, chromedp.KeyEvent("\r"), chromedp.WaitVisible("#contact-form"))
		b.waitText(k, "h1", "Barbara Liskov", 5*time.Second)
	})

	t.Run("screens", func(t *testing.T) {
		b := b.sub(t)
		b.do(admin, chromedp.Navigate(s.url+"/app/#/campaign/"+f.campaign), chromedp.WaitVisible("#pipeline"))
		b.waitText(admin, "#col-WON", "1", 5*time.Second)
		b.shot(admin, "pipeline")
		// Winning the open deal moves it, and the totals add up exactly.
		b.do(admin, chromedp.Click("#col-OPEN ~ ul .deal .buttons button:nth-child(1)"))
		b.waitText(admin, "section.won .totals", "13600.50 EUR", 5*time.Second)
		b.waitText(activity, "#activity", "AppointmentScheduled", 5*time.Second)
		b.shot(activity, "activity")
		b.do(admin, chromedp.Navigate(s.url+"/app/#/customer/"+f.ada), chromedp.WaitVisible("#history"))
		b.waitText(admin, "#history", "by ", 5*time.Second)
		b.shotWith(admin, "customer-admin", chromedp.FullScreenshot(100)) // the whole page: the history is below
		// An admin may change the account team: the form is there, and
		// assigning the same team again answers without an error.
		b.do(admin, chromedp.Click("details summary"), chromedp.WaitVisible("#team-salesRepId"))
		b.waitText(admin, "#team-salesRepId", "Grace Hopper", 5*time.Second)
		b.do(admin, chromedp.Click("#team-form button[type=submit]"))
		if n := b.count(admin, "#team-form .error, #team-form .form-errors"); n != 0 {
			t.Errorf("assigning the account team shows an error")
		}
		phone := newUser()
		b.do(phone, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		b.signIn(phone, f.repSub, "#customers")
		b.shot(phone, "phone-customers")
		b.do(phone, chromedp.Navigate(s.url+"/app/#/customer/"+f.ada), chromedp.WaitVisible("#history"))
		b.shot(phone, "phone-customer")
		// Roles without personal data or appointments: the screens ask
		// only for what they may read, so nothing is refused.
		for _, role := range []string{"marketing", "viewer"} {
			u := newUser()
			b.signIn(u, role, "#customers")
			b.waitText(u, "#customer-count", "2 customers", 5*time.Second)
			b.do(u, chromedp.Navigate(s.url+"/app/#/customer/"+f.ada), chromedp.WaitVisible("#history"))
			b.waitText(u, "#customer-deals", "Heat pump", 5*time.Second)
			if n := b.count(u, ".form-errors, #contact-form"); n != 0 {
				t.Errorf("%s: the customer page shows errors or a contact form (%d)", role, n)
			}
			b.do(u, chromedp.Navigate(s.url+"/app/#/campaign/"+f.campaign), chromedp.WaitVisible("#pipeline"))
			b.waitText(u, "#pipeline", "Solar panel kit", 5*time.Second)
			if role == "viewer" {
				b.do(u, chromedp.Navigate(s.url+"/app/#/agenda/"+f.rep), chromedp.WaitVisible("#agenda"))
				b.waitText(u, "#agenda", "Ada Lovelace", 5*time.Second)
				if n := b.count(u, "#schedule-form, .form-errors"); n != 0 {
					t.Errorf("viewer: the agenda offers scheduling or shows errors (%d)", n)
				}
			}
		}
		out := newUser()
		b.do(out, chromedp.Navigate(s.url+"/app/"), chromedp.WaitVisible(`button[data-sub="admin"]`))
		b.shot(out, "sign-in")
	})
}

// startChromium starts the browser the console tests drive (CRM_CHROMIUM,
// else chromium, chromium-browser or google-chrome on PATH) headless, with
// the flags this machine needs, at 1280×800 in UTC, and returns its first
// browser context; it is shut down at cleanup.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	names := []string{"chromium", "chromium-browser", "google-chrome"}
	if c := os.Getenv("CRM_CHROMIUM"); c != "" {
		names = []string{c}
	}
	var chromium string
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		t.Fatalf("the console's browser tests need Chromium, and none of %v is on PATH: run scripts/setup.sh test "+
			"(as root on Debian/Ubuntu it installs the chromium package), or set CRM_CHROMIUM to a Chromium or Chrome binary", names)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 800), chromedp.UserDataDir(t.TempDir()), chromedp.Env("TZ=UTC", "LANG=en_US.UTF-8"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium %s: %v", chromium, err)
	}
	return ctx
}

type consoleData struct {
	mgr, rep, repSub, ada, grace, campaign string
}

// consoleFixtures: a manager and a sales rep, two customers of the rep's,
// a campaign with a won and an open deal.
func consoleFixtures(t *testing.T, s *system) consoleData {
	t.Helper()
	var d consoleData
	d.mgr = s.mutateID(t, "registerSalesperson", "RegisterSalespersonInput", map[string]any{"name": "Margaret Hamilton", "email": "margaret@example.com", "role": "MANAGER"})
	d.rep = s.mutateID(t, "registerSalesperson", "RegisterSalespersonInput", map[string]any{"name": "Grace Hopper", "email": "grace@example.com", "role": "SALES_REP", "managerId": d.mgr})
	d.ada = s.mutateID(t, "registerCustomer", "RegisterCustomerInput", map[string]any{"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+442079460000",
		"address": map[string]any{"street": "12 St James's Square", "city": "London", "country": "GB"}})
	d.grace = s.mutateID(t, "registerCustomer", "RegisterCustomerInput", map[string]any{"name": "Barbara Liskov", "email": "barbara@example.com"})
	for _, c := range []string{d.ada, d.grace} {
		s.mutateID(t, "assignAccountTeam", "AssignAccountTeamInput", map[string]any{"customerId": c, "salesRepId": d.rep, "managerId": d.mgr})
	}
	s.mutateID(t, "recordInterest", "RecordInterestInput", map[string]any{"customerId": d.ada, "interest": "heat pumps"})
	d.campaign = s.mutateID(t, "createCampaign", "CreateCampaignInput", map[string]any{"name": "Winter energy savings"})
	s.mutateID(t, "launchCampaign", "LaunchCampaignInput", map[string]any{"id": d.campaign})
	won := s.mutateID(t, "openDeal", "OpenDealInput", map[string]any{"customerId": d.ada, "campaignId": d.campaign, "salesRepId": d.rep,
		"product": "Heat pump", "value": map[string]any{"amount": "8400.00", "currencyCode": "EUR"}})
	s.mutateID(t, "winDeal", "WinDealInput", map[string]any{"id": won})
	s.mutateID(t, "openDeal", "OpenDealInput", map[string]any{"customerId": d.grace, "campaignId": d.campaign, "salesRepId": d.rep,
		"product": "Solar panel kit", "value": map[string]any{"amount": "5200.50", "currencyCode": "EUR"}})

	resp, err := http.Get(s.url + "/dev/users")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var users []struct{ Sub, SalespersonID string }
	if err := json.NewDecoder(resp.Body).Decode(&users); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.SalespersonID == d.rep {
			d.repSub = u.Sub
		}
	}
	if d.repSub == "" {
		t.Fatalf("no dev user for salesperson %s in %+v", d.rep, users)
	}
	return d
}

// mutateID runs one mutation as the admin and returns data.<field>.id.
func (s *system) mutateID(t *testing.T, field, inputType string, input map[string]any) string {
	t.Helper()
	var out struct{ ID string }
	s.gql(t, fmt.Sprintf(`mutation($input: %s!) { %s(input: $input) { id } }`, inputType, field), map[string]any{"input": input}).ok(t, field, &out)
	return out.ID
}

type consoleBrowser struct {
	t     *testing.T
	url   string
	shots string
}

func (b *consoleBrowser) sub(t *testing.T) *consoleBrowser { c := *b; c.t = t; return &c }

// do runs actions in a tab, each step bounded (the page may be waiting on
// something that never comes).
func (b *consoleBrowser) do(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// signIn opens the console and signs in as the development user sub.
func (b *consoleBrowser) signIn(ctx context.Context, sub, then string) {
	b.t.Helper()
	b.do(ctx, chromedp.Navigate(b.url+"/app/"), chromedp.Click(`button[data-sub="`+sub+`"]`), chromedp.WaitVisible(then))
}

// waitText waits until the element sel's text contains want.
func (b *consoleBrowser) waitText(ctx context.Context, sel, want string, d time.Duration) {
	b.t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.includes(%q); })()`, sel, want)
	tctx, cancel := context.WithTimeout(ctx, d+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(tctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		var text string
		_ = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			var err error
			text, err = chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || "(no element)"`, sel))(ctx, t)
			return err
		}))
		b.t.Fatalf("%s: no %q within %v (%v); it shows %q", sel, want, d, err, text)
	}
}

// tabTo presses Tab until the focused element matches sel (at most 40
// times): the element is reachable by keyboard.
func (b *consoleBrowser) tabTo(ctx context.Context, sel string) {
	b.t.Helper()
	js := fmt.Sprintf(`!!document.activeElement && document.activeElement.matches(%q)`, sel)
	for i := 0; i < 40; i++ {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err != nil {
			b.t.Fatal(err)
		}
		if ok {
			return
		}
		b.do(ctx, chromedp.KeyEvent("\t"))
	}
	b.t.Fatalf("%s: not reached with 40 presses of Tab", sel)
}

func (b *consoleBrowser) count(ctx context.Context, sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

// shot writes a screenshot of the tab's viewport as <name>.png.
func (b *consoleBrowser) shot(ctx context.Context, name string) {
	b.t.Helper()
	b.shotWith(ctx, name, chromedp.CaptureScreenshot())
}

// shotWith writes the PNG that capture takes as <name>.png.
func (b *consoleBrowser) shotWith(ctx context.Context, name string, capture chromedp.Action[[]byte]) {
	b.t.Helper()
	// A tab in the background never paints: bring it to the front first.
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := chromedp.Call(tctx, page.BringToFront, cdp.Empty{}); err != nil {
		b.t.Fatal(err)
	}
	png, err := chromedp.Run(tctx, capture)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	if !strings.HasPrefix(string(png[:4]), "\x89PNG") {
		b.t.Errorf("%s: not a PNG", name)
	}
}

// flakyProxy forwards TCP connections to target until it is set down:
// then it closes every connection and refuses new ones until set up again.
type flakyProxy struct {
	addr  string
	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
}

func newFlakyProxy(t *testing.T, target string) *flakyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c, target)
		}
	}()
	return p
}

func (p *flakyProxy) serve(c net.Conn, target string) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns[c] = true
	p.mu.Unlock()
	defer func() { p.mu.Lock(); delete(p.conns, c); p.mu.Unlock(); c.Close() }()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func (p *flakyProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
	}
}
