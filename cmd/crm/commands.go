package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/projector"
)

func cmdDev(ctx context.Context, a *app, args []string) error {
	fs := flagSet("dev")
	httpAddr := fs.String("http-addr", "", "gateway listen address (default $CRM_HTTP_ADDR or "+defaultHTTPAddr+")")
	if err := a.parse(fs, "", "Run the gateway, the four write services with their relays and the projector in\n"+
		"one process, applying migrations first. Only the gateway listens on a fixed port.", args, 0); err != nil {
		return err
	}
	cfg, err := a.loadConfig(func(c *Config) {
		if *httpAddr != "" {
			c.HTTPAddr = *httpAddr
		}
	})
	if err != nil {
		return err
	}
	if err := a.loadServiceKey(&cfg, "dev", true); err != nil {
		return err
	}
	return runDev(ctx, a, cfg)
}

func cmdGateway(ctx context.Context, a *app, args []string) error {
	fs := flagSet("gateway")
	httpAddr := fs.String("http-addr", "", "listen address (default $CRM_HTTP_ADDR or "+defaultHTTPAddr+")")
	if err := a.parse(fs, "", "Run the GraphQL gateway alone. It reads the read database and reaches the\n"+
		"write services at CRM_<AREA>_URL.", args, 0); err != nil {
		return err
	}
	cfg, err := a.loadConfig(func(c *Config) {
		if *httpAddr != "" {
			c.HTTPAddr = *httpAddr
		}
	})
	if err != nil {
		return err
	}
	if err := a.loadServiceKey(&cfg, "gateway", false); err != nil {
		return err
	}
	return runGateway(ctx, a, cfg)
}

func cmdService(ctx context.Context, a *app, args []string) error {
	fs := flagSet("service")
	addr := fs.String("addr", "", "listen address (default $CRM_SERVICE_ADDR or a fixed port per area)")
	if err := a.parse(fs, "AREA", "Run one write service with its relay. AREA is one of "+strings.Join(areas, ", ")+".", args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("service: want one AREA (%s)", strings.Join(areas, ", "))
	}
	area := fs.Arg(0)
	if !validArea(area) {
		return usagef("service: unknown area %q (want %s)", area, strings.Join(areas, ", "))
	}
	cfg, err := a.loadConfig(func(c *Config) {
		if *addr != "" {
			c.ServiceAddrs[area] = *addr
		}
	})
	if err != nil {
		return err
	}
	if err := a.loadServiceKey(&cfg, "service", false); err != nil {
		return err
	}
	return runService(ctx, a, cfg, area)
}

func cmdProjector(ctx context.Context, a *app, args []string) error {
	fs := flagSet("projector")
	if err := a.parse(fs, "", "Run projector workers. Several processes may run at once against the same\n"+
		"Redis and read database; each partition has one owner at a time.", args, 0); err != nil {
		return err
	}
	cfg, err := a.loadConfig(nil)
	if err != nil {
		return err
	}
	if err := a.loadServiceKey(&cfg, "projector", false); err != nil {
		return err
	}
	return runProjector(ctx, a, cfg)
}

func cmdMigrate(ctx context.Context, a *app, args []string) error {
	fs := flagSet("migrate")
	if err := a.parse(fs, "", "Apply the migrations of every component to its database (created when\n"+
		"missing), each in its own schema. Safe to run again and from several processes.", args, 0); err != nil {
		return err
	}
	cfg, err := a.loadConfig(nil)
	if err != nil {
		return err
	}
	if err := migrate(ctx, cfg, a.logger); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

func cmdProjections(ctx context.Context, a *app, args []string) error {
	fs := flagSet("projections")
	if err := a.parse(fs, "rebuild NAME", "Manage read models. `crm projections rebuild NAME --help` for the one action.", args, -1); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("projections: want an action: rebuild NAME")
	}
	if fs.Arg(0) != "rebuild" {
		return usagef("projections: unknown action %q (want rebuild)", fs.Arg(0))
	}
	rfs := flagSet("projections rebuild")
	if err := a.parse(rfs, "NAME", "Rebuild read model NAME from the event logs into new tables while the old\n"+
		"ones keep serving, then switch to them.", fs.Args()[1:], 1); err != nil {
		return err
	}
	if rfs.NArg() != 1 {
		return usagef("projections rebuild: want one NAME")
	}
	p, ok := projector.ByName(rfs.Arg(0))
	if !ok {
		var names []string
		for _, p := range projector.All() {
			names = append(names, p.Name())
		}
		return usagef("projections rebuild: unknown projection %q (want one of %s)", rfs.Arg(0), strings.Join(names, ", "))
	}
	cfg, err := a.loadConfig(nil)
	if err != nil {
		return err
	}
	if err := a.loadServiceKey(&cfg, "projections rebuild", false); err != nil {
		return err
	}
	pool, err := openPool(ctx, cfg.DatabaseURLs[readComponent], rebuildConns, "crm-rebuild")
	if err != nil {
		return fmt.Errorf("projections rebuild: %w", err)
	}
	defer pool.Close()
	// The checkpoint tables must exist before the switch locks them.
	if err := projector.Migrate(ctx, pool, readComponent, p); err != nil {
		return fmt.Errorf("projections rebuild: %w", err)
	}
	sources := map[string]consumer.LogSource{}
	for _, area := range p.Sources() {
		sources[area] = &eventlog.Client{BaseURL: cfg.ServiceURLs[area], Key: cfg.ServiceKey, Subject: "projector"}
	}
	lastLog := time.Now()
	st, err := projector.Rebuild(ctx, projector.RebuildConfig{Pool: pool, Schema: readComponent, Projection: p,
		Sources: sources, Logger: a.logger, Progress: func(pr projector.RebuildProgress) {
			if time.Since(lastLog) >= 5*time.Second {
				lastLog = time.Now()
				a.logger.Info("rebuilding", "projection", pr.Projection, "area", pr.Area, "position", pr.Position, "applied", pr.Applied)
			}
		}})
	if err != nil {
		return fmt.Errorf("projections rebuild %s: %w", p.Name(), err)
	}
	a.logger.Info("projection rebuilt", "projection", p.Name(), "replayed", st.Replayed, "caught_up", st.CaughtUp,
		"skipped", len(st.Skipped), "duration", st.Duration.String())
	return nil
}

func cmdSeed(ctx context.Context, a *app, args []string) error {
	fs := flagSet("seed")
	gql := fs.String("url", "", "GraphQL endpoint to seed through (default http://$CRM_HTTP_ADDR/graphql)")
	if err := a.parse(fs, "", "Write demo data through the gateway's public mutations.", args, 0); err != nil {
		return err
	}
	cfg, err := a.loadConfig(nil)
	if err != nil {
		return err
	}
	endpoint := *gql
	if endpoint == "" {
		endpoint = "http://" + cfg.HTTPAddr + "/graphql"
	}
	if err := validateHTTPURL(endpoint); err != nil {
		return usagef("seed: --url: %v", err)
	}
	return runSeed(ctx, a, endpoint)
}
