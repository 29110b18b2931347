package entra_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/entra"
	"github.com/example/usercleanup/internal/entra/entratest"
)

// clock is a fake clock shared by the client and the fake Graph: Sleep
// advances it, so throttling windows pass without real waiting.
type clock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

type env struct {
	srv   *entratest.Server
	clk   *clock
	cfg   entra.Config
	graph *entra.Client
}

func newEnv(t testing.TB, opts entratest.Options, mod ...func(*entra.Config)) *env {
	t.Helper()
	clk := newClock()
	opts.Now = clk.Now
	srv := entratest.NewServer(opts)
	t.Cleanup(srv.Close)
	cfg := entra.Config{
		TenantID:     srv.TenantID(),
		ClientID:     srv.ClientID(),
		ClientSecret: srv.ClientSecret(),
		GraphURL:     srv.URL,
		LoginURL:     srv.URL,
		HTTPClient:   srv.Client(),
		Now:          clk.Now,
		Sleep:        clk.Sleep,
		Logger:       slog.New(slog.DiscardHandler),
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := entra.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &env{srv: srv, clk: clk, cfg: cfg, graph: c}
}

func wantKind(t *testing.T, err error, want cleanup.Kind) *cleanup.Error {
	t.Helper()
	var ce *cleanup.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v (%T), want *cleanup.Error of kind %v", err, err, want)
	}
	if ce.Kind != want {
		t.Fatalf("kind = %v, want %v (error: %v)", ce.Kind, want, err)
	}
	return ce
}

func TestTestConnection(t *testing.T) {
	tests := []struct {
		name      string
		opts      entratest.Options
		mod       func(*entra.Config)
		expired   bool
		wantKind  cleanup.Kind // KindOther = success
		wantField string
		wantMsg   string // substring of Message
	}{
		{name: "ok"},
		{name: "higher privileged roles", opts: entratest.Options{Roles: []string{"Directory.ReadWrite.All"}}},
		{name: "wrong tenant", mod: func(c *entra.Config) { c.TenantID = "99999999-9999-9999-9999-999999999999" },
			wantKind: cleanup.KindUnauthorized, wantField: "tenant_id", wantMsg: "directory (tenant) ID"},
		{name: "wrong client id", mod: func(c *entra.Config) { c.ClientID = "99999999-9999-9999-9999-999999999999" },
			wantKind: cleanup.KindUnauthorized, wantField: "client_id", wantMsg: "application (client) ID"},
		{name: "wrong secret", mod: func(c *entra.Config) { c.ClientSecret = "nope" },
			wantKind: cleanup.KindUnauthorized, wantField: "client_secret", wantMsg: "secret is wrong"},
		{name: "expired secret", expired: true,
			wantKind: cleanup.KindUnauthorized, wantField: "client_secret", wantMsg: "expired"},
		{name: "no admin consent", opts: entratest.Options{Roles: []string{}},
			wantKind: cleanup.KindForbidden, wantMsg: "no application permissions with admin consent"},
		{name: "missing write permission", opts: entratest.Options{Roles: []string{"User.Read.All", "GroupMember.Read.All"}},
			wantKind: cleanup.KindForbidden, wantMsg: "lacks the application permission GroupMember.ReadWrite.All"},
		{name: "missing read permission", opts: entratest.Options{Roles: []string{"GroupMember.ReadWrite.All"}},
			wantKind: cleanup.KindForbidden, wantMsg: "lacks the application permission User.Read.All"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mods []func(*entra.Config)
			if tt.mod != nil {
				mods = append(mods, tt.mod)
			}
			e := newEnv(t, tt.opts, mods...)
			e.srv.SetSecretExpired(tt.expired)
			err := e.graph.TestConnection(context.Background())
			if tt.wantKind == cleanup.KindOther {
				if err != nil {
					t.Fatalf("TestConnection: %v", err)
				}
				return
			}
			ce := wantKind(t, err, tt.wantKind)
			if ce.Field != tt.wantField {
				t.Errorf("field = %q, want %q", ce.Field, tt.wantField)
			}
			if !strings.Contains(ce.Message, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", ce.Message, tt.wantMsg)
			}
			if strings.Contains(err.Error(), e.cfg.ClientSecret) && e.cfg.ClientSecret != "" {
				t.Errorf("error reveals the client secret: %v", err)
			}
		})
	}
}

func TestGraphDeniedAfterToken(t *testing.T) {
	// The token says the role is there but Graph answers 403 (for example a
	// conditional-access or app-instance policy): the message says forbidden.
	e := newEnv(t, entratest.Options{})
	e.srv.SetDenyGraph(true)
	ce := wantKind(t, e.graph.TestConnection(context.Background()), cleanup.KindForbidden)
	if !strings.Contains(ce.Message, "denied") {
		t.Errorf("message = %q", ce.Message)
	}
}

func TestNewValidates(t *testing.T) {
	_, err := entra.New(context.Background(), entra.Config{GraphURL: "http://graph.example", LoginURL: "::"})
	var ce *cleanup.Error
	if !errors.As(err, &ce) || ce.Kind != cleanup.KindInvalid {
		t.Fatalf("New = %v, want KindInvalid", err)
	}
	var fe cleanup.FieldErrors
	if !errors.As(err, &fe) {
		t.Fatalf("error %v does not carry FieldErrors", err)
	}
	var got []string
	for f := range fe {
		got = append(got, f)
	}
	want := []string{"client_id", "client_secret", "graph_url", "login_url", "tenant_id"}
	if diff := cmp.Diff(want, got, cmpSortStrings); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestConfigRedactsSecret(t *testing.T) {
	c := entra.Config{TenantID: "t", ClientID: "c", ClientSecret: "s3cr3t-value"}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("cfg", "config", c)
	for _, s := range []string{b.String(), c.String()} {
		if strings.Contains(s, "s3cr3t-value") {
			t.Errorf("secret leaked: %s", s)
		}
	}
}

func TestGraphCallsReportTokenFailures(t *testing.T) {
	// Credentials that stop working after setup: every call reports the
	// AADSTS reason, not a generic network error.
	e := newEnv(t, entratest.Options{}, func(c *entra.Config) { c.ClientSecret = "rotated-away" })
	g := e.srv.AddGroup("g", entratest.GroupFlags{})
	calls := map[string]func() error{
		"FindGroup":     func() error { _, err := e.graph.FindGroup(context.Background(), "g"); return err },
		"MemberIDs":     func() error { _, err := e.graph.MemberIDs(context.Background(), g); return err },
		"ResolveUsers":  func() error { _, err := e.graph.ResolveUsers(context.Background(), []string{"a@b.c"}); return err },
		"RemoveMembers": func() error { _, err := e.graph.RemoveMembers(context.Background(), g, []string{"x"}); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			ce := wantKind(t, call(), cleanup.KindUnauthorized)
			if ce.Field != "client_secret" {
				t.Errorf("field = %q, want client_secret (message %q)", ce.Field, ce.Message)
			}
		})
	}
}
