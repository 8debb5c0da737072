package customers_test

import (
	"log/slog"
	"testing"

	"crm/services/customers"
	"crm/services/kit/kittest"
)

// FuzzCommands: no command body, name or header makes the customer API
// panic, answer outside the contract, or record anything when it refuses.
func FuzzCommands(f *testing.F) {
	l, _ := kittest.Log(f)
	routes := customers.NewService(l).Routes(slog.New(slog.DiscardHandler))
	target := kittest.NewFuzzTarget(l, routes)
	known := kittest.FixedID("cus", 1)
	kittest.FuzzCommands(f, target,
		kittest.Seed{Name: "register-customer", Body: `{"name":"Ada","email":"ada@example.com","phone":"+44 20 7946 0958",
			"address":{"street":"1 Main St","city":"London","postalCode":"N1","country":"GB"},"idempotencyKey":"k1"}`},
		kittest.Seed{Name: "register-customer", Body: `{"name":"Ada","email":"ada@example.com","address":{"town":"x"}}`},
		kittest.Seed{Name: "register-customer", Body: `{"name":"","email":"@","phone":"++1"}`},
		kittest.Seed{Name: "register-customer", Body: `{"name":"B","email":"b@example.com"}`, Header: 0, Value: "corr\n"},
		kittest.Seed{Name: "register-customer", Body: `{"name":"B","email":"b@example.com"}`, Header: 4, Value: "customers:x"},
		kittest.Seed{Name: "register-customer", Body: `{"name":"B","email":"b@example.com"}`, Header: 5, Value: "text/plain"},
		kittest.Seed{Name: "update-customer", Body: `{"id":"` + known + `","expectedVersion":3,"phone":""}`},
		kittest.Seed{Name: "update-customer", Body: `{"id":"cus_x","email":null,"address":{}}`},
		kittest.Seed{Name: "archive-customer", Body: `{"id":"` + known + `","reason":"left"}`},
		kittest.Seed{Name: "archive-customer", Body: `{"id":"` + kittest.FixedID("sp", 1) + `"}`},
	)
}
