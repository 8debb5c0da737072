package graph

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"crm/eventlog/ids"
)

// BenchmarkCustomersPage serves customers(first: 20) through the handler
// over loopback HTTP, with plain fields only and with the nested relations
// make bench asks for: the gateway's own cost per page, beside its client
// and the database on the same cores.
func BenchmarkCustomersPage(b *testing.B) {
	e := newEnv(b)
	rep := ids.New(ids.Salesperson)
	e.exec(`INSERT INTO {{.schema}}.salespeople (id, name, email, role, created_at) VALUES ($1, 'R', 'r@x.io', 'SALES_REP', now())`, rep)
	for i := range 20 {
		c, a := ids.New(ids.Customer), ids.New(ids.Appointment)
		e.exec(`INSERT INTO {{.schema}}.customers (id, registered, name, email, status, created_at, updated_at, sales_rep_id, next_appointment_id)
			VALUES ($1, true, $2, $3, 'ACTIVE', now(), now(), $4, $5)`, c, fmt.Sprint("c", i), fmt.Sprintf("c%d@x.io", i), rep, a)
		e.exec(`INSERT INTO {{.schema}}.appointments (id, registered, customer_id, salesperson_id, starts_at, ends_at, location, status, version)
			VALUES ($1, true, $2, $3, now() + interval '1 day', now() + interval '1 day 1 hour', 'x', 'SCHEDULED', 1)`, a, c, rep)
		e.exec(`INSERT INTO {{.schema}}.deals (id, customer_id, product, amount, currency, stage, version, created_at, updated_at)
			VALUES ($1, $2, 'p', 10, 'EUR', 'OPEN', 1, now(), now())`, ids.New(ids.Deal), c)
	}
	url := e.srv.URL
	for _, bc := range []struct{ name, query string }{
		{"plain", `{ customers(first: 20) { edges { node { id name } } } }`},
		{"nested", `{ customers(first: 20) { edges { node { id name salesRep { name } nextAppointment { startsAt } deals { stage } } } } }`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body := fmt.Sprintf(`{"query":%q}`, bc.query)
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := http.Post(url, "application/json", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					got, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK || strings.Contains(string(got), `"errors"`) {
						b.Errorf("%d %s %v", resp.StatusCode, got, err)
						return
					}
				}
			})
		})
	}
}
