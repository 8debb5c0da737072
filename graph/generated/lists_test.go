package generated

import (
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// A list is marshaled in place only when nothing under its elements
// resolves concurrently, however the selection reaches it.
func TestSelectsConcurrent(t *testing.T) {
	schema := NewExecutableSchema(Config{}).Schema()
	for _, tc := range []struct {
		query string
		want  bool
	}{
		{`{ customers { edges { node { id name salesRep { name } nextAppointment { startsAt } deals { stage } } } } }`, false},
		{`{ customers { edges { node { nextAppointment { salesperson { name } } } } } }`, true},
		{`{ customers { edges { node { appointments { totalCount } } } } }`, true},
		{`{ customers { totalCount } }`, true},
		{`{ customers { edges { node { ... on Customer { deals { customer { id } } } } } } }`, true},
		{`{ customers { edges { node { ...F } } } } fragment F on Customer { history { edges { cursor } } }`, true},
		{`{ customers { edges { node { ...F } } } } fragment F on Customer { id email }`, false},
	} {
		doc, err := gqlparser.LoadQuery(schema, tc.query)
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		sel := doc.Operations[0].SelectionSet[0].(*ast.Field).SelectionSet
		if got := selectsConcurrent(sel); got != tc.want {
			t.Errorf("%s: selectsConcurrent = %v, want %v", tc.query, got, tc.want)
		}
	}
}
