package domain

import (
	"strings"
	"testing"

	"crm/eventlog/errcode"
)

func archive(cmd ArchiveCustomer) func(w world) ([]Event, error) {
	return func(w world) ([]Event, error) {
		c := w.customer(cmd.CustomerID)
		return c.Archive(cmd, w.claim(c.Email), t2)
	}
}

func TestArchive(t *testing.T) {
	t.Parallel()
	ada := registered(cusA, "Ada", "ada@example.com")
	run(t, []tcase{
		{
			name:  "archive releases the email",
			given: ada,
			when:  archive(ArchiveCustomer{CustomerID: cusA, Reason: "  moved   abroad "}),
			then: []Event{
				CustomerArchived{CustomerID: cusA, Reason: "moved abroad", ArchivedAt: t2},
				CustomerEmailReleased{Email: "ada@example.com", CustomerID: cusA, ReleasedAt: t2},
			},
		},
		{
			name:  "reason is optional",
			given: ada,
			when:  archive(ArchiveCustomer{CustomerID: cusA}),
			then: []Event{
				CustomerArchived{CustomerID: cusA, ArchivedAt: t2},
				CustomerEmailReleased{Email: "ada@example.com", CustomerID: cusA, ReleasedAt: t2},
			},
		},
		{
			name:  "archive only once",
			given: concat(ada, archived(cusA, "ada@example.com")),
			when:  archive(ArchiveCustomer{CustomerID: cusA}),
			code:  errcode.Conflict,
		},
		{
			name: "unknown customer",
			when: archive(ArchiveCustomer{CustomerID: cusB}),
			code: errcode.NotFound,
		},
		{
			name: "malformed id",
			when: archive(ArchiveCustomer{CustomerID: ""}),
			code: errcode.BadUserInput, field: "id",
		},
		{
			name:  "reason too long",
			given: ada,
			when:  archive(ArchiveCustomer{CustomerID: cusA, Reason: strings.Repeat("r", MaxReasonLen+1)}),
			code:  errcode.BadUserInput, field: "reason",
		},
		{
			name:  "claim not loaded (service bug)",
			given: ada,
			when: func(w world) ([]Event, error) {
				return w.customer(cusA).Archive(ArchiveCustomer{CustomerID: cusA}, EmailClaim{}, t2)
			},
			code: errcode.Internal,
		},
	})
}
