package access

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"crm/eventlog/errcode"
	"crm/graph/auth"
)

// Every root field of the served schema has its line in Operations, and
// every line names a root field: a new query, mutation or subscription
// cannot go unruled (Allowed refuses what the table lacks).
func TestOperationsCoverTheSchema(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../schema/*.graphqls")
	if err != nil || len(files) == 0 {
		t.Fatalf("schema files: %v %v", files, err)
	}
	var sources []*ast.Source
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, &ast.Source{Name: f, Input: string(b)})
	}
	schema, err := gqlparser.LoadSchema(sources...)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, root := range []*ast.Definition{schema.Query, schema.Mutation, schema.Subscription} {
		for _, f := range root.Fields {
			if f.Name[0] == '_' {
				continue
			}
			op := root.Name + "." + f.Name
			seen[op] = true
			if _, ok := Operations[op]; !ok {
				t.Errorf("%s has no line in Operations", op)
			}
		}
	}
	for op := range Operations {
		if !seen[op] {
			t.Errorf("Operations has %s, which the schema lacks", op)
		}
	}
	if Allowed(auth.Admin, "Query.unknown") || Allowed("root", "Query.customers") {
		t.Error("an unknown operation or role is allowed")
	}
}

// The scopes of each role: the row grants, the predicates the read store
// applies and their Go twins agree.
func TestScopes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	team := func(_ context.Context, m string) ([]string, error) {
		if m == "sp_m" {
			return []string{"sp_r"}, nil
		}
		return nil, nil
	}
	scope := func(p *auth.Principal) *Scope {
		s, err := Resolve(ctx, p, team)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	str := func(s string) *string { return &s }
	cases := []struct {
		name                    string
		s                       *Scope
		customers, appointments string
		seesRep, seesOther      bool // a customer of sp_r; one of sp_x
		personal, actor         bool
		hidden                  int
	}{
		{"admin", scope(&auth.Principal{Role: auth.Admin}), "true", "true", true, true, true, true, 0},
		{"manager", scope(&auth.Principal{Role: auth.Manager, SalespersonID: "sp_m"}),
			"(sales_rep_id = ANY(?) OR manager_id = ?)", "salesperson_id = ANY(?)", true, false, true, false, 0},
		{"sales", scope(&auth.Principal{Role: auth.Sales, SalespersonID: "sp_r"}),
			"(sales_rep_id = ANY(?) OR manager_id = ?)", "salesperson_id = ANY(?)", true, false, true, false, 0},
		{"sales without a salesperson", scope(&auth.Principal{Role: auth.Sales}), "false", "false", false, false, true, false, 0},
		{"marketing", scope(&auth.Principal{Role: auth.Marketing}), "true", "false", true, true, false, false, 2},
		{"viewer", scope(&auth.Principal{Role: auth.Viewer}), "true", "true", true, true, false, false, 1},
		{"no scope", nil, "false", "false", false, false, false, false, 2},
	}
	for _, c := range cases {
		if got := c.s.CustomerRows().SQL; got != c.customers {
			t.Errorf("%s: customers %q, want %q", c.name, got, c.customers)
		}
		if got := c.s.AppointmentRows().SQL; got != c.appointments {
			t.Errorf("%s: appointments %q, want %q", c.name, got, c.appointments)
		}
		if got := c.s.SeesCustomer(str("sp_r"), nil); got != c.seesRep {
			t.Errorf("%s: sees sp_r's customer %v", c.name, got)
		}
		if got := c.s.SeesCustomer(str("sp_x"), str("sp_y")); got != c.seesOther {
			t.Errorf("%s: sees sp_x's customer %v", c.name, got)
		}
		if c.s.SeesAppointment("sp_r") != (c.appointments != "false") {
			t.Errorf("%s: SeesAppointment disagrees with AppointmentRows", c.name)
		}
		if c.s.Personal() != c.personal || c.s.Actor() != c.actor || len(c.s.HiddenAreas()) != c.hidden {
			t.Errorf("%s: personal %v actor %v hidden %v", c.name, c.s.Personal(), c.s.Actor(), c.s.HiddenAreas())
		}
	}
	m := scope(&auth.Principal{Role: auth.Manager, SalespersonID: "sp_m"})
	if !m.SeesCustomer(nil, str("sp_m")) || !m.InTeam("sp_r") || m.InTeam("sp_x") {
		t.Error("a manager's team is wrong")
	}
	if p := m.DealRows(`"read"."customers"`); p.SQL != `customer_id IN (SELECT id FROM "read"."customers" WHERE (sales_rep_id = ANY(?) OR manager_id = ?))` || len(p.Args) != 2 {
		t.Errorf("deal rows %+v", p)
	}
	if _, err := Resolve(ctx, nil, team); errcode.CodeOf(err) != errcode.Unauthenticated {
		t.Errorf("no principal: %v", err)
	}
	if _, err := Resolve(ctx, &auth.Principal{Role: "root"}, team); errcode.CodeOf(err) != errcode.Forbidden {
		t.Errorf("unknown role: %v", err)
	}
}
