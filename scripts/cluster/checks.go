package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Settled waits until every projection's lag is 0 (the gateway's
// projections query through gql) and returns how long that took; after
// within it fails with the last reason it was not.
func Settled(ctx context.Context, gql *GQLClient, within time.Duration) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(within)
	for {
		err := lagZero(ctx, gql)
		if err == nil {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Since(start), fmt.Errorf("read side not settled within %v: %v", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lagZero(ctx context.Context, gql *GQLClient) error {
	r, err := gql.Do(ctx, `{ projections { name state lag } }`, nil)
	if err != nil {
		return err
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("%s: %s", r.Code(), r.Errors[0].Message)
	}
	var ps []struct {
		Name, State string
		Lag         int
	}
	if err := json.Unmarshal(r.Data["projections"], &ps); err != nil {
		return err
	}
	if len(ps) == 0 {
		return errors.New("no projections")
	}
	for _, p := range ps {
		if p.Lag != 0 {
			return fmt.Errorf("projection %s: %s, lag %d", p.Name, p.State, p.Lag)
		}
	}
	return nil
}

// Verify runs `crm verify` with the cluster's environment, again (up to 5
// times) while the shared server has no free connection. It returns
// "pass"; "n/a" when the binary has no verify subcommand; or "FAIL" with
// an error carrying the command's output. took is the time it all took.
func (c *Cluster) Verify(ctx context.Context) (result string, took time.Duration, err error) {
	start := time.Now()
	var out string
	for attempt := 1; attempt <= 5; attempt++ {
		if out, err = c.Run(ctx, 5*time.Minute, "verify"); err == nil {
			return "pass", time.Since(start), nil
		}
		if !TooManyClients(out) {
			break
		}
		time.Sleep(time.Duration(attempt) * time.Second)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 2 && strings.Contains(out, "unknown subcommand") {
		return "n/a", time.Since(start), nil
	}
	if len(out) > 4000 {
		out = out[:4000] + "\n..."
	}
	return "FAIL", time.Since(start), fmt.Errorf("crm verify: %v:\n%s", err, out)
}

var metricsHTTP = &http.Client{Timeout: 5 * time.Second}

// LiveSubscriptions reads the crm_subscriptions gauge of the gateway at
// base (http://host:port).
func LiveSubscriptions(ctx context.Context, base string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := metricsHTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "crm_subscriptions "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	return 0, errors.New("no crm_subscriptions in /metrics")
}
