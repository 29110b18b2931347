package connect_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
)

const (
	testClientKey = "jira:2aceafb1-d3ee-4086-b8a8-0b4d88b9abd1"
	testSecret    = "shared-secret-from-install-0123456789abcdef"
)

type lifecycleFixture struct {
	ks    *connecttest.KeyServer
	store *connecttest.MemoryStore
	lc    *connect.Lifecycle
}

func newLifecycleFixture(t *testing.T) *lifecycleFixture {
	t.Helper()
	ks, err := connecttest.NewKeyServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ks.Close)
	ks.Now = fixedNow
	store := connecttest.NewMemoryStore()
	keys := connect.NewInstallKeyFetcher([]string{ks.URL}, ks.Client())
	keys.Timeout = 2 * time.Second // under the 5 s the slow key server waits; TLS handshakes are slow under load
	return &lifecycleFixture{ks: ks, store: store, lc: &connect.Lifecycle{
		Store: store, Keys: keys, Now: fixedNow,
	}}
}

func validPayload() connecttest.InstallPayload {
	return connecttest.InstallPayload{
		Key: jiraApp.Key, ClientKey: testClientKey, SharedSecret: testSecret,
		BaseURL: "https://acme.atlassian.net", DisplayURL: "https://jira.acme.com",
		ProductType: "jira", EventType: "installed", InstallationID: "ari:cloud:ecosystem::installation/1",
		Extra: map[string]any{"pluginsVersion": "1001.0.0", "futureField": map[string]any{"x": 1.0}},
	}
}

func payloadJSON(t testing.TB, p connecttest.InstallPayload) []byte {
	t.Helper()
	b, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// installClaims are the claims of a valid signed install for path.
func installClaims(path string) jwt.MapClaims {
	qsh, _ := connect.QueryStringHash(http.MethodPost, path, "", "")
	return jwt.MapClaims{
		"iss": testClientKey, "aud": jiraApp.BaseURL, "qsh": qsh, "sub": "admin-1",
		"iat": testNow.Unix(), "exp": testNow.Add(3 * time.Minute).Unix(), "context": map[string]any{},
	}
}

func lifecycleRequest(path, token string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, jiraApp.BaseURL+path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if token != "" {
		r.Header.Set("Authorization", "JWT "+token)
	}
	return r
}

func (f *lifecycleFixture) sign(t testing.TB, c jwt.MapClaims) string {
	t.Helper()
	tok, err := f.ks.SignInstall(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestInstalledValid(t *testing.T) {
	f := newLifecycleFixture(t)
	body := payloadJSON(t, validPayload())
	got, err := f.lc.Installed(lifecycleRequest("/installed", f.sign(t, installClaims("/installed")), body), jiraApp)
	if err != nil {
		t.Fatalf("Installed: %v", err)
	}
	want := &connect.Tenant{
		ClientKey: testClientKey, AppKey: jiraApp.Key, ProductType: connect.Jira,
		BaseURL: "https://acme.atlassian.net", DisplayURL: "https://jira.acme.com",
		SharedSecret: testSecret, InstallationID: "ari:cloud:ecosystem::installation/1",
		Payload: got.Payload, Enabled: true, InstalledAt: testNow,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("returned tenant (-want +got):\n%s", diff)
	}
	stored, err := f.store.GetTenant(context.Background(), testClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Errorf("stored tenant (-want +got):\n%s", diff)
	}
	if !bytes.Contains(stored.Payload, []byte(`"futureField":{"x":1}`)) {
		t.Errorf("unknown field not kept: %s", stored.Payload)
	}
	if bytes.Contains(stored.Payload, []byte(testSecret)) || bytes.Contains(bytes.ToLower(stored.Payload), []byte("sharedsecret")) {
		t.Errorf("kept payload holds the shared secret: %s", stored.Payload)
	}
}

// TestInstalledKeepsNoSecret: whatever spelling carries the shared secret
// (encoding/json reads member names without regard to case, and a repeated
// member), the kept payload holds none of it.
func TestInstalledKeepsNoSecret(t *testing.T) {
	const other = "another-secret-value-0123456789"
	for name, mutate := range map[string]func(string) string{
		"as sent": func(b string) string { return b },
		"other case": func(b string) string {
			return strings.Replace(b, `"sharedSecret"`, `"SHAREDSECRET"`, 1)
		},
		"repeated member": func(b string) string {
			return strings.Replace(b, `{`, `{"sharedSecret":"`+other+`",`, 1)
		},
		"escaped name": func(b string) string {
			return strings.Replace(b, `{`, `{"shared\u0053ecret":"`+other+`",`, 1)
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newLifecycleFixture(t)
			body := []byte(mutate(string(payloadJSON(t, validPayload()))))
			if _, err := f.lc.Installed(lifecycleRequest("/installed", f.sign(t, installClaims("/installed")), body), jiraApp); err != nil {
				t.Fatalf("Installed: %v\n%s", err, body)
			}
			stored, err := f.store.GetTenant(context.Background(), testClientKey)
			if err != nil {
				t.Fatal(err)
			}
			if stored.SharedSecret == "" {
				t.Fatal("no shared secret stored")
			}
			for _, secret := range []string{testSecret, other, stored.SharedSecret.Reveal()} {
				if bytes.Contains(stored.Payload, []byte(secret)) {
					t.Errorf("kept payload holds a secret: %s", stored.Payload)
				}
			}
			if !bytes.Contains(stored.Payload, []byte(`"clientKey":"`+testClientKey+`"`)) {
				t.Errorf("kept payload lost the clientKey: %s", stored.Payload)
			}
		})
	}
}

func TestScrubInstallPayloadRefusesNonObjects(t *testing.T) {
	for _, body := range []string{``, `null`, `[]`, `"sharedSecret"`, `{"sharedSecret":`} {
		if out, err := connect.ScrubInstallPayload([]byte(body)); err == nil {
			t.Errorf("ScrubInstallPayload(%q) = %s, want an error", body, out)
		}
	}
}

// TestInstalledAttackTable: every hostile or broken install is rejected
// with the right error and leaves the store untouched.
func TestInstalledAttackTable(t *testing.T) {
	f := newLifecycleFixture(t)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&f.ks.Key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	body := payloadJSON(t, validPayload())
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := installClaims("/installed")
		if change != nil {
			change(c)
		}
		return c
	}
	signed := func(change func(jwt.MapClaims)) string { return f.sign(t, claims(change)) }
	withKid := func(kid string, key *rsa.PrivateKey) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims(nil))
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hs256 := func(key []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
		tok.Header["kid"] = f.ks.KID
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	payload := func(change func(*connecttest.InstallPayload)) []byte {
		p := validPayload()
		change(&p)
		return payloadJSON(t, p)
	}

	tests := []struct {
		name    string
		req     func() *http.Request
		wantErr error
	}{
		{"no token", func() *http.Request { return lifecycleRequest("/installed", "", body) }, connect.ErrNoToken},
		{"alg none", func() *http.Request {
			return lifecycleRequest("/installed", rawToken(t, map[string]any{"alg": "none", "kid": f.ks.KID}, claims(nil), ""), body)
		}, connect.ErrBadAlgorithm},
		{"HS256 keyed with the RSA public key (alg confusion)", func() *http.Request { return lifecycleRequest("/installed", hs256(pubPEM), body) }, connect.ErrBadAlgorithm},
		{"HS256 keyed with the body's shared secret", func() *http.Request { return lifecycleRequest("/installed", hs256([]byte(testSecret)), body) }, connect.ErrBadAlgorithm},
		{"RS512", func() *http.Request {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS512, claims(nil))
			tok.Header["kid"] = f.ks.KID
			s, _ := tok.SignedString(f.ks.Key)
			return lifecycleRequest("/installed", s, body)
		}, connect.ErrBadAlgorithm},
		{"unknown kid", func() *http.Request { return lifecycleRequest("/installed", withKid("fake-kid", f.ks.Key), body) }, connect.ErrUnknownKey},
		{"kid missing", func() *http.Request { return lifecycleRequest("/installed", withKid("", f.ks.Key), body) }, connect.ErrMalformedToken},
		{"kid with a slash", func() *http.Request { return lifecycleRequest("/installed", withKid("a/"+f.ks.KID, f.ks.Key), body) }, connect.ErrMalformedToken},
		{"kid with dot-dot", func() *http.Request { return lifecycleRequest("/installed", withKid("../"+f.ks.KID, f.ks.Key), body) }, connect.ErrMalformedToken},
		{"kid with percent escape", func() *http.Request { return lifecycleRequest("/installed", withKid("%2e%2e", f.ks.Key), body) }, connect.ErrMalformedToken},
		{"kid with query", func() *http.Request { return lifecycleRequest("/installed", withKid(f.ks.KID+"?x=1", f.ks.Key), body) }, connect.ErrMalformedToken},
		{"kid that is only dots", func() *http.Request { return lifecycleRequest("/installed", withKid("..", f.ks.Key), body) }, connect.ErrMalformedToken},
		{"signed by another key under the real kid", func() *http.Request { return lifecycleRequest("/installed", withKid(f.ks.KID, otherKey), body) }, connect.ErrBadSignature},
		{"tampered claims", func() *http.Request {
			return lifecycleRequest("/installed", tamper(t, signed(nil), func(c jwt.MapClaims) { c["iss"] = "jira:attacker" }), payload(func(p *connecttest.InstallPayload) { p.ClientKey = "jira:attacker" }))
		}, connect.ErrBadSignature},
		{"expired", func() *http.Request {
			return lifecycleRequest("/installed", signed(func(c jwt.MapClaims) {
				c["iat"] = testNow.Add(-time.Hour).Unix()
				c["exp"] = testNow.Add(-time.Minute).Unix()
			}), body)
		}, connect.ErrExpired},
		{"iat in the future beyond leeway", func() *http.Request {
			return lifecycleRequest("/installed", signed(func(c jwt.MapClaims) { c["iat"] = testNow.Add(time.Minute).Unix() }), body)
		}, connect.ErrIssuedInFuture},
		{"exp missing", func() *http.Request {
			return lifecycleRequest("/installed", signed(func(c jwt.MapClaims) { delete(c, "exp") }), body)
		}, connect.ErrMissingClaim},
		{"iss missing", func() *http.Request {
			return lifecycleRequest("/installed", signed(func(c jwt.MapClaims) { delete(c, "iss") }), body)
		}, connect.ErrMissingClaim},
		{"aud of another app", func() *http.Request {
			return lifecycleRequest("/installed", signed(func(c jwt.MapClaims) { c["aud"] = confApp.BaseURL }), body)
		}, connect.ErrAudienceMismatch},
		{"aud missing", func() *http.Request {
			return lifecycleRequest("/installed", signed(func(c jwt.MapClaims) { delete(c, "aud") }), body)
		}, connect.ErrAudienceMismatch},
		{"aud with a prefix of our baseUrl", func() *http.Request {
			return lifecycleRequest("/installed", signed(func(c jwt.MapClaims) { c["aud"] = "https://app.example.com" }), body)
		}, connect.ErrAudienceMismatch},
		{"qsh of the uninstalled callback", func() *http.Request {
			return lifecycleRequest("/installed", f.sign(t, installClaims("/uninstalled")), body)
		}, connect.ErrQSHMismatch},
		{"context qsh", func() *http.Request {
			return lifecycleRequest("/installed", signed(func(c jwt.MapClaims) { c["qsh"] = connect.ContextQSH }), body)
		}, connect.ErrContextTokenOnPage},
		{"iss differs from body clientKey", func() *http.Request {
			return lifecycleRequest("/installed", signed(func(c jwt.MapClaims) { c["iss"] = "jira:someone-else" }), body)
		}, connect.ErrIssuerMismatch},
		{"baseUrl host not allowed", func() *http.Request {
			return lifecycleRequest("/installed", signed(nil), payload(func(p *connecttest.InstallPayload) { p.BaseURL = "https://evil.example.com" }))
		}, connect.ErrHostNotAllowed},
		{"baseUrl host only ends like an allowed one", func() *http.Request {
			return lifecycleRequest("/installed", signed(nil), payload(func(p *connecttest.InstallPayload) { p.BaseURL = "https://acme.atlassian.net.evil.com" }))
		}, connect.ErrHostNotAllowed},
		{"baseUrl over http", func() *http.Request {
			return lifecycleRequest("/installed", signed(nil), payload(func(p *connecttest.InstallPayload) { p.BaseURL = "http://acme.atlassian.net" }))
		}, connect.ErrBadPayload},
		{"baseUrl with credentials", func() *http.Request {
			return lifecycleRequest("/installed", signed(nil), payload(func(p *connecttest.InstallPayload) { p.BaseURL = "https://u:p@acme.atlassian.net" }))
		}, connect.ErrBadPayload},
		{"displayUrl not a URL", func() *http.Request {
			return lifecycleRequest("/installed", signed(nil), payload(func(p *connecttest.InstallPayload) { p.DisplayURL = "javascript:alert(1)" }))
		}, connect.ErrBadPayload},
		{"shared secret missing", func() *http.Request {
			return lifecycleRequest("/installed", signed(nil), payload(func(p *connecttest.InstallPayload) { p.SharedSecret = "" }))
		}, connect.ErrBadPayload},
		{"shared secret too short", func() *http.Request {
			return lifecycleRequest("/installed", signed(nil), payload(func(p *connecttest.InstallPayload) { p.SharedSecret = "short" }))
		}, connect.ErrBadPayload},
		{"key of another app", func() *http.Request {
			return lifecycleRequest("/installed", signed(nil), payload(func(p *connecttest.InstallPayload) { p.Key = confApp.Key }))
		}, connect.ErrBadPayload},
		{"productType of the other product", func() *http.Request {
			return lifecycleRequest("/installed", signed(nil), payload(func(p *connecttest.InstallPayload) { p.ProductType = "confluence" }))
		}, connect.ErrBadPayload},
		{"eventType uninstalled on installed", func() *http.Request {
			return lifecycleRequest("/installed", signed(nil), payload(func(p *connecttest.InstallPayload) { p.EventType = "uninstalled" }))
		}, connect.ErrBadPayload},
		{"body not JSON", func() *http.Request { return lifecycleRequest("/installed", signed(nil), []byte("clientKey=x")) }, connect.ErrBadPayload},
		{"body empty", func() *http.Request { return lifecycleRequest("/installed", signed(nil), nil) }, connect.ErrBadPayload},
		{"oversized body (Content-Length)", func() *http.Request {
			return lifecycleRequest("/installed", signed(nil), bytes.Repeat([]byte(" "), int(connect.DefaultMaxBodyBytes)+1))
		}, connect.ErrBodyTooLarge},
		{"oversized body (chunked)", func() *http.Request {
			r := lifecycleRequest("/installed", signed(nil), nil)
			r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), strings.NewReader(strings.Repeat(" ", int(connect.DefaultMaxBodyBytes)))))
			r.ContentLength = -1
			return r
		}, connect.ErrBodyTooLarge},
		{"duplicate jwt sources", func() *http.Request {
			tok := signed(nil)
			r := lifecycleRequest("/installed", tok, body)
			r.URL.RawQuery = "jwt=" + tok
			return r
		}, connect.ErrDuplicateToken},
	}
	// The checks that cost nothing come before any key lookup: only a
	// token right in everything else may make the app ask a key server.
	lookups := &countingKeys{InstallKeys: f.lc.Keys}
	f.lc.Keys = lookups
	needsKey := map[string]bool{
		"unknown kid": true, "signed by another key under the real kid": true, "tampered claims": true,
		"shared secret missing": true, "shared secret too short": true,
		"baseUrl host not allowed": true, "baseUrl host only ends like an allowed one": true,
		"baseUrl over http": true, "baseUrl with credentials": true, "displayUrl not a URL": true,
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := lookups.n.Load()
			got, err := f.lc.Installed(tc.req(), jiraApp)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if looked := lookups.n.Load() > before; looked != needsKey[tc.name] {
				t.Errorf("key looked up: %v, want %v", looked, needsKey[tc.name])
			}
			if got != nil {
				t.Fatalf("tenant returned with error: %+v", got)
			}
			if n := len(f.store.Tenants()); n != 0 {
				t.Fatalf("store has %d tenants after a rejected install", n)
			}
		})
	}
}

// countingKeys counts key lookups.
type countingKeys struct {
	connect.InstallKeys
	n atomic.Int32
}

func (c *countingKeys) PublicKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	c.n.Add(1)
	return c.InstallKeys.PublicKey(ctx, kid)
}

func TestInstalledAudienceForms(t *testing.T) {
	for _, aud := range []any{jiraApp.BaseURL, jiraApp.BaseURL + "/", []any{"https://other.example.com", jiraApp.BaseURL}} {
		f := newLifecycleFixture(t)
		c := installClaims("/installed")
		c["aud"] = aud
		if _, err := f.lc.Installed(lifecycleRequest("/installed", f.sign(t, c), payloadJSON(t, validPayload())), jiraApp); err != nil {
			t.Errorf("aud %v: %v", aud, err)
		}
	}
}

// TestKeyServerAnswers: a kid that every key server denies (404, 403 or
// 410) is a forged token (ErrUnknownKey, 401); anything else that keeps the
// key from us (5xx, a timeout, a refused connection, one server denying
// while another is down) is ErrKeyFetch (503): the key may exist.
func TestKeyServerAnswers(t *testing.T) {
	down := httptest.NewTLSServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close() // connection refused from now on
	denies := func(status int) *httptest.Server {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
		t.Cleanup(srv.Close)
		return srv
	}
	tests := []struct {
		name    string
		setup   func(ks *connecttest.KeyServer) []string // key server URLs, in order
		wantErr error
	}{
		{"404", func(ks *connecttest.KeyServer) []string { ks.Fail(http.StatusNotFound); return []string{ks.URL} }, connect.ErrUnknownKey},
		{"403", func(ks *connecttest.KeyServer) []string { ks.Fail(http.StatusForbidden); return []string{ks.URL} }, connect.ErrUnknownKey},
		{"410", func(ks *connecttest.KeyServer) []string { ks.Fail(http.StatusGone); return []string{ks.URL} }, connect.ErrUnknownKey},
		{"404 then 403", func(ks *connecttest.KeyServer) []string {
			ks.Fail(http.StatusForbidden)
			return []string{denies(http.StatusNotFound).URL, ks.URL}
		}, connect.ErrUnknownKey},
		{"500", func(ks *connecttest.KeyServer) []string {
			ks.Fail(http.StatusInternalServerError)
			return []string{ks.URL}
		}, connect.ErrKeyFetch},
		{"503", func(ks *connecttest.KeyServer) []string {
			ks.Fail(http.StatusServiceUnavailable)
			return []string{ks.URL}
		}, connect.ErrKeyFetch},
		{"429", func(ks *connecttest.KeyServer) []string { ks.Fail(http.StatusTooManyRequests); return []string{ks.URL} }, connect.ErrKeyFetch},
		{"timeout", func(ks *connecttest.KeyServer) []string { ks.Delay(5 * time.Second); return []string{ks.URL} }, connect.ErrKeyFetch},
		{"connection refused", func(*connecttest.KeyServer) []string { return []string{downURL} }, connect.ErrKeyFetch},
		{"404 then down", func(*connecttest.KeyServer) []string { return []string{denies(http.StatusNotFound).URL, downURL} }, connect.ErrKeyFetch},
		{"502 then 404", func(ks *connecttest.KeyServer) []string {
			ks.Fail(http.StatusNotFound)
			return []string{denies(http.StatusBadGateway).URL, ks.URL}
		}, connect.ErrKeyFetch},
		{"down then the key", func(ks *connecttest.KeyServer) []string { return []string{downURL, ks.URL} }, nil},
		{"404 then the key", func(ks *connecttest.KeyServer) []string { return []string{denies(http.StatusNotFound).URL, ks.URL} }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newLifecycleFixture(t)
			keys := connect.NewInstallKeyFetcher(tc.setup(f.ks), f.ks.Client())
			keys.Timeout = 2 * time.Second
			f.lc.Keys = keys
			start := time.Now()
			_, err := f.lc.Installed(lifecycleRequest("/installed", f.sign(t, installClaims("/installed")), payloadJSON(t, validPayload())), jiraApp)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("err = %v, want the install to succeed", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if d := time.Since(start); d > 4500*time.Millisecond {
				t.Fatalf("took %v: timeout not applied", d)
			}
			if n := len(f.store.Tenants()); n != 0 {
				t.Fatalf("store has %d tenants", n)
			}
		})
	}
}

func TestReinstallReplacesSecretAndRevives(t *testing.T) {
	f := newLifecycleFixture(t)
	ctx := context.Background()
	install := func(secret string) {
		t.Helper()
		p := validPayload()
		p.SharedSecret = secret
		if _, err := f.lc.Installed(lifecycleRequest("/installed", f.sign(t, installClaims("/installed")), payloadJSON(t, p)), jiraApp); err != nil {
			t.Fatalf("install: %v", err)
		}
	}
	pageOK := func(secret string) error {
		tn := &connect.Tenant{ClientKey: testClientKey, SharedSecret: connect.Secret(secret)}
		tok, err := connecttest.PageToken(tn, jiraApp, http.MethodGet, pageURL, "", testNow, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		v := &connect.Verifier{Store: f.store, Now: fixedNow}
		_, err = v.Verify(httptest.NewRequest(http.MethodGet, connecttest.WithJWT(pageURL, tok), nil), jiraApp, connect.QSHComputed)
		return err
	}
	install(testSecret)
	if err := pageOK(testSecret); err != nil {
		t.Fatalf("first secret: %v", err)
	}
	newSecret := "a-brand-new-shared-secret-0123456789"
	install(newSecret)
	if err := pageOK(testSecret); !errors.Is(err, connect.ErrBadSignature) {
		t.Fatalf("old secret after re-install: %v, want ErrBadSignature", err)
	}
	if err := pageOK(newSecret); err != nil {
		t.Fatalf("new secret: %v", err)
	}

	if err := f.lc.Uninstalled(lifecycleRequest("/uninstalled", f.sign(t, installClaims("/uninstalled")), payloadJSON(t, connecttest.InstallPayload{Key: jiraApp.Key, ClientKey: testClientKey, EventType: "uninstalled"})), jiraApp); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	// The shared secret is forgotten on uninstall: no token verifies.
	if err := pageOK(newSecret); !errors.Is(err, connect.ErrBadSignature) {
		t.Fatalf("after uninstall: %v, want ErrBadSignature", err)
	}
	tn, err := f.store.GetTenant(ctx, testClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(testNow, tn.UninstalledAt); diff != "" || tn.Enabled {
		t.Fatalf("uninstalled tenant: enabled=%v UninstalledAt diff %s", tn.Enabled, diff)
	}

	revived := "secret-after-revival-0123456789abcdef"
	install(revived)
	if err := pageOK(revived); err != nil {
		t.Fatalf("after revival: %v", err)
	}
	tn, err = f.store.GetTenant(ctx, testClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if !tn.Installed() || !tn.Enabled {
		t.Fatalf("revived tenant: %+v", tn)
	}
	if got := f.ks.Hits(); got != 1 {
		t.Errorf("key server hits = %d, want 1 (cached by kid)", got)
	}
}

func TestUninstalledRejects(t *testing.T) {
	f := newLifecycleFixture(t)
	body := payloadJSON(t, connecttest.InstallPayload{Key: jiraApp.Key, ClientKey: testClientKey, EventType: "uninstalled"})
	hs := signHS(t, jwt.SigningMethodHS256, []byte(testSecret), installClaims("/uninstalled"))
	tests := []struct {
		name    string
		req     *http.Request
		wantErr error
	}{
		{"unknown tenant", lifecycleRequest("/uninstalled", f.sign(t, installClaims("/uninstalled")), body), connect.ErrUnknownTenant},
		{"HS256 with the shared secret", lifecycleRequest("/uninstalled", hs, body), connect.ErrBadAlgorithm},
		{"qsh of installed", lifecycleRequest("/uninstalled", f.sign(t, installClaims("/installed")), body), connect.ErrQSHMismatch},
		{"eventType installed", lifecycleRequest("/uninstalled", f.sign(t, installClaims("/uninstalled")), payloadJSON(t, connecttest.InstallPayload{Key: jiraApp.Key, ClientKey: testClientKey, EventType: "installed"})), connect.ErrBadPayload},
		{"iss differs from clientKey", lifecycleRequest("/uninstalled", f.sign(t, installClaims("/uninstalled")), payloadJSON(t, connecttest.InstallPayload{Key: jiraApp.Key, ClientKey: "jira:victim"})), connect.ErrIssuerMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := f.lc.Uninstalled(tc.req, jiraApp); !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func installTenant(t *testing.T, f *lifecycleFixture) *connect.Tenant {
	t.Helper()
	tn, err := f.lc.Installed(lifecycleRequest("/installed", f.sign(t, installClaims("/installed")), payloadJSON(t, validPayload())), jiraApp)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func enabledRequest(t testing.TB, tn *connect.Tenant, path string, body []byte) *http.Request {
	t.Helper()
	tok, err := connecttest.PageToken(tn, jiraApp, http.MethodPost, jiraApp.BaseURL+path, "", testNow, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return lifecycleRequest(path, tok, body)
}

func TestEnabledDisabled(t *testing.T) {
	f := newLifecycleFixture(t)
	tn := installTenant(t, f)
	ctx := context.Background()
	ev := func(event string) []byte {
		return payloadJSON(t, connecttest.InstallPayload{Key: jiraApp.Key, ClientKey: testClientKey, EventType: event})
	}
	if err := f.lc.Disabled(enabledRequest(t, tn, "/disabled", ev("disabled")), jiraApp); err != nil {
		t.Fatalf("disabled: %v", err)
	}
	if got, _ := f.store.GetTenant(ctx, testClientKey); got.Enabled {
		t.Fatal("still enabled after disabled")
	}
	if err := f.lc.Enabled(enabledRequest(t, tn, "/enabled", ev("enabled")), jiraApp); err != nil {
		t.Fatalf("enabled: %v", err)
	}
	if got, _ := f.store.GetTenant(ctx, testClientKey); !got.Enabled {
		t.Fatal("not enabled after enabled")
	}

	ctxTok, err := connecttest.ContextToken(tn, "", testNow, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rsTok := f.sign(t, installClaims("/disabled"))
	tests := []struct {
		name    string
		req     *http.Request
		wantErr error
	}{
		{"RS256 signed-install token", lifecycleRequest("/disabled", rsTok, ev("disabled")), connect.ErrBadAlgorithm},
		{"context token", lifecycleRequest("/disabled", ctxTok, ev("disabled")), connect.ErrContextTokenOnPage},
		{"token for /enabled posted to /disabled", func() *http.Request {
			r := enabledRequest(t, tn, "/enabled", ev("disabled"))
			r.URL.Path = "/jira/disabled"
			return r
		}(), connect.ErrQSHMismatch},
		{"eventType mismatch", enabledRequest(t, tn, "/disabled", ev("enabled")), connect.ErrBadPayload},
		{"body clientKey of another tenant", enabledRequest(t, tn, "/disabled", payloadJSON(t, connecttest.InstallPayload{ClientKey: "jira:other"})), connect.ErrIssuerMismatch},
		{"no token", lifecycleRequest("/disabled", "", ev("disabled")), connect.ErrNoToken},
		{"oversized body", enabledRequest(t, tn, "/disabled", bytes.Repeat([]byte(" "), int(connect.DefaultMaxBodyBytes)+1)), connect.ErrBodyTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := f.lc.Disabled(tc.req, jiraApp); !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got, _ := f.store.GetTenant(ctx, testClientKey); !got.Enabled {
				t.Fatal("rejected disabled changed the tenant")
			}
		})
	}
}

// TestDisabledUninstalledRace sends disabled and uninstalled at the same
// time, as the product does, many times: uninstalled always wins.
func TestDisabledUninstalledRace(t *testing.T) {
	f := newLifecycleFixture(t)
	ctx := context.Background()
	uninstallBody := payloadJSON(t, connecttest.InstallPayload{Key: jiraApp.Key, ClientKey: testClientKey, EventType: "uninstalled"})
	for i := range 20 {
		tn := installTenant(t, f)
		var wg sync.WaitGroup
		errs := make([]error, 3)
		wg.Go(func() { errs[0] = f.lc.Disabled(enabledRequest(t, tn, "/disabled", nil), jiraApp) })
		wg.Go(func() { errs[1] = f.lc.Enabled(enabledRequest(t, tn, "/enabled", nil), jiraApp) })
		wg.Go(func() {
			errs[2] = f.lc.Uninstalled(lifecycleRequest("/uninstalled", f.sign(t, installClaims("/uninstalled")), uninstallBody), jiraApp)
		})
		wg.Wait()
		if errs[2] != nil {
			t.Fatalf("round %d: uninstalled: %v", i, errs[2])
		}
		for _, err := range errs[:2] {
			// Uninstalled, or already without its secret.
			if err != nil && !errors.Is(err, connect.ErrTenantUninstalled) && !errors.Is(err, connect.ErrBadSignature) {
				t.Fatalf("round %d: enabled/disabled: %v", i, err)
			}
		}
		got, err := f.store.GetTenant(ctx, testClientKey)
		if err != nil {
			t.Fatal(err)
		}
		if got.Installed() || got.Enabled {
			t.Fatalf("round %d: uninstalled lost the race: %+v", i, got)
		}
		// After the race every late enabled is refused.
		if err := f.lc.Enabled(enabledRequest(t, tn, "/enabled", nil), jiraApp); !errors.Is(err, connect.ErrBadSignature) {
			t.Fatalf("round %d: late enabled: %v", i, err)
		}
		if got.SharedSecret != "" {
			t.Fatalf("round %d: the uninstalled tenant kept its shared secret", i)
		}
	}
}

func TestHostAllowed(t *testing.T) {
	def := connect.DefaultAllowedHosts()
	tests := []struct {
		host     string
		patterns []string
		want     bool
	}{
		{"acme.atlassian.net", def, true},
		{"ACME.Atlassian.NET", def, true},
		{"acme.atlassian.net.", def, true},
		{"acme.atlassian.net:443", def, true},
		{"a.b.atlassian.net", def, true},
		{"acme.jira.com", def, true},
		{"acme.jira-dev.com", def, true},
		{"acme.atlassian-us-gov-mod.net", def, true},
		{"atlassian.net", def, false},
		{".atlassian.net", def, false},
		{"evilatlassian.net", def, false},
		{"acme.atlassian.net.evil.com", def, false},
		{"acme.atlassian.com", def, false},
		{"", def, false},
		{"127.0.0.1:8080", []string{"127.0.0.1"}, true},
		{"localhost", []string{"127.0.0.1"}, false},
		{"x.example.com", []string{"*."}, false},
		{"x.example.com", nil, false},
	}
	for _, tc := range tests {
		if got := connect.HostAllowed(tc.host, tc.patterns); got != tc.want {
			t.Errorf("HostAllowed(%q, %v) = %v, want %v", tc.host, tc.patterns, got, tc.want)
		}
	}
}

func TestLifecycleCustomAllowedHostsAndLoopback(t *testing.T) {
	f := newLifecycleFixture(t)
	f.lc.AllowedHosts = []string{"127.0.0.1"}
	p := validPayload()
	p.BaseURL = "http://127.0.0.1:9999/"
	p.DisplayURL = ""
	tn, err := f.lc.Installed(lifecycleRequest("/installed", f.sign(t, installClaims("/installed")), payloadJSON(t, p)), jiraApp)
	if err != nil {
		t.Fatalf("loopback install: %v", err)
	}
	if diff := cmp.Diff("http://127.0.0.1:9999", tn.BaseURL); diff != "" {
		t.Errorf("BaseURL (-want +got):\n%s", diff)
	}
	p.BaseURL = "https://acme.atlassian.net"
	_, err = f.lc.Installed(lifecycleRequest("/installed", f.sign(t, installClaims("/installed")), payloadJSON(t, p)), jiraApp)
	if !errors.Is(err, connect.ErrHostNotAllowed) {
		t.Fatalf("default host with custom list: %v", err)
	}
}

func TestLifecycleCustomBodyLimit(t *testing.T) {
	f := newLifecycleFixture(t)
	f.lc.MaxBodyBytes = 100
	body := payloadJSON(t, validPayload()) // longer than 100 bytes
	_, err := f.lc.Installed(lifecycleRequest("/installed", f.sign(t, installClaims("/installed")), body), jiraApp)
	if !errors.Is(err, connect.ErrBodyTooLarge) {
		t.Fatalf("err = %v, want ErrBodyTooLarge", err)
	}
	f.lc.MaxBodyBytes = int64(len(body))
	if _, err := f.lc.Installed(lifecycleRequest("/installed", f.sign(t, installClaims("/installed")), body), jiraApp); err != nil {
		t.Fatalf("body at the limit: %v", err)
	}
}

func TestLifecycleMisconfigured(t *testing.T) {
	lc := &connect.Lifecycle{}
	if _, err := lc.Installed(lifecycleRequest("/installed", "x", nil), jiraApp); err == nil || connect.HTTPStatus(err) != http.StatusInternalServerError {
		t.Fatalf("err = %v, want a 500-class configuration error", err)
	}
}
