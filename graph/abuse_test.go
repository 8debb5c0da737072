package graph

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// refusal is an abusive request and how the gateway must refuse it.
type refusal struct {
	name   string
	body   any // a GraphQL request body, JSON-encoded
	codes  []string
	status int // 0: any
}

// refuseAll sends each request and checks it is refused with one of its
// codes, quickly, without a single SQL statement.
func refuseAll(t *testing.T, e *env, cases []refusal) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, err := json.Marshal(c.body)
			if err != nil {
				t.Fatal(err)
			}
			before := e.statements.Load()
			start := time.Now()
			r := e.do(http.MethodPost, "/", strings.NewReader(string(raw)))
			took := time.Since(start)
			n := e.statements.Load() - before
			t.Logf("%d bytes: status %d in %v, %d statements", len(raw), r.Status, took, n)
			if len(r.Errors) == 0 {
				t.Fatalf("accepted: %.200s", r.Data)
			}
			code, _ := r.Errors[0].Extensions["code"].(string)
			ok := false
			for _, want := range c.codes {
				ok = ok || code == want
			}
			if !ok {
				t.Fatalf("code %q (%.200s), want one of %v", code, r.Errors[0].Message, c.codes)
			}
			if c.status != 0 && r.Status != c.status {
				t.Fatalf("status %d, want %d", r.Status, c.status)
			}
			if r.Data != nil && string(r.Data) != "null" {
				t.Fatalf("refused with data %.200s", r.Data)
			}
			if n != 0 {
				t.Fatalf("%d SQL statements for a refused request", n)
			}
			if took > 5*time.Second {
				t.Fatalf("took %v to refuse", took)
			}
		})
	}
}

func query(q string, vars map[string]any) map[string]any {
	return map[string]any{"query": q, "variables": vars}
}

// nested is a selection levels deep along customer → salesRep → manager
// → manager → ...
func nested(levels int) string {
	return `{ customer(id: "cus_x") { salesRep {` + strings.Repeat(" manager {", levels) + " id" +
		strings.Repeat(" }", levels) + " } } }"
}

// aliases is a query of n aliases of field.
func aliases(n int, field string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " a%d: %s", i, field)
	}
	b.WriteString(" }")
	return b.String()
}

// fanOut is a chain of n fragments each spreading the next twice: 2^n
// fields once expanded, in a few hundred bytes.
func fanOut(n int) string {
	var b strings.Builder
	b.WriteString("{ ...F0 }")
	for i := range n {
		fmt.Fprintf(&b, " fragment F%d on Query { ...F%d ... on Query { ...F%d } }", i, i+1, i+1)
	}
	fmt.Fprintf(&b, " fragment F%d on Query { customers { totalCount } }", n)
	return b.String()
}

// manyFragments is a query spreading n distinct fragments, each selecting
// one field.
func manyFragments(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " ...F%d", i)
	}
	b.WriteString(" }")
	for i := range n {
		fmt.Fprintf(&b, " fragment F%d on Query { a%d: customers { totalCount } }", i, i)
	}
	return b.String()
}

// Abusive queries are refused by the limits before they reach the
// database: depth, complexity (aliases, fragments), the parser's token
// limit, connection sizes and the body size.
func TestAbuseRefusedBeforeTheDatabase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := seedWorld(e)
	depth := []string{"BAD_USER_INPUT"} // DEPTH_LIMIT_EXCEEDED, FRAGMENT_LIMIT_EXCEEDED
	complexity := []string{"COMPLEXITY_LIMIT_EXCEEDED"}
	tooBig := []string{"BAD_USER_INPUT"}
	refuseAll(t, e, []refusal{
		{name: "nested 13", body: query(nested(11), nil), codes: depth},
		{name: "nested 5000", body: query(nested(5000), nil), codes: append(depth, "GRAPHQL_PARSE_FAILED")},
		{name: "nested braces", body: query(strings.Repeat("{ customers ", 20000)+strings.Repeat("}", 20000), nil),
			codes: []string{"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED"}},
		{name: "1001 aliases", body: query(aliases(1001, "customers { totalCount }"), nil), codes: complexity},
		{name: "30000 aliases", body: query(aliases(30000, "customers { totalCount }"), nil), codes: append(complexity, "GRAPHQL_PARSE_FAILED")},
		{name: "60000 __typename", body: query(aliases(40000, "__typename"), nil), codes: append(complexity, "GRAPHQL_PARSE_FAILED")},
		{name: "aliases of a page of 100", body: query(aliases(100, "customers(first: 100) { edges { node { id } } }"), nil), codes: complexity},
		{name: "first 1000000", body: query(`{ customers(first: 1000000) { totalCount } }`, nil), codes: []string{"BAD_USER_INPUT"}},
		{name: "first beyond Int", body: query(`{ customers(first: 99999999999999999999) { totalCount } }`, nil),
			codes: []string{"GRAPHQL_VALIDATION_FAILED"}},
		{name: "first variable 1e12", body: query(`query($n: Int) { appointments(first: $n) { totalCount } }`, map[string]any{"n": 1e12}),
			codes: []string{"GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT"}},
		{name: "nested first 1000000", body: query(`query($id: ID!) { customer(id: $id) { history(first: 1000000) { edges { cursor } } } }`,
			map[string]any{"id": w.alice}), codes: []string{"BAD_USER_INPUT"}},
		{name: "huge search", body: query(`query($s: String) { customers(filter: {search: $s}) { totalCount } }`,
			map[string]any{"s": strings.Repeat("x", 500_000)}), codes: []string{"BAD_USER_INPUT"}},
		{name: "huge interest", body: query(`query($s: String) { customers(filter: {interest: $s}) { totalCount } }`,
			map[string]any{"s": strings.Repeat("x", 201)}), codes: []string{"BAD_USER_INPUT"}},
		{name: "huge variables", body: query(`{ customers { totalCount } }`, map[string]any{"pad": strings.Repeat("x", 2<<20)}),
			codes: tooBig, status: http.StatusRequestEntityTooLarge},
		{name: "huge list variable", body: query(`query($l: [ID!]) { customers { totalCount } }`, map[string]any{"l": make([]int, 600_000)}),
			codes: tooBig, status: http.StatusRequestEntityTooLarge},
		{name: "fragment cycle", body: query(`{ ...A } fragment A on Query { ...B } fragment B on Query { customers { totalCount } ...A }`, nil),
			codes: []string{"GRAPHQL_VALIDATION_FAILED"}},
		{name: "3000 fragments", body: query(manyFragments(3000), nil), codes: depth},
		{name: "101 fragments", body: query(manyFragments(101), nil), codes: depth},
		{name: "fragment fan-out 2^40", body: query(fanOut(40), nil), codes: complexity},
	})
}
