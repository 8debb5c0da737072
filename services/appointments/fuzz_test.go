package appointments_test

import (
	"log/slog"
	"testing"

	"crm/services/appointments"
	"crm/services/appointments/domain"
	"crm/services/kit/kittest"
)

// FuzzCommands: no command body, name or header makes the appointments
// API panic, answer outside the contract, or record anything when it
// refuses.
func FuzzCommands(f *testing.F) {
	l, pool := kittest.AreaLog(f, appointments.Migrate, appointments.Inline)
	active, archived, broken := kittest.FixedID("cus", 1), kittest.FixedID("cus", 2), kittest.FixedID("cus", 3)
	sp := kittest.FixedID("sp", 1)
	fs := newFacts()
	fs.customers[active], fs.customers[archived] = domain.CustomerActive, domain.CustomerArchived
	fs.salespeople[sp] = true
	fs.broken = broken
	routes := appointments.NewService(l, fs, pool).Routes(slog.New(slog.DiscardHandler))
	target := kittest.NewFuzzTarget(l, routes)
	apt := kittest.FixedID("apt", 1)
	slot := func(customer, start, end string) string {
		return `{"customerId":"` + customer + `","salespersonId":"` + sp + `","startsAt":"` + start + `","endsAt":"` + end + `","location":"Head office"}`
	}
	kittest.FuzzCommands(f, target,
		kittest.Seed{Name: "schedule-appointment", Body: slot(active, "2031-03-03T09:00:00Z", "2031-03-03T10:00:00+01:00")},
		kittest.Seed{Name: "schedule-appointment", Body: slot(active, "2031-03-03T09:30:00.123456789Z", "2031-03-03T09:30:00Z")},
		kittest.Seed{Name: "schedule-appointment", Body: slot(archived, "2001-01-01T00:00:00Z", "2001-01-01T01:00:00Z")},
		kittest.Seed{Name: "schedule-appointment", Body: slot(broken, "2031-03-04T09:00:00Z", "2031-03-04T10:00:00Z")},
		kittest.Seed{Name: "schedule-appointment", Body: slot(active, "9999-12-31T23:59:59Z", "10000-01-01T00:00:00Z"), Header: 4, Value: "customers:99999999999999"},
		kittest.Seed{Name: "reschedule-appointment", Body: `{"id":"` + apt + `","startsAt":"2031-03-05T09:00:00Z","endsAt":"2031-03-05T10:00:00Z","location":null}`},
		kittest.Seed{Name: "cancel-appointment", Body: `{"id":"` + apt + `","reason":"ill","expectedVersion":1}`},
		kittest.Seed{Name: "complete-appointment", Body: `{"id":"` + apt + `","notes":"line\nline"}`},
		kittest.Seed{Name: "complete-appointment", Body: `{"id":"` + sp + `"}`},
	)
}
