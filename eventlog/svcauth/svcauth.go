// Package svcauth is the service credential: a short-lived token, signed
// with a key the gateway, the area services and the projectors share, that
// a caller of a service's command or log API sends as
// "Authorization: Bearer TOKEN". Its subject is the actor: the verified
// user's subject for a command the gateway sends on a user's behalf, or a
// component's name ("projector", "gateway", an area reading another area's
// log) for reads.
//
// The token is a JWT (HS256, github.com/go-jose/go-jose/v4/jwt) with the
// claims sub, iss and aud (both Issuer), iat and exp (TokenLifetime after
// iat). Services accept it until exp plus Leeway.
package svcauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"crm/eventlog/errcode"
)

const (
	// Issuer is the iss and aud of every credential.
	Issuer = "crm-services"
	// TokenLifetime is how long a credential is valid after it is issued.
	TokenLifetime = 2 * time.Minute
	// Leeway is the clock skew Verify tolerates on iat and exp.
	Leeway = 30 * time.Second
	// MinKeyBytes is the shortest key NewKey accepts.
	MinKeyBytes = 32
	// MaxSubjectLen bounds a subject (it is recorded as an event's actor).
	MaxSubjectLen = 200
)

// ErrInvalid is matched (errors.Is) by every error of Verify: the token is
// missing, malformed, signed with another key, expired or not for us.
var ErrInvalid = errors.New("svcauth: invalid credential")

// Key signs and verifies credentials. Its methods are safe for concurrent
// use.
type Key struct {
	secret []byte
	signer jose.Signer
	now    func() time.Time

	mu       sync.Mutex
	cache    map[string]cached
	verified map[string]verified // by token: what Verify found, until exp
}

// verified is a token Verify accepted: its subject, and when it expires.
type verified struct {
	subject string
	exp     time.Time
}

type cached struct {
	token string
	renew time.Time // sign a new one from then on
}

// NewKey returns a key on secret, which must be at least MinKeyBytes long
// (a copy is kept).
func NewKey(secret []byte) (*Key, error) {
	if len(secret) < MinKeyBytes {
		return nil, fmt.Errorf("svcauth: the key has %d bytes, want at least %d", len(secret), MinKeyBytes)
	}
	s := append([]byte(nil), secret...)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: s}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("svcauth: %w", err)
	}
	return &Key{secret: s, signer: signer, now: time.Now, cache: map[string]cached{}, verified: map[string]verified{}}, nil
}

// ParseKey decodes a key written as hex or as base64 (standard or URL
// alphabet, padded or not), as CRM_SERVICE_KEY holds it, and returns
// NewKey of the bytes. The error never repeats the input.
func ParseKey(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("svcauth: empty key")
	}
	var raw []byte
	var err error
	if raw, err = hex.DecodeString(s); err != nil {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if raw, err = enc.DecodeString(s); err == nil {
				break
			}
		}
	}
	if err != nil {
		return nil, errors.New("svcauth: the key is neither hex nor base64")
	}
	return NewKey(raw)
}

// NewSecret returns MinKeyBytes random bytes in base64, for ParseKey (a
// harness starting separate processes gives each the same one).
func NewSecret() string {
	b := make([]byte, MinKeyBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.StdEncoding.EncodeToString(b)
}

// Random returns a key on fresh random bytes, for development (`crm dev`)
// and tests: only this process knows it.
func Random() *Key {
	k, err := ParseKey(NewSecret())
	if err != nil {
		panic(err)
	}
	return k
}

// Sign returns a credential for subject (1 to MaxSubjectLen printable
// characters). A token is reused for the first half of its lifetime, so a
// busy caller does not sign every request.
func (k *Key) Sign(subject string) (string, error) {
	if !validSubject(subject) {
		return "", fmt.Errorf("svcauth: subject must be 1 to %d printable characters", MaxSubjectLen)
	}
	now := k.now()
	k.mu.Lock()
	c, ok := k.cache[subject]
	k.mu.Unlock()
	if ok && now.Before(c.renew) {
		return c.token, nil
	}
	cl := jwt.Claims{
		Subject:  subject,
		Issuer:   Issuer,
		Audience: jwt.Audience{Issuer},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(TokenLifetime)),
	}
	tok, err := jwt.Signed(k.signer).Claims(cl).Serialize()
	if err != nil {
		return "", fmt.Errorf("svcauth: sign: %w", err)
	}
	k.mu.Lock()
	if len(k.cache) > 10000 { // many users: start over rather than grow
		clear(k.cache)
	}
	k.cache[subject] = cached{token: tok, renew: now.Add(TokenLifetime / 2)}
	k.mu.Unlock()
	return tok, nil
}

// Verify checks token (signature with this key, HS256 only, iss, aud, iat
// and exp within Leeway) and returns its subject. Every failure matches
// ErrInvalid; its text says why, for logs.
//
// A token it accepted is remembered, by its exact text, until it expires:
// the gateway sends one token per user for minutes, and checking its
// signature and claims again on every command was a twentieth of crm dev's
// CPU under load.
func (k *Key) Verify(token string) (string, error) {
	if token == "" {
		return "", fmt.Errorf("%w: no token", ErrInvalid)
	}
	k.mu.Lock()
	v, ok := k.verified[token]
	k.mu.Unlock()
	if ok && !k.now().After(v.exp.Add(Leeway)) {
		return v.subject, nil
	}
	sub, exp, err := k.verify(token)
	if err != nil {
		return "", err
	}
	k.mu.Lock()
	if len(k.verified) > 10000 { // many users: start over rather than grow
		clear(k.verified)
	}
	k.verified[token] = verified{subject: sub, exp: exp}
	k.mu.Unlock()
	return sub, nil
}

// verify checks token's signature and claims: Verify without the memory.
func (k *Key) verify(token string) (string, time.Time, error) {
	t, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var c jwt.Claims
	if err := t.Claims(k.secret, &c); err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if c.Expiry == nil || c.IssuedAt == nil {
		return "", time.Time{}, fmt.Errorf("%w: exp and iat are required", ErrInvalid)
	}
	now := k.now()
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: Issuer, AnyAudience: jwt.Audience{Issuer}, Time: now}, Leeway); err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	// A token valid for longer than we issue is not one of ours.
	if c.Expiry.Time().Sub(c.IssuedAt.Time()) > TokenLifetime {
		return "", time.Time{}, fmt.Errorf("%w: lifetime too long", ErrInvalid)
	}
	if !validSubject(c.Subject) {
		return "", time.Time{}, fmt.Errorf("%w: bad subject", ErrInvalid)
	}
	return c.Subject, c.Expiry.Time(), nil
}

func validSubject(s string) bool {
	return s != "" && len(s) <= MaxSubjectLen && utf8.ValidString(s) &&
		!strings.ContainsFunc(s, func(c rune) bool { return c < 0x20 || c == 0x7f })
}

// Authorize sets r's Authorization header to a credential for subject.
func (k *Key) Authorize(r *http.Request, subject string) error {
	tok, err := k.Sign(subject)
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

// Transport returns a RoundTripper that sends every request through base
// (http.DefaultTransport when nil) with a credential for subject. The
// request it is given is not modified.
func (k *Key) Transport(subject string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{key: k, subject: subject, base: base}
}

type transport struct {
	key     *Key
	subject string
	base    http.RoundTripper
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := t.key.Sign(t.subject)
	if err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	r2 := r.Clone(r.Context())
	r2.Header.Set("Authorization", "Bearer "+tok)
	return t.base.RoundTrip(r2)
}

// BearerToken returns the token of r's "Authorization: Bearer" header
// ("" when there is none).
func BearerToken(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

type subjectKey struct{}

// Require serves next only to requests carrying a credential k verifies,
// with its subject in the request's context (Subject). Others are answered
// 401 with the errcode body UNAUTHENTICATED (and a WWW-Authenticate
// challenge); the reason is not told.
func (k *Key) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, err := k.Verify(BearerToken(r))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="crm-services"`)
			errcode.WriteHTTP(w, errcode.New(errcode.Unauthenticated, "a valid service credential is required"))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithSubject(r.Context(), sub)))
	})
}

// WithSubject returns ctx carrying a verified subject.
func WithSubject(ctx context.Context, subject string) context.Context {
	return context.WithValue(ctx, subjectKey{}, subject)
}

// Subject is the verified subject Require put in ctx, or "" and false.
func Subject(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(subjectKey{}).(string)
	return s, ok && s != ""
}
