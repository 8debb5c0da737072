package graph

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedWorld(e)
	for _, c := range []struct {
		query, code, field string
	}{
		{`{ customers(first: 101) { totalCount } }`, "BAD_USER_INPUT", "first"},
		{`{ customers(first: -1) { totalCount } }`, "BAD_USER_INPUT", "first"},
		{`{ customers(after: "not-a-cursor") { totalCount } }`, "BAD_USER_INPUT", "after"},
		{`{ appointments(after: "c2VxOng") { totalCount } }`, "BAD_USER_INPUT", "after"},
		{`{ customers(filter: {status: GONE}) { totalCount } }`, "GRAPHQL_VALIDATION_FAILED", ""},
		{`{ customers { nope } }`, "GRAPHQL_VALIDATION_FAILED", ""},
		{`{ customers {`, "GRAPHQL_PARSE_FAILED", ""},
		// This gateway runs without services or projector: nothing to reach.
		{`{ projections { name } }`, "UNAVAILABLE", ""},
		{`mutation { registerCustomer(input: {name: "a", email: "a@b.c"}) { id } }`, "UNAVAILABLE", ""},
		{`mutation { openDeal(input: {customerId: "cus_x", product: "p", value: {amount: "1e5", currencyCode: "EUR"}}) { id } }`, "BAD_USER_INPUT", ""},
	} {
		r := e.post(c.query, nil)
		wantError(t, r, c.code, c.field)
	}

	// An internal failure shows no internal text.
	e.exec(`DROP TABLE {{.schema}}.deals`)
	r := e.post(`{ customers { edges { node { id deals { id } } } } }`, nil)
	wantError(t, r, "INTERNAL", "")
	for _, er := range r.Errors {
		if er.Message != "internal error" || er.Extensions["code"] != "INTERNAL" || len(er.Extensions) != 1 {
			t.Fatalf("leaked: %+v", r.Errors)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxDepth = 4 })
	w := seedWorld(e)
	ok := `query($id: ID!) { customer(id: $id) { salesRep { manager { id } } } }` // depth 4
	var got any
	e.query(&got, ok, map[string]any{"id": w.alice})
	before := e.statements.Load()
	for _, deep := range []string{
		`query($id: ID!) { customer(id: $id) { salesRep { manager { manager { id } } } } }`,
		// Fragments count too.
		`query($id: ID!) { customer(id: $id) { ...F } } fragment F on Customer { salesRep { ... on Salesperson { manager { manager { id } } } } }`,
	} {
		r := e.post(deep, map[string]any{"id": w.alice})
		er := wantError(t, r, "BAD_USER_INPUT", "query")
		if er.Extensions["reason"] != "DEPTH_LIMIT_EXCEEDED" || r.Data != nil && string(r.Data) != "null" {
			t.Fatalf("depth refusal: %+v data %s", r.Errors, r.Data)
		}
	}
	if n := e.statements.Load() - before; n > 0 {
		t.Fatalf("%d statements: refused queries must not run", n)
	}
}

func TestComplexityLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.ComplexityLimit = 5 })
	r := e.post(`{ customers { edges { node { id name email phone status } } } }`, nil)
	wantError(t, r, "COMPLEXITY_LIMIT_EXCEEDED", "")
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 1000 })
	big := `{"query": "{ customers { totalCount } }", "variables": {"pad": "` + strings.Repeat("x", 2000) + `"}}`
	r := e.do(http.MethodPost, "/", strings.NewReader(big))
	if r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", r.Status)
	}
	wantError(t, r, "BAD_USER_INPUT", "body")
	// Unknown length (chunked): refused the same way.
	r = e.do(http.MethodPost, "/", struct{ *bytes.Reader }{bytes.NewReader([]byte(big))})
	if r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked: status %d", r.Status)
	}
	r = e.post(`{ customers { totalCount } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("small body: %+v", r.Errors)
	}
}

func TestIntrospectionConfigurable(t *testing.T) {
	t.Parallel()
	off := newEnv(t)
	wantError(t, off.post(`{ __schema { queryType { name } } }`, nil), "GRAPHQL_VALIDATION_FAILED", "")
	on := newEnv(t, func(c *Config) { c.Introspection = true })
	var got any
	// A GraphiQL-style deep introspection passes the default depth and
	// complexity limits.
	on.query(&got, introspectionQuery, nil)
}

func TestGETAndAPQ(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedWorld(e)
	q := `{ customers { totalCount } }`
	r := e.do(http.MethodGet, "/?query="+url.QueryEscape(q), nil)
	if len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"totalCount":2`) {
		t.Fatalf("GET: %+v %s", r.Errors, r.Data)
	}
	// Mutations are refused over GET.
	r = e.do(http.MethodGet, "/?query="+url.QueryEscape(`mutation { winDeal(input: {id: "deal_x"}) { id } }`), nil)
	if len(r.Errors) == 0 {
		t.Fatalf("mutation over GET accepted")
	}

	sum := sha256.Sum256([]byte(q))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
	r = e.postBody(map[string]any{"extensions": ext})
	wantError(t, r, "PERSISTED_QUERY_NOT_FOUND", "")
	r = e.postBody(map[string]any{"query": q, "extensions": ext})
	if len(r.Errors) > 0 {
		t.Fatalf("register: %+v", r.Errors)
	}
	r = e.postBody(map[string]any{"extensions": ext})
	if len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"totalCount":2`) {
		t.Fatalf("persisted: %+v %s", r.Errors, r.Data)
	}
}

// introspectionQuery is GraphiQL's (abridged only in descriptions).
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`
