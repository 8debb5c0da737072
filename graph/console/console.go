// Package console serves the CRM console, a single-page app for the
// browser, from the binary itself: its bundle (built by Vite from web/ into
// dist/, committed) is embedded, so it works offline and the binary needs
// no Node.js to serve it. docs/console.md describes the app.
package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
)

//go:embed dist/index.html dist/assets
var dist embed.FS

type file struct {
	body        []byte
	contentType string
	etag        string
}

// files are the bundle's files by their path under dist/; the names carry
// no content hash, so each is revalidated by its ETag.
var files = func() map[string]file {
	out := map[string]file{}
	err := fs.WalkDir(dist, "dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := dist.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[strings.TrimPrefix(p, "dist/")] = file{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		return nil
	})
	if err != nil {
		panic(err) // the embedded directory exists at build time
	}
	return out
}()

// Settings are what the console learns from the gateway at
// prefix + "/config.json": how users sign in. Nothing in them is secret.
type Settings struct {
	// Issuer is the OpenID Connect issuer whose tokens the gateway
	// accepts (CRM_AUTH_ISSUER; crm dev's development issuer).
	Issuer string `json:"issuer"`
	// ClientID is the console's public client id at the issuer
	// (CRM_AUTH_CLIENT_ID): when set (and not Dev), the console signs in
	// with the Authorization Code flow with PKCE.
	ClientID string `json:"clientId"`
	// Dev says the gateway is crm dev's, with its development users.
	Dev bool `json:"dev"`
}

// csp allows the page its own scripts, styles and connections (GraphQL
// over HTTP and WebSocket on the same origin) and, when it signs in with
// an issuer, connections to the issuer's origin (discovery and token
// endpoint), and nothing else.
func csp(s Settings) string {
	connect := "'self'"
	if s.ClientID != "" && !s.Dev {
		if u, err := url.Parse(s.Issuer); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			connect += " " + u.Scheme + "://" + u.Host
		}
	}
	return "default-src 'self'; connect-src " + connect + "; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
		"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
}

// Handler serves the console under prefix (e.g. "/app"): the page at
// prefix + "/" (prefix alone redirects there), its assets below it, and
// its settings at prefix + "/config.json".
// The app reaches GraphQL at "../graphql" and the development issuer at
// "../dev/", relative to the page, so prefix must be one path segment
// below the gateway's root.
func Handler(prefix string, s Settings) http.Handler {
	policy := csp(s)
	settings, err := json.Marshal(s)
	if err != nil {
		panic(err) // strings and a bool
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			http.NotFound(w, r)
			return
		}
		if rest == "" {
			http.Redirect(w, r, prefix+"/", http.StatusMovedPermanently)
			return
		}
		name := strings.TrimPrefix(rest, "/")
		if name == "config.json" {
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Cache-Control", "no-cache")
			if r.Method != http.MethodHead {
				_, _ = w.Write(settings)
			}
			return
		}
		if name == "" {
			name = "index.html"
		}
		f, ok := files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		if name == "index.html" {
			h.Set("Content-Security-Policy", policy)
			h.Set("Referrer-Policy", "no-referrer")
		}
		if r.Header.Get("If-None-Match") == f.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(f.body)
	})
}
