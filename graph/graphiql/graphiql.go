// Package graphiql serves the GraphiQL IDE from the binary itself: its
// assets (graphiql 3.9.0, react 18.3.1, react-dom 18.3.1, browser bundles
// from their npm packages, licenses beside them) are embedded, so the page
// works on a machine without internet. Subscriptions run over WebSocket on
// the same endpoint (graphql-transport-ws, bundled in graphiql).
package graphiql

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

var page = template.Must(template.New("graphiql").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="stylesheet" href="{{.Assets}}/graphiql.min.css">
<style>
html, body { height: 100%; margin: 0; }
#graphiql { height: calc(100% - 2.2rem); }
#signin { height: 2.2rem; box-sizing: border-box; display: flex; gap: 1rem; align-items: center; padding: 0 .8rem;
  font: 14px system-ui, sans-serif; border-bottom: 1px solid #ddd; }
#signin input { width: 16rem; }
</style>
</head>
<body>
<form id="signin" onsubmit="return false">
  <label id="pick" hidden>Sign in as <select id="user"><option value="">—</option></select></label>
  <label>Bearer token <input id="token" type="password" autocomplete="off" placeholder="paste an access token"></label>
  <span id="who" role="status">not signed in</span>
</form>
<div id="graphiql">Loading…</div>
<script src="{{.Assets}}/react.production.min.js"></script>
<script src="{{.Assets}}/react-dom.production.min.js"></script>
<script src="{{.Assets}}/graphiql.min.js"></script>
<script>
  const endpoint = new URL({{.Endpoint}}, window.location.href);
  const ws = new URL(endpoint);
  ws.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
  // Signing in: the token goes in the Authorization header over HTTP and
  // in connection_init over WebSocket. Under crm dev, the user picker gets
  // tokens from the development issuer (/dev/users, /dev/token) and renews
  // them before they expire; elsewhere, paste a token of your issuer.
  let token = sessionStorage.getItem("crm-token") || "";
  let renew;
  const who = document.getElementById("who"), input = document.getElementById("token"), select = document.getElementById("user");
  function fetcherFor(tok) {
    const auth = tok ? "Bearer " + tok : undefined;
    return GraphiQL.createFetcher({ url: endpoint.href, subscriptionUrl: ws.href,
      headers: auth ? { Authorization: auth } : {}, wsConnectionParams: auth ? { authorization: auth } : {} });
  }
  function signIn(tok, label) {
    token = tok;
    sessionStorage.setItem("crm-token", tok);
    input.value = tok;
    who.textContent = tok ? "signed in" + (label ? " as " + label : "") : "not signed in";
    render();
  }
  async function devSignIn(sub, label) {
    clearTimeout(renew);
    const r = await fetch(new URL("dev/token", window.location.href), { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ sub }) });
    if (!r.ok) { who.textContent = "sign-in failed: HTTP " + r.status; return; }
    const t = await r.json();
    signIn(t.access_token, label);
    renew = setTimeout(() => devSignIn(sub, label), Math.max(10, t.expires_in - 60) * 1000);
  }
  input.addEventListener("change", () => { select.value = ""; clearTimeout(renew); signIn(input.value.trim(), ""); });
  select.addEventListener("change", () => {
    const o = select.selectedOptions[0];
    if (o.value) devSignIn(o.value, o.textContent);
  });
  fetch(new URL("dev/users", window.location.href)).then(r => r.ok ? r.json() : []).then(users => {
    if (!users.length) return;
    document.getElementById("pick").hidden = false;
    for (const u of users) {
      const o = document.createElement("option");
      o.value = u.sub;
      o.textContent = u.name + " (" + u.role + ")";
      select.appendChild(o);
    }
    if (!token) { select.value = users[0].sub; devSignIn(users[0].sub, select.selectedOptions[0].textContent); }
  }).catch(() => {});
  // ?query=... opens the page on that operation (links in docs, tests).
  const query = new URLSearchParams(window.location.search).get("query") || undefined;
  const defaultQuery = [
    "# Customers with their account team, next appointment and deals.",
    "# Subscriptions work here too, e.g.:",
    "#   subscription { customerChanged { id name upcomingAppointmentCount } }",
    "{",
    "  customers(first: 10) {",
    "    totalCount",
    "    edges { node { id name email status salesRep { name } interests",
    "      nextAppointment { startsAt salesperson { name } }",
    "      openDealCount wonDealTotal { amount currencyCode } } }",
    "  }",
    "  projections { name state lag }",
    "}",
    ""].join("\n");
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  function render() {
    // A new token is a new fetcher: the key remounts GraphiQL with it
    // (the editors keep their text in localStorage).
    root.render(React.createElement(GraphiQL, { key: token, fetcher: fetcherFor(token), query, defaultQuery, defaultEditorToolsVisibility: true }));
  }
  signIn(token, "");
</script>
</body>
</html>
`))

// Handler serves the GraphiQL page at "/" (for the GraphQL endpoint, e.g.
// "/graphql") and its assets under assetsPath (e.g. "/graphiql").
func Handler(title, endpoint, assetsPath string) http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded directory exists at build time
	}
	files := http.StripPrefix(assetsPath, http.FileServer(http.FS(sub)))
	mux := http.NewServeMux()
	mux.Handle(assetsPath+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_ = page.Execute(w, struct{ Title, Endpoint, Assets string }{title, endpoint, assetsPath})
	})
	return mux
}
