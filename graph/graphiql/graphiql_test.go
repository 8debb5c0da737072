package graphiql

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The page and every asset it names are served by the binary itself: no
// URL outside the server appears in the page.
func TestServesPageAndAssets(t *testing.T) {
	srv := httptest.NewServer(Handler("CRM", "/graphql", "/graphiql"))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	html := string(body)
	if resp.StatusCode != 200 || !strings.Contains(html, `subscriptionUrl`) || strings.Contains(html, "https://") {
		t.Fatalf("page %d:\n%s", resp.StatusCode, html)
	}
	for _, a := range []string{"graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js"} {
		if !strings.Contains(html, "/graphiql/"+a) {
			t.Errorf("page does not load %s", a)
		}
		resp, err := http.Get(srv.URL + "/graphiql/" + a)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || n < 1000 {
			t.Errorf("%s: status %d, %d bytes", a, resp.StatusCode, n)
		}
	}
	if resp, _ := http.Get(srv.URL + "/nope"); resp.StatusCode != 404 {
		t.Errorf("unknown path answered %d", resp.StatusCode)
	}
}
