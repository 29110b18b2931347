// Package atlassian implements the cleanup directories against Atlassian
// Cloud: the Jira and Confluence product REST APIs (called with the app's own
// Connect JWT) and the Organizations and User management REST APIs (called
// with an organization API key).
//
// Every client shares one request path (caller.do): bounded concurrency per
// tenant, proactive pacing on X-RateLimit-NearLimit, retries on 429/503 that
// honour Retry-After and X-RateLimit-Reset within a bounded total wait,
// size-limited bodies, and one responseError that turns a failed response
// into a *cleanup.Error of the right kind. Secrets (the JWT, the API key)
// never appear in errors or logs.
package atlassian

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// Defaults for Options.
const (
	DefaultAPIURL         = "https://api.atlassian.com"
	DefaultMaxConcurrency = 4
	DefaultMaxWait        = 2 * time.Minute
	DefaultMaxPages       = 10000
	DefaultMaxBodyBytes   = 16 << 20
	DefaultTimeout        = 60 * time.Second
)

// Options configure a client. The zero value is usable.
type Options struct {
	// HTTPClient supplies the base transport and timeout; nil uses
	// http.DefaultTransport with DefaultTimeout. Its CheckRedirect is not
	// used: clients never follow redirects.
	HTTPClient *http.Client
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Sleep waits for d or until ctx is done (nil: a timer).
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a random duration in [0, d) for backoff (nil: math/rand/v2).
	Jitter func(d time.Duration) time.Duration
	// MaxConcurrency bounds requests in flight for one tenant (one Site or Org).
	MaxConcurrency int
	// MaxWait bounds the total time one call spends waiting for rate limits
	// and backoff before it gives up with KindUnavailable.
	MaxWait time.Duration
	// MaxPages caps the pages one listing follows.
	MaxPages int
	// MaxBodyBytes caps a response body.
	MaxBodyBytes int64
	// Logger receives debug and warning records (nil: discarded).
	Logger *slog.Logger
	// OrgAPIURL is the Organizations REST base URL (default DefaultAPIURL).
	OrgAPIURL string
	// UserMgmtURL is the User management REST base URL (default DefaultAPIURL).
	UserMgmtURL string
	// GroupSynced, when set, tells a Site which groups the Organizations API
	// reports as synced from an identity provider, so a 400/403 on removing a
	// member of such a group maps to KindExternallyManaged. A 409 on a
	// membership removal always does.
	GroupSynced func(groupID string) bool
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.Jitter == nil {
		o.Jitter = func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return rand.N(d)
		}
	}
	if o.MaxConcurrency <= 0 {
		o.MaxConcurrency = DefaultMaxConcurrency
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.MaxPages <= 0 {
		o.MaxPages = DefaultMaxPages
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OrgAPIURL == "" {
		o.OrgAPIURL = DefaultAPIURL
	}
	if o.UserMgmtURL == "" {
		o.UserMgmtURL = DefaultAPIURL
	}
	return o
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// baseTransport returns the transport and timeout of o.HTTPClient.
func (o Options) baseTransport() (http.RoundTripper, time.Duration) {
	if o.HTTPClient == nil {
		return http.DefaultTransport, DefaultTimeout
	}
	rt := o.HTTPClient.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	return rt, o.HTTPClient.Timeout
}

// errNoRedirect stops the http.Client from following redirects: a redirect
// would re-send credentials to a URL we did not choose.
var errNoRedirect = errors.New("redirect not followed")

func noRedirect(*http.Request, []*http.Request) error { return errNoRedirect }

// caller is the shared request path of one tenant's client.
type caller struct {
	hc      *http.Client
	o       Options
	service string              // "Jira", "Confluence", "Organizations API": for messages
	auth    func(*http.Request) // adds credentials (nil when the transport signs)
	sem     chan struct{}       // bounds requests in flight
	pace    *pacer              // spaces requests while near the limit (pacer.go)
}

func newCaller(hc *http.Client, o Options, service string, auth func(*http.Request)) *caller {
	return &caller{hc: hc, o: o, service: service, auth: auth, sem: make(chan struct{}, o.MaxConcurrency),
		pace: &pacer{now: o.Now, sleep: o.Sleep}}
}

// call describes one API call.
type call struct {
	method string
	url    string
	body   any    // JSON-encoded when non-nil
	op     string // what the call does, for messages: "list groups"
	// removal marks a membership removal: 404 means the membership is gone
	// (success) and 409 (or 400/403 on a synced group) is KindExternallyManaged.
	removal bool
	// addition marks a membership addition (a restore): 409 (or 400/403
	// on a synced group) is KindExternallyManaged; 404 stays KindNotFound
	// (no such user or group).
	addition bool
	synced   bool // the group is known to be synced from an identity provider
}

// response is a successful (2xx) response.
type response struct {
	status int
	body   []byte
	header http.Header // of a successful answer (do)
}

// retryable reports whether a status is worth retrying after a wait.
func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// do performs c, retrying rate limits, transient statuses and broken
// connections within the MaxWait budget. It returns the 2xx response, or a
// *cleanup.Error.
func (cl *caller) do(ctx context.Context, c call) (response, error) {
	var payload []byte
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return response{}, fmt.Errorf("atlassian: %s: encode request: %w", c.op, err)
		}
		payload = b
	}
	var waited time.Duration
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return response{}, err
		}
		res, hdr, err := cl.once(ctx, c, payload)
		if err == nil && res.status < 300 {
			res.header = hdr
			return res, nil
		}
		if ctx.Err() != nil {
			return response{}, ctx.Err()
		}
		var transient bool
		var failure error
		var ce *cleanup.Error
		switch {
		case err != nil && errors.As(err, &ce):
			return response{}, err // e.g. body too large: retrying will not help
		case errors.Is(err, errNoRedirect):
			return response{}, &cleanup.Error{Kind: cleanup.KindOther,
				Message: fmt.Sprintf("%s answered %s with a redirect, which is not followed", cl.service, c.op)}
		case err != nil && !transientTransport(err):
			return response{}, &cleanup.Error{Kind: cleanup.KindOther,
				Message: fmt.Sprintf("%s: could not send the request (%s)", cl.service, c.op), Err: err}
		case err != nil:
			// Broken connection, timeout or truncated body: transient.
			transient = true
			failure = &cleanup.Error{Kind: cleanup.KindUnavailable,
				Message: fmt.Sprintf("%s did not answer (%s)", cl.service, c.op), Err: err}
		case retryable(res.status):
			transient = true
			failure = cl.responseError(c, res, hdr)
		default:
			e := cl.responseError(c, res, hdr)
			if e == nil { // removal of an absent membership
				return res, nil
			}
			return response{}, e
		}
		if !transient {
			return response{}, failure
		}
		wait, told := retryWait(hdr, cl.o.Now())
		if !told {
			wait = cl.backoff(attempt)
		}
		if waited+wait > cl.o.MaxWait {
			cl.o.Logger.WarnContext(ctx, "atlassian: giving up", "service", cl.service, "op", c.op,
				"status", res.status, "waited", waited, "attempts", attempt+1)
			var e *cleanup.Error
			if errors.As(failure, &e) {
				e.RetryAfter = max(wait, time.Second)
				e.Message += fmt.Sprintf("; gave up after waiting %s, retry in %s", waited.Round(time.Millisecond), e.RetryAfter.Round(time.Second))
			}
			return response{}, failure
		}
		cl.o.Logger.DebugContext(ctx, "atlassian: retrying", "service", cl.service, "op", c.op,
			"status", res.status, "wait", wait, "attempt", attempt+1)
		if err := cl.o.Sleep(ctx, wait); err != nil {
			return response{}, err
		}
		waited += wait
	}
}

// transientTransport reports whether a transport error is worth retrying:
// network errors, timeouts and connections closed mid-answer. Anything else
// (e.g. a request that cannot be signed) fails the same way every time.
func transientTransport(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)
}

// backoff is capped exponential backoff with full jitter: the base doubles
// from 500 ms up to 30 s, the wait is half the base plus a random half.
func (cl *caller) backoff(attempt int) time.Duration {
	base := 500 * time.Millisecond << min(attempt, 6)
	base = min(base, 30*time.Second)
	return base/2 + cl.o.Jitter(base/2)
}

// once performs one attempt: it takes a concurrency slot, honours the
// proactive pacing and reads the size-limited body.
func (cl *caller) once(ctx context.Context, c call, payload []byte) (response, http.Header, error) {
	select {
	case cl.sem <- struct{}{}:
	case <-ctx.Done():
		return response{}, nil, ctx.Err()
	}
	defer func() { <-cl.sem }()
	if err := cl.pace.wait(ctx); err != nil {
		return response{}, nil, err
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, body)
	if err != nil {
		return response{}, nil, fmt.Errorf("atlassian: %s: build request: %w", c.op, err)
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cl.auth != nil {
		cl.auth(req)
	}
	resp, err := cl.hc.Do(req)
	if err != nil {
		return response{}, nil, scrubURLError(err)
	}
	defer resp.Body.Close()
	cl.updatePace(resp.Header)
	buf := bytes.NewBuffer(nil)
	if n := resp.ContentLength; n > 0 && n <= cl.o.MaxBodyBytes {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, cl.o.MaxBodyBytes+1))
	b := buf.Bytes()
	if err != nil {
		return response{}, resp.Header, fmt.Errorf("read response body: %w", err)
	}
	if int64(len(b)) > cl.o.MaxBodyBytes {
		return response{}, resp.Header, &cleanup.Error{Kind: cleanup.KindOther,
			Message: fmt.Sprintf("%s answered %s with more than %d bytes", cl.service, c.op, cl.o.MaxBodyBytes)}
	}
	return response{status: resp.StatusCode, body: b}, resp.Header, nil
}

// scrubURLError drops the URL from a transport error: it may carry query
// parameters we would rather not log, and it adds nothing for an admin.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// updatePace reads the rate-limit headers of any response. When the server
// says we are near its limit (X-RateLimit-NearLimit, or less than a fifth of
// X-RateLimit-Limit remaining) requests are spaced at the server's refill
// rate: (reset - now) / (limit - remaining), assuming the budget refills
// steadily until X-RateLimit-Reset. Otherwise pacing is switched off.
func (cl *caller) updatePace(h http.Header) {
	limit, errL := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	remaining, errR := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	near := strings.EqualFold(h.Get("X-RateLimit-NearLimit"), "true")
	if errL == nil && errR == nil && limit > 0 && remaining*5 < limit {
		near = true
	}
	now := cl.o.Now()
	var gap time.Duration
	if near {
		reset, ok := parseResetTime(h.Get("X-RateLimit-Reset"))
		used := limit - remaining
		switch {
		case ok && errL == nil && errR == nil && used > 0 && reset.After(now):
			gap = reset.Sub(now) / time.Duration(used)
		default:
			gap = 100 * time.Millisecond
		}
		gap = min(gap, 5*time.Second)
	}
	cl.pace.setGap(gap)
}

// retryWait returns how long the server asked us to wait: Retry-After
// (seconds or an HTTP date), else X-RateLimit-Reset (ISO 8601).
func retryWait(h http.Header, now time.Time) (time.Duration, bool) {
	if h == nil {
		return 0, false
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
			return time.Duration(secs * float64(time.Second)), true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	if t, ok := parseResetTime(h.Get("X-RateLimit-Reset")); ok {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// parseResetTime parses the ISO 8601 forms Atlassian sends in
// X-RateLimit-Reset ("2026-11-28T11:20Z", with seconds, fractions or offsets).
func parseResetTime(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z0700"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// getJSON performs a GET and decodes the JSON answer into out.
func (cl *caller) getJSON(ctx context.Context, rawURL, op string, out any) error {
	return cl.doJSON(ctx, call{method: http.MethodGet, url: rawURL, op: op}, out)
}

// doJSON performs c and decodes a non-empty answer into out (when non-nil).
func (cl *caller) doJSON(ctx context.Context, c call, out any) error {
	res, err := cl.do(ctx, c)
	if err != nil {
		return err
	}
	if out == nil || len(bytes.TrimSpace(res.body)) == 0 {
		if out != nil {
			return &cleanup.Error{Kind: cleanup.KindOther, Message: fmt.Sprintf("%s answered %s with an empty body", cl.service, c.op)}
		}
		return nil
	}
	if err := json.Unmarshal(res.body, out); err != nil {
		return &cleanup.Error{Kind: cleanup.KindOther,
			Message: fmt.Sprintf("%s answered %s with malformed JSON", cl.service, c.op), Err: err}
	}
	return nil
}
