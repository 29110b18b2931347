package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/example/usercleanup/internal/cleanup"
)

// scrape serves the registry and parses it with Prometheus' text parser.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, rec.Body)
	}
	return fams
}

// value is the sample of the family whose labels are exactly want: a
// counter's or gauge's value, a histogram's count; -1 when absent.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
next:
	for _, m := range fams[name].GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, l := range m.GetLabel() {
			if want[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func TestRouteObserver(t *testing.T) {
	m := New(nil)
	observe := m.Route(http.MethodGet, "/jira/api/runs/:id")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				observe(200, 3*time.Millisecond)
			}
			observe(404, time.Millisecond)
		})
	}
	wg.Wait()
	observe(0, time.Millisecond)   // outside 100–599: still recorded
	observe(999, time.Millisecond) // idem
	fams := scrape(t, m)
	name := "usercleanup_http_request_duration_seconds"
	for _, c := range []struct {
		status string
		want   float64
	}{{"200", 800}, {"404", 8}, {"0", 1}, {"999", 1}} {
		if got := value(fams, name, map[string]string{"route": "/jira/api/runs/:id", "method": "GET", "status": c.status}); got != c.want {
			t.Errorf("status %s: %v, want %v", c.status, got, c.want)
		}
	}
	h := fams[name].GetMetric()[0].GetHistogram()
	if h.GetSampleSum() <= 0 {
		t.Errorf("histogram sum %v", h.GetSampleSum())
	}
}

func TestTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/limited":
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/unavailable-retry":
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/unavailable":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()
	m := New(nil)
	c := &http.Client{Transport: m.Transport(nil, func(r *http.Request) string {
		if strings.HasPrefix(r.URL.Path, "/graph") {
			return "graph"
		}
		return "atlassian_site"
	})}
	for _, p := range []string{"/ok", "/graph/ok", "/limited", "/unavailable-retry", "/unavailable", "/ok"} {
		resp, err := c.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	if _, err := c.Get("http://127.0.0.1:1/refused"); err == nil {
		t.Fatal("request to a closed port succeeded")
	}
	fams := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"usercleanup_outgoing_requests_total", map[string]string{"api": "atlassian_site", "status": "200"}, 2},
		{"usercleanup_outgoing_requests_total", map[string]string{"api": "graph", "status": "200"}, 1},
		{"usercleanup_outgoing_requests_total", map[string]string{"api": "atlassian_site", "status": "429"}, 1},
		{"usercleanup_outgoing_requests_total", map[string]string{"api": "atlassian_site", "status": "503"}, 2},
		{"usercleanup_outgoing_requests_total", map[string]string{"api": "atlassian_site", "status": "error"}, 1},
		// 429, and 503 with Retry-After; a bare 503 is an outage, not throttling.
		{"usercleanup_outgoing_throttled_total", map[string]string{"api": "atlassian_site"}, 2},
		{"usercleanup_outgoing_request_duration_seconds", map[string]string{"api": "atlassian_site"}, 6},
	} {
		if got := value(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

type fakeMailer struct{ answers []error }

func (f *fakeMailer) Dial(context.Context) (cleanup.MailConn, error) { return &fakeConn{f: f}, nil }

type fakeConn struct{ f *fakeMailer }

func (c *fakeConn) Send(context.Context, cleanup.Email) error {
	err := c.f.answers[0]
	c.f.answers = c.f.answers[1:]
	return err
}
func (c *fakeConn) Close() error { return nil }

func TestMailer(t *testing.T) {
	m := New(nil)
	ml := m.Mailer(&fakeMailer{answers: []error{
		nil, nil,
		&cleanup.MailError{Code: 550, Answer: "550 no such user"},
		&cleanup.MailError{Temporary: true, Code: 451, Answer: "451 try later"},
		errors.New("connection reset"),
	}})
	conn, err := ml.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		_ = conn.Send(context.Background(), cleanup.Email{})
	}
	fams := scrape(t, m)
	for result, want := range map[string]float64{"sent": 2, "failed": 1, "temporary": 2} {
		if got := value(fams, "usercleanup_emails_total", map[string]string{"result": result}); got != want {
			t.Errorf("emails %s = %v, want %v", result, got, want)
		}
	}
}

func TestRunFinishedAndJobs(t *testing.T) {
	m := New(nil)
	m.RunFinished(context.Background(), cleanup.Run{Status: cleanup.RunPartiallyFailed, Counts: cleanup.RunCounts{RemovedInAtlassian: 5, Failed: 2, Skipped: 1}})
	m.RunFinished(context.Background(), cleanup.Run{Status: cleanup.RunSucceeded, DryRun: true, Counts: cleanup.RunCounts{ExportedForIdP: 3}})
	m.JobWorked("run_step", "ok", 2*time.Second, 300*time.Millisecond)
	m.JobWorked("run_step", "snoozed", 0, time.Millisecond)
	m.AuthRefused("JWT expired")
	m.Lifecycle("jira", "installed", "ok")
	fams := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"usercleanup_runs_finished_total", map[string]string{"status": "partially_failed", "dry_run": "false"}, 1},
		{"usercleanup_runs_finished_total", map[string]string{"status": "succeeded", "dry_run": "true"}, 1},
		{"usercleanup_run_users_total", map[string]string{"result": "removed_in_atlassian", "dry_run": "false"}, 5},
		{"usercleanup_run_users_total", map[string]string{"result": "failed", "dry_run": "false"}, 2},
		{"usercleanup_run_users_total", map[string]string{"result": "skipped", "dry_run": "false"}, 1},
		{"usercleanup_run_users_total", map[string]string{"result": "exported_for_idp", "dry_run": "true"}, 3},
		{"usercleanup_run_users_total", map[string]string{"result": "deactivated", "dry_run": "false"}, -1}, // zero counts add no series
		{"usercleanup_job_duration_seconds", map[string]string{"kind": "run_step", "result": "ok"}, 1},
		{"usercleanup_job_duration_seconds", map[string]string{"kind": "run_step", "result": "snoozed"}, 1},
		{"usercleanup_job_queue_wait_seconds", map[string]string{"kind": "run_step"}, 2},
		{"usercleanup_auth_refused_total", map[string]string{"reason": "JWT expired"}, 1},
		{"usercleanup_lifecycle_total", map[string]string{"product": "jira", "event": "installed", "result": "ok"}, 1},
	} {
		if got := value(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestGauge(t *testing.T) {
	m := New(nil)
	fail := false
	if err := m.AddGauge("runs", "Runs by status.", "status", func(ctx context.Context) (map[string]int, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("gauge read without a deadline")
		}
		if fail {
			return nil, errors.New("database down")
		}
		return map[string]int{"queued": 2, "running": 1}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := m.AddGauge("runs", "again", "status", nil); err == nil {
		t.Error("a second gauge of the same name was accepted")
	}
	fams := scrape(t, m)
	if q, r := value(fams, "usercleanup_runs", map[string]string{"status": "queued"}), value(fams, "usercleanup_runs", map[string]string{"status": "running"}); q != 2 || r != 1 {
		t.Errorf("runs queued %v running %v, want 2 and 1", q, r)
	}
	// A failing read leaves the gauge out; the rest is still served.
	fail = true
	fams = scrape(t, m)
	if _, ok := fams["usercleanup_runs"]; ok {
		t.Error("a failed gauge read still reported values")
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("a failed gauge read hid the other metrics")
	}
}

// BenchmarkRouteObserve is the cost the metrics add to one request, with
// every core recording the same route (the contended case).
func BenchmarkRouteObserve(b *testing.B) {
	m := New(nil)
	observe := m.Route(http.MethodGet, "/jira/admin/settings")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			observe(200, 2*time.Millisecond)
		}
	})
}

// BenchmarkWithLabelValues is the naive alternative (labels hashed and the
// vector's lock taken per request), for comparison.
func BenchmarkWithLabelValues(b *testing.B) {
	m := New(nil)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.httpDuration.WithLabelValues("/jira/admin/settings", http.MethodGet, "200").Observe(0.002)
		}
	})
}

// TestPersonalDataCounters: personal data reporting's events are counted
// by event; nothing is recorded for an empty batch.
func TestPersonalDataCounters(t *testing.T) {
	m := New(nil)
	var rec cleanup.PersonalDataRecorder = m
	rec.PersonalData("reported", 90)
	rec.PersonalData("reported", 20)
	rec.PersonalData("closed", 1)
	rec.PersonalData("erased_rows", 3)
	rec.PersonalData("updated", 0)
	fams := scrape(t, m)
	for _, c := range []struct {
		event string
		want  float64
	}{{"reported", 110}, {"closed", 1}, {"erased_rows", 3}, {"updated", -1}} { // -1: no series
		if got := value(fams, "usercleanup_personal_data_total", map[string]string{"event": c.event}); got != c.want {
			t.Errorf("personal_data_total{event=%q} = %v, want %v", c.event, got, c.want)
		}
	}
}
