package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/web"
)

func TestClassify(t *testing.T) {
	fields := cleanup.FieldErrors{}
	fields.Add("days", "must be at least 30")
	tests := []struct {
		name string
		err  error
		want problem
	}{
		{"connect token error", fmt.Errorf("verify: %w", connect.ErrBadSignature), problem{Status: 401, Message: "Authentication failed. Reload the page to sign in again."}},
		{"auth error", &authError{err: connect.ErrExpired}, problem{Status: 401, Message: "Authentication failed. Reload the page to sign in again."}},
		{"uninstalled tenant", connect.ErrTenantUninstalled, problem{Status: 401, Message: "Authentication failed. Reload the page to sign in again."}},
		{"bad payload", fmt.Errorf("%w: no clientKey", connect.ErrBadPayload), problem{Status: 400, Message: "The request is malformed."}},
		{"host not allowed at install", fmt.Errorf("installed: %w", connect.ErrHostNotAllowed), problem{Status: 403, Message: "This site's address is not one this app accepts."}},
		{"key fetch", connect.ErrKeyFetch, problem{Status: 503, Message: "Atlassian's signing keys could not be fetched; try again.", RetryAfter: 5 * time.Second, Warn: true}},
		{"unknown install key", connect.ErrUnknownKey, problem{Status: 401, Message: "Authentication failed. Reload the page to sign in again."}},
		{"body too large", &http.MaxBytesError{Limit: 10}, problem{Status: 413, Message: "The request is too large."}},
		{"not admin", errNotAdmin, problem{Status: 403, Message: errNotAdmin.msg}},
		{"echo 404", echo.ErrNotFound, problem{Status: 404, Message: "Not Found"}},
		{"echo custom", echo.NewHTTPError(405, "nope"), problem{Status: 405, Message: "nope"}},
		{"invalid field", cleanup.Invalid("days", "too small"), problem{Status: 400, Message: "too small", Fields: map[string]string{"days": "too small"}}},
		{"field errors", fmt.Errorf("save: %w", fields.Err()), problem{Status: 400, Message: "invalid input", Fields: map[string]string{"days": "must be at least 30"}}},
		{"not found", cleanup.Errorf(cleanup.KindNotFound, "no such cleanup"), problem{Status: 404, Message: "no such cleanup"}},
		{"conflict", cleanup.Errorf(cleanup.KindConflict, "changed"), problem{Status: 409, Message: "changed"}},
		{"unavailable", &cleanup.Error{Kind: cleanup.KindUnavailable, Message: "rate limited", RetryAfter: 7 * time.Second}, problem{Status: 503, Message: "rate limited", RetryAfter: 7 * time.Second, Log: true}},
		{"not configured", cleanup.Errorf(cleanup.KindNotConfigured, "no org key"), problem{Status: 422, Message: "no org key"}},
		{"unknown", errors.New("boom: secret detail"), problem{Status: 500, Message: "Something went wrong. Try again, and contact support if it keeps happening.", Log: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, classify(tc.err)); diff != "" {
				t.Errorf("classify(%v) (-want +got):\n%s", tc.err, diff)
			}
		})
	}
}

// TestClassifyEveryConnectError: every error of the connect package (its
// own test, connect/status_table_test.go, proves from the package source
// that connect.Errors lists them all) gets connect's status and a message
// chosen for it, never the fallback.
func TestClassifyEveryConnectError(t *testing.T) {
	for _, e := range connect.Errors() {
		err := fmt.Errorf("wrapped: %w", e)
		got, want := classify(err), connect.HTTPStatus(err)
		if got.Status != want {
			t.Errorf("classify(%v) = %d, connect.HTTPStatus says %d", e, got.Status, want)
		}
		if want == http.StatusInternalServerError {
			if !got.Log {
				t.Errorf("classify(%v): a 500 must be logged", e)
			}
			continue
		}
		if got.Message == "" || got.Message == "The request was refused." {
			t.Errorf("classify(%v): status %d has no message of its own in connectMessages", e, got.Status)
		}
	}
}

func TestErrorResponses(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler), cfg: Config{HostScriptURL: "https://cdn.example/all.js"}}
	assets, err := newAssetSet(web.FS(), web.StaticDir)
	if err != nil {
		t.Fatal(err)
	}
	if s.pages, err = newRenderer(web.FS(), assets, nil, s.cfg.HostScriptURL); err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	tests := []struct {
		name       string
		html       bool
		err        error
		wantStatus int
		wantType   string
		wantRetry  string
	}{
		{"json 503 retry-after", false, &cleanup.Error{Kind: cleanup.KindUnavailable, Message: "later", RetryAfter: 1500 * time.Millisecond}, 503, "application/json", "2"},
		{"html 401", true, connect.ErrNoToken, 401, "text/html", ""},
		{"html 500 hides cause", true, errors.New("db password=hunter2"), 500, "text/html", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			c := e.NewContext(httptest.NewRequest(http.MethodGet, "/x", nil), rec)
			c.Set(keyHTML, tc.html)
			s.handleError(tc.err, c)
			if rec.Code != tc.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tc.wantStatus)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, tc.wantType) {
				t.Errorf("Content-Type = %q, want %q", ct, tc.wantType)
			}
			if got := rec.Header().Get("Retry-After"); tc.wantRetry != "" && got != tc.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tc.wantRetry)
			}
			if strings.Contains(rec.Body.String(), "hunter2") {
				t.Error("error response leaks the cause")
			}
		})
	}
}

func TestRecoverPanics(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	e := echo.New()
	c := e.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), httptest.NewRecorder())
	err := s.recoverPanics(func(echo.Context) error { panic("kaboom") })(c)
	if err == nil || classify(err).Status != http.StatusInternalServerError {
		t.Fatalf("recovered error = %v, want a 500 error", err)
	}
}

type countingChecker struct {
	calls int
	err   error
}

func (c *countingChecker) IsAdmin(_ context.Context, _ *connect.Tenant, accountID string) (bool, error) {
	c.calls++
	return accountID == "admin", c.err
}

func TestAdminCache(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tn := &connect.Tenant{ClientKey: "a"}

	check := &countingChecker{}
	c := newAdminCache(check, time.Minute, 2, clock)
	steps := []struct {
		account   string
		advance   time.Duration
		want      bool
		wantCalls int
	}{
		{"admin", 0, true, 1},
		{"admin", 30 * time.Second, true, 1}, // cached
		{"user", 0, false, 2},                // negative answers are cached too
		{"user", 0, false, 2},                //
		{"admin", 31 * time.Second, true, 3}, // expired after the TTL
		{"other", 0, false, 4},               // evicts the least recently used ("user")
		{"user", 0, false, 5},                //
	}
	for i, st := range steps {
		now = now.Add(st.advance)
		got, err := c.IsAdmin(ctx, tn, st.account)
		if err != nil || got != st.want || check.calls != st.wantCalls {
			t.Fatalf("step %d (%s): got %v, %v, calls %d; want %v, calls %d", i, st.account, got, err, check.calls, st.want, st.wantCalls)
		}
		if c.Len() > 2 {
			t.Fatalf("step %d: cache holds %d entries, bound is 2", i, c.Len())
		}
	}

	c.Forget("a")
	if c.Len() != 0 {
		t.Errorf("after Forget: %d entries", c.Len())
	}

	failing := &countingChecker{err: errors.New("product down")}
	c = newAdminCache(failing, time.Minute, 10, clock)
	for range 2 {
		if _, err := c.IsAdmin(ctx, tn, "admin"); err == nil {
			t.Fatal("error not returned")
		}
	}
	if failing.calls != 2 {
		t.Errorf("errors were cached: %d calls, want 2", failing.calls)
	}
}

func TestSecurityHeaders(t *testing.T) {
	got := securityHeaders("https://connect-cdn.atl-paas.net/all.js", nil, true)
	want := map[string]string{
		"Content-Security-Policy":   "default-src 'self'; script-src 'self' https://connect-cdn.atl-paas.net; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self' https://*.atlassian.net https://*.jira.com https://*.jira-dev.com https://*.atlassian-us-gov-mod.net",
		"Referrer-Policy":           "strict-origin-when-cross-origin",
		"X-Content-Type-Options":    "nosniff",
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if _, ok := securityHeaders("http://127.0.0.1/all.js", []string{"http://127.0.0.1:1"}, false)["Strict-Transport-Security"]; ok {
		t.Error("HSTS sent for an http BASE_URL")
	}
}

// TestFixedHeaders: the prepared headers give exactly the header map
// Header.Set gives, and a later Add to a response never reaches the
// prepared values other responses share.
func TestFixedHeaders(t *testing.T) {
	for _, m := range []map[string]string{
		securityHeaders("https://connect-cdn.atl-paas.net/all.js", nil, true),
		securityHeaders("http://127.0.0.1/all.js", []string{"http://127.0.0.1:1"}, false),
		{"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"},
		{"x-lower-case": "v"},
	} {
		prepared := fixedHeaders(m)
		want := http.Header{}
		for k, v := range m {
			want.Set(k, v)
		}
		got := http.Header{}
		setFixed(got, prepared)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("headers (-Header.Set +setFixed):\n%s", diff)
		}
		for k := range got {
			got.Add(k, "added")
		}
		again := http.Header{}
		setFixed(again, prepared)
		if diff := cmp.Diff(want, again); diff != "" {
			t.Errorf("an Add changed the prepared headers (-want +got):\n%s", diff)
		}
	}
	if http.CanonicalHeaderKey(headerRequestID) != headerRequestID {
		t.Errorf("%q is not canonical: it is assigned without Header.Set", headerRequestID)
	}
}

type errChecker struct{ err error }

func (c errChecker) IsAdmin(context.Context, *connect.Tenant, string) (bool, error) {
	return false, c.err
}

func TestRequireAdminErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
	}{
		{"unknown account is not an admin", cleanup.Errorf(cleanup.KindNotFound, "no such user"), http.StatusForbidden},
		{"product unavailable", &cleanup.Error{Kind: cleanup.KindUnavailable, Message: "rate limited"}, http.StatusServiceUnavailable},
		{"unexpected failure", errors.New("boom"), http.StatusInternalServerError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{log: slog.New(slog.DiscardHandler), admins: newAdminCache(errChecker{tc.err}, time.Minute, 10, time.Now)}
			req := httptest.NewRequest(http.MethodGet, "/jira/admin/settings", nil)
			req = req.WithContext(connect.WithAuth(req.Context(), &connect.Auth{ClientKey: "ck", AccountID: "acc", Tenant: &connect.Tenant{ClientKey: "ck"}}))
			c := echo.New().NewContext(req, httptest.NewRecorder())
			called := false
			err := s.requireAdmin(func(echo.Context) error { called = true; return nil })(c)
			if called {
				t.Fatal("handler ran without an admin answer")
			}
			if got := classify(err).Status; got != tc.wantStatus {
				t.Errorf("status = %d (%v), want %d", got, err, tc.wantStatus)
			}
		})
	}
}
