package cleanup

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// labelledPrefixes maps the name prefixes of this package's string
// constants whose values reach the pages to the label kinds that must name
// them.
var labelledPrefixes = map[string][]string{
	"Run":        {"runStatus"},
	"Phase":      {"phase"},
	"Trigger":    {"trigger"},
	"Action":     {"action"},
	"Outcome":    {"outcome"},
	"SyncSource": {"syncSource"},
	"Origin":     {"origin"},
	"Removal":    {"removal"},
	"GroupsFrom": {"groupsFrom"},
	"Mapping":    {"mappingStatus"},
	"EntraMode":  {"entraMode"},
	"ExportKind": {"exportKind"},
	"Section":    {"section"},
	"Account":    {"accountType"},
	"Warning":    {"warningState"},
	"Email":      {"emailStatus"},
	"Band":       {"band"},
	"Protected":  {"protected"},
	"Snapshot":   {"snapshotStatus"},
	"UserSort":   {"userSort"},
}

// TestEveryValueHasALabel reads every string constant of the package from
// its source: a constant named with one of labelledPrefixes must have a
// label of its kind, and the label must be words, not the raw value. A new
// status, action or outcome without a label fails here, before a page shows
// "partially_failed".
func TestEveryValueHasALabel(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	labels := Labels()
	checked := 0
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if i >= len(vs.Values) {
							continue
						}
						lit, ok := vs.Values[i].(*ast.BasicLit)
						if !ok || lit.Kind != token.STRING {
							continue
						}
						value, err := strconv.Unquote(lit.Value)
						if err != nil {
							t.Fatal(err)
						}
						kinds := kindsOf(name.Name)
						if kinds == nil {
							continue
						}
						checked++
						if !hasLabel(labels, kinds, value) {
							t.Errorf("%s = %q (%s) has no label in Labels()[%q]", name.Name, value, fset.Position(name.Pos()), kinds)
						}
					}
				}
			}
		}
	}
	if checked < 40 {
		t.Errorf("only %d labelled constants found: the parse missed the package", checked)
	}
}

// kindsOf returns the label kinds of a constant name, nil when its values
// need none.
func kindsOf(name string) []string {
	for prefix, kinds := range labelledPrefixes {
		if strings.HasPrefix(name, prefix) && len(name) > len(prefix) && name[len(prefix)] >= 'A' && name[len(prefix)] <= 'Z' {
			return kinds
		}
	}
	return nil
}

func hasLabel(labels map[string]map[string]string, kinds []string, value string) bool {
	for _, k := range kinds {
		if l := labels[k][value]; l != "" && l != value {
			return true
		}
	}
	return false
}

// TestLabel: a known value's label, an unknown one unchanged.
func TestLabel(t *testing.T) {
	if got := Label("runStatus", RunPartiallyFailed); got != "Partially failed" {
		t.Errorf("Label = %q", got)
	}
	if got := Label("outcome", "no-such"); got != "no-such" {
		t.Errorf("unknown value = %q", got)
	}
	l := Labels()
	l["outcome"][OutcomeManual] = "changed"
	if Label("outcome", OutcomeManual) != "Needs manual action" {
		t.Error("Labels hands out the table itself")
	}
}

// TestEveryRowCountHasWords: every outcome counter of RunCounts (the
// rows' counts, not the evaluation's) has its words in "countOf".
func TestEveryRowCountHasWords(t *testing.T) {
	notRows := map[string]bool{"evaluated": true, "matched": true, "protected": true, "rows": true, "evaluation": true,
		"warnings": true} // the warnings' counters are a struct of their own (warning.js words them)
	rt := reflect.TypeOf(RunCounts{})
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if !notRows[name] && Labels()["countOf"][name] == "" {
			t.Errorf("RunCounts.%s (%q) has no words in Labels()[\"countOf\"]", rt.Field(i).Name, name)
		}
	}
}
