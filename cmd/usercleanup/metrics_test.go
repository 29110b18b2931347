package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// scrapeText reads GET /metrics.
func scrapeText(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", url, resp.StatusCode, b, err)
	}
	return b
}

// scrape reads GET /metrics and parses it with Prometheus' text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(scrapeText(t, url)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// metricValue sums the samples of a family whose labels include want: a
// counter's or gauge's value, a histogram's count.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	sum, found := 0.0, false
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum, found
}

// TestMetricsAndLogsEndToEnd runs the real program with METRICS_ADDR at
// debug level: a signed install, a refused token, an unknown path, and a
// cleanup run against the fake cloud with one throttled request; then it
// parses /metrics with Prometheus' text parser and checks the values the
// requests must have produced, and reads the log: River's periodic lines
// are debug, the run has one info line at start and at finish with its
// counts, and every line about the run names its tenant.
func TestMetricsAndLogsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	cloud := atlassiantest.New(atlassiantest.Options{Seed: 7, Users: 120})
	t.Cleanup(cloud.Close)
	metricsAddr := freeAddr(t)
	env, ks := serveEnv(t, cloud, "sqlite://"+filepath.Join(t.TempDir(), "app.db"), map[string]string{
		"METRICS_ADDR": metricsAddr, "LOG_LEVEL": "debug",
	})
	base := env["BASE_URL"]
	p := startServe(t, env)
	metricsURL := "http://" + metricsAddr + "/metrics"

	// /metrics is only on METRICS_ADDR, never with the app.
	if resp, err := http.Get(base + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /metrics on the app's address: %v %v, want 404", resp, err)
	} else {
		_ = resp.Body.Close()
	}

	site := cloud.Site(connect.Jira)
	app := connect.DescriptorParams{Product: connect.Jira, BaseURL: base, AppKey: defaultAppKey}.App()
	const clientKey, secret = "metrics-client", "shared-secret-of-the-metrics-test-0123456789"
	tenant := site.Install(app.Key, clientKey, secret)
	if err := ks.Install(context.Background(), nil, app.BaseURL, connecttest.InstallPayload{
		Key: app.Key, ClientKey: clientKey, SharedSecret: secret, BaseURL: site.BaseURL(), ProductType: string(connect.Jira),
		CloudID: site.CloudID(),
	}); err != nil {
		t.Fatalf("install: %v", err)
	}
	api := &apiClient{t: t, base: app.BaseURL + "/api", tenant: tenant, account: orgAdmin(t, cloud)}

	// A token signed with the wrong secret, and an unknown path.
	forged := *tenant
	forged.SharedSecret = "not-the-shared-secret-of-this-tenant-000000"
	bad := &apiClient{t: t, base: api.base, tenant: &forged, account: api.account}
	if code := bad.do(http.MethodGet, "/settings", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("forged token: %d, want 401", code)
	}
	if resp, err := http.Get(base + "/jira/api/runs/123/nothing-here"); err != nil {
		t.Fatal(err)
	} else {
		_ = resp.Body.Close()
	}

	managed, _ := cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	settings := map[string]any{"organization": map[string]any{"orgId": cloud.OrgID(), "apiKey": "test-org-api-key"}}
	if code := api.do(http.MethodPatch, "/settings", settings, nil); code != http.StatusOK {
		t.Fatalf("patch settings: %d", code)
	}
	var created struct{ ID int64 }
	def := map[string]any{"name": "Inactive Jira Software", "action": cleanup.ActionRemoveProductAccess, "manual": true,
		"daysInactive": 30, "licensingGroupIds": []string{managed.ID}}
	if code := api.do(http.MethodPost, "/cleanups", def, &created); code != http.StatusCreated {
		t.Fatalf("create cleanup: %d", code)
	}
	// The next request to the cloud is throttled once.
	cloud.Inject(atlassiantest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"})
	var started struct{ RunID int64 }
	if code := api.do(http.MethodPost, fmt.Sprintf("/cleanups/%d/run", created.ID), map[string]bool{"dryRun": false}, &started); code != http.StatusAccepted {
		t.Fatalf("start run: %d", code)
	}
	run := api.waitRun(started.RunID, 60*time.Second, func(r apiRun) bool { return r.Status != cleanup.RunQueued && r.Status != cleanup.RunRunning })
	if run.Status != cleanup.RunSucceeded || run.Counts.RemovedInAtlassian == 0 {
		t.Fatalf("run %s (%s), counts %+v: want succeeded with removals", run.Status, run.Error, run.Counts)
	}
	removed := 0
	for _, c := range cloud.Calls() {
		if c.Result == "removed" {
			removed++
		}
	}

	fams := scrape(t, metricsURL)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"usercleanup_lifecycle_total", map[string]string{"product": "jira", "event": "installed", "result": "ok"}, 1},
		{"usercleanup_http_request_duration_seconds", map[string]string{"route": "/jira/installed", "method": "POST", "status": "204"}, 1},
		{"usercleanup_http_request_duration_seconds", map[string]string{"route": "/jira/api/cleanups/:id/run", "method": "POST", "status": "202"}, 1},
		{"usercleanup_http_request_duration_seconds", map[string]string{"route": "/jira/api/settings", "method": "GET", "status": "401"}, 1},
		{"usercleanup_http_request_duration_seconds", map[string]string{"route": "unmatched", "status": "404"}, 2}, // /metrics and nothing-here
		{"usercleanup_auth_refused_total", map[string]string{"reason": "JWT signature invalid"}, 1},
		{"usercleanup_runs_finished_total", map[string]string{"status": "succeeded", "dry_run": "false"}, 1},
		{"usercleanup_run_users_total", map[string]string{"result": "removed_in_atlassian", "dry_run": "false"}, float64(removed)},
		{"usercleanup_outgoing_throttled_total", map[string]string{}, 1},
		{"usercleanup_runs", map[string]string{"status": "succeeded"}, 1},
		{"usercleanup_runs", map[string]string{"status": "running"}, 0},
	} {
		got, ok := metricValue(fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"usercleanup_outgoing_requests_total", map[string]string{"api": "atlassian_org", "status": "200"}},
		{"usercleanup_outgoing_requests_total", map[string]string{"api": "install_keys", "status": "200"}},
		{"usercleanup_outgoing_request_duration_seconds", map[string]string{"api": "atlassian_org"}},
		{"usercleanup_job_duration_seconds", map[string]string{"kind": "run_step", "result": "ok"}},
		{"usercleanup_job_queue_wait_seconds", map[string]string{"kind": "run_step"}},
		{"usercleanup_job_queue_depth", map[string]string{"state": "available"}},
		{"go_goroutines", nil},
	} {
		if _, ok := metricValue(fams, c.name, c.labels); !ok {
			t.Errorf("no %s%v", c.name, c.labels)
		}
	}
	if got, _ := metricValue(fams, "usercleanup_outgoing_requests_total", map[string]string{"api": "atlassian_site"}); got < float64(removed) {
		t.Errorf("outgoing requests to the site = %v, want at least the %d removals", got, removed)
	}
	// Bounded labels: every route label is a route pattern or
	// "unmatched", never a raw path with an id.
	rawID := regexp.MustCompile(`/\d+(/|$)`)
	for _, m := range fams["usercleanup_http_request_duration_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && (rawID.MatchString(l.GetValue()) || l.GetValue() == "") {
				t.Errorf("route label %q is not a route pattern", l.GetValue())
			}
		}
	}

	// The log (JSON lines at debug level).
	var runLines, chatterInfo, startLines, finishLines int
	sc := bufio.NewScanner(strings.NewReader(p.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		msg, _ := rec["msg"].(string)
		level, _ := rec["level"].(string)
		if level == "INFO" && (strings.Contains(msg, "Producer job counts") || strings.Contains(msg, "Ran successfully")) {
			chatterInfo++
		}
		if _, ok := rec["run_id"]; ok {
			runLines++
			if rec["client_key"] != clientKey {
				t.Errorf("a log line about run %v does not name its tenant: %s", rec["run_id"], sc.Text())
			}
		}
		if level == "INFO" && msg == "run started" {
			startLines++
		}
		if level == "INFO" && msg == "run finished" {
			finishLines++
			counts, _ := rec["counts"].(map[string]any)
			if rec["status"] != cleanup.RunSucceeded || counts["removed_in_atlassian"] != float64(run.Counts.RemovedInAtlassian) {
				t.Errorf("run finished line without the final status and counts: %s", sc.Text())
			}
		}
	}
	if chatterInfo > 0 {
		t.Errorf("%d River housekeeping lines at info, want debug", chatterInfo)
	}
	if startLines != 1 || finishLines != 1 || runLines < 2 {
		t.Errorf("run log: %d start lines, %d finish lines, %d lines with run_id; want 1, 1, ≥2", startLines, finishLines, runLines)
	}
	if !strings.Contains(p.logs.String(), "Producer job counts") {
		t.Log("no River producer line in the debug log (fine if the run was short)")
	}
}

// TestOutgoingAPIs: outgoing requests are labelled by the API they call;
// the personal data reporting API shares api.atlassian.com with the
// Organizations API but has its own label.
func TestOutgoingAPIs(t *testing.T) {
	jcfg, err := loadJobsConfig(envFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	classify := outgoingAPIs(&config{}, jcfg, forgeConfig{})
	for url, want := range map[string]string{
		"https://api.atlassian.com/app/report-accounts/":                             "atlassian_privacy",
		"https://api.atlassian.com/admin/v1/orgs/o-1":                                "atlassian_org",
		"https://graph.microsoft.com/v1.0/groups":                                    "graph",
		"https://acme.atlassian.net/rest/api/3/group/member?groupId=1&maxResults=50": "atlassian_site",
	} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if got := classify(req); got != want {
			t.Errorf("%s: %q, want %q", url, got, want)
		}
	}
}
