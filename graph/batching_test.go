package graph

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"crm/eventlog/ids"
)

// A page of 100 customers with their team, next appointment and its
// salesperson, and deals costs a handful of statements, not hundreds.
func TestPageOf100CostsFewStatements(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Appointments are with other salespeople than the account reps, one
	// each, so the nested salesperson loads are neither cache hits nor
	// batched unless the customers' fields resolve side by side.
	mgr, reps, others := ids.New(ids.Salesperson), make([]string, 5), make([]string, 100)
	e.exec(`INSERT INTO {{.schema}}.salespeople (id, name, email, role, created_at) VALUES ($1, 'M', 'm@x.io', 'MANAGER', now())`, mgr)
	for i := range reps {
		reps[i] = ids.New(ids.Salesperson)
		e.exec(`INSERT INTO {{.schema}}.salespeople (id, name, email, role, manager_id, created_at) VALUES ($1, $2, $3, 'SALES_REP', $4, now())`,
			reps[i], fmt.Sprint("rep", i), fmt.Sprintf("rep%d@x.io", i), mgr)
	}
	for i := range others {
		others[i] = ids.New(ids.Salesperson)
		e.exec(`INSERT INTO {{.schema}}.salespeople (id, name, email, role, manager_id, created_at) VALUES ($1, $2, $3, 'SALES_REP', $4, now())`,
			others[i], fmt.Sprint("other", i), fmt.Sprintf("other%d@x.io", i), mgr)
	}
	for i := range 100 {
		c, a := ids.New(ids.Customer), ids.New(ids.Appointment)
		rep := reps[i%len(reps)]
		e.exec(`INSERT INTO {{.schema}}.customers (id, registered, name, email, status, created_at, updated_at, sales_rep_id, manager_id, next_appointment_id)
			VALUES ($1, true, $2, $3, 'ACTIVE', now(), now(), $4, $5, $6)`, c, fmt.Sprint("c", i), fmt.Sprintf("c%d@x.io", i), rep, mgr, a)
		e.exec(`INSERT INTO {{.schema}}.appointments (id, registered, customer_id, salesperson_id, starts_at, ends_at, location, status, version)
			VALUES ($1, true, $2, $3, now() + interval '1 day', now() + interval '1 day 1 hour', 'x', 'SCHEDULED', 1)`, a, c, others[i%len(others)])
		for j := range 2 {
			e.exec(`INSERT INTO {{.schema}}.deals (id, customer_id, product, amount, currency, stage, version, created_at, updated_at)
				VALUES ($1, $2, $3, 10, 'EUR', 'OPEN', 1, now(), now())`, ids.New(ids.Deal), c, fmt.Sprint("p", j))
		}
	}
	var got struct {
		Customers struct {
			Edges []struct {
				Node struct {
					SalesRep, Manager struct{ Name string }
					NextAppointment   struct {
						Salesperson struct{ Name string }
					}
					Deals []struct{ Product string }
				}
			}
		}
	}
	before := e.statements.Load()
	e.query(&got, `{ customers(first: 100) { edges { node { id name
		salesRep { name } manager { name } nextAppointment { startsAt salesperson { name } } deals { product value { amount } } } } } }`, nil)
	n := e.statements.Load() - before
	t.Logf("%d SQL statements for 100 customers", n)
	if n > 10 {
		t.Fatalf("%d statements for a page of 100 customers; want at most 10", n)
	}
	if len(got.Customers.Edges) != 100 {
		t.Fatalf("%d customers", len(got.Customers.Edges))
	}
	for i, ed := range got.Customers.Edges {
		c := ed.Node
		if c.SalesRep.Name != fmt.Sprint("rep", i%5) || c.Manager.Name != "M" || c.NextAppointment.Salesperson.Name != fmt.Sprint("other", i%len(others)) || len(c.Deals) != 2 {
			t.Fatalf("customer %d: %+v", i, c)
		}
	}
}

// Paging with cursors while rows are inserted concurrently yields every
// row that existed at the start exactly once, in order.
func TestPaginationStableWhileInserting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var initial []string
	for i := range 45 {
		id := ids.New(ids.Customer)
		initial = append(initial, id)
		e.exec(`INSERT INTO {{.schema}}.customers (id, registered, name, email, status, created_at, updated_at)
			VALUES ($1, true, $2, 'x@x.io', 'ACTIVE', now(), now())`, id, fmt.Sprint("c", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	inserted := 0
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			_, err := e.db.Exec(ctx, fmt.Sprintf(`INSERT INTO %q.customers (id, registered, name, email, status, created_at, updated_at)
				VALUES ($1, true, 'new', 'n@x.io', 'ACTIVE', now(), now())`, e.schema), ids.New(ids.Customer))
			if err != nil {
				return
			}
			inserted++
		}
	}()
	seen := map[string]int{}
	var order []string
	var after *string
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
		var got struct {
			Customers struct {
				Edges    []struct{ Node struct{ ID string } }
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
		e.query(&got, `query($after: String) { customers(first: 10, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`,
			map[string]any{"after": after})
		for _, ed := range got.Customers.Edges {
			seen[ed.Node.ID]++
			order = append(order, ed.Node.ID)
		}
		// Stop once past the initial rows and a few pages of new ones.
		if !got.Customers.PageInfo.HasNextPage || len(order) >= len(initial)+30 {
			break
		}
		after = got.Customers.PageInfo.EndCursor
	}
	cancel()
	wg.Wait()
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s seen %d times", id, n)
		}
	}
	if len(order) < len(initial) {
		t.Fatalf("saw %d rows, fewer than the %d initial ones", len(order), len(initial))
	}
	for i, id := range initial {
		if order[i] != id {
			t.Fatalf("row %d: got %s want %s", i, order[i], id)
		}
	}
	t.Logf("%d rows inserted while paging", inserted)
}
