// Package metrics is the Prometheus adapter: the only package that imports
// github.com/prometheus/client_golang. It owns one registry per process
// (never Prometheus' global default registry), built by New and passed
// down by the command to the parts it measures through their own small
// interfaces: the HTTP layer (server.Metrics), the job runtime
// (jobs.Observer), the run engine (cleanup.RunObserver), the outgoing
// HTTP client (Transport) and the warning mailer (Mailer).
//
// Every label has a bounded set of values: routes are Echo's route
// patterns (never raw URLs), statuses are numbers, reasons and kinds come
// from fixed tables. Nothing identifying a tenant or a user is a label.
//
// The hot path (one HTTP request) costs a few atomic operations: route
// handles are resolved once per route and status and cached without
// locks (routeObserver).
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/example/usercleanup/internal/cleanup"
)

// namespace prefixes every metric of the app.
const namespace = "usercleanup"

// Metrics holds the app's registry and its metrics.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	httpDuration *prometheus.HistogramVec
	authRefused  *prometheus.CounterVec
	lifecycle    *prometheus.CounterVec
	runsFinished *prometheus.CounterVec
	runUsers     *prometheus.CounterVec
	outgoing     *prometheus.CounterVec
	outDuration  *prometheus.HistogramVec
	throttled    *prometheus.CounterVec
	jobs         *prometheus.HistogramVec
	jobWait      *prometheus.HistogramVec
	emails       *prometheus.CounterVec
	personal     *prometheus.CounterVec
}

// New builds the registry with the app's metrics and Go's runtime and
// process collectors. log receives scrape-time failures (nil: discard).
func New(log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: log}
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "http_request_duration_seconds",
		Help:    "HTTP requests served, by Echo route pattern, method and status, with their latency.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method", "status"})
	m.authRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "auth_refused_total",
		Help: "Requests refused by JWT or Forge token verification, by reason.",
	}, []string{"reason"})
	m.lifecycle = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "lifecycle_total",
		Help: "Connect lifecycle callbacks (installed, uninstalled, enabled, disabled) by product and result (ok or the refusal reason).",
	}, []string{"product", "event", "result"})
	m.runsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "runs_finished_total",
		Help: "Cleanup runs finished on this instance, by final status.",
	}, []string{"status", "dry_run"})
	m.runUsers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "run_users_total",
		Help: "Users of finished runs, by what happened to them (the action and its outcome).",
	}, []string{"result", "dry_run"})
	m.outgoing = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "outgoing_requests_total",
		Help: "Outgoing HTTP requests by API and status (\"error\": no answer).",
	}, []string{"api", "status"})
	m.outDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "outgoing_request_duration_seconds",
		Help:    "Latency of outgoing HTTP requests by API (until the response headers).",
		Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"api"})
	m.throttled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "outgoing_throttled_total",
		Help: "Outgoing requests the remote throttled (429, or 503 with Retry-After), by API.",
	}, []string{"api"})
	m.jobs = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "job_duration_seconds",
		Help:    "Background jobs worked on this instance, by kind and result, with how long they ran.",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"kind", "result"})
	m.jobWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "job_queue_wait_seconds",
		Help:    "Time from a job's scheduled time until a worker of this instance started it, by kind.",
		Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900},
	}, []string{"kind"})
	m.emails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "emails_total",
		Help: "Warning e-mails handed to the mail server, by result (sent, failed: refused for good, temporary: retried later).",
	}, []string{"result"})
	m.personal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "personal_data_total",
		Help: "Personal data reporting, by event: reported (accounts sent to Atlassian), closed (closed accounts erased), updated (accounts refreshed), erased_rows (run rows and warnings tombstoned), deferred (closed accounts in a run under way, erased later), report_failed (tenant reports that failed).",
	}, []string{"event"})
	m.reg.MustRegister(m.httpDuration, m.authRefused, m.lifecycle, m.runsFinished, m.runUsers,
		m.outgoing, m.outDuration, m.throttled, m.jobs, m.jobWait, m.emails, m.personal,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format. Scrape errors
// of the database gauges are logged, and the rest is still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// GaugeFunc reads current values by one label at scrape time (a database
// query: runs by status, jobs by state). It must honour ctx.
type GaugeFunc func(ctx context.Context) (map[string]int, error)

// scrapeTimeout bounds each GaugeFunc.
const scrapeTimeout = 2 * time.Second

// AddGauge registers a gauge read by fn at every scrape, labelled by
// label. A failing fn reports nothing for the gauge (and logs why).
func (m *Metrics) AddGauge(name, help, label string, fn GaugeFunc) error {
	c := &gaugeCollector{
		desc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, []string{label}, nil),
		fn:   fn, log: m.log, name: name,
	}
	if err := m.reg.Register(c); err != nil {
		return errors.New("metrics: register " + name + ": " + err.Error())
	}
	return nil
}

type gaugeCollector struct {
	desc *prometheus.Desc
	fn   GaugeFunc
	log  *slog.Logger
	name string
}

func (g *gaugeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	values, err := g.fn(ctx)
	if err != nil {
		g.log.Warn("metrics: read gauge", "metric", g.name, "error", err.Error())
		ch <- prometheus.NewInvalidMetric(g.desc, err)
		return
	}
	for k, v := range values {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(v), k)
	}
}

// routeObserver records the requests of one route.
// Its per-status handles are resolved on first use and cached in an
// array of atomic pointers: no lock and no label hashing per request.
type routeObserver struct {
	vec           *prometheus.HistogramVec
	route, method string
	byStatus      [500]atomic.Pointer[prometheus.Observer] // statuses 100–599
}

// Route returns the recorder of the route with Echo's pattern path and
// method (server.Metrics). Call it once per route, when the routes are
// built.
func (m *Metrics) Route(method, path string) func(status int, d time.Duration) {
	return (&routeObserver{vec: m.httpDuration, route: path, method: method}).observe
}

// observe records one request.
func (r *routeObserver) observe(status int, d time.Duration) {
	if status < 100 || status > 599 {
		r.vec.WithLabelValues(r.route, r.method, strconv.Itoa(status)).Observe(d.Seconds())
		return
	}
	slot := &r.byStatus[status-100]
	o := slot.Load()
	if o == nil {
		h := r.vec.WithLabelValues(r.route, r.method, strconv.Itoa(status))
		o = &h
		slot.Store(o) // a concurrent first use stores the same series
	}
	(*o).Observe(d.Seconds())
}

// AuthRefused counts a refused token by reason.
func (m *Metrics) AuthRefused(reason string) { m.authRefused.WithLabelValues(reason).Inc() }

// Lifecycle counts a lifecycle callback.
func (m *Metrics) Lifecycle(product, event, result string) {
	m.lifecycle.WithLabelValues(product, event, result).Inc()
}

// PersonalData counts personal data reporting's work
// (cleanup.PersonalDataRecorder).
func (m *Metrics) PersonalData(event string, n int) {
	if n > 0 {
		m.personal.WithLabelValues(event).Add(float64(n))
	}
}

// JobWorked records a background job (jobs.Observer).
func (m *Metrics) JobWorked(kind, result string, queueWait, ran time.Duration) {
	m.jobWait.WithLabelValues(kind).Observe(queueWait.Seconds())
	m.jobs.WithLabelValues(kind, result).Observe(ran.Seconds())
}

// RunFinished records a finished run and its users (cleanup.RunObserver).
func (m *Metrics) RunFinished(_ context.Context, r cleanup.Run) {
	dry := strconv.FormatBool(r.DryRun)
	m.runsFinished.WithLabelValues(r.Status, dry).Inc()
	c := r.Counts
	for _, x := range []struct {
		result string
		n      int
	}{
		{"removed_in_atlassian", c.RemovedInAtlassian},
		{"deactivated", c.Deactivated},
		{"removed_in_idp", c.RemovedInIdP},
		{"exported_for_idp", c.ExportedForIdP},
		{"reviewed", c.Reviewed},
		{"manual", c.Manual},
		{"skipped", c.Skipped},
		{"failed", c.Failed},
	} {
		if x.n > 0 {
			m.runUsers.WithLabelValues(x.result, dry).Add(float64(x.n))
		}
	}
}
