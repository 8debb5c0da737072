package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestVerifyCommand runs the real `crm verify` binary against `crm dev`'s
// databases: exit 0 when every model equals its replay, 1 with the
// differing rows printed after a live row is tampered with.
func TestVerifyCommand(t *testing.T) {
	s, env := startDev(t) // not parallel: a whole system per test is load enough
	var rep, cus struct{ ID string }
	s.gql(t, `mutation($i: RegisterSalespersonInput!) { registerSalesperson(input: $i) { id } }`,
		map[string]any{"i": map[string]any{"name": "Grace", "email": "grace@example.com", "role": "SALES_REP"}}).ok(t, "registerSalesperson", &rep)
	s.gql(t, `mutation($i: RegisterCustomerInput!) { registerCustomer(input: $i) { id } }`,
		map[string]any{"i": map[string]any{"name": "Ada", "email": "ada@example.com"}}).ok(t, "registerCustomer", &cus)
	var apt struct{ ID string }
	start := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Hour)
	s.gql(t, fmt.Sprintf(`mutation { scheduleAppointment(input: {customerId: %q, salespersonId: %q, startsAt: %q, endsAt: %q, location: "HQ"}) { id } }`,
		cus.ID, rep.ID, start.Format(time.RFC3339), start.Add(time.Hour).Format(time.RFC3339)), nil).ok(t, "scheduleAppointment", &apt)

	code, out, errOut := crm(t, env, "verify")
	if code != 0 {
		t.Fatalf("crm verify: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, label := range []string{"read.customers", "read.salespeople", "read.appointments", "read.campaigns", "read.events",
		"appointments.customers", "appointments.relationships", "relationships.customers", "campaigns.customers"} {
		if !strings.Contains(out, label+": ok (") {
			t.Errorf("crm verify: no ok line for %s in\n%s", label, out)
		}
	}

	dbURL := strings.TrimPrefix(env[0], "CRM_DATABASE_URL=")
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, sql := range []string{`UPDATE read.customers SET name = 'Tampered' WHERE id = $1`,
		`DELETE FROM appointments.replica WHERE area = 'customers' AND id = $1`} {
		if _, err := conn.Exec(context.Background(), sql, cus.ID); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut = crm(t, env, "verify", "--max-rows", "5", "customers", "appointments.customers")
	if code != 1 {
		t.Fatalf("crm verify after tampering: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("crm verify after tampering:\n%s", out)
	for _, want := range []string{
		"read.customers: DIFFERS",
		fmt.Sprintf(`customers id=%s: live={"name":"Tampered"} rebuilt={"name":"Ada"}`, cus.ID),
		"appointments.customers: DIFFERS",
		fmt.Sprintf(`replica area=customers,id=%s: missing from live, rebuilt=`, cus.ID),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "crm: verify: 2 of 2 differ from their replay: read.customers, appointments.customers") {
		t.Errorf("stderr: %s", errOut)
	}
	// Only the selected models ran.
	if strings.Contains(out, "read.events") {
		t.Errorf("unselected model verified:\n%s", out)
	}

	if code, _, errOut := crm(t, env, "verify", "nope"); code != 2 || !strings.Contains(errOut, `unknown read model or area "nope"`) {
		t.Errorf("crm verify nope: exit %d, %s", code, errOut)
	}
	if code, out, _ := crm(t, env, "verify", "--help"); code != 0 || !strings.HasPrefix(out, "Usage: crm verify") {
		t.Errorf("crm verify --help: exit %d, %s", code, out)
	}
}

func TestSelectVerifyTargets(t *testing.T) {
	labels := func(names ...string) string {
		ts, err := selectTargets(names)
		if err != nil {
			return "error: " + err.Error()
		}
		var out []string
		for _, t := range ts {
			out = append(out, t.label)
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct{ names, want string }{
		{"appointments", "read.appointments appointments.customers appointments.relationships"},
		{"read.customers", "read.customers"},
		{"customers campaigns.customers", "read.customers campaigns.customers"},
		{"replicas", "appointments.customers appointments.relationships relationships.customers campaigns.customers"},
		{"read read.events", "read.customers read.salespeople read.appointments read.campaigns read.events"},
	} {
		if got := labels(strings.Fields(c.names)...); got != c.want {
			t.Errorf("verify %s: %s, want %s", c.names, got, c.want)
		}
	}
	if got := labels("nope"); !strings.HasPrefix(got, "error: ") {
		t.Errorf("verify nope: %s", got)
	}
}
