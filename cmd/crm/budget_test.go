package main

import (
	"context"
	"testing"

	"crm/eventlog/consumer"
	"crm/eventlog/svcauth"
	"crm/eventlog/testenv"
	"crm/services/kit"
)

// TestAreaConsumersMatchBudget opens every area and checks that the
// consumer count its service's consumer pool is sized by (areaDefs) is
// the number of consumers the area runs.
func TestAreaConsumersMatchBudget(t *testing.T) {
	pool := testenv.Pool(t, testenv.Database(t))
	rdb, ns := testenv.Redis(t)
	sources := map[string]consumer.LogSource{}
	for _, a := range areas {
		sources[a] = &lazySource{}
	}
	for _, area := range areas {
		ar, err := areaDefs[area].open(context.Background(), kit.AreaConfig{Pool: pool, Redis: rdb, Namespace: ns, Sources: sources,
			ServiceKey: svcauth.Random()})
		if err != nil {
			t.Fatalf("%s: %v", area, err)
		}
		ar.Log.Close()
		if got, want := len(ar.Consumers), areaDefs[area].consumers; got != want {
			t.Errorf("%s runs %d consumers; areaDefs sizes its consumer pool for %d", area, got, want)
		}
	}
}

// TestProcessBudgets pins the budgets README.md's "Connections" table
// shows, and CRM_DB_MAX_CONNS's override.
func TestProcessBudgets(t *testing.T) {
	t.Parallel()
	shared := configFromEnv(envFunc())
	own := configFromEnv(envFunc("CRM_CUSTOMERS_DATABASE_URL=postgres://h/c", "CRM_APPOINTMENTS_DATABASE_URL=postgres://h/a",
		"CRM_RELATIONSHIPS_DATABASE_URL=postgres://h/r", "CRM_CAMPAIGNS_DATABASE_URL=postgres://h/m", "CRM_READ_DATABASE_URL=postgres://h/read"))
	capped := configFromEnv(envFunc("CRM_DB_MAX_CONNS=3"))
	for _, c := range []struct {
		name       string
		cfg        Config
		kind, area string
		want       int32
	}{
		{"service customers", own, "service", "customers", 5},
		{"service appointments", own, "service", "appointments", 7},
		{"service relationships", own, "service", "relationships", 7},
		{"service campaigns", own, "service", "campaigns", 6},
		{"projector", own, "projector", "", 4},
		{"gateway", own, "gateway", "", 8},
		{"verify, own databases", own, "verify", "", 10},
		{"verify, one database", shared, "verify", "", 3},
		{"dev, one database", shared, "dev", "", 33},
		{"dev, own databases", own, "dev", "", 37},
		{"service appointments, CRM_DB_MAX_CONNS=3", capped, "service", "appointments", 7},
		{"projector, CRM_DB_MAX_CONNS=3", capped, "projector", "", 3},
	} {
		if got := budgetTotal(processBudget(c.cfg, c.kind, c.area)); got != c.want {
			t.Errorf("%s: %d sessions, want %d (%v)", c.name, got, c.want, processBudget(c.cfg, c.kind, c.area))
		}
	}
}
