package usercleanup_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The package graph as README.md's layout table describes it (the
// layering of architecture.md): the domain imports nothing of ours;
// adapters import the domain and connect; only cmd wires adapters; no
// production package imports a *test package but the demo's; each heavy or
// foreign library stays in the one adapter it belongs to. TestArchitecture
// reads the real graph with `go list` and fails on the first import that
// breaks it, naming the package, the import and the rule.

const modulePath = "github.com/example/usercleanup"

// layer is what one of the project's packages may import of the project,
// in its production code (tests may import what they need).
type layer struct {
	imports []string // module-relative package paths
	why     string
}

// layers lists every package of the project. A new package must be added
// here, with what it may import.
func layers() map[string]layer {
	domain := "the domain imports nothing of ours"
	adapter := "adapters implement the domain's interfaces: they import the domain and connect, never each other"
	return map[string]layer{
		"":                                 {nil, "the descriptor template, embedded; nothing else"},
		"web":                              {nil, "templates and assets only"},
		"connect":                          {nil, "a reusable Connect framework with no knowledge of this app"},
		"connect/connecttest":              {[]string{"connect"}, "test helpers of connect"},
		"internal/cleanup":                 {nil, domain},
		"internal/cleanup/cleanuptest":     {[]string{"internal/cleanup"}, "in-memory fakes of the domain's interfaces"},
		"internal/idpexport":               {[]string{"internal/cleanup"}, "export formats and rules over the domain's ExportStore"},
		"internal/atlassian":               {[]string{"internal/cleanup", "connect"}, adapter},
		"internal/atlassian/atlassiantest": {[]string{"internal/cleanup", "connect"}, "the fake Atlassian cloud"},
		"internal/entra":                   {[]string{"internal/cleanup"}, adapter},
		"internal/entra/entratest":         {[]string{"internal/cleanup"}, "the fake Microsoft Graph"},
		"internal/store":                   {[]string{"internal/cleanup", "connect"}, adapter},
		"internal/mailer":                  {[]string{"internal/cleanup"}, adapter},
		"internal/metrics":                 {[]string{"internal/cleanup"}, "the Prometheus adapter: it implements the measuring interfaces of the domain, the server and the jobs"},
		"internal/mailer/mailertest":       {nil, "the in-process SMTP server of tests and the demo"},
		"internal/jobs":                    {[]string{"internal/cleanup"}, "jobs run the domain through small interfaces the command wires"},
		"internal/logging":                 {nil, "the server's log output"},
		"internal/cputime":                 {nil, "the process's CPU time, for benchmarks"},
		"internal/heapfloor":               {nil, "the garbage collector's heap floor, process-wide"},
		"internal/server":                  {[]string{"internal/cleanup", "internal/idpexport", "connect", "web"}, "the HTTP layer serves the domain; it builds no adapter"},
		"internal/demo": {[]string{"internal/cleanup", "connect", "web", "connect/connecttest",
			"internal/atlassian/atlassiantest", "internal/entra/entratest", "internal/mailer/mailertest"}, "the demo command's fake world and host page"},
		"cmd/usercleanup": {[]string{"", "web", "connect", "internal/cleanup", "internal/idpexport", "internal/atlassian",
			"internal/entra", "internal/store", "internal/jobs", "internal/server", "internal/demo", "internal/mailer", "internal/metrics", "internal/logging",
			"internal/heapfloor"},
			"the command wires every adapter; the fakes only through internal/demo"},
		"cmd/ucbench": {[]string{"", "connect", "connect/connecttest", "internal/server", "internal/cleanup", "internal/idpexport", "internal/atlassian",
			"internal/atlassian/atlassiantest", "internal/entra", "internal/entra/entratest", "internal/store", "internal/jobs",
			"internal/mailer", "internal/mailer/mailertest", "internal/logging", "internal/cputime", "internal/heapfloor"},
			"a benchmark command: it wires adapters against the fakes on purpose"},
	}
}

// foreign lists the libraries outside the standard library and the
// packages that may import them directly (module-relative; a trailing "/"
// on a library is a prefix of its packages).
func foreign() map[string][]string {
	return map[string][]string{
		"github.com/golang-jwt/jwt/v5":       {"connect", "connect/connecttest", "internal/atlassian/atlassiantest"}, // the fake site checks the app's tokens
		"github.com/labstack/echo/":          {"internal/server"},
		"gorm.io/":                           {"internal/store"},
		"github.com/glebarez/sqlite":         {"internal/store"},
		"modernc.org/":                       {"internal/store"},                  // the SQLite library itself: the export's bulk reads
		"github.com/riverqueue/river":        {"internal/jobs", "internal/store"}, // store: its migrations only (checked per file)
		"github.com/jackc/pgx/":              {"internal/jobs", "internal/store"}, // store: the tenant change listener
		"github.com/microsoftgraph/":         {"internal/entra"},
		"github.com/microsoft/kiota-":        {"internal/entra"},
		"github.com/Azure/azure-sdk-for-go/": {"internal/entra"},
		"github.com/mattn/go-isatty":         {"cmd/usercleanup"},
		"github.com/wneessen/go-mail":        {"internal/mailer"},
		"github.com/emersion/":               {"internal/mailer/mailertest"},
		"github.com/prometheus/":             {"internal/metrics"},
	}
}

// graphSDK are the Microsoft Graph SDK's libraries: so that nothing else
// compiles them (a cold build takes minutes and gigabytes), only
// internal/entra imports them, in its code or its tests, and only the
// commands (code or tests) import internal/entra.
var graphSDK = []string{"github.com/microsoftgraph/", "github.com/microsoft/kiota-", "github.com/Azure/azure-sdk-for-go/"}

// bannedNames are package names that say nothing about their contents.
var bannedNames = []string{"util", "utils", "common", "models", "helpers", "misc"}

type goPackage struct {
	ImportPath, Name, Dir                    string
	GoFiles                                  []string
	Imports, TestImports, XTestImports, Deps []string
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not available")
	}
	cmd := exec.Command("go", "list", "-json=ImportPath,Name,Dir,GoFiles,Imports,TestImports,XTestImports,Deps", modulePath+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 15 {
		t.Fatalf("go list saw only %d packages", len(pkgs))
	}
	return pkgs
}

// rel is the module-relative path of one of our packages, ok false for
// anything else.
func rel(path string) (string, bool) {
	if path == modulePath {
		return "", true
	}
	r, ok := strings.CutPrefix(path, modulePath+"/")
	return r, ok
}

func show(r string) string {
	if r == "" {
		return modulePath + " (the root package)"
	}
	return r
}

func isTestPackage(r string) bool { return strings.HasSuffix(r, "test") && strings.Contains(r, "/") }

func isStandard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// matches reports whether imp is lib (or, for a lib ending in "/" or "-",
// one of its packages).
func matches(imp, lib string) bool {
	if strings.HasSuffix(lib, "/") || strings.HasSuffix(lib, "-") {
		return strings.HasPrefix(imp, lib) || imp+"/" == lib
	}
	return imp == lib || strings.HasPrefix(imp, lib+"/")
}

// TestArchitecture checks every package's imports against layers and
// foreign.
func TestArchitecture(t *testing.T) {
	table, libs := layers(), foreign()
	pkgs := listPackages(t)
	byPath := map[string]goPackage{}
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	for _, p := range pkgs {
		r, _ := rel(p.ImportPath)
		l, known := table[r]
		if !known {
			t.Errorf("%s is not in the architecture table: add it to layers() in architecture_test.go "+
				"with what it may import, and to the README's layout table", show(r))
			continue
		}
		if slices.Contains(bannedNames, p.Name) {
			t.Errorf("%s: a package named %q says nothing about what it holds; name it after its contents", show(r), p.Name)
		}
		for _, imp := range p.Imports {
			checkImport(t, r, imp, l, libs)
		}
		checkTestImports(t, r, p)
		checkDeps(t, r, p, byPath)
		if r == "internal/store" {
			checkRiverFiles(t, p)
		}
	}
}

// checkImport checks one production import of package r.
func checkImport(t *testing.T, r, imp string, l layer, libs map[string][]string) {
	t.Helper()
	if ir, ours := rel(imp); ours {
		switch {
		case isTestPackage(ir) && !slices.Contains(l.imports, ir):
			t.Errorf("%s imports %s: no production package imports a *test package (the demo's wiring lives in internal/demo)", show(r), ir)
		case !slices.Contains(l.imports, ir):
			t.Errorf("%s imports %s: %s may import only %s of ours (%s)", show(r), show(ir), show(r), list(l.imports), l.why)
		}
		return
	}
	if isStandard(imp) {
		return
	}
	for lib, allowed := range libs {
		if matches(imp, lib) {
			if !slices.Contains(allowed, r) {
				t.Errorf("%s imports %s: only %s may import %s", show(r), imp, list(allowed), strings.TrimSuffix(lib, "/"))
			}
			return
		}
	}
	t.Errorf("%s imports %s, a library the architecture table does not know: add it to foreign() in architecture_test.go with the packages that may use it", show(r), imp)
}

// checkTestImports applies the rules that hold for tests too: the Graph
// SDK and internal/entra stay where they are.
func checkTestImports(t *testing.T, r string, p goPackage) {
	t.Helper()
	for _, imp := range append(slices.Clone(p.TestImports), p.XTestImports...) {
		for _, lib := range graphSDK {
			if matches(imp, lib) && r != "internal/entra" {
				t.Errorf("%s's tests import %s: only internal/entra compiles the Microsoft Graph SDK", show(r), imp)
			}
		}
		if ir, ours := rel(imp); ours && ir == "internal/entra" && r != "internal/entra" && !strings.HasPrefix(r, "cmd/") {
			t.Errorf("%s's tests import internal/entra: only the commands do (it compiles the Microsoft Graph SDK)", show(r))
		}
	}
}

// checkDeps checks what a package pulls in transitively: no production
// package but the commands and the demo depends on a *test package. The
// message names the direct import that brings it in.
func checkDeps(t *testing.T, r string, p goPackage, byPath map[string]goPackage) {
	t.Helper()
	if strings.HasPrefix(r, "cmd/") || r == "internal/demo" || isTestPackage(r) {
		return
	}
	for _, d := range p.Deps {
		dr, ours := rel(d)
		if !ours || !isTestPackage(dr) || slices.Contains(p.Imports, d) { // a direct import is reported by checkImport
			continue
		}
		via := "its imports"
		for _, imp := range p.Imports {
			if slices.Contains(byPath[imp].Deps, d) {
				ir, _ := rel(imp)
				via = show(ir)
				break
			}
		}
		t.Errorf("%s depends on %s through %s: no production package pulls in a *test package", show(r), dr, via)
	}
}

// checkRiverFiles: the store imports River for its migrations only.
func checkRiverFiles(t *testing.T, p goPackage) {
	t.Helper()
	fset := token.NewFileSet()
	for _, name := range p.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, spec := range f.Imports {
			path, _ := strconv.Unquote(spec.Path.Value)
			if matches(path, "github.com/riverqueue/river") && !strings.Contains(name, "migration") {
				t.Errorf("internal/store/%s imports %s: the store imports River for its migrations only (river_migration.go)", name, path)
			}
		}
	}
}

func list(paths []string) string {
	if len(paths) == 0 {
		return "nothing"
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = show(p)
	}
	return strings.Join(out, ", ")
}

// TestArchitectureTableIsTrue guards the test itself: every package of the
// table exists, so a renamed package cannot leave a stale row that allows
// nothing.
func TestArchitectureTableIsTrue(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range listPackages(t) {
		r, _ := rel(p.ImportPath)
		seen[r] = true
	}
	for r := range layers() {
		if !seen[r] {
			t.Errorf("layers() lists %s, which go list does not know: remove or rename its row", show(r))
		}
	}
}
