package relationships_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Areas never import each other: the service knows customers through
// Facts and won deals through the DealWon JSON it decodes itself.
func TestImportsNoOtherArea(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if rest, ok := strings.CutPrefix(path, "crm/services/"); ok && rest != "kit" && rest != "kit/kittest" &&
				rest != "relationships" && !strings.HasPrefix(rest, "relationships/") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
