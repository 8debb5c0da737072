package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// DevUser is a demo user of the development issuer.
type DevUser struct {
	Subject       string `json:"sub"`
	Name          string `json:"name"`
	Role          Role   `json:"role"`
	SalespersonID string `json:"salespersonId,omitempty"`
}

// DevIssuer is the development issuer of `crm dev`: an OpenID Connect
// issuer whose signing key is generated at start and never stored, with
// demo users of every role. It serves, under its issuer URL's path:
// GET /dev/users, POST /dev/token, the discovery document and the JWKS.
// It must never run outside development: anyone who reaches it gets a
// token of any user.
type DevIssuer struct {
	issuer   string
	audience string
	key      *ecdsa.PrivateKey
	signer   jose.Signer
	users    func(ctx context.Context) ([]DevUser, error)
	// TTL is the lifetime of the tokens it issues (default 1 hour); a
	// token request may ask for less.
	TTL time.Duration
	// CodeTTL is how long an authorization code of /dev/authorize may be
	// redeemed at /dev/token (default 60 s); each is redeemable once.
	CodeTTL time.Duration

	mu    sync.Mutex
	codes map[string]devCode
	now   func() time.Time
}

// devCode is an authorization code awaiting redemption: who signed in,
// for which client and redirect URI, and the PKCE challenge.
type devCode struct {
	sub, clientID, redirectURI, challenge, nonce string
	expires                                      time.Time
}

// DevPath is where the development issuer is mounted; its issuer URL is
// the gateway's base URL plus DevPath.
const DevPath = "/dev"

// NewDevIssuer returns an issuer whose iss is issuer (e.g.
// "http://127.0.0.1:8080/dev") and whose tokens carry audience. users
// lists the demo users (called at each /dev/users and token request, so
// it may read the CRM's own salespeople).
func NewDevIssuer(issuer, audience string, users func(ctx context.Context) ([]DevUser, error)) (*DevIssuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "dev-1", Algorithm: string(jose.ES256)}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	return &DevIssuer{issuer: strings.TrimSuffix(issuer, "/"), audience: audience, key: key, signer: signer, users: users, TTL: time.Hour,
		CodeTTL: time.Minute, codes: map[string]devCode{}, now: time.Now}, nil
}

// Issuer is the issuer URL.
func (d *DevIssuer) Issuer() string { return d.issuer }

// Verifier verifies the issuer's tokens with its key, in-process.
func (d *DevIssuer) Verifier() *Verifier {
	return NewStaticVerifier(Config{Issuer: d.issuer, Audience: d.audience}, d.key.Public())
}

// Users lists the demo users.
func (d *DevIssuer) Users(ctx context.Context) ([]DevUser, error) { return d.users(ctx) }

// Token signs a token for the demo user sub, valid for ttl (0: d.TTL).
func (d *DevIssuer) Token(ctx context.Context, sub string, ttl time.Duration) (string, time.Duration, error) {
	users, err := d.users(ctx)
	if err != nil {
		return "", 0, err
	}
	for _, u := range users {
		if u.Subject == sub {
			return d.Sign(u, ttl)
		}
	}
	return "", 0, fmt.Errorf("no demo user %q", sub)
}

// Sign signs a token for any user, valid for ttl (0: d.TTL); tests use it
// for principals that are not demo users.
func (d *DevIssuer) Sign(u DevUser, ttl time.Duration) (string, time.Duration, error) {
	if ttl <= 0 || ttl > d.TTL {
		ttl = d.TTL
	}
	now := d.clock()
	claims := map[string]any{DefaultRoleClaim: string(u.Role), "name": u.Name}
	if u.SalespersonID != "" {
		claims[DefaultSalespersonClaim] = u.SalespersonID
	}
	tok, err := jwt.Signed(d.signer).Claims(jwt.Claims{Issuer: d.issuer, Subject: u.Subject, Audience: jwt.Audience{d.audience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), Expiry: jwt.NewNumericDate(now.Add(ttl))}).
		Claims(claims).Serialize()
	return tok, ttl, err
}

// clock is the issuer's time (tests move it).
func (d *DevIssuer) clock() time.Time {
	d.mu.Lock()
	now := d.now
	d.mu.Unlock()
	return now()
}

// Handler serves the issuer's endpoints under DevPath.
func (d *DevIssuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DevPath+"/users", func(w http.ResponseWriter, r *http.Request) {
		users, err := d.users(r.Context())
		if err != nil {
			devError(w, http.StatusServiceUnavailable, "the demo users are not available yet: "+err.Error())
			return
		}
		devJSON(w, http.StatusOK, users)
	})
	mux.HandleFunc("POST "+DevPath+"/token", func(w http.ResponseWriter, r *http.Request) {
		if isForm(r) { // OpenID Connect: the authorization code grant
			d.codeToken(w, r)
			return
		}
		var req struct {
			Sub       string `json:"sub"`
			ExpiresIn int    `json:"expires_in"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.Sub == "" {
			devError(w, http.StatusBadRequest, `the body must be {"sub": "..."}`)
			return
		}
		tok, ttl, err := d.Token(r.Context(), req.Sub, time.Duration(req.ExpiresIn)*time.Second)
		if err != nil {
			devError(w, http.StatusNotFound, err.Error())
			return
		}
		devJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(ttl.Seconds())})
	})
	// A browser on another origin (a crm gateway's console) posts the code
	// grant as a form, a simple request; the preflight is answered too,
	// for clients that send one.
	mux.HandleFunc("OPTIONS "+DevPath+"/token", func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", o)
			h.Set("Access-Control-Allow-Methods", "POST")
			h.Set("Access-Control-Allow-Headers", "Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			h.Add("Vary", "Origin")
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET "+DevPath+"/authorize", d.authorizePage)
	mux.HandleFunc("POST "+DevPath+"/authorize", d.authorize)
	mux.HandleFunc("GET "+DevPath+"/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*") // public; consoles on other origins read it
		devJSON(w, http.StatusOK, map[string]any{"issuer": d.issuer, "jwks_uri": d.issuer + "/jwks",
			"authorization_endpoint": d.issuer + "/authorize", "token_endpoint": d.issuer + "/token",
			"response_types_supported": []string{"code"}, "grant_types_supported": []string{"authorization_code"},
			"code_challenge_methods_supported": []string{"S256"}, "scopes_supported": []string{"openid", "profile"},
			"subject_types_supported": []string{"public"}, "token_endpoint_auth_methods_supported": []string{"none"},
			"id_token_signing_alg_values_supported": []string{string(jose.ES256)}})
	})
	mux.HandleFunc("GET "+DevPath+"/jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		devJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: d.key.Public(), KeyID: "dev-1", Algorithm: string(jose.ES256), Use: "sig"}}})
	})
	return mux
}

func devJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func devError(w http.ResponseWriter, code int, msg string) {
	devJSON(w, code, map[string]string{"error": msg})
}

// DevToken asks the development issuer at base (a gateway's base URL, e.g.
// "http://127.0.0.1:8080") for a token of the demo user sub, the way
// scripts and tests sign in (POST /dev/token).
func DevToken(ctx context.Context, client *http.Client, base, sub string) (string, error) {
	if client == nil {
		client = http.DefaultClient
	}
	body, _ := json.Marshal(map[string]string{"sub": sub})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+DevPath+"/token", strings.NewReader(string(body)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("dev token: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("dev token for %q: HTTP %d %s", sub, resp.StatusCode, out.Error)
	}
	return out.AccessToken, nil
}
