// Command archcheck enforces the module's import rules (STYLE.md rules 1,
// 2 and 14), reading `go list -json ./...` in the current module:
//
//   - a package under services/X imports, of another area Y (customers,
//     appointments, relationships, campaigns), only services/Y/contract:
//     areas learn about each other from events, whose payloads Y publishes
//     there;
//   - a package under services/*/domain imports only the standard library,
//     crm/eventlog/errcode, crm/eventlog/ids, crm/eventlog/contact and its own
//     area's domain and contract packages, so that the domain stays pure and
//     testable without I/O;
//   - a package under services/*/contract imports only the standard library:
//     an area's published events carry no domain logic;
//   - services/wire, the HTTP contract between gateway and services, imports
//     no package under services/ (neither kit nor a domain);
//   - services/kit, which the areas share, imports no area;
//   - the read side (graph/..., projector/...) imports, of services/, only
//     services/wire and services/*/contract: never services/kit, a domain or
//     an area's service.
//
// Test imports count too. It prints one line per violation and exits 1, or
// prints a one-line summary and exits 0.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// module is the module path this check is written for.
const module = "crm"

var areas = map[string]bool{"customers": true, "appointments": true, "relationships": true, "campaigns": true}

// domainAllowed are the module's packages a domain package may import.
var domainAllowed = map[string]bool{module + "/eventlog/errcode": true, module + "/eventlog/ids": true, module + "/eventlog/contact": true}

// domainBanned are standard packages a domain package must not import: the
// domain does no I/O and draws no randomness (ids and times come in the
// command).
var domainBanned = map[string]bool{"math/rand": true, "math/rand/v2": true, "crypto/rand": true,
	"os": true, "net": true, "net/http": true, "database/sql": true}

// clockCalls read the clock; decisions take `now` as a parameter instead.
var clockCalls = []string{"time.Now(", "time.Since(", "time.Until("}

// pkg is the part of `go list -json` output the check reads.
type pkg struct {
	Dir          string
	GoFiles      []string
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func main() {
	pkgs, err := listPackages()
	if err != nil {
		fmt.Fprintf(os.Stderr, "archcheck: %v\n", err)
		os.Exit(1)
	}
	problems := append(check(pkgs), checkClock(pkgs)...)
	for _, p := range problems {
		fmt.Fprintf(os.Stderr, "archcheck: %s\n", p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
	fmt.Printf("archcheck: %d packages ok\n", len(pkgs))
}

// listPackages runs go list on every package of the module.
func listPackages() ([]pkg, error) {
	// -e: a package that does not compile is the compiler's to report; its
	// imports are still listed and checked.
	cmd := exec.Command("go", "list", "-e", "-json=Dir,GoFiles,ImportPath,Imports,TestImports,XTestImports", "./...")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go list: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	return decode(&out)
}

// decode reads go list's stream of JSON objects.
func decode(r io.Reader) ([]pkg, error) {
	var pkgs []pkg
	dec := json.NewDecoder(r)
	for {
		var p pkg
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return pkgs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
}

// area returns the area a module package belongs to ("" for none) and
// which part of it the package lies in: "domain", "contract" or "" (the
// service and anything else).
func area(importPath string) (name, part string) {
	rest, ok := strings.CutPrefix(importPath, module+"/services/")
	if !ok {
		return "", ""
	}
	parts := strings.Split(rest, "/")
	if !areas[parts[0]] {
		return "", ""
	}
	if len(parts) > 1 && (parts[1] == "domain" || parts[1] == "contract") {
		return parts[0], parts[1]
	}
	return parts[0], ""
}

// under reports whether path is dir or a package below it.
func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// readSide reports whether a package belongs to the read side: the
// gateway and the projector.
func readSide(path string) bool {
	return under(path, module+"/graph") || under(path, module+"/projector")
}

// isStd reports whether path is in the standard library: its first element
// has no dot and it is not this module's.
func isStd(path string) bool {
	if path == module || strings.HasPrefix(path, module+"/") || path == "C" {
		return false
	}
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// check returns one line per violation, sorted.
func check(pkgs []pkg) []string {
	var problems []string
	for _, p := range pkgs {
		seen := map[string]bool{}
		for _, list := range [][]string{p.Imports, p.TestImports, p.XTestImports} {
			for _, imp := range list {
				if seen[imp] {
					continue
				}
				seen[imp] = true
				problems = append(problems, checkImport(p, imp)...)
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// checkImport returns the rules p breaks by importing imp.
func checkImport(p pkg, imp string) []string {
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s imports %s: ", p.ImportPath, imp)+fmt.Sprintf(format, args...))
	}
	from, fromPart := area(p.ImportPath)
	to, toPart := area(imp)
	services := under(imp, module+"/services")
	switch {
	case readSide(p.ImportPath):
		if services && imp != module+"/services/wire" && toPart != "contract" {
			bad("the read side imports of services/ only services/wire and services/*/contract")
		}
	case under(p.ImportPath, module+"/services/wire"):
		if services && !under(imp, module+"/services/wire") {
			bad("services/wire imports no other package under services/ (no kit, no domain)")
		}
	case under(p.ImportPath, module+"/services/kit"):
		if to != "" {
			bad("services/kit knows no area")
		}
	case from == "":
	case to != "" && to != from && toPart != "contract":
		bad("an area imports of another area only its contract (services/%s/contract)", to)
	case fromPart == "contract":
		if !isStd(imp) && !(to == from && toPart == "contract") {
			bad("contract packages import only the standard library")
		}
	case fromPart == "domain":
		if domainBanned[imp] && !slices.Contains(p.TestImports, imp) && !slices.Contains(p.XTestImports, imp) {
			bad("domain packages do no I/O and draw no randomness")
		}
		if !isStd(imp) && !domainAllowed[imp] && !(to == from && (toPart == "domain" || toPart == "contract")) {
			bad("domain packages import only the standard library, %s/eventlog/{errcode,ids,contact} and their area's domain and contract", module)
		}
	}
	return problems
}

// checkClock reports domain source files (tests excluded) that read the
// clock.
func checkClock(pkgs []pkg) []string {
	var problems []string
	for _, p := range pkgs {
		if _, part := area(p.ImportPath); part != "domain" {
			continue
		}
		for _, name := range p.GoFiles {
			src, err := os.ReadFile(filepath.Join(p.Dir, name))
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", name, err))
				continue
			}
			for _, call := range clockCalls {
				if strings.Contains(string(src), call) {
					problems = append(problems, fmt.Sprintf("%s/%s calls %s: decisions take now as a parameter", p.ImportPath, name, call))
				}
			}
		}
	}
	return problems
}
