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
<style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
<div id="graphiql">Loading…</div>
<script src="{{.Assets}}/react.production.min.js"></script>
<script src="{{.Assets}}/react-dom.production.min.js"></script>
<script src="{{.Assets}}/graphiql.min.js"></script>
<script>
  const endpoint = new URL({{.Endpoint}}, window.location.href);
  const ws = new URL(endpoint);
  ws.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
  const fetcher = GraphiQL.createFetcher({ url: endpoint.href, subscriptionUrl: ws.href });
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
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, { fetcher, query, defaultQuery, defaultEditorToolsVisibility: true }));
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
