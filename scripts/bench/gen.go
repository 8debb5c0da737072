package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/svcauth"
)

// Synthetic area logs for the rebuild and catch-up sections, loaded with
// one INSERT ... SELECT per area (setup, not measured). Every customer k
// has the same history in each area; events are laid out in blocks of
// genBlock customers, each block holding first every customer's version 1,
// then every version 2, and so on. Any prefix of the layout is a valid log
// (positions contiguous from 1, stream versions contiguous from 1 in
// position order), so a log can be extended from n to m events by loading
// positions n+1..m.
const genBlock = 100

// genArea is how one area's synthetic log looks: per events for each
// customer, their stream, type and JSON data as SQL expressions over k
// (the customer number), v (the stream version) and the ids cus, sp, mgr,
// apt and deal.
type genArea struct {
	per         int
	stream, typ string
	data        string
}

var genAreas = map[string]genArea{
	// CustomerRegistered, then three CustomerUpdated.
	"customers": {per: 4, stream: "cus",
		typ: `CASE WHEN v = 1 THEN 'CustomerRegistered' ELSE 'CustomerUpdated' END`,
		data: `jsonb_build_object('customerId', cus, 'name', 'Customer ' || k || CASE WHEN v > 1 THEN ' v' || v ELSE '' END,
			'email', 'customer' || k || '@example.com', 'phone', '+44207' || lpad(k::text, 7, '0'),
			'address', jsonb_build_object('street', k || ' High Street', 'city', 'London', 'postalCode', 'SW1A 1AA', 'country', 'GB'))
			|| CASE WHEN v = 1 THEN jsonb_build_object('registeredAt', now())
				ELSE jsonb_build_object('changed', jsonb_build_array('name'), 'updatedAt', now()) END`},
	// AccountTeamAssigned, then InterestRecorded.
	"relationships": {per: 2, stream: "cus",
		typ: `CASE WHEN v = 1 THEN 'AccountTeamAssigned' ELSE 'InterestRecorded' END`,
		data: `CASE WHEN v = 1 THEN jsonb_build_object('customerId', cus, 'salesRepId', sp, 'managerId', mgr, 'assignedAt', now())
			ELSE jsonb_build_object('customerId', cus, 'interest', 'golf', 'interests', jsonb_build_array('golf'), 'recordedAt', now()) END`},
	// AppointmentScheduled, then AppointmentRescheduled a day later.
	"appointments": {per: 2, stream: "apt",
		typ: `CASE WHEN v = 1 THEN 'AppointmentScheduled' ELSE 'AppointmentRescheduled' END`,
		data: `jsonb_build_object('appointmentId', apt, 'customerId', cus, 'salespersonId', sp, 'location', 'London',
			'startsAt', now() + make_interval(days => v::int, hours => (k % 1000)::int), 'endsAt', now() + make_interval(days => v::int, hours => (k % 1000)::int + 1))
			|| CASE WHEN v = 1 THEN '{}'::jsonb ELSE jsonb_build_object(
				'previousStartsAt', now() + make_interval(days => 1, hours => (k % 1000)::int),
				'previousEndsAt', now() + make_interval(days => 1, hours => (k % 1000)::int + 1)) END`},
	// DealOpened, then DealWon.
	"campaigns": {per: 2, stream: "deal",
		typ: `CASE WHEN v = 1 THEN 'DealOpened' ELSE 'DealWon' END`,
		data: `jsonb_build_object('dealId', deal, 'customerId', cus, 'salesRepId', sp, 'product', 'Widget',
			'value', jsonb_build_object('amount', '1350.50', 'currencyCode', 'EUR'))`},
}

// genPerCustomer is the events one customer has over the four areas.
const genPerCustomer = 10

// fillArea loads positions from+1..to of area's synthetic log into the
// events table of schema area (which must exist).
func fillArea(ctx context.Context, pool *pgxpool.Pool, area string, from, to int64) error {
	if to <= from {
		return nil
	}
	g := genAreas[area]
	sql := fmt.Sprintf(`INSERT INTO %[1]s.events (position, event_id, stream_id, version, type, data, metadata, recorded_at)
		SELECT p, gen_random_uuid(), %[2]s, v, %[3]s, %[4]s, '{"correlationId":"bench"}', now()
		FROM (SELECT p, v, k,
				'cus_' || md5('c' || k)::uuid AS cus, 'apt_' || md5('a' || k)::uuid AS apt,
				'deal_' || md5('d' || k)::uuid AS deal, 'sp_' || md5('s' || (k %% 50))::uuid AS sp,
				'sp_' || md5('m' || (k %% 5))::uuid AS mgr
			FROM (SELECT p, ((p - 1) %% ($3::bigint * $4::bigint)) / $3::bigint + 1 AS v, ((p - 1) / ($3::bigint * $4::bigint)) * $3::bigint + (p - 1) %% $3::bigint + 1 AS k
				FROM generate_series($1::bigint, $2::bigint) p) n) g`,
		area, g.stream, g.typ, g.data)
	if _, err := pool.Exec(ctx, sql, from+1, to, genBlock, g.per); err != nil {
		return fmt.Errorf("fill %s log %d..%d: %w", area, from+1, to, err)
	}
	return nil
}

// fillAreas extends the four areas' logs from a history of from events in
// all (genPerCustomer per customer) to one of to events, an area per
// connection.
func fillAreas(ctx context.Context, pool *pgxpool.Pool, from, to int64) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(genAreas))
	for area, a := range genAreas {
		per := int64(a.per)
		wg.Go(func() { errs <- fillArea(ctx, pool, area, from/genPerCustomer*per, to/genPerCustomer*per) })
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// logServer serves areas' logs over HTTP as the services do (GET /events),
// from this process, for crm processes that read them.
type logServer struct {
	urls map[string]string
	logs []*eventlog.Log
	srvs []*http.Server
}

// serveLogs opens the log in schema area of pool for each area and serves
// it on a port of its own.
func serveLogs(ctx context.Context, pool *pgxpool.Pool, areas ...string) (*logServer, error) {
	// Served as the services serve them: to holders of the credential.
	key, err := svcauth.ParseKey(serviceKey)
	if err != nil {
		return nil, err
	}
	s := &logServer{urls: map[string]string{}}
	for _, area := range areas {
		l, err := eventlog.Open(ctx, eventlog.Config{Pool: pool, Schema: area})
		if err != nil {
			s.close()
			return nil, err
		}
		s.logs = append(s.logs, l)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.close()
			return nil, err
		}
		srv := &http.Server{Handler: key.Require(eventlog.NewHandler(l)), ReadHeaderTimeout: 10 * time.Second}
		s.srvs = append(s.srvs, srv)
		go srv.Serve(ln)
		s.urls[area] = "http://" + ln.Addr().String()
	}
	return s, nil
}

// env is the crm environment variables naming each served area's URL.
func (s *logServer) env() []string {
	var out []string
	for area, u := range s.urls {
		out = append(out, "CRM_"+strings.ToUpper(area)+"_URL="+u)
	}
	return out
}

func (s *logServer) close() {
	for _, srv := range s.srvs {
		srv.Close()
	}
	for _, l := range s.logs {
		l.Close()
	}
}
