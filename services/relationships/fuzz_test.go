package relationships_test

import (
	"log/slog"
	"testing"

	"crm/services/kit/kittest"
	"crm/services/relationships"
	"crm/services/relationships/domain"
)

// FuzzCommands: no command body, name or header makes the relationships
// API panic, answer outside the contract, or record anything when it
// refuses.
func FuzzCommands(f *testing.F) {
	l, _ := kittest.Log(f)
	active, archived := kittest.FixedID("cus", 1), kittest.FixedID("cus", 2)
	fs := &facts{customers: map[string]domain.CustomerFact{active: domain.ActiveCustomer, archived: domain.ArchivedCustomer}}
	routes := relationships.NewService(l, fs).Routes(slog.New(slog.DiscardHandler))
	target := kittest.NewFuzzTarget(l, routes)
	sp := kittest.FixedID("sp", 1)
	kittest.FuzzCommands(f, target,
		kittest.Seed{Name: "register-salesperson", Body: `{"name":"Grace","email":"grace@example.com","role":"MANAGER","idempotencyKey":"m"}`},
		kittest.Seed{Name: "register-salesperson", Body: `{"name":"Alan","email":"alan@example.com","role":"SALES_REP","managerId":"` + sp + `"}`},
		kittest.Seed{Name: "register-salesperson", Body: `{"name":" ","email":"x","role":"CEO","managerId":"` + active + `"}`},
		kittest.Seed{Name: "assign-account-team", Body: `{"customerId":"` + active + `","salesRepId":"` + sp + `","expectedVersion":0}`},
		kittest.Seed{Name: "assign-account-team", Body: `{"customerId":"` + archived + `","salesRepId":"` + sp + `","managerId":"sp_"}`},
		kittest.Seed{Name: "record-interest", Body: `{"customerId":"` + active + `","interest":"  Solar   panels "}`, Header: 4, Value: "customers:3"},
		kittest.Seed{Name: "record-interest", Body: `{"customerId":"` + kittest.FixedID("cus", 9) + `","interest":"x"}`},
		kittest.Seed{Name: "remove-interest", Body: `{"customerId":"` + active + `","interest":"SOLAR PANELS"}`},
		kittest.Seed{Name: "remove-interest", Body: `{"customerId":"` + active + `","interest":""}`, Header: 2, Value: "actor\x7f"},
	)
}
