package atlassian_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// fakeClock is a clock whose Sleep advances time instantly and records waits.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// clockedCloud returns a cloud and client options sharing a fake clock.
func clockedCloud(t *testing.T, users int) (*atlassiantest.Cloud, atlassian.Options, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	c := newCloud(t, atlassiantest.Options{Seed: 20, Users: users, Now: clk.Now})
	o := fastOptions(c)
	o.Now, o.Sleep = clk.Now, clk.Sleep
	o.Jitter = func(time.Duration) time.Duration { return 0 }
	return c, o, clk
}

func TestRetries(t *testing.T) {
	groupsPath := "/rest/api/3/group/bulk"
	tests := []struct {
		name       string
		fault      func(now time.Time) atlassiantest.Fault
		maxWait    time.Duration
		wantSleeps []time.Duration
		wantKind   cleanup.Kind // KindOther = success
		wantRetry  time.Duration
	}{
		{
			name: "429 burst with Retry-After seconds",
			fault: func(time.Time) atlassiantest.Fault {
				return atlassiantest.Fault{Path: groupsPath, Status: 429, RetryAfter: "2", Times: 3}
			},
			wantSleeps: []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second},
		},
		{
			name: "503 with Retry-After HTTP date",
			fault: func(now time.Time) atlassiantest.Fault {
				return atlassiantest.Fault{Path: groupsPath, Status: 503, RetryAfter: now.Add(3 * time.Second).Format(http.TimeFormat)}
			},
			wantSleeps: []time.Duration{3 * time.Second},
		},
		{
			name: "429 with X-RateLimit-Reset only",
			fault: func(now time.Time) atlassiantest.Fault {
				return atlassiantest.Fault{Path: groupsPath, Status: 429, Reset: now.Add(5 * time.Second).Format("2006-01-02T15:04:05Z")}
			},
			wantSleeps: []time.Duration{5 * time.Second},
		},
		{
			name: "502 without headers: exponential backoff",
			fault: func(time.Time) atlassiantest.Fault {
				return atlassiantest.Fault{Path: groupsPath, Status: 502, Times: 3}
			},
			wantSleeps: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second},
		},
		{
			name: "gives up after the wait budget",
			fault: func(time.Time) atlassiantest.Fault {
				return atlassiantest.Fault{Path: groupsPath, Status: 429, RetryAfter: "30", Times: 100}
			},
			maxWait:    time.Minute,
			wantSleeps: []time.Duration{30 * time.Second, 30 * time.Second},
			wantKind:   cleanup.KindUnavailable,
			wantRetry:  30 * time.Second,
		},
		{
			name:       "500 is not retried",
			fault:      func(time.Time) atlassiantest.Fault { return atlassiantest.Fault{Path: groupsPath, Status: 500} },
			wantSleeps: nil,
			wantKind:   cleanup.KindUnavailable,
		},
		{
			name:       "truncated body is retried",
			fault:      func(time.Time) atlassiantest.Fault { return atlassiantest.Fault{Path: groupsPath, Truncate: true} },
			wantSleeps: []time.Duration{250 * time.Millisecond},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, o, clk := clockedCloud(t, 30)
			if tc.maxWait > 0 {
				o.MaxWait = tc.maxWait
			}
			s := newSite(t, c, connect.Jira, o)
			c.Inject(tc.fault(clk.Now()))
			groups, err := s.Groups(context.Background())
			if diff := cmp.Diff(tc.wantSleeps, clk.Sleeps()); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
			if tc.wantKind == cleanup.KindOther {
				if err != nil {
					t.Fatalf("Groups: %v", err)
				}
				if len(groups) != len(c.Groups()) {
					t.Errorf("got %d groups, want %d", len(groups), len(c.Groups()))
				}
				return
			}
			if k := cleanup.KindOf(err); k != tc.wantKind {
				t.Fatalf("kind = %v (%v), want %v", k, err, tc.wantKind)
			}
			if got := cleanup.RetryAfterOf(err); got != tc.wantRetry {
				t.Errorf("RetryAfter = %v, want %v", got, tc.wantRetry)
			}
		})
	}
}

func TestRateLimitPacing(t *testing.T) {
	c, o, clk := clockedCloud(t, 3000)
	c.SetRateLimit(10, 20)
	org := newOrg(t, c, o)
	var n int
	err := org.EachUser(context.Background(), cleanup.UserQuery{Limit: 50}, func(u []cleanup.OrgUser) error {
		n += len(u)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	directory := 0
	for _, u := range c.Users() {
		if u.AccountType == cleanup.AccountAtlassian {
			directory++
		}
	}
	_, total := c.Requests()
	if want := ceilDiv(directory, 50); n != directory || total != want {
		t.Fatalf("read %d users in %d requests, want %d in %d (no 429s)", n, total, directory, want)
	}
	// 20 requests use the burst, the others come at 10 per second.
	elapsed := clk.Now().Sub(newFakeClock().Now())
	want := time.Duration(total-20) * 100 * time.Millisecond
	if elapsed < want-100*time.Millisecond || elapsed > want+500*time.Millisecond {
		t.Errorf("elapsed %v, want about %v (the refill rate)", elapsed, want)
	}
}

func TestBodyLimit(t *testing.T) {
	c, o, clk := clockedCloud(t, 30)
	o.MaxBodyBytes = 200
	s := newSite(t, c, connect.Confluence, o)
	_, err := s.Groups(context.Background())
	if k := cleanup.KindOf(err); k != cleanup.KindOther || !strings.Contains(err.Error(), "more than 200 bytes") {
		t.Fatalf("err = %v, want a body-size error", err)
	}
	if len(clk.Sleeps()) != 0 {
		t.Errorf("an oversized body was retried")
	}
}

func TestContextCancelled(t *testing.T) {
	c := newCloud(t, atlassiantest.Options{Seed: 21, Users: 10})
	s := newSite(t, c, connect.Jira, fastOptions(c))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Groups(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
	// Cancelled while waiting for a rate limit.
	o := fastOptions(c)
	o.Sleep = nil // real sleeping
	s = newSite(t, c, connect.Jira, o)
	c.Inject(atlassiantest.Fault{Status: 429, RetryAfter: "60"})
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := s.Groups(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: err = %v, want context.DeadlineExceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("cancellation did not interrupt the wait")
	}
}

// countingTransport tracks the peak number of requests in flight.
type countingTransport struct {
	base         http.RoundTripper
	inFlight     atomic.Int32
	peak         atomic.Int32
	requestCount atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	c.requestCount.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return c.base.RoundTrip(r)
}

func TestBoundedConcurrency(t *testing.T) {
	c := newCloud(t, atlassiantest.Options{Seed: 22, Users: 300, ExtraGroups: 12})
	c.SetLatency(15 * time.Millisecond)
	ct := &countingTransport{base: c.HTTPClient().Transport}
	o := fastOptions(c)
	o.HTTPClient = &http.Client{Transport: ct}
	o.MaxConcurrency = 3
	s := newSite(t, c, connect.Jira, o)
	var ids []string
	for _, g := range c.Groups() {
		ids = append(ids, g.ID)
	}
	got, err := s.AllGroupMembers(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Errorf("got members of %d groups, want %d", len(got), len(ids))
	}
	if p := ct.peak.Load(); p != 3 {
		t.Errorf("peak in flight = %d, want exactly the bound 3", p)
	}
}

// loopServer answers every request with the same body.
func loopServer(t *testing.T, body string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLoopingServers(t *testing.T) {
	jira := loopServer(t, `{"startAt":0,"maxResults":50,"total":500,"isLast":false,"values":[{"groupId":"g1","name":"a"}]}`)
	conf := loopServer(t, `{"results":[{"type":"group","id":"g1","name":"a"}],"start":0,"limit":200,"size":1,"_links":{"next":"/rest/api/group?start=200&limit=200"}}`)
	empty := loopServer(t, `{"startAt":0,"maxResults":50,"total":500,"isLast":false,"values":[]}`)
	org := loopServer(t, `{"data":[{"accountId":"a1"}],"links":{"next":"same-cursor"}}`)
	site := func(url string, p connect.Product) *atlassian.Site {
		s, err := atlassian.NewSite(&connect.Tenant{ProductType: p, BaseURL: url, SharedSecret: "x"}, "app", atlassian.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for name, s := range map[string]*atlassian.Site{
		"jira ignores startAt": site(jira.URL, connect.Jira),
		"confluence same next": site(conf.URL+"/wiki", connect.Confluence),
		"jira empty page":      site(empty.URL, connect.Jira),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Groups(context.Background())
			if err == nil || !strings.Contains(err.Error(), "stopped") {
				t.Fatalf("err = %v, want a loop error", err)
			}
		})
	}
	t.Run("org same cursor", func(t *testing.T) {
		g, err := atlassian.NewOrg(cleanup.OrgCredentials{OrgID: "o", APIKey: "k"}, atlassian.Options{OrgAPIURL: org.URL})
		if err != nil {
			t.Fatal(err)
		}
		err = g.EachUser(context.Background(), cleanup.UserQuery{}, func([]cleanup.OrgUser) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "stopped") {
			t.Fatalf("err = %v, want a loop error", err)
		}
	})
	t.Run("page cap", func(t *testing.T) {
		c := newCloud(t, atlassiantest.Options{Seed: 23, Users: 500})
		o := fastOptions(c)
		o.MaxPages = 3
		g := newOrg(t, c, o)
		err := g.EachUser(context.Background(), cleanup.UserQuery{}, func([]cleanup.OrgUser) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "more than 3 pages") {
			t.Fatalf("err = %v, want the page cap error", err)
		}
	})
}

// TestNoSecretsInLogsOrErrors retries and fails with debug logging on and
// checks neither the API key, the shared secret nor a JWT shows up.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	c, o, _ := clockedCloud(t, 20)
	var logs bytes.Buffer
	o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c.Inject(atlassiantest.Fault{Status: 429, RetryAfter: "1", Times: 2})
	org := newOrg(t, c, o)
	_, err1 := org.Groups(context.Background())
	bad, _ := atlassian.NewOrg(cleanup.OrgCredentials{OrgID: c.OrgID(), APIKey: "wrong-secret-key"}, o)
	err2 := bad.TestConnection(context.Background())
	s := newSite(t, c, connect.Jira, o)
	c.Inject(atlassiantest.Fault{Status: 503, Times: 1})
	_, err3 := s.Groups(context.Background())
	if err1 != nil || err2 == nil || err3 != nil {
		t.Fatalf("errs = %v, %v, %v", err1, err2, err3)
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Fatalf("no retry logged: %s", logs.String())
	}
	all := logs.String() + err2.Error()
	for _, secret := range []string{"test-org-api-key", "wrong-secret-key", testSecret, "Bearer", "JWT ey"} {
		if strings.Contains(all, secret) {
			t.Errorf("%q leaked into logs or errors:\n%s", secret, all)
		}
	}
}

func TestTransportFailures(t *testing.T) {
	var hits atomic.Int32
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "https://elsewhere.example/steal", http.StatusFound)
	}))
	defer redirect.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	clk := newFakeClock()
	o := atlassian.Options{Sleep: clk.Sleep, Now: clk.Now, MaxWait: 10 * time.Second, Jitter: func(time.Duration) time.Duration { return 0 }}
	newJira := func(base string) *atlassian.Site {
		s, err := atlassian.NewSite(&connect.Tenant{ProductType: connect.Jira, BaseURL: base, SharedSecret: "x"}, "app", o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	_, err := newJira(redirect.URL).Groups(context.Background())
	if k := cleanup.KindOf(err); k != cleanup.KindOther || !strings.Contains(err.Error(), "redirect") || hits.Load() != 1 {
		t.Errorf("redirect: kind %v, err %v, %d requests; want one request and a redirect error", k, err, hits.Load())
	}
	_, err = newJira(closedURL).Groups(context.Background())
	if k := cleanup.KindOf(err); k != cleanup.KindUnavailable || cleanup.RetryAfterOf(err) == 0 {
		t.Errorf("refused: kind %v (%v), want unavailable with RetryAfter", k, err)
	}
	if len(clk.Sleeps()) < 3 {
		t.Errorf("refused connection retried %d times, want backoff retries", len(clk.Sleeps()))
	}
}

func TestJiraProductsWithoutGroupIDs(t *testing.T) {
	srv := loopServer(t, `[{"key":"jira-software","name":"Jira Software","groups":["jira-software-users"],"groupDetails":[]}]`)
	s, err := atlassian.NewSite(&connect.Tenant{ProductType: connect.Jira, BaseURL: srv.URL, SharedSecret: "x"}, "app", atlassian.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Products(context.Background()); err == nil || !strings.Contains(err.Error(), "names 1 groups but details only 0") {
		t.Errorf("err = %v, want a clear error instead of a partial list", err)
	}
}
