package graph

import (
	"testing"

	"crm/eventlog/ids"
	"crm/services/wire"
)

// A mutation whose selection is its entity's id alone answers it without
// reading the row; any other field, or a fragment, reads it.
func TestMutationAnswersAnIdWithoutReadingTheRow(t *testing.T) {
	t.Parallel()
	f := newFakeServices(t)
	e := newEnv(t, withServices(f))
	id := ids.New(ids.Customer)
	e.exec(`INSERT INTO {{.schema}}.customers (id, registered, name, email, status, created_at, updated_at)
		VALUES ($1, true, 'Nina New', 'nina@example.com', 'ACTIVE', now(), now())`, id)
	f.mu.Lock()
	f.created = map[string]string{wire.RegisterCustomer: id}
	f.mu.Unlock()
	const register = `mutation { registerCustomer(input: {name: "Nina New", email: "nina@example.com"}) `
	for _, c := range []struct {
		query    string
		wantName string // "": no name selected, no read
	}{
		{register + `{ id } }`, ""},
		{register + `{ __typename id } }`, ""},
		{register + `{ id name } }`, "Nina New"},
		{register + `{ id ... on Customer { name } } }`, "Nina New"},
		{register + `{ ...f } } fragment f on Customer { id }`, "?"},
	} {
		before := e.statements.Load()
		var got struct {
			RegisterCustomer struct{ ID, Name string }
		}
		e.query(&got, c.query, nil)
		n := e.statements.Load() - before
		if got.RegisterCustomer.ID != id {
			t.Errorf("%s: id %q, want %q", c.query, got.RegisterCustomer.ID, id)
		}
		if reads := c.wantName != ""; reads != (n > 0) {
			t.Errorf("%s: %d statements; want a read: %v", c.query, n, reads)
		}
		if c.wantName != "" && c.wantName != "?" && got.RegisterCustomer.Name != c.wantName {
			t.Errorf("%s: name %q, want %q", c.query, got.RegisterCustomer.Name, c.wantName)
		}
	}
}
