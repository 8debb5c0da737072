package main

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

// TestScale runs the scenario reduced (Short: 24 s of load at 12
// mutations/s, 40 subscriptions per gateway) against the real processes,
// kills included. CRM_SCALE_BIN names a prebuilt crm binary.
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and redis-server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var args []string
	if bin := os.Getenv("CRM_SCALE_BIN"); bin != "" {
		args = append(args, "-bin", bin)
	}
	var out, log bytes.Buffer
	start := time.Now()
	err := run(ctx, args, Short, &out, &log)
	t.Logf("progress:\n%s", log.String())
	t.Logf("report (%v):\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Fatal(err)
	}
}
