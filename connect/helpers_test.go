package connect_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
)

var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

var (
	jiraApp = connect.App{Key: "com.example.test.jira", BaseURL: "https://app.example.com/jira", Product: connect.Jira}
	confApp = connect.App{Key: "com.example.test.confluence", BaseURL: "https://app.example.com/confluence", Product: connect.Confluence}
)

// fixture is a store with tenants in every state.
type fixture struct {
	store    *connecttest.MemoryStore
	a, b     *connect.Tenant // installed Jira tenants
	gone     *connect.Tenant // uninstalled
	otherApp *connect.Tenant // tenant of the Confluence app
	verifier *connect.Verifier
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{store: connecttest.NewMemoryStore()}
	mk := func(key, secret string, app connect.App) *connect.Tenant {
		tn := &connect.Tenant{
			ClientKey: key, AppKey: app.Key, ProductType: app.Product,
			BaseURL: "https://acme.atlassian.net", SharedSecret: connect.Secret(secret),
			Enabled: true, InstalledAt: testNow.Add(-time.Hour),
		}
		if err := f.store.SaveTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		return tn
	}
	f.a = mk("jira:tenant-a", "secret-of-tenant-a-0123456789abcdef", jiraApp)
	f.b = mk("jira:tenant-b", "secret-of-tenant-b-0123456789abcdef", jiraApp)
	f.gone = mk("jira:tenant-gone", "secret-of-tenant-gone-0123456789", jiraApp)
	f.otherApp = mk("conf:tenant-c", "secret-of-tenant-c-0123456789abcdef", confApp)
	if err := f.store.MarkUninstalled(ctx, f.gone.ClientKey, testNow.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	f.verifier = &connect.Verifier{Store: f.store, Now: fixedNow}
	return f
}

// rawToken assembles a compact JWS from a header, claims and signature
// without any library, for hostile tokens.
func rawToken(t testing.TB, header, claims map[string]any, sig string) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(c) + "." + sig
}

// tamper replaces the claims of a signed token, keeping its signature.
func tamper(t testing.TB, tok string, change func(jwt.MapClaims)) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.MapClaims
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	change(c)
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(out) + "." + parts[2]
}

func signHS(t testing.TB, alg jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(alg, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
