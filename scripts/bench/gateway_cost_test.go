package main

import "testing"

func TestCommandStats(t *testing.T) {
	got := commandStats("# Commandstats\r\ncmdstat_xadd:calls=12,usec=30,usec_per_call=2.50,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_client|setinfo:calls=4,usec=1\r\ncmdstat_info:calls=9,usec=5\r\n")
	want := counts{"xadd": 12, "client|setinfo": 4}
	if len(got) != len(want) || got["xadd"] != 12 || got["client|setinfo"] != 4 {
		t.Fatalf("commandStats = %v, want %v", got, want)
	}
}

func TestMetricsBy(t *testing.T) {
	m := metrics{
		`crm_db_statements_total{database="crm",kind="select"}`: 5,
		`crm_db_statements_total{database="x",kind="select"}`:   1,
		`crm_db_statements_total{database="crm",kind="insert"}`: 2,
		`crm_db_round_trips_total{database="crm"}`:              7,
		`crm_redis_round_trips_total`:                           3,
	}
	if got := m.by("crm_db_statements_total", "kind"); got["select"] != 6 || got["insert"] != 2 || len(got) != 2 {
		t.Errorf("by kind = %v", got)
	}
	if got := m.by("crm_redis_round_trips_total", "")[""]; got != 3 {
		t.Errorf("unlabelled = %v", got)
	}
	if got := counts(m.by("crm_db_statements_total", "kind")).top(1, "/s"); got != "select 6.0/s" {
		t.Errorf("top = %q", got)
	}
}
