package connect

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// packageErrors reads the package's source (not its tests) and returns
// every exported package-level error variable, Err* = errors.New("…"), as
// name → message. A variable built any other way fails the test: extend
// this reader then, so the check below keeps covering every error.
func packageErrors(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	out := map[string]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if !id.IsExported() || !strings.HasPrefix(id.Name, "Err") {
						continue
					}
					msg, ok := errorsNewMessage(vs, i)
					if !ok {
						t.Fatalf("%s: %s is not errors.New(\"literal\"); teach packageErrors to read it", fset.Position(id.Pos()), id.Name)
					}
					out[id.Name] = msg
				}
			}
		}
	}
	if len(out) < 20 {
		t.Fatalf("found only %d error variables in the package source; is the reader broken?", len(out))
	}
	return out
}

// errorsNewMessage returns the literal of the i-th value if it is
// errors.New("literal").
func errorsNewMessage(vs *ast.ValueSpec, i int) (string, bool) {
	if i >= len(vs.Values) {
		return "", false
	}
	call, ok := vs.Values[i].(*ast.CallExpr)
	if !ok || len(call.Args) != 1 {
		return "", false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "New" {
		return "", false
	}
	if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "errors" {
		return "", false
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// TestStatusTableCoversEveryError: every exported error variable of the
// package has exactly one row in the status table, and every row is such
// a variable, so a new error cannot be forgotten (it would otherwise be a
// 500 and Reason would hide it).
func TestStatusTableCoversEveryError(t *testing.T) {
	vars := packageErrors(t)
	rows := map[string]int{} // message → status
	for _, r := range statusTable() {
		msg := r.err.Error()
		if _, dup := rows[msg]; dup {
			t.Errorf("statusTable lists %q twice", msg)
		}
		if http.StatusText(r.status) == "" || r.status < 400 {
			t.Errorf("statusTable maps %q to %d, not an error status", msg, r.status)
		}
		rows[msg] = r.status
	}
	for name, msg := range vars {
		if _, ok := rows[msg]; !ok {
			t.Errorf("%s (%q) has no row in statusTable (status.go): add one with its status and why", name, msg)
		}
	}
	declared := map[string]bool{}
	for _, msg := range vars {
		declared[msg] = true
	}
	for msg := range rows {
		if !declared[msg] {
			t.Errorf("statusTable has a row for %q, which is not an exported Err variable of the package", msg)
		}
	}
	if got, want := len(Errors()), len(vars); got != want {
		t.Errorf("Errors() lists %d errors, the package declares %d", got, want)
	}
}
