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

// The domain stays pure: besides the standard library it may import only
// the shared error codes and ids, never another area, a driver, a random
// source; and it never reads the clock (decisions take now).
func TestImportsOnlyStdlibErrcodeIDs(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"crm/eventlog/errcode": true, "crm/eventlog/ids": true}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(src), "time.Now(") {
			t.Errorf("%s reads the clock", name)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if !allowed[path] && (strings.Contains(first, ".") || first == "crm" || path == "math/rand" || path == "math/rand/v2" || path == "crypto/rand") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
