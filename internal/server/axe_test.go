package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// Accessibility is measured with Deque's axe-core (MPL-2.0), pinned in
// web/axe/package-lock.json and installed with
//
//	npm ci --prefix web/axe
//
// (.ci/run does that before go test). The browser tests inject it into each
// page, tab, form state and dialog they reach and fail on any violation of
// impact serious or critical; every rule id found, whatever its impact, is
// printed, so a moderate or minor finding is visible in the log too.

const axeInstall = "npm ci --prefix web/axe"

var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(filepath.Join("..", "..", "web", "axe", "node_modules", "axe-core", "axe.min.js"))
	return string(b), err
})

// axeScript returns axe.min.js, or skips the test without it (fails when
// CHROMIUM_REQUIRED=1, as in CI, with the command that installs it).
func axeScript(t *testing.T) string {
	t.Helper()
	src, err := axeSource()
	if err == nil {
		return src
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read axe-core: %v", err)
	}
	if os.Getenv("CHROMIUM_REQUIRED") == "1" {
		t.Fatalf("axe-core is not installed (web/axe/node_modules): run %q from the repository root", axeInstall)
	}
	t.Skipf("axe-core is not installed: run %q; set CHROMIUM_REQUIRED=1 to make this a failure", axeInstall)
	return ""
}

// axeViolation is one rule axe found broken, with the elements.
type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

// axeCheck runs axe-core on the frame's document as it is now (state names
// it in the log) and fails the test on serious or critical violations.
func axeCheck(t *testing.T, f context.Context, state string) []axeViolation {
	t.Helper()
	vs := axeViolations(t, f, state)
	ids := make([]string, 0, len(vs))
	for _, v := range vs {
		ids = append(ids, v.ID+" ("+v.Impact+")")
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		t.Logf("axe %s: no violations", state)
	} else {
		t.Logf("axe %s: %s", state, strings.Join(ids, ", "))
	}
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("axe %s: %s violation %s (%s) at:\n  %s", state, v.Impact, v.ID, v.Help, strings.Join(v.Targets, "\n  "))
		}
	}
	return vs
}

// axeViolations injects axe-core into the frame (once) and returns the
// violations it finds in the document as it is now.
func axeViolations(t *testing.T, f context.Context, state string) []axeViolation {
	t.Helper()
	src := axeScript(t)
	if !evalJS[bool](t, f, `typeof window.axe === 'object'`) {
		if _, err := chromedp.Run(f, chromedp.Evaluate[bool](src+";\ntrue")); err != nil {
			t.Fatalf("inject axe-core into %s: %v", state, err)
		}
	}
	// The WCAG 2.x A and AA rules and axe's best practices; the page's
	// own state is what is measured, so animations are not waited for.
	raw := evalJS[string](t, f, `axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(r.violations.map(v => ({
		id: v.id, impact: v.impact || '', help: v.help,
		targets: v.nodes.slice(0, 5).map(n => n.target.join(' ') + (n.failureSummary ? ' — ' + n.failureSummary.split('\n').slice(1).join(' ') : '')),
	}))))`)
	var vs []axeViolation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		t.Fatalf("axe-core result for %s: %v", state, err)
	}
	return vs
}
