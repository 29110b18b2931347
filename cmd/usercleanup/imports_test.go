package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestGraphSDKImportRule keeps the Microsoft Graph SDK's build cost (and
// its surface) isolated: only internal/entra (with its fake) and the
// commands may import internal/entra, msgraph-sdk-go, kiota or azidentity,
// in their code or their tests.
func TestGraphSDKImportRule(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not available")
	}
	const module = "github.com/example/usercleanup"
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports,XTestImports", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	forbidden := []string{
		module + "/internal/entra",
		"github.com/microsoftgraph/",
		"github.com/microsoft/kiota-",
		"github.com/Azure/azure-sdk-for-go/sdk/azidentity",
	}
	allowed := func(pkg string) bool {
		return pkg == module+"/internal/entra" || strings.HasPrefix(pkg, module+"/internal/entra/") ||
			pkg == module+"/cmd" || strings.HasPrefix(pkg, module+"/cmd/") ||
			pkg == module+"/internal/demo" // the demo command's fake world (entratest only)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	seen := 0
	for {
		var p struct {
			ImportPath                         string
			Imports, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		if allowed(p.ImportPath) {
			continue
		}
		for _, imp := range append(append(p.Imports, p.TestImports...), p.XTestImports...) {
			for _, f := range forbidden {
				if imp == f || strings.HasPrefix(imp, f+"/") || (strings.HasSuffix(f, "/") || strings.HasSuffix(f, "-")) && strings.HasPrefix(imp, f) {
					t.Errorf("%s imports %s: only internal/entra and cmd/* may", p.ImportPath, imp)
				}
			}
		}
	}
	if seen < 10 {
		t.Fatalf("go list saw only %d packages", seen)
	}
}

// TestEmbedsTimeZoneDatabase: the program imports time/tzdata, so
// scheduled cleanups compute their times in the admin's zone (say
// Europe/Berlin) in a container image without /usr/share/zoneinfo. The
// check is on the build: a test process on a machine with zoneinfo would
// load zones from the system either way.
func TestEmbedsTimeZoneDatabase(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not available")
	}
	cmd := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	for _, imp := range strings.Fields(string(out)) {
		if imp == "time/tzdata" {
			return
		}
	}
	t.Fatalf("cmd/usercleanup does not import time/tzdata; its imports:\n%s", out)
}
