package graph

import (
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"crm/graph/generated"
)

// TestSchemaDescribed holds the served schema to documenting itself: every
// type, field, argument, input field and enum value (and directive) that
// the schema files define carries a description, which introspection and
// GraphiQL show. GraphQL's own (the __ types, the built-in scalars and
// directives) are left out. The failure lists every offender by path.
func TestSchemaDescribed(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	missing := undescribed(schema)
	if len(missing) > 0 {
		t.Errorf("%d schema elements have no description (graph/schema/*.graphqls):\n  %s",
			len(missing), strings.Join(missing, "\n  "))
	}
}

// TestSchemaDescribedFindsGaps checks the check: it must name an
// undescribed type, field, argument, input field, enum value and directive.
func TestSchemaDescribedFindsGaps(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	clone := *schema
	clone.Types = map[string]*ast.Definition{
		"Q": {Kind: ast.Object, Name: "Q", Description: "d", Position: schema.Types["Query"].Position, Fields: ast.FieldList{
			{Name: "f", Description: "d", Arguments: ast.ArgumentDefinitionList{{Name: "a"}}},
			{Name: "g"},
		}},
		"I": {Kind: ast.InputObject, Name: "I", Position: schema.Types["Query"].Position, Fields: ast.FieldList{{Name: "x"}}},
		"E": {Kind: ast.Enum, Name: "E", Description: "d", Position: schema.Types["Query"].Position,
			EnumValues: ast.EnumValueList{{Name: "V"}, {Name: "W", Description: " "}}},
		"String": schema.Types["String"], // built in: never reported
	}
	clone.Directives = map[string]*ast.DirectiveDefinition{
		"own":  {Name: "own", Position: schema.Types["Query"].Position},
		"skip": schema.Directives["skip"],
	}
	got := undescribed(&clone)
	want := []string{"@own", "E.V", "E.W", "I", "I.x", "Q.f(a)", "Q.g"}
	if !slices.Equal(got, want) {
		t.Errorf("undescribed = %q, want %q", got, want)
	}
}

// undescribed lists, sorted, the paths of the elements of the schema files
// without a description: Type, Type.field, Type.field(arg), Enum.VALUE,
// @directive, @directive(arg).
func undescribed(schema *ast.Schema) []string {
	var out []string
	blank := func(s string) bool { return strings.TrimSpace(s) == "" }
	for name, def := range schema.Types {
		if builtIn(def.Position) || strings.HasPrefix(name, "__") {
			continue
		}
		if blank(def.Description) {
			out = append(out, name)
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") { // __schema, __type: introspection's
				continue
			}
			if blank(f.Description) {
				out = append(out, name+"."+f.Name)
			}
			for _, a := range f.Arguments {
				if blank(a.Description) {
					out = append(out, name+"."+f.Name+"("+a.Name+")")
				}
			}
		}
		for _, v := range def.EnumValues {
			if blank(v.Description) {
				out = append(out, name+"."+v.Name)
			}
		}
	}
	for name, d := range schema.Directives {
		if builtIn(d.Position) {
			continue
		}
		if blank(d.Description) {
			out = append(out, "@"+name)
		}
		for _, a := range d.Arguments {
			if blank(a.Description) {
				out = append(out, "@"+name+"("+a.Name+")")
			}
		}
	}
	slices.Sort(out)
	return out
}

// builtIn: defined by GraphQL itself (gqlparser's prelude), not by us.
func builtIn(p *ast.Position) bool {
	return p != nil && p.Src != nil && p.Src.BuiltIn
}
