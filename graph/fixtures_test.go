package graph

import (
	"time"

	"crm/eventlog/ids"
)

// world is a small read model: a manager and a rep, three customers (one
// not yet registered), appointments, a campaign with an offer and deals,
// and some history.
type world struct {
	manager, rep, other       string
	alice, bob, ghost         string
	apt1, apt2, apt3, aptHide string
	cmp, cmpDraft, offer      string
	deal1, deal2              string
	t0                        time.Time
}

func seedWorld(e *env) world {
	w := world{
		manager: ids.New(ids.Salesperson), rep: ids.New(ids.Salesperson), other: ids.New(ids.Salesperson),
		alice: ids.New(ids.Customer), bob: ids.New(ids.Customer), ghost: ids.New(ids.Customer),
		apt1: ids.New(ids.Appointment), apt2: ids.New(ids.Appointment), apt3: ids.New(ids.Appointment),
		aptHide: ids.New(ids.Appointment),
		cmp:     ids.New(ids.Campaign), cmpDraft: ids.New(ids.Campaign), offer: ids.New(ids.Offer),
		deal1: ids.New(ids.Deal), deal2: ids.New(ids.Deal),
		t0: time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC),
	}
	e.exec(`INSERT INTO {{.schema}}.salespeople (id, name, email, role, manager_id, version, created_at) VALUES
		($1, 'Mia Manager', 'mia@example.com', 'MANAGER', NULL, 1, now()),
		($2, 'Rex Rep', 'rex@example.com', 'SALES_REP', $1, 1, now()),
		($3, 'Ola Other', 'ola@example.com', 'SALES_REP', $1, 1, now())`, w.manager, w.rep, w.other)
	e.exec(`INSERT INTO {{.schema}}.customers (id, registered, name, email, phone, street, city, postal_code, country,
		status, version, created_at, updated_at, sales_rep_id, manager_id, interests, products,
		upcoming_appointment_count, next_appointment_id, open_deal_count, won_totals) VALUES
		($1, true, 'Alice Adams', 'alice@example.com', '+49 1', 'Main St 1', 'Berlin', '10115', 'DE', 'ACTIVE', 3,
		 '2029-01-01T00:00:00Z', '2029-01-02T00:00:00Z', $3, $4, '{boats,cars}', '{yacht}', 1, $5, 1,
		 '{"EUR":"1250.00","USD":"10.50"}'),
		($2, true, 'Bob Brown', 'bob@sample.org', NULL, NULL, NULL, NULL, NULL, 'ARCHIVED', 2,
		 '2029-01-01T00:00:00Z', '2029-01-03T00:00:00Z', $6, NULL, '{cars}', '{}', 0, NULL, 0, '{}')`,
		w.alice, w.bob, w.rep, w.manager, w.apt1, w.other)
	// A row another area created before the customer was registered.
	e.exec(`INSERT INTO {{.schema}}.customers (id, sales_rep_id, interests) VALUES ($1, $2, '{boats}')`, w.ghost, w.rep)
	e.exec(`INSERT INTO {{.schema}}.appointments (id, registered, customer_id, customer_name, salesperson_id,
		salesperson_name, starts_at, ends_at, location, status, cancellation_reason, notes, version, created_at, updated_at) VALUES
		($1, true, $4, 'Alice Adams', $5, 'Rex Rep', $6::timestamptz, $6::timestamptz + interval '1 hour', 'Office', 'SCHEDULED', NULL, NULL, 1, now(), now()),
		($2, true, $4, 'Alice Adams', $7, 'Ola Other', $6::timestamptz - interval '30 days', $6::timestamptz - interval '30 days' + interval '1 hour', 'Cafe', 'COMPLETED', NULL, 'went well', 2, now(), now()),
		($3, true, $8, 'Bob Brown', $5, 'Rex Rep', $6::timestamptz + interval '2 days', $6::timestamptz + interval '2 days 1 hour', 'Zoom', 'CANCELLED', 'archived', NULL, 2, now(), now())`,
		w.apt1, w.apt2, w.apt3, w.alice, w.rep, w.t0, w.other, w.bob)
	e.exec(`INSERT INTO {{.schema}}.appointments (id, customer_id, salesperson_id) VALUES ($1, $2, $3)`, w.aptHide, w.alice, w.rep)
	e.exec(`INSERT INTO {{.schema}}.campaigns (id, name, status, starts_at, ends_at, offers, open_deal_count, won_totals, version, created_at) VALUES
		($1, 'Spring', 'ACTIVE', '2030-03-01T00:00:00Z', NULL,
		 jsonb_build_array(jsonb_build_object('id', $3::text, 'product', 'yacht', 'discountPercent', 10, 'validUntil', '2030-06-01T00:00:00Z')),
		 1, '{"EUR":"1250.00"}', 3, now()),
		($2, 'Draft', 'DRAFT', NULL, NULL, '[]', 0, '{}', 1, now())`, w.cmp, w.cmpDraft, w.offer)
	e.exec(`INSERT INTO {{.schema}}.deals (id, customer_id, campaign_id, offer_id, sales_rep_id, product, amount, currency, stage, lost_reason, version, created_at, updated_at) VALUES
		($1, $3, $4, $5, $6, 'yacht', 1250.00, 'EUR', 'WON', NULL, 2, now(), now()),
		($2, $3, NULL, NULL, NULL, 'dinghy', 99.999, 'EUR', 'OPEN', NULL, 1, now(), now())`,
		w.deal1, w.deal2, w.alice, w.cmp, w.offer, w.rep)
	e.exec(`INSERT INTO {{.schema}}.events (area, position, id, stream_id, version, type, data, occurred_at) VALUES
		('customers', 10, 'ev1', $1, 1, 'CustomerRegistered', '{"name":"Alice Adams"}', '2029-01-01T00:00:00Z'),
		('relationships', 4, 'ev2', $1, 1, 'AccountTeamAssigned', '{"salesRepId":"x"}', '2029-01-01T00:00:01Z'),
		('customers', 12, 'ev3', $1, 2, 'CustomerUpdated', '{"phone":"+49 1"}', '2029-01-02T00:00:00Z'),
		('customers', 11, 'ev4', $2, 1, 'CustomerRegistered', '{}', '2029-01-01T00:00:00Z')`, w.alice, w.bob)
	return w
}
