package main

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	pkgs := []pkg{
		// allowed
		{ImportPath: "crm/services/customers/domain", Imports: []string{"errors", "time", "crm/eventlog/errcode", "crm/eventlog/ids",
			"crm/services/customers/contract"}},
		{ImportPath: "crm/services/customers/domain/customer", Imports: []string{"crm/services/customers/domain"}},
		{ImportPath: "crm/services/customers/app", Imports: []string{"crm/services/customers/domain", "crm/eventlog", "github.com/jackc/pgx/v5"}},
		{ImportPath: "crm/services/customers/contract", Imports: []string{"time", "crypto/sha256"},
			TestImports: []string{"testing"}},
		{ImportPath: "crm/services/appointments", Imports: []string{"crm/services/customers/contract", "crm/services/kit", "crm/services/wire"}},
		{ImportPath: "crm/gateway", Imports: []string{"crm/services/customers/domain", "crm/services/campaigns/domain"}},
		{ImportPath: "crm/services/shared", Imports: []string{"crm/services/customers"}},
		{ImportPath: "crm/services/wire", Imports: []string{"strings", "crm/eventlog", "crm/eventlog/errcode"}},
		{ImportPath: "crm/services/kit", Imports: []string{"crm/services/wire", "crm/eventlog"}},
		{ImportPath: "crm/graph/svc", Imports: []string{"crm/services/wire", "crm/eventlog/errcode"}},
		{ImportPath: "crm/projector", Imports: []string{"crm/services/campaigns/contract", "crm/eventlog/verify"},
			TestImports: []string{"crm/services/customers/contract"}},
		{ImportPath: "crm/cmd/crm", Imports: []string{"crm/services/kit", "crm/services/customers"}},
		// violations
		{ImportPath: "crm/services/appointments/app", Imports: []string{"crm/services/customers/domain"}},
		{ImportPath: "crm/services/campaigns", XTestImports: []string{"crm/services/relationships"}},
		{ImportPath: "crm/services/relationships/domain", Imports: []string{"crm/eventlog", "github.com/google/uuid"},
			TestImports: []string{"testing", "crm/eventlog/testenv"}},
		{ImportPath: "crm/services/campaigns/domain", Imports: []string{"crm/services/campaigns/app", "crm/services/customers/contract"}},
		{ImportPath: "crm/services/customers/contract", Imports: []string{"crm/services/customers/domain", "crm/eventlog/errcode"}},
		{ImportPath: "crm/services/relationships/contract", Imports: []string{"crm/services/campaigns/contract"}},
		{ImportPath: "crm/services/wire", Imports: []string{"crm/services/kit"}, TestImports: []string{"crm/services/customers/domain"}},
		{ImportPath: "crm/services/kit/kittest", Imports: []string{"crm/services/customers"}},
		{ImportPath: "crm/graph", Imports: []string{"crm/services/kit"}},
		{ImportPath: "crm/graph/svc", XTestImports: []string{"crm/services/customers"}},
		{ImportPath: "crm/projector", Imports: []string{"crm/services/campaigns/domain"}, TestImports: []string{"crm/services/kit/kittest"}},
	}
	got := check(pkgs)
	want := []string{
		"crm/graph imports crm/services/kit: the read side",
		"crm/graph/svc imports crm/services/customers: the read side",
		"crm/projector imports crm/services/campaigns/domain: the read side",
		"crm/projector imports crm/services/kit/kittest: the read side",
		"crm/services/appointments/app imports crm/services/customers/domain: an area imports of another area only its contract",
		"crm/services/campaigns imports crm/services/relationships: an area imports of another area only its contract",
		"crm/services/campaigns/domain imports crm/services/campaigns/app: domain packages",
		"crm/services/campaigns/domain imports crm/services/customers/contract: domain packages",
		"crm/services/customers/contract imports crm/eventlog/errcode: contract packages",
		"crm/services/customers/contract imports crm/services/customers/domain: contract packages",
		"crm/services/kit/kittest imports crm/services/customers: services/kit knows no area",
		"crm/services/relationships/contract imports crm/services/campaigns/contract: contract packages",
		"crm/services/relationships/domain imports crm/eventlog/testenv: domain packages",
		"crm/services/relationships/domain imports crm/eventlog: domain packages",
		"crm/services/relationships/domain imports github.com/google/uuid: domain packages",
		"crm/services/wire imports crm/services/customers/domain: services/wire imports no other package",
		"crm/services/wire imports crm/services/kit: services/wire imports no other package",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d: %q, want prefix %q", i, got[i], want[i])
		}
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	pkgs, err := decode(strings.NewReader(`{"ImportPath":"crm/a","Imports":["fmt"]}
{"ImportPath":"crm/b"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 2 || pkgs[0].ImportPath != "crm/a" || pkgs[0].Imports[0] != "fmt" || pkgs[1].ImportPath != "crm/b" {
		t.Fatalf("decoded %+v", pkgs)
	}
}
