package chaos

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"crm/scripts/cluster"
)

// TestChaos runs the suite against real processes: the shortened run
// (`make test`), or the full one when CRM_CHAOS=full (`make chaos`).
// CRM_CHAOS_BIN names a prebuilt crm binary to use instead of building one;
// CRM_CHAOS_KEEP=1 keeps the databases of a failed run.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and redis-server")
	}
	o, timeout := Short, 6*time.Minute
	if os.Getenv("CRM_CHAOS") == "full" {
		o, timeout = Full, 50*time.Minute
	}
	o.Logf = func(format string, args ...any) { t.Logf(format, args...) }
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	dir := t.TempDir()
	bin := os.Getenv("CRM_CHAOS_BIN")
	if bin == "" {
		var err error
		if bin, err = cluster.Build(ctx, dir); err != nil {
			t.Fatal(err)
		}
	}
	keep := os.Getenv("CRM_CHAOS_KEEP") == "1"
	c, err := cluster.Start(ctx, cluster.Config{Bin: bin, Dir: dir, Prefix: "crm_chaos", Projectors: 2, Gateways: 2, KeepDatabases: keep})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("cluster close: %v", err)
		}
	})
	start := time.Now()
	rows, err := Run(ctx, c, o)
	var table strings.Builder
	PrintTable(&table, rows)
	t.Logf("chaos run %s in %v:\n%s", c.ID, time.Since(start).Round(time.Second), table.String())
	if conns, cerr := c.Connections(context.Background()); cerr == nil {
		t.Logf("PostgreSQL sessions at the end: %v", conns)
	}
	if err != nil {
		if keep {
			t.Logf("databases kept: crm_chaos_%s_*", c.ID)
		}
		for _, p := range c.Processes() {
			t.Logf("%s log ends:\n%s", p.Name, p.Tail(3000))
		}
		t.Fatal(err)
	}
}
