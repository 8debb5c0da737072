package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// The development issuer's OpenID Connect Authorization Code flow with
// PKCE (RFC 6749 §4.1, RFC 7636): GET /dev/authorize shows the demo users;
// choosing one (POST /dev/authorize) redirects to the client's redirect_uri
// with a code and the state; the client redeems the code at /dev/token
// with a form post (grant_type=authorization_code) and its code_verifier.
// Public clients only (no client secret); only S256 challenges.

// isForm says whether a request's body is form-encoded.
func isForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

// authRequest is the part of an authorization request the issuer checks
// and carries to the code.
type authRequest struct {
	ClientID, RedirectURI, State, Challenge, Nonce string
}

// parseAuthRequest checks an authorization request's parameters; the
// error is for the person at the browser (the redirect URI is not trusted
// before it is checked, so errors are not sent there).
func parseAuthRequest(q url.Values) (authRequest, string) {
	a := authRequest{ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"), State: q.Get("state"),
		Challenge: q.Get("code_challenge"), Nonce: q.Get("nonce")}
	switch {
	case q.Get("response_type") != "code":
		return a, "response_type must be code"
	case a.ClientID == "":
		return a, "client_id is required"
	case !validRedirect(a.RedirectURI):
		return a, "redirect_uri must be an absolute http or https URL without a fragment"
	case q.Get("code_challenge_method") != "S256" || len(a.Challenge) != 43:
		return a, "PKCE is required: code_challenge (S256, base64url) and code_challenge_method=S256"
	}
	return a, ""
}

func validRedirect(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Fragment == ""
}

var authorizeTmpl = template.Must(template.New("authorize").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in: CRM development issuer</title>
<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}
ul{list-style:none;padding:0}li{margin:.4rem 0}button{font:inherit;padding:.4rem .8rem;width:100%;text-align:left;cursor:pointer}
.role{color:#555;font-size:.85em}.error{color:#a00}</style></head>
<body><main>
<h1>Sign in</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{else}}
<p>The development issuer of <code>crm dev</code> signs you in as any demo user, for <strong>{{.Req.ClientID}}</strong> at {{.Req.RedirectURI}}.</p>
<form method="post" id="users">
<input type="hidden" name="response_type" value="code">
<input type="hidden" name="code_challenge_method" value="S256">
<input type="hidden" name="client_id" value="{{.Req.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.Req.RedirectURI}}">
<input type="hidden" name="state" value="{{.Req.State}}">
<input type="hidden" name="code_challenge" value="{{.Req.Challenge}}">
<input type="hidden" name="nonce" value="{{.Req.Nonce}}">
<ul>{{range .Users}}<li><button type="submit" name="sub" value="{{.Subject}}" data-sub="{{.Subject}}">{{.Name}} <span class="role">{{.Role}}</span></button></li>
{{end}}</ul>
</form>{{end}}
</main></body></html>
`))

// authorizePage lists the demo users for an authorization request.
func (d *DevIssuer) authorizePage(w http.ResponseWriter, r *http.Request) {
	req, msg := parseAuthRequest(r.URL.Query())
	data := struct {
		Req   authRequest
		Users []DevUser
		Error string
	}{Req: req, Error: msg}
	code := http.StatusOK
	if msg != "" {
		code = http.StatusBadRequest
	} else if users, err := d.users(r.Context()); err != nil {
		data.Error, code = "the demo users are not available yet: "+err.Error(), http.StatusServiceUnavailable
	} else {
		data.Users = users
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	_ = authorizeTmpl.Execute(w, data)
}

// authorize signs the chosen user in: a code, and a redirect with it.
func (d *DevIssuer) authorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8192)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	req, msg := parseAuthRequest(r.PostForm)
	if msg != "" {
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	sub := r.PostForm.Get("sub")
	users, err := d.users(r.Context())
	if err != nil {
		http.Error(w, "the demo users are not available yet: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	found := false
	for _, u := range users {
		found = found || u.Subject == sub
	}
	if !found {
		http.Error(w, "no demo user "+sub, http.StatusBadRequest)
		return
	}
	code := d.newCode(devCode{sub: sub, clientID: req.ClientID, redirectURI: req.RedirectURI, challenge: req.Challenge, nonce: req.Nonce})
	u, _ := url.Parse(req.RedirectURI)
	q := u.Query()
	q.Set("code", code)
	if req.State != "" {
		q.Set("state", req.State)
	}
	q.Set("iss", d.issuer) // RFC 9207
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// newCode stores c under a new random code, forgetting expired ones.
func (d *DevIssuer) newCode(c devCode) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	code := base64.RawURLEncoding.EncodeToString(b)
	now := d.clock()
	d.mu.Lock()
	defer d.mu.Unlock()
	ttl := d.CodeTTL
	if ttl <= 0 {
		ttl = time.Minute
	}
	c.expires = now.Add(ttl)
	for k, v := range d.codes {
		if now.After(v.expires) {
			delete(d.codes, k)
		}
	}
	d.codes[code] = c
	return code
}

// takeCode removes and returns a code: a code is redeemable once, whether
// or not that redemption succeeds.
func (d *DevIssuer) takeCode(code string) (devCode, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.codes[code]
	delete(d.codes, code)
	return c, ok
}

// codeToken redeems an authorization code (a form post of a browser,
// possibly of another origin: the answer allows that origin to read it).
func (d *DevIssuer) codeToken(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" {
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Add("Vary", "Origin")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8192)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "authorization_code" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code is supported as a form")
		return
	}
	c, ok := d.takeCode(f.Get("code"))
	switch {
	case !ok:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown or already used code")
		return
	case d.clock().After(c.expires):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the code has expired")
		return
	case f.Get("client_id") != c.clientID:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the code was issued to another client")
		return
	case f.Get("redirect_uri") != c.redirectURI:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
		return
	case !pkceMatches(f.Get("code_verifier"), c.challenge):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
		return
	}
	tok, ttl, err := d.Token(r.Context(), c.sub, 0)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", err.Error())
		return
	}
	out := map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(ttl.Seconds()), "scope": "openid profile"}
	if id, err := d.idToken(c, ttl); err == nil {
		out["id_token"] = id
	}
	devJSON(w, http.StatusOK, out)
}

// pkceMatches checks a code_verifier (RFC 7636 §4.1: 43 to 128
// characters) against an S256 challenge.
func pkceMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

// idToken is the ID token of a code's sign-in, for its client.
func (d *DevIssuer) idToken(c devCode, ttl time.Duration) (string, error) {
	now := d.clock()
	claims := map[string]any{}
	if c.nonce != "" {
		claims["nonce"] = c.nonce
	}
	return jwt.Signed(d.signer).Claims(jwt.Claims{Issuer: d.issuer, Subject: c.sub, Audience: jwt.Audience{c.clientID},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(ttl))}).Claims(claims).Serialize()
}

func oauthError(w http.ResponseWriter, code int, kind, desc string) {
	devJSON(w, code, map[string]string{"error": kind, "error_description": desc})
}
