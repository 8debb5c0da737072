package auth

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	lru "github.com/hashicorp/golang-lru/v2"
)

// Config says which tokens a Verifier accepts.
type Config struct {
	// Issuer is the OpenID Connect issuer URL; tokens must carry it as
	// iss. Its keys come from its discovery document's jwks_uri (fetched
	// at start, refreshed when a token names an unknown key), unless
	// KeysFile is set.
	Issuer string
	// Audience is what tokens must carry in aud.
	Audience string
	// KeysFile, for air-gapped installs, holds the issuer's public keys:
	// a JWKS document or PEM public keys. No discovery is done.
	KeysFile string
	// RoleClaim names the claim holding the role: a string or an array of
	// strings (the most privileged known role wins); a dotted path reaches
	// into objects ("realm_access.roles"). Default "crm_role".
	RoleClaim string
	// SalespersonClaim names the claim linking sales and manager users to
	// their salesperson id. Default "crm_salesperson_id".
	SalespersonClaim string
}

// Defaults of Config's claim names.
const (
	DefaultRoleClaim        = "crm_role"
	DefaultSalespersonClaim = "crm_salesperson_id"
)

// signingAlgs are the algorithms accepted from an issuer.
var signingAlgs = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}

// Verifier verifies bearer tokens and turns them into principals.
type Verifier struct {
	cfg      Config
	verifier *oidc.IDTokenVerifier
	now      func() time.Time
	// verified remembers the principals of tokens verified already, until
	// they expire: a client sends the same token with every request, and
	// a signature check costs ~0.1 ms of CPU.
	verified *lru.Cache[string, *Principal]
}

// verifiedTokens bounds Verifier.verified.
const verifiedTokens = 10000

// NewVerifier discovers cfg.Issuer (or reads cfg.KeysFile) and returns a
// verifier of its tokens. ctx bounds the discovery only.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("auth: no issuer (CRM_AUTH_ISSUER)")
	}
	if cfg.Audience == "" {
		return nil, errors.New("auth: no audience (CRM_AUTH_AUDIENCE)")
	}
	if cfg.KeysFile != "" {
		keys, err := readKeys(cfg.KeysFile)
		if err != nil {
			return nil, err
		}
		return newVerifier(cfg, &oidc.StaticKeySet{PublicKeys: keys}), nil
	}
	// The key set outlives ctx: it refreshes itself on unknown key ids.
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("auth: discovery of %s: %w", cfg.Issuer, err)
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&doc); err != nil || doc.JWKSURI == "" {
		return nil, fmt.Errorf("auth: %s publishes no jwks_uri", cfg.Issuer)
	}
	return newVerifier(cfg, oidc.NewRemoteKeySet(context.WithoutCancel(ctx), doc.JWKSURI)), nil
}

// NewStaticVerifier verifies tokens of issuer signed by one of keys (the
// development issuer's verifier, and tests).
func NewStaticVerifier(cfg Config, keys ...crypto.PublicKey) *Verifier {
	return newVerifier(cfg, &oidc.StaticKeySet{PublicKeys: keys})
}

func newVerifier(cfg Config, keys oidc.KeySet) *Verifier {
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = DefaultRoleClaim
	}
	if cfg.SalespersonClaim == "" {
		cfg.SalespersonClaim = DefaultSalespersonClaim
	}
	cache, _ := lru.New[string, *Principal](verifiedTokens) // errs only on a size < 1
	v := &Verifier{cfg: cfg, now: time.Now, verified: cache}
	v.verifier = oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{ClientID: cfg.Audience,
		SupportedSigningAlgs: signingAlgs, Now: func() time.Time { return v.now() }})
	return v
}

// Error is a refused token; its text says why, and never echoes the token.
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

// Verify checks a raw token (signature, issuer, audience, expiry) and
// returns its principal. Every refusal is an *Error.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	if raw == "" {
		return nil, &Error{"no bearer token"}
	}
	if p, ok := v.verified.Get(raw); ok && v.now().Before(p.Expiry) {
		return p, nil
	}
	p, err := v.verify(ctx, raw)
	if err == nil {
		v.verified.Add(raw, p)
	}
	return p, err
}

func (v *Verifier) verify(ctx context.Context, raw string) (*Principal, error) {
	tok, err := v.verifier.Verify(ctx, raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return nil, &Error{"the token has expired"}
		}
		return nil, &Error{"the token is not valid: " + reason(err)}
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, &Error{"the token's claims are not readable"}
	}
	p := &Principal{Subject: tok.Subject, Expiry: tok.Expiry}
	if p.Subject == "" {
		return nil, &Error{"the token has no subject"}
	}
	p.Name, _ = claims["name"].(string)
	if p.Name == "" {
		p.Name, _ = claims["preferred_username"].(string)
	}
	if p.Role = roleOf(lookup(claims, v.cfg.RoleClaim)); p.Role == "" {
		return nil, &Error{fmt.Sprintf("the token carries no known role in claim %q", v.cfg.RoleClaim)}
	}
	if p.Role == Sales || p.Role == Manager {
		p.SalespersonID, _ = lookup(claims, v.cfg.SalespersonClaim).(string)
		if p.SalespersonID == "" {
			return nil, &Error{fmt.Sprintf("a %s token must carry claim %q", p.Role, v.cfg.SalespersonClaim)}
		}
	}
	return p, nil
}

// reason keeps go-oidc's explanation but not its "oidc: " prefix.
func reason(err error) string {
	return strings.TrimPrefix(err.Error(), "oidc: ")
}

// lookup follows a dotted claim path.
func lookup(claims map[string]any, path string) any {
	var cur any = claims
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// roleOf picks the role of a claim value: a role name, or the most
// privileged known role of an array.
func roleOf(v any) Role {
	var names []string
	switch x := v.(type) {
	case string:
		names = []string{x}
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				names = append(names, s)
			}
		}
	}
	for _, r := range Roles { // Roles is ordered most privileged first
		for _, n := range names {
			if Role(n) == r {
				return r
			}
		}
	}
	return ""
}

// readKeys reads a JWKS document or PEM public keys.
func readKeys(path string) ([]crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: keys file: %w", err)
	}
	var keys []crypto.PublicKey
	var set jose.JSONWebKeySet
	if json.Unmarshal(data, &set) == nil && len(set.Keys) > 0 {
		for _, k := range set.Keys {
			if !k.IsPublic() {
				return nil, fmt.Errorf("auth: keys file %s holds a private key; give the public keys only", path)
			}
			keys = append(keys, k.Key)
		}
		return keys, nil
	}
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth: keys file %s: %w", path, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("auth: keys file %s holds no JWKS keys nor PEM public keys", path)
	}
	return keys, nil
}
