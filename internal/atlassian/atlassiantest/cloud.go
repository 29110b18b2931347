// Package atlassiantest is a fake Atlassian cloud for tests and demos: one
// HTTP server per product site (Jira at its root, Confluence under /wiki) and
// one for the Organizations and User management APIs, all backed by one
// seeded, deterministic organization.
//
// The servers implement the endpoints internal/atlassian calls with the
// documented shapes (Jira page beans, Confluence start/limit/_links.next,
// Organizations v2 camelCase cursors, v1 snake_case), each API's error
// bodies and rate-limit headers. Product requests must carry a Connect JWT
// (HS256 with the shared secret of a registered installation, iss = app key,
// qsh of the request relative to the site base URL, exp); Organizations
// requests a Bearer API key. Faults can be injected (429 bursts with
// Retry-After, 5xx, latency, truncated bodies, a token-bucket rate limit)
// and every mutating call is recorded.
//
// All sites share the organization's groups and memberships. The
// organization directory (users search) lists Atlassian accounts only; app
// and customer accounts appear in product group memberships with their
// accountType. The seed's facts are exported (Users, Groups, Members) so
// tests can compute expectations independently of the clients.
package atlassiantest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/example/usercleanup/connect"
)

// Options configure a Cloud. The zero value seeds a small organization with
// one Jira and one Confluence site.
type Options struct {
	Seed        int64             // generator seed (same seed, same organization)
	Users       int               // accounts to seed (default 200): ~90% people, the rest app accounts and JSM customers
	ExtraGroups int               // non-licensing team groups (default 10; negative: none)
	Sites       []connect.Product // sites to serve (default Jira and Confluence)
	OrgID       string            // default "org-0001"
	APIKey      string            // the org API key with full permissions (default "test-org-api-key")
	Now         func() time.Time  // clock for tokens, rate limits and seed dates (default time.Now)
}

// Cloud is a running fake Atlassian cloud. It is safe for concurrent use.
type Cloud struct {
	now    func() time.Time
	orgID  string
	org    *httptest.Server
	sites  []*Site
	limits map[string]*bucket // per server: "org", site base URLs

	mu      sync.Mutex
	keys    map[string]keyAccess
	users   []*user
	byID    map[string]int
	groups  []*group
	byGroup map[string]int
	calls   []Call
	counts  map[string]int
	total   int
	limited int // requests answered 429 by the rate limiter
	latency time.Duration
	rate    float64
	burst   int
	faults  []*Fault
	seats   map[string]int // licensed seats per Jira product key (SetSeats)
	// The personal data reporting API (privacy.go).
	privacy  map[string]*accountState
	cycle    string
	reported []ReportedAccount
	reports  int // accepted report requests
}

// Call is one recorded mutating call.
type Call struct {
	Service   string // "jira", "confluence", "org", "user-management"
	Method    string
	Path      string
	GroupID   string
	AccountID string
	Status    int
	Result    string // "removed", "not-member", "externally-managed", "suspended", "restored", "deactivated", "forbidden", "not-found"
}

// Fault is an injected failure, answered instead of the real response to
// the next Times matching requests.
type Fault struct {
	Method     string // "" matches any method
	Path       string // request path prefix; "" matches any path
	Status     int    // status to answer (e.g. 429, 500, 503); 0 with Truncate
	RetryAfter string // Retry-After header value, if any
	Reset      string // X-RateLimit-Reset header value, if any
	Truncate   bool   // answer the real response but cut its body short
	Times      int    // how many requests it hits (default 1)
}

// New seeds an organization and starts its servers. Close it when done.
func New(o Options) *Cloud {
	if o.Users <= 0 {
		o.Users = 200
	}
	if o.ExtraGroups < 0 {
		o.ExtraGroups = 0
	} else if o.ExtraGroups == 0 {
		o.ExtraGroups = 10
	}
	if len(o.Sites) == 0 {
		o.Sites = []connect.Product{connect.Jira, connect.Confluence}
	}
	if o.OrgID == "" {
		o.OrgID = "org-0001"
	}
	if o.APIKey == "" {
		o.APIKey = "test-org-api-key"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Cloud{
		now:     o.Now,
		orgID:   o.OrgID,
		keys:    map[string]keyAccess{o.APIKey: accessWrite},
		byID:    map[string]int{},
		byGroup: map[string]int{},
		counts:  map[string]int{},
		limits:  map[string]*bucket{},
	}
	seed(c, o)
	c.org = httptest.NewServer(c.middleware("org", c.orgMux()))
	for i, p := range o.Sites {
		c.sites = append(c.sites, newSite(c, p, i))
	}
	return c
}

// Close stops all servers.
func (c *Cloud) Close() {
	c.org.Close()
	for _, s := range c.sites {
		s.srv.Close()
	}
}

// OrgID returns the organization id.
func (c *Cloud) OrgID() string { return c.orgID }

// APIURL returns the base URL of the Organizations and User management APIs.
func (c *Cloud) APIURL() string { return c.org.URL }

// HTTPClient returns a client whose transport reaches every server of the cloud.
func (c *Cloud) HTTPClient() *http.Client { return c.org.Client() }

// Sites returns the product sites in the order of Options.Sites.
func (c *Cloud) Sites() []*Site { return slices.Clone(c.sites) }

// Site returns the first site of the product, or nil.
func (c *Cloud) Site(p connect.Product) *Site {
	for _, s := range c.sites {
		if s.product == p {
			return s
		}
	}
	return nil
}

// keyAccess is what an API key may do.
type keyAccess int

const (
	accessNone  keyAccess = iota + 1 // may read the organization, nothing else
	accessRead                       // may read the directory
	accessWrite                      // may also change it
)

// AddAPIKey accepts another API key for the organization; a key that may
// not write gets 403 on every mutating call.
func (c *Cloud) AddAPIKey(key string, canWrite bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys[key] = accessRead
	if canWrite {
		c.keys[key] = accessWrite
	}
}

// AddScopedAPIKey accepts an API key that lacks the directory scopes: it
// may read the organization but gets 403 on every directory call.
func (c *Cloud) AddScopedAPIKey(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys[key] = accessNone
}

// SetLatency delays every response by d (real time).
func (c *Cloud) SetLatency(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.latency = d
}

// SetRateLimit limits each server to rps requests per second with a burst
// of burst requests (a token bucket on the cloud's clock). rps <= 0 turns
// the limit off.
func (c *Cloud) SetRateLimit(rps float64, burst int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rate, c.burst = rps, max(burst, 1)
	c.limits = map[string]*bucket{}
}

// Inject queues a fault.
func (c *Cloud) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = append(c.faults, &f)
}

// DefaultSeats are the licensed seats of each Jira product until SetSeats
// changes them.
const DefaultSeats = 100000

// SetSeats sets the licensed seats (numberOfSeats) that GET
// /rest/api/3/applicationrole reports for a Jira product; a negative n
// reports the licence as unlimited (hasUnlimitedSeats true).
func (c *Cloud) SetSeats(product string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seats == nil {
		c.seats = map[string]int{}
	}
	c.seats[product] = n
}

// Calls returns the recorded mutating calls in order.
func (c *Cloud) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

// Requests returns how many requests reached each endpoint, keyed by the
// route pattern (e.g. "GET /rest/api/3/group/member"), and the total number
// of requests received (including rejected ones).
func (c *Cloud) Requests() (byRoute map[string]int, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		m[k] = v
	}
	return m, c.total
}

// RateLimited returns how many requests the rate limiter answered with 429.
func (c *Cloud) RateLimited() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limited
}

// ResetRequests clears the request counters and recorded calls.
func (c *Cloud) ResetRequests() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = map[string]int{}
	c.total, c.limited = 0, 0
	c.calls = nil
}

// bucket is a token bucket.
type bucket struct {
	tokens float64
	at     time.Time
}

// take refills the bucket and takes a token. It returns the remaining
// tokens, the time the bucket is full again, and how long to wait when no
// token was available (ok false).
func (c *Cloud) take(server string) (remaining int, full time.Time, wait time.Duration, ok bool) {
	now := c.now()
	b := c.limits[server]
	if b == nil {
		b = &bucket{tokens: float64(c.burst), at: now}
		c.limits[server] = b
	}
	if el := now.Sub(b.at); el > 0 {
		b.tokens = math.Min(float64(c.burst), b.tokens+el.Seconds()*c.rate)
		b.at = now
	}
	ok = b.tokens >= 1
	if ok {
		b.tokens--
	} else {
		wait = time.Duration((1 - b.tokens) / c.rate * float64(time.Second))
	}
	full = now.Add(time.Duration((float64(c.burst) - b.tokens) / c.rate * float64(time.Second)))
	return int(b.tokens), full, wait, ok
}

// middleware counts requests, applies latency, the rate limit and injected
// faults, in that order, before the server's own handler.
//
// It is long because the order of those steps is the fake's contract with
// its tests (a faulted request is counted and rate-limited first), and it
// reads best as the one sequence it is.
func (c *Cloud) middleware(server string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.total++
		latency := c.latency
		limited := c.rate > 0
		var remaining int
		var full time.Time
		var wait time.Duration
		allowed := true
		if limited {
			remaining, full, wait, allowed = c.take(server)
			if !allowed {
				c.limited++
			}
		}
		fault := c.matchFault(r)
		burst := c.burst
		c.mu.Unlock()

		// Latency is the server's response time: the handler runs at once
		// and the answer is held back until the latency has passed.
		due := time.Now().Add(latency)
		hold := func() bool {
			if d := time.Until(due); d > 0 {
				t := time.NewTimer(d)
				defer t.Stop()
				select {
				case <-t.C:
				case <-r.Context().Done():
					return false
				}
			}
			return true
		}
		if limited {
			h := w.Header()
			h.Set("X-RateLimit-Limit", strconv.Itoa(burst))
			h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
			h.Set("X-RateLimit-Reset", full.UTC().Format("2006-01-02T15:04:05.000Z"))
			if remaining*5 < burst {
				h.Set("X-RateLimit-NearLimit", "true")
			}
			if !allowed {
				h.Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
				h.Set("RateLimit-Reason", "jira-burst-based")
				if hold() {
					writeRateLimited(w, server)
				}
				return
			}
		}
		if fault != nil {
			if !hold() {
				return
			}
			if fault.Truncate {
				truncate(w, r, next)
				return
			}
			if fault.RetryAfter != "" {
				w.Header().Set("Retry-After", fault.RetryAfter)
			}
			if fault.Reset != "" {
				w.Header().Set("X-RateLimit-Reset", fault.Reset)
			}
			writeStatus(w, server, fault.Status)
			return
		}
		if latency <= 0 {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		if !hold() {
			return
		}
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Length", strconv.Itoa(rec.Body.Len()))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// matchFault returns and consumes the first fault matching r. c.mu is held.
func (c *Cloud) matchFault(r *http.Request) *Fault {
	for i, f := range c.faults {
		if (f.Method == "" || f.Method == r.Method) && strings.HasPrefix(r.URL.Path, f.Path) {
			f.Times--
			if f.Times <= 0 {
				c.faults = slices.Delete(c.faults, i, i+1)
			}
			return f
		}
	}
	return nil
}

func writeRateLimited(w http.ResponseWriter, server string) {
	writeStatus(w, server, http.StatusTooManyRequests)
}

// writeStatus answers a bare failure in the style of the server's API.
func writeStatus(w http.ResponseWriter, server string, status int) {
	text := http.StatusText(status)
	if status == http.StatusTooManyRequests {
		text = "Rate limit exceeded."
	}
	switch server {
	case "org":
		writeJSON(w, status, orgErrors(status, "", text))
	case string(connect.Confluence):
		writeJSON(w, status, confluenceError(status, text))
	default:
		writeJSON(w, status, jiraError(text))
	}
}

// truncate runs the handler, then sends its status and headers with the
// full Content-Length but only half the body, and drops the connection.
func truncate(w http.ResponseWriter, r *http.Request, next http.Handler) {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot truncate", http.StatusInternalServerError)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	var head bytes.Buffer
	fmt.Fprintf(&head, "HTTP/1.1 %d %s\r\n", rec.Code, http.StatusText(rec.Code))
	for k, vs := range rec.Header() {
		for _, v := range vs {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(&head, "Content-Length: %d\r\n\r\n", len(body))
	bw := bufio.NewWriter(conn)
	_, _ = bw.Write(head.Bytes())
	_, _ = bw.Write(body[:len(body)/2])
	_ = bw.Flush()
	_ = buf
}

// count records a request to a route.
func (c *Cloud) count(route string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[route]++
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// jiraError is Jira's error collection.
func jiraError(msgs ...string) any {
	return map[string]any{"errorMessages": msgs, "errors": map[string]string{}}
}

// confluenceError is Confluence v1's error body.
func confluenceError(status int, msg string) any {
	return map[string]any{
		"statusCode": status,
		"data":       map[string]any{"authorized": status != http.StatusUnauthorized && status != http.StatusForbidden, "valid": true, "errors": []any{}, "successful": false},
		"message":    msg,
	}
}

// orgErrors is the Organizations v2 error body.
func orgErrors(status int, code, detail string) any {
	if code == "" {
		code = "ADMIN-" + strconv.Itoa(status)
	}
	return map[string]any{"errors": []map[string]string{{
		"status": strconv.Itoa(status), "code": code, "title": http.StatusText(status), "detail": detail,
	}}}
}
