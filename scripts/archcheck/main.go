// Command archcheck enforces the module's import rules (STYLE.md rules 1
// and 2), reading `go list -json ./...` in the current module:
//
//   - a package under services/X never imports one under services/Y, for
//     two different areas X and Y (customers, appointments, relationships,
//     campaigns): areas learn about each other only from events;
//   - a package under services/*/domain imports only the standard library,
//     crm/eventlog/errcode, crm/eventlog/ids, crm/eventlog/contact and its own area's domain
//     packages, so that the domain stays pure and testable without I/O.
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
// whether it lies in that area's domain tree.
func area(importPath string) (name string, domain bool) {
	rest, ok := strings.CutPrefix(importPath, module+"/services/")
	if !ok {
		return "", false
	}
	parts := strings.Split(rest, "/")
	if !areas[parts[0]] {
		return "", false
	}
	return parts[0], len(parts) > 1 && parts[1] == "domain"
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
		from, inDomain := area(p.ImportPath)
		if from == "" {
			continue
		}
		seen := map[string]bool{}
		for _, list := range [][]string{p.Imports, p.TestImports, p.XTestImports} {
			for _, imp := range list {
				if seen[imp] {
					continue
				}
				seen[imp] = true
				to, toDomain := area(imp)
				if to != "" && to != from {
					problems = append(problems, fmt.Sprintf("%s imports %s: areas never import each other", p.ImportPath, imp))
					continue
				}
				if inDomain && domainBanned[imp] && !slices.Contains(p.TestImports, imp) && !slices.Contains(p.XTestImports, imp) {
					problems = append(problems, fmt.Sprintf("%s imports %s: domain packages do no I/O and draw no randomness", p.ImportPath, imp))
				}
				if inDomain && !isStd(imp) && !domainAllowed[imp] && !(to == from && toDomain) {
					problems = append(problems, fmt.Sprintf("%s imports %s: domain packages import only the standard library and %s/eventlog/{errcode,ids,contact}",
						p.ImportPath, imp, module))
				}
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// checkClock reports domain source files (tests excluded) that read the
// clock.
func checkClock(pkgs []pkg) []string {
	var problems []string
	for _, p := range pkgs {
		if _, inDomain := area(p.ImportPath); !inDomain {
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
