package server_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cputime"
)

// discardWriter is a ResponseWriter that keeps only the headers, so the
// benchmark below measures the server and not a recorder's buffer.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkServePage measures the server's side of an authenticated page
// load alone: the whole middleware chain, token verification with the
// cached tenant, the cached admin check, the page shell and the request
// log line (JSON, info, discarded), called in parallel without a network.
// The cpu-ns/op and allocs/op are what one page request costs the server
// (building the request, about a fifth of it, included):
//
//	go test -run '^$' -bench 'BenchmarkServe' -benchmem ./internal/server
func BenchmarkServePage(b *testing.B) {
	e := newEnv(b)
	tn := e.install(b, connect.Jira, "jira:bench", "bench-secret-0123456789")
	e.admins.grant(tn.ClientKey, adminID)
	benchServe(b, e, e.pageURL(b, tn, connect.Jira, "/admin/settings", adminID))
}

// BenchmarkServeDescriptor is BenchmarkServePage for the unauthenticated
// descriptor route, the ceiling the page is compared with.
func BenchmarkServeDescriptor(b *testing.B) {
	e := newEnv(b)
	benchServe(b, e, e.apps[connect.Jira].BaseURL+"/atlassian-connect.json")
}

func benchServe(b *testing.B, e *env, u string) {
	b.Helper()
	// The environment logs at debug into memory; the benchmark logs like
	// production (JSON at info) into nothing, so the log's memory does
	// not grow with b.N.
	e.level.Set(slog.LevelInfo)
	e.logs.discard.Store(true)
	probe := httptest.NewRecorder()
	e.handler.ServeHTTP(probe, httptest.NewRequest(http.MethodGet, u, nil))
	if probe.Code != http.StatusOK {
		b.Fatalf("status %d: %s", probe.Code, probe.Body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu, _ := cputime.Process()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest(http.MethodGet, u, nil)
			e.handler.ServeHTTP(&discardWriter{h: http.Header{}}, r)
		}
	})
	// The process's CPU time per request (the garbage collector's
	// included), steadier than ns/op on a shared machine.
	cpuEnd, _ := cputime.Process()
	b.ReportMetric(float64(cpuEnd-cpu)/float64(b.N), "cpu-ns/op")
}
