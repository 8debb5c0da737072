package main

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	pkgs := []pkg{
		// allowed
		{ImportPath: "crm/services/customers/domain", Imports: []string{"errors", "time", "crm/eventlog/errcode", "crm/eventlog/ids"}},
		{ImportPath: "crm/services/customers/domain/customer", Imports: []string{"crm/services/customers/domain"}},
		{ImportPath: "crm/services/customers/app", Imports: []string{"crm/services/customers/domain", "crm/eventlog", "github.com/jackc/pgx/v5"}},
		{ImportPath: "crm/gateway", Imports: []string{"crm/services/customers/domain", "crm/services/campaigns/domain"}},
		{ImportPath: "crm/services/shared", Imports: []string{"crm/services/customers"}},
		// violations
		{ImportPath: "crm/services/appointments/app", Imports: []string{"crm/services/customers/domain"}},
		{ImportPath: "crm/services/campaigns", XTestImports: []string{"crm/services/relationships"}},
		{ImportPath: "crm/services/relationships/domain", Imports: []string{"crm/eventlog", "github.com/google/uuid"},
			TestImports: []string{"testing", "crm/eventlog/testenv"}},
		{ImportPath: "crm/services/campaigns/domain", Imports: []string{"crm/services/campaigns/app"}},
	}
	got := check(pkgs)
	want := []string{
		"crm/services/appointments/app imports crm/services/customers/domain: areas never",
		"crm/services/campaigns imports crm/services/relationships: areas never",
		"crm/services/campaigns/domain imports crm/services/campaigns/app: domain packages",
		"crm/services/relationships/domain imports crm/eventlog/testenv: domain packages",
		"crm/services/relationships/domain imports crm/eventlog: domain packages",
		"crm/services/relationships/domain imports github.com/google/uuid: domain packages",
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
