package domain

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPurity keeps the domain pure: besides the standard library it imports
// only the shared errcode and ids packages (no other area, driver, I/O or
// random source), and it never reads the clock (decisions take now).
func TestPurity(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"crm/eventlog/errcode": true, "crm/eventlog/ids": true}
	banned := map[string]bool{"math/rand": true, "math/rand/v2": true, "crypto/rand": true,
		"os": true, "net": true, "net/http": true, "database/sql": true}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, clock := range []string{"time.Now(", "time.Since(", "time.Until("} {
			if strings.Contains(string(src), clock) {
				t.Errorf("%s reads the clock (%s)", name, clock)
			}
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if !allowed[path] && (strings.Contains(first, ".") || first == "crm" || banned[path]) {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
