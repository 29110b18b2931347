package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

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
