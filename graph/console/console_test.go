package console

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	h := Handler("/app", Settings{Issuer: "https://id.example.com/realms/crm", ClientID: "console"})
	get := func(path, etag string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := get("/app", ""); rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/app/" {
		t.Errorf("/app: %d %q, want a redirect to /app/", rec.Code, rec.Header().Get("Location"))
	}
	page := get("/app/", "")
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `src="./assets/app.js"`) ||
		!strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") || page.Header().Get("Content-Security-Policy") == "" {
		t.Fatalf("/app/: %d %v\n%s", page.Code, page.Header(), page.Body)
	}
	js := get("/app/assets/app.js", "")
	if js.Code != http.StatusOK || !strings.Contains(js.Header().Get("Content-Type"), "javascript") {
		t.Fatalf("app.js: %d %v", js.Code, js.Header())
	}
	if rec := get("/app/assets/app.js", js.Header().Get("ETag")); rec.Code != http.StatusNotModified {
		t.Errorf("app.js with its ETag: %d, want 304", rec.Code)
	}
	for _, p := range []string{"/app/nope.js", "/app/SOURCES.sha256", "/app/../go.mod"} {
		if rec := get(p, ""); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, rec.Code)
		}
	}
	// The page may connect to the issuer (discovery, token endpoint).
	if c := page.Header().Get("Content-Security-Policy"); !strings.Contains(c, "connect-src 'self' https://id.example.com;") {
		t.Errorf("CSP %q does not allow the issuer's origin", c)
	}
	if c := get("/app/config.json", ""); c.Code != http.StatusOK || c.Header().Get("Content-Type") != "application/json" ||
		c.Body.String() != `{"issuer":"https://id.example.com/realms/crm","clientId":"console","dev":false}` {
		t.Errorf("config.json: %d %v %s", c.Code, c.Header(), c.Body)
	}
	dev := httptest.NewRecorder()
	Handler("/app", Settings{Issuer: "http://127.0.0.1:8080/dev", Dev: true}).ServeHTTP(dev, httptest.NewRequest(http.MethodGet, "/app/", nil))
	if c := dev.Header().Get("Content-Security-Policy"); !strings.Contains(c, "connect-src 'self';") {
		t.Errorf("crm dev's CSP %q: want connections to its own origin only", c)
	}
}

// TestBundleMatchesSources fails when web/ changed but dist/ was not
// rebuilt (make web): the digest web/stamp.mjs wrote at the last build
// must be that of the sources now. scripts/check-web.sh checks more (that
// building gives the same bytes), but needs Node.js.
func TestBundleMatchesSources(t *testing.T) {
	want, err := os.ReadFile("dist/SOURCES.sha256")
	if err != nil {
		t.Fatal(err)
	}
	web := os.DirFS("web")
	var files []string
	for _, root := range []string{"index.html", "package.json", "package-lock.json", "stamp.mjs", "vite.config.js", "src"} {
		err := fs.WalkDir(web, root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, filepath.FromSlash(p))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(files)
	var lines strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("web", f))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&lines, "%s %s\n", filepath.ToSlash(f), hex.EncodeToString(sum[:]))
	}
	sum := sha256.Sum256([]byte(lines.String()))
	if got := hex.EncodeToString(sum[:]); got != strings.TrimSpace(string(want)) {
		t.Fatalf("graph/console/dist is stale: web/ changed since the bundle was built (digest %s, the bundle's %s): run make web and commit dist/",
			got, strings.TrimSpace(string(want)))
	}
}
