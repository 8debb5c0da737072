package svcauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"crm/eventlog/errcode"
)

func TestSignVerify(t *testing.T) {
	t.Parallel()
	k := Random()
	tok, err := k.Sign("user-1")
	if err != nil {
		t.Fatal(err)
	}
	if sub, err := k.Verify(tok); err != nil || sub != "user-1" {
		t.Fatalf("verify: %q %v", sub, err)
	}
	if again, _ := k.Sign("user-1"); again != tok {
		t.Fatal("a fresh token was not reused")
	}
	if _, err := Random().Verify(tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("another key's token: %v", err)
	}
	for _, bad := range []string{"", "x", tok + "x", strings.Replace(tok, ".", "..", 1)} {
		if _, err := k.Verify(bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	for _, sub := range []string{"", "a\nb", strings.Repeat("x", MaxSubjectLen+1)} {
		if _, err := k.Sign(sub); err == nil {
			t.Fatalf("subject %q signed", sub)
		}
	}
}

func TestExpiredAndForeignTokens(t *testing.T) {
	t.Parallel()
	k, err := NewKey(bytes.Repeat([]byte{7}, 64)) // long enough for HS512 too
	if err != nil {
		t.Fatal(err)
	}
	k.now = func() time.Time { return time.Now().Add(-TokenLifetime - Leeway - time.Second) }
	old, err := k.Sign("user-1")
	if err != nil {
		t.Fatal(err)
	}
	k.now = time.Now
	if _, err := k.Verify(old); !errors.Is(err, ErrInvalid) {
		t.Fatalf("expired token: %v", err)
	}
	sign := func(alg jose.SignatureAlgorithm, cl jwt.Claims) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k.secret}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(s).Claims(cl).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now()
	good := jwt.Claims{Subject: "u", Issuer: Issuer, Audience: jwt.Audience{Issuer},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}
	if _, err := k.Verify(sign(jose.HS256, good)); err != nil {
		t.Fatalf("well-formed token refused: %v", err)
	}
	for name, cl := range map[string]jwt.Claims{
		"no exp":        {Subject: "u", Issuer: Issuer, Audience: jwt.Audience{Issuer}, IssuedAt: good.IssuedAt},
		"other issuer":  {Subject: "u", Issuer: "x", Audience: jwt.Audience{Issuer}, IssuedAt: good.IssuedAt, Expiry: good.Expiry},
		"other aud":     {Subject: "u", Issuer: Issuer, Audience: jwt.Audience{"x"}, IssuedAt: good.IssuedAt, Expiry: good.Expiry},
		"long lifetime": {Subject: "u", Issuer: Issuer, Audience: jwt.Audience{Issuer}, IssuedAt: good.IssuedAt, Expiry: jwt.NewNumericDate(now.Add(time.Hour))},
		"no subject":    {Issuer: Issuer, Audience: jwt.Audience{Issuer}, IssuedAt: good.IssuedAt, Expiry: good.Expiry},
	} {
		if _, err := k.Verify(sign(jose.HS256, cl)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := k.Verify(sign(jose.HS512, good)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("HS512 accepted: %v", err)
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	if _, err := NewKey(make([]byte, MinKeyBytes-1)); err == nil {
		t.Fatal("short key accepted")
	}
	secret := NewSecret()
	a, err := ParseKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	hexKey := strings.Repeat("ab", MinKeyBytes)
	if _, err := ParseKey(hexKey); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "short", "not base64 at all!!", strings.Repeat("ab", MinKeyBytes-1)} {
		if _, err := ParseKey(bad); err == nil || strings.Contains(err.Error(), bad) && bad != "" {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	b, _ := ParseKey(secret)
	tok, _ := a.Sign("projector")
	if sub, err := b.Verify(tok); err != nil || sub != "projector" {
		t.Fatalf("same secret, another Key: %q %v", sub, err)
	}
}

func TestRequireAndTransport(t *testing.T) {
	t.Parallel()
	k := Random()
	h := k.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, _ := Subject(r.Context())
		w.Write([]byte(sub))
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var b errcode.Body
	_ = json.NewDecoder(resp.Body).Decode(&b)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || b.Error == nil || b.Error.Code != errcode.Unauthenticated {
		t.Fatalf("anonymous: %d %+v", resp.StatusCode, b.Error)
	}
	c := &http.Client{Transport: k.Transport("gateway", nil)}
	resp, err = c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || body.String() != "gateway" {
		t.Fatalf("signed: %d %q", resp.StatusCode, body.String())
	}
}

// A token Verify remembers is refused once it expires, as one it checks
// for the first time; another key's cache knows nothing of it.
func TestRememberedTokenExpires(t *testing.T) {
	t.Parallel()
	k := Random()
	tok, err := k.Sign("user-1")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // checked, then remembered
		if sub, err := k.Verify(tok); err != nil || sub != "user-1" {
			t.Fatalf("fresh token: %q %v", sub, err)
		}
	}
	if _, err := Random().Verify(tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("another key accepted it: %v", err)
	}
	k.now = func() time.Time { return time.Now().Add(TokenLifetime + Leeway + time.Second) }
	if _, err := k.Verify(tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("remembered token past its expiry: %v", err)
	}
}
