package connect_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
)

const (
	testForgeAppID = "ari:cloud:ecosystem::app/11111111-2222-3333-4444-555555555555"
	testInstallA   = "ari:cloud:ecosystem::installation/aaaaaaaa-0000-0000-0000-000000000001"
	testInstallB   = "ari:cloud:ecosystem::installation/bbbbbbbb-0000-0000-0000-000000000002"
	testCloudA     = "0b9f1c2e-1111-4a4a-8888-00000000000a"
	testCloudB     = "0b9f1c2e-1111-4a4a-8888-00000000000b"
)

// fitFixture is a Forge JWKS server, a clock and a verifier over a store
// with tenants in every state.
type fitFixture struct {
	*fixture
	forge *connecttest.ForgeServer
	keys  *connect.JWKSFetcher
	v     *connect.FITVerifier
	mu    sync.Mutex
	now   time.Time
}

func (f *fitFixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fitFixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func newFITFixture(t testing.TB) *fitFixture {
	t.Helper()
	f := &fitFixture{fixture: newFixture(t), now: testNow}
	forge, err := connecttest.NewForgeServer(testForgeAppID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(forge.Close)
	forge.Now = f.clock
	f.forge = forge
	f.keys = connect.NewJWKSFetcher(forge.URL, forge.Client(), f.clock)
	f.keys.Timeout = 2 * time.Second // under the 5 s the slow server waits; TLS handshakes are slow under load
	ctx := context.Background()
	// Tenant a is installed through Forge: its signed install carried
	// the installation id. Tenant b has only a cloud id.
	if err := f.store.SetInstallationID(ctx, f.a.ClientKey, testInstallA); err != nil {
		t.Fatal(err)
	}
	f.v = &connect.FITVerifier{
		Keys:          f.keys,
		AppIDs:        map[string]string{jiraApp.Key: testForgeAppID},
		Installations: f.store,
		Now:           f.clock,
	}
	return f
}

func (f *fitFixture) mint(t testing.TB, fit connecttest.FIT) string {
	t.Helper()
	tok, err := f.forge.Mint(fit)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func validFIT() connecttest.FIT {
	return connecttest.FIT{InstallationID: testInstallA, CloudID: testCloudA, AccountID: "acc-1"}
}

func fitRequest(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://app.example.com/jira/api/me", nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

func TestFITAttackTable(t *testing.T) {
	f := newFITFixture(t)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&f.forge.Key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	withClaims := func(change func(jwt.MapClaims)) string {
		c := f.forge.Claims(validFIT())
		change(c)
		tok, err := f.forge.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	appClaim := func(change func(map[string]any)) string {
		return withClaims(func(c jwt.MapClaims) { change(c["app"].(map[string]any)) })
	}
	valid := f.mint(t, validFIT())

	tests := []struct {
		name  string
		req   func() *http.Request
		app   connect.App
		want  error
		check bool // inspect the invocation
	}{
		{name: "valid", req: func() *http.Request {
			r := fitRequest(valid)
			r.Header.Set(connect.HeaderForgeSystemToken, "sys-token-value")
			r.Header.Set(connect.HeaderForgeUserToken, "user-token-value")
			return r
		}, check: true},
		{name: "no token", req: func() *http.Request { return fitRequest("") }, want: connect.ErrNoToken},
		{name: "empty bearer", req: func() *http.Request {
			r := fitRequest("")
			r.Header.Set("Authorization", "Bearer ")
			return r
		}, want: connect.ErrNoToken},
		{name: "two bearer headers", req: func() *http.Request {
			r := fitRequest(valid)
			r.Header.Add("Authorization", "Bearer "+valid)
			return r
		}, want: connect.ErrDuplicateToken},
		{name: "bearer and connect JWT header", req: func() *http.Request {
			r := fitRequest(valid)
			r.Header.Add("Authorization", "JWT abc.def.ghi")
			return r
		}, want: connect.ErrDuplicateToken},
		{name: "bearer and jwt query", req: func() *http.Request {
			r := fitRequest(valid)
			r.URL.RawQuery = "jwt=abc.def.ghi"
			return r
		}, want: connect.ErrDuplicateToken},
		{name: "two system tokens", req: func() *http.Request {
			r := fitRequest(valid)
			r.Header.Add(connect.HeaderForgeSystemToken, "a")
			r.Header.Add(connect.HeaderForgeSystemToken, "b")
			return r
		}, want: connect.ErrDuplicateToken},
		{name: "garbage", req: func() *http.Request { return fitRequest("not-a-jwt") }, want: connect.ErrMalformedToken},
		{name: "four segments", req: func() *http.Request { return fitRequest(valid + ".x") }, want: connect.ErrMalformedToken},
		{name: "oversized", req: func() *http.Request {
			return fitRequest(withClaims(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", connect.MaxTokenBytes) }))
		}, want: connect.ErrMalformedToken},
		{name: "alg none", req: func() *http.Request {
			return fitRequest(rawToken(t, map[string]any{"alg": "none", "kid": f.forge.KID}, f.forge.Claims(validFIT()), ""))
		}, want: connect.ErrBadAlgorithm},
		{name: "HS256 keyed with the RSA public key", req: func() *http.Request {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, f.forge.Claims(validFIT()))
			tok.Header["kid"] = f.forge.KID
			s, err := tok.SignedString(pubPEM)
			if err != nil {
				t.Fatal(err)
			}
			return fitRequest(s)
		}, want: connect.ErrBadAlgorithm},
		{name: "RS512", req: func() *http.Request {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS512, f.forge.Claims(validFIT()))
			tok.Header["kid"] = f.forge.KID
			s, err := tok.SignedString(f.forge.Key)
			if err != nil {
				t.Fatal(err)
			}
			return fitRequest(s)
		}, want: connect.ErrBadAlgorithm},
		{name: "no kid", req: func() *http.Request {
			s, err := connecttest.SignRS256(f.forge.Key, "", f.forge.Claims(validFIT()))
			if err != nil {
				t.Fatal(err)
			}
			return fitRequest(s)
		}, want: connect.ErrMalformedToken},
		{name: "kid with path characters", req: func() *http.Request {
			s, err := connecttest.SignRS256(f.forge.Key, "../../etc/passwd", f.forge.Claims(validFIT()))
			if err != nil {
				t.Fatal(err)
			}
			return fitRequest(s)
		}, want: connect.ErrMalformedToken},
		{name: "unknown kid", req: func() *http.Request {
			s, err := connecttest.SignRS256(otherKey, "attacker-kid", f.forge.Claims(validFIT()))
			if err != nil {
				t.Fatal(err)
			}
			return fitRequest(s)
		}, want: connect.ErrBadSignature},
		{name: "wrong key, real kid", req: func() *http.Request {
			s, err := connecttest.SignRS256(otherKey, f.forge.KID, f.forge.Claims(validFIT()))
			if err != nil {
				t.Fatal(err)
			}
			return fitRequest(s)
		}, want: connect.ErrBadSignature},
		{name: "tampered installation", req: func() *http.Request {
			return fitRequest(tamper(t, valid, func(c jwt.MapClaims) {
				c["app"].(map[string]any)["installationId"] = testInstallB
			}))
		}, want: connect.ErrBadSignature},
		{name: "tampered principal", req: func() *http.Request {
			return fitRequest(tamper(t, valid, func(c jwt.MapClaims) { c["principal"] = "admin-account" }))
		}, want: connect.ErrBadSignature},
		{name: "signature stripped", req: func() *http.Request {
			return fitRequest(valid[:strings.LastIndexByte(valid, '.')+1])
		}, want: connect.ErrBadSignature},
		{name: "wrong issuer", req: func() *http.Request {
			return fitRequest(withClaims(func(c jwt.MapClaims) { c["iss"] = "jira:tenant-a" }))
		}, want: connect.ErrIssuerMismatch},
		{name: "no issuer", req: func() *http.Request {
			return fitRequest(withClaims(func(c jwt.MapClaims) { delete(c, "iss") }))
		}, want: connect.ErrIssuerMismatch},
		{name: "audience of another app", req: func() *http.Request {
			return fitRequest(withClaims(func(c jwt.MapClaims) {
				c["aud"] = "ari:cloud:ecosystem::app/99999999-2222-3333-4444-555555555555"
			}))
		}, want: connect.ErrAudienceMismatch},
		{name: "no audience", req: func() *http.Request {
			return fitRequest(withClaims(func(c jwt.MapClaims) { delete(c, "aud") }))
		}, want: connect.ErrAudienceMismatch},
		{name: "app.id differs from aud", req: func() *http.Request {
			return fitRequest(appClaim(func(a map[string]any) {
				a["id"] = "ari:cloud:ecosystem::app/99999999-2222-3333-4444-555555555555"
			}))
		}, want: connect.ErrAudienceMismatch},
		{name: "audience array containing ours", req: func() *http.Request {
			return fitRequest(withClaims(func(c jwt.MapClaims) { c["aud"] = []string{"other", testForgeAppID} }))
		}},
		{name: "app without Forge id", app: confApp, req: func() *http.Request { return fitRequest(valid) }, want: connect.ErrAudienceMismatch},
		{name: "expired", req: func() *http.Request {
			return fitRequest(withClaims(func(c jwt.MapClaims) {
				c["iat"] = testNow.Add(-10 * time.Minute).Unix()
				c["nbf"] = testNow.Add(-10 * time.Minute).Unix()
				c["exp"] = testNow.Add(-time.Minute).Unix()
			}))
		}, want: connect.ErrExpired},
		{name: "expired within leeway", req: func() *http.Request {
			return fitRequest(withClaims(func(c jwt.MapClaims) {
				c["iat"] = testNow.Add(-10 * time.Minute).Unix()
				c["nbf"] = testNow.Add(-10 * time.Minute).Unix()
				c["exp"] = testNow.Add(-5 * time.Second).Unix()
			}))
		}},
		{name: "no exp", req: func() *http.Request {
			return fitRequest(withClaims(func(c jwt.MapClaims) { delete(c, "exp") }))
		}, want: connect.ErrMissingClaim},
		{name: "exp as string", req: func() *http.Request {
			return fitRequest(withClaims(func(c jwt.MapClaims) { c["exp"] = "tomorrow" }))
		}, want: connect.ErrMalformedToken},
		{name: "exp out of range", req: func() *http.Request {
			return fitRequest(withClaims(func(c jwt.MapClaims) { c["exp"] = 1e15 }))
		}, want: connect.ErrMalformedToken},
		{name: "iat in the future", req: func() *http.Request {
			return fitRequest(withClaims(func(c jwt.MapClaims) {
				c["iat"] = testNow.Add(time.Minute).Unix()
				c["exp"] = testNow.Add(5 * time.Minute).Unix()
			}))
		}, want: connect.ErrIssuedInFuture},
		{name: "nbf in the future", req: func() *http.Request {
			return fitRequest(withClaims(func(c jwt.MapClaims) { c["nbf"] = testNow.Add(time.Minute).Unix() }))
		}, want: connect.ErrIssuedInFuture},
		{name: "exp before iat", req: func() *http.Request {
			return fitRequest(withClaims(func(c jwt.MapClaims) {
				c["iat"] = testNow.Unix()
				c["exp"] = testNow.Add(-time.Hour).Unix()
			}))
		}, want: connect.ErrMalformedToken},
		{name: "no app claim", req: func() *http.Request {
			return fitRequest(withClaims(func(c jwt.MapClaims) { delete(c, "app") }))
		}, want: connect.ErrMissingClaim},
		{name: "no installation id", req: func() *http.Request {
			return fitRequest(appClaim(func(a map[string]any) { delete(a, "installationId") }))
		}, want: connect.ErrMissingClaim},
		{name: "no apiBaseUrl", req: func() *http.Request {
			return fitRequest(appClaim(func(a map[string]any) { delete(a, "apiBaseUrl") }))
		}, want: connect.ErrMissingClaim},
		{name: "http apiBaseUrl", req: func() *http.Request {
			return fitRequest(appClaim(func(a map[string]any) { a["apiBaseUrl"] = "http://api.atlassian.com/ex/jira/x" }))
		}, want: connect.ErrMalformedToken},
		{name: "staging token without staging keys", req: func() *http.Request {
			return fitRequest(appClaim(func(a map[string]any) {
				a["apiBaseUrl"] = connect.ForgeStagingAPIPrefix + "ex/jira/" + testCloudA
			}))
		}, want: connect.ErrBadSignature},
		{name: "bad cloud id", req: func() *http.Request {
			return fitRequest(withClaims(func(c jwt.MapClaims) { c["context"] = map[string]any{"cloudId": "a/b"} }))
		}, want: connect.ErrMalformedToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app := jiraApp
			if tc.app.Key != "" {
				app = tc.app
			}
			inv, err := f.v.VerifyInvocation(tc.req(), app)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				if got := connect.HTTPStatus(err); got != http.StatusUnauthorized {
					t.Errorf("status = %d, want 401", got)
				}
				if connect.Reason(err) != tc.want {
					t.Errorf("reason = %v, want %v", connect.Reason(err), tc.want)
				}
				return
			}
			if !tc.check {
				return
			}
			want := &connect.Invocation{
				AppID:           testForgeAppID,
				InstallationID:  testInstallA,
				APIBaseURL:      "https://api.atlassian.com/ex/jira/" + testCloudA,
				CloudID:         testCloudA,
				EnvironmentType: "PRODUCTION",
				EnvironmentID:   "ari:cloud:ecosystem::environment/test",
				ModuleKey:       "connect",
				AccountID:       "acc-1",
				SystemToken:     "sys-token-value",
				UserToken:       "user-token-value",
				ExpiresAt:       testNow.Add(5 * time.Minute),
			}
			if diff := cmp.Diff(want, inv, cmpopts.EquateApproxTime(time.Second)); diff != "" {
				t.Errorf("invocation (-want +got):\n%s", diff)
			}
			for _, s := range []string{fmt.Sprintf("%v", inv), fmt.Sprintf("%+v", inv), fmt.Sprintf("%#v", inv)} {
				if strings.Contains(s, "sys-token-value") || strings.Contains(s, "user-token-value") {
					t.Errorf("OAuth token printed: %s", s)
				}
			}
		})
	}
}

func TestFITCloudIDFromAPIBaseURL(t *testing.T) {
	f := newFITFixture(t)
	tok := f.mint(t, connecttest.FIT{
		InstallationID: testInstallA,
		APIBaseURL:     "https://api.atlassian.com/ex/jira/" + testCloudB,
		Extra:          map[string]any{"context": map[string]any{}},
	})
	inv, err := f.v.VerifyInvocation(fitRequest(tok), jiraApp)
	if err != nil {
		t.Fatal(err)
	}
	if inv.CloudID != testCloudB {
		t.Errorf("cloud id = %q, want %q", inv.CloudID, testCloudB)
	}
}

func TestFITStagingKeys(t *testing.T) {
	f := newFITFixture(t)
	staging, err := connecttest.NewForgeServer(testForgeAppID)
	if err != nil {
		t.Fatal(err)
	}
	defer staging.Close()
	staging.Now = f.clock
	f.v.StagingKeys = connect.NewJWKSFetcher(staging.URL, staging.Client(), f.clock)
	stgFIT := validFIT()
	stgFIT.APIBaseURL = connect.ForgeStagingAPIPrefix + "ex/jira/" + testCloudA
	tok, err := staging.Mint(stgFIT)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.VerifyInvocation(fitRequest(tok), jiraApp); err != nil {
		t.Fatalf("staging token: %v", err)
	}
	// A staging-signed token claiming a production apiBaseUrl is checked
	// against the production keys and fails.
	prodFIT := validFIT()
	tok, err = staging.Mint(prodFIT)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.VerifyInvocation(fitRequest(tok), jiraApp); !errors.Is(err, connect.ErrBadSignature) {
		t.Fatalf("staging key on production token: %v", err)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*connecttest.ForgeServer)
	}{
		{"down", func(s *connecttest.ForgeServer) { s.Fail(http.StatusInternalServerError) }},
		{"slow", func(s *connecttest.ForgeServer) { s.Delay(5 * time.Second) }},
		{"not found", func(s *connecttest.ForgeServer) { s.Fail(http.StatusNotFound) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFITFixture(t)
			tc.setup(f.forge)
			start := time.Now()
			_, err := f.v.VerifyInvocation(fitRequest(f.mint(t, validFIT())), jiraApp)
			if !errors.Is(err, connect.ErrKeyFetch) {
				t.Fatalf("err = %v, want ErrKeyFetch", err)
			}
			if got := connect.HTTPStatus(err); got != http.StatusServiceUnavailable {
				t.Errorf("status = %d, want 503", got)
			}
			if d := time.Since(start); d > 4500*time.Millisecond {
				t.Errorf("took %v despite a 300ms timeout", d)
			}
		})
	}
}

func TestJWKSRefreshOnUnknownKid(t *testing.T) {
	f := newFITFixture(t)
	f.keys.MinRefresh = time.Minute
	verify := func(tok string) error {
		_, err := f.v.VerifyInvocation(fitRequest(tok), jiraApp)
		return err
	}
	if err := verify(f.mint(t, validFIT())); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := verify(f.mint(t, validFIT())); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.forge.Hits(); got != 1 {
		t.Fatalf("JWKS fetched %d times for one key, want 1", got)
	}
	// Atlassian rotates: the new kid is fetched at once (first unknown
	// kid since the last fetch is allowed after MinRefresh).
	f.advance(time.Minute)
	if err := f.forge.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := verify(f.mint(t, validFIT())); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if got := f.forge.Hits(); got != 2 {
		t.Fatalf("hits = %d, want 2", got)
	}
	// Invented kids do not cause a fetch each within MinRefresh.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		tok, err := connecttest.SignRS256(other, fmt.Sprintf("invented-%d", i), f.forge.Claims(validFIT()))
		if err != nil {
			t.Fatal(err)
		}
		if err := verify(tok); !errors.Is(err, connect.ErrBadSignature) {
			t.Fatalf("invented kid: %v", err)
		}
	}
	if got := f.forge.Hits(); got != 2 {
		t.Fatalf("hits after invented kids = %d, want 2 (rate-limited)", got)
	}
	// An old key still in the set keeps verifying.
	if err := verify(f.mint(t, validFIT())); err != nil {
		t.Fatal(err)
	}
}

func TestJWKSStaleKeysSurviveOutage(t *testing.T) {
	f := newFITFixture(t)
	tok := func() string { return f.mint(t, validFIT()) }
	if _, err := f.v.VerifyInvocation(fitRequest(tok()), jiraApp); err != nil {
		t.Fatal(err)
	}
	f.forge.Fail(http.StatusBadGateway)
	f.advance(2 * connect.DefaultJWKSMaxAge)
	if _, err := f.v.VerifyInvocation(fitRequest(tok()), jiraApp); err != nil {
		t.Fatalf("cached key during outage: %v", err)
	}
	if got := f.forge.Hits(); got != 2 {
		t.Errorf("hits = %d, want 2 (one refresh attempt)", got)
	}
}

func TestJWKSConcurrentFetchShared(t *testing.T) {
	f := newFITFixture(t)
	f.forge.Delay(100 * time.Millisecond)
	tok := f.mint(t, validFIT())
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := f.v.VerifyInvocation(fitRequest(tok), jiraApp)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := f.forge.Hits(); got != 1 {
		t.Errorf("hits = %d, want 1 shared fetch", got)
	}
}

func TestParseJWKS(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	s, err := connecttest.NewForgeServer(testForgeAppID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	good := string(s.JWKS())
	smallN := jwkN(small)
	tests := []struct {
		name    string
		in      string
		wantErr bool
		wantN   int
	}{
		{"server set", good, false, 1},
		{"not json", "{", true, 0},
		{"no keys", `{"keys":[]}`, true, 0},
		{"only EC keys", `{"keys":[{"kty":"EC","kid":"e","crv":"P-256","x":"a","y":"b"}]}`, true, 0},
		{"encryption key skipped", `{"keys":[{"kty":"RSA","kid":"x","use":"enc","n":"AQAB","e":"AQAB"}]}`, true, 0},
		{"small key", `{"keys":[{"kty":"RSA","kid":"s","n":"` + smallN + `","e":"AQAB"}]}`, true, 0},
		{"even exponent", `{"keys":[{"kty":"RSA","kid":"s","n":"` + smallN + `","e":"Ag"}]}`, true, 0},
		{"bad kid", strings.Replace(good, `"kid":"forge-test-key-1"`, `"kid":"../x"`, 1), true, 0},
		{"duplicate kid", `{"keys":[` + strings.TrimSuffix(strings.TrimPrefix(good, `{"keys":[`), `]}`) + `,` +
			strings.TrimSuffix(strings.TrimPrefix(good, `{"keys":[`), `]}`) + `]}`, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := connect.ParseJWKS([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if len(keys) != tc.wantN {
				t.Errorf("keys = %d, want %d", len(keys), tc.wantN)
			}
		})
	}
}

func jwkN(k *rsa.PrivateKey) string {
	return base64.RawURLEncoding.EncodeToString(k.N.Bytes())
}

func TestFITAuthenticateMapsInstallations(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		setup     func(f *fitFixture)
		fit       connecttest.FIT
		wantErr   error
		wantCK    string
		wantStore string // installation id stored on wantCK afterwards
	}{
		{name: "installation id from signed install", fit: validFIT(), wantCK: "jira:tenant-a", wantStore: testInstallA},
		{name: "unknown installation, no site match", fit: connecttest.FIT{InstallationID: testInstallB, CloudID: testCloudB},
			wantErr: connect.ErrUnknownTenant},
		{name: "unknown installation without cloud id", fit: connecttest.FIT{InstallationID: testInstallB,
			APIBaseURL: "https://api.atlassian.com/other", Extra: map[string]any{"context": map[string]any{}}},
			wantErr: connect.ErrUnknownTenant},
		{name: "associated by signed cloud id", setup: func(f *fitFixture) {
			f.setCloud(t, f.b, testCloudB)
		}, fit: connecttest.FIT{InstallationID: testInstallB, CloudID: testCloudB, AccountID: "acc-2"},
			wantCK: "jira:tenant-b", wantStore: testInstallB},
		{name: "site match of an uninstalled tenant does not associate", setup: func(f *fitFixture) {
			f.setCloud(t, f.gone, testCloudB)
		}, fit: connecttest.FIT{InstallationID: testInstallB, CloudID: testCloudB}, wantErr: connect.ErrUnknownTenant},
		{name: "site match of another app does not associate", setup: func(f *fitFixture) {
			f.setCloud(t, f.otherApp, testCloudB)
		}, fit: connecttest.FIT{InstallationID: testInstallB, CloudID: testCloudB}, wantErr: connect.ErrUnknownTenant},
		{name: "ambiguous site match", setup: func(f *fitFixture) {
			f.setCloud(t, f.b, testCloudB)
			c := *f.b
			c.ClientKey = "jira:tenant-b-restored"
			c.CloudID = testCloudB
			if err := f.store.SaveTenant(ctx, &c); err != nil {
				t.Fatal(err)
			}
		}, fit: connecttest.FIT{InstallationID: testInstallB, CloudID: testCloudB}, wantErr: connect.ErrUnknownTenant},
		{name: "installation of an uninstalled tenant", setup: func(f *fitFixture) {
			if err := f.store.SetInstallationID(ctx, f.gone.ClientKey, testInstallB); err != nil {
				t.Fatal(err)
			}
		}, fit: connecttest.FIT{InstallationID: testInstallB, CloudID: testCloudB}, wantErr: connect.ErrTenantUninstalled},
		{name: "installation of another app's tenant", setup: func(f *fitFixture) {
			if err := f.store.SetInstallationID(ctx, f.otherApp.ClientKey, testInstallB); err != nil {
				t.Fatal(err)
			}
		}, fit: connecttest.FIT{InstallationID: testInstallB, CloudID: testCloudB}, wantErr: connect.ErrUnknownTenant},
		{name: "installation on another site than the tenant's", setup: func(f *fitFixture) {
			f.setCloud(t, f.a, testCloudA)
		}, fit: connecttest.FIT{InstallationID: testInstallA, CloudID: testCloudB}, wantErr: connect.ErrUnknownTenant},
		// Another installation of the same app on the same site (a
		// development environment) must not take the tenant over: the
		// tenant stays bound to its own installation.
		{name: "another installation on the tenant's site does not re-bind it", setup: func(f *fitFixture) {
			f.setCloud(t, f.a, testCloudA)
		}, fit: connecttest.FIT{InstallationID: testInstallB, CloudID: testCloudA}, wantErr: connect.ErrUnknownTenant},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFITFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			before := f.store.Tenants()
			auth, inv, err := f.v.Authenticate(fitRequest(f.mint(t, tc.fit)), jiraApp)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if auth != nil || inv != nil {
					t.Errorf("rejection returned auth %+v / invocation %+v", auth, inv)
				}
				if diff := cmp.Diff(before, f.store.Tenants()); diff != "" {
					t.Errorf("a rejected FIT changed the store (-before +after):\n%s", diff)
				}
				return
			}
			if auth.ClientKey != tc.wantCK || auth.Tenant.ClientKey != tc.wantCK || auth.App != jiraApp {
				t.Errorf("auth = %+v, want tenant %s", auth, tc.wantCK)
			}
			if auth.AccountID != tc.fit.AccountID {
				t.Errorf("account = %q, want %q", auth.AccountID, tc.fit.AccountID)
			}
			stored, err := f.store.GetTenant(ctx, tc.wantCK)
			if err != nil {
				t.Fatal(err)
			}
			if stored.InstallationID != tc.wantStore {
				t.Errorf("stored installation = %q, want %q", stored.InstallationID, tc.wantStore)
			}
			// A second call finds the tenant by installation id directly.
			again, _, err := f.v.Authenticate(fitRequest(f.mint(t, tc.fit)), jiraApp)
			if err != nil || again.ClientKey != tc.wantCK {
				t.Errorf("second call: %v, %+v", err, again)
			}
		})
	}
}

// TestFITEnvironments: only production installations are accepted unless
// other environment types are configured.
func TestFITEnvironments(t *testing.T) {
	mint := func(t *testing.T, f *fitFixture, envType string) string {
		c := f.forge.Claims(connecttest.FIT{InstallationID: testInstallB, CloudID: testCloudB})
		app := c["app"].(map[string]any)
		if envType == "" {
			delete(app, "environment")
		} else {
			app["environment"] = map[string]any{"type": envType, "id": "ari:cloud:ecosystem::environment/" + envType}
		}
		tok, err := f.forge.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct {
		name    string
		allowed []string
		env     string
		ok      bool
	}{
		{"production by default", nil, "PRODUCTION", true},
		{"development refused by default", nil, "DEVELOPMENT", false},
		{"staging refused by default", nil, "STAGING", false},
		{"no environment refused", nil, "", false},
		{"development when configured", []string{"production", "development"}, "DEVELOPMENT", true},
		{"production when only development is configured", []string{"DEVELOPMENT"}, "PRODUCTION", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFITFixture(t)
			f.setCloud(t, f.b, testCloudB) // an unbound tenant the FIT may associate with
			f.v.Environments = tc.allowed
			before := f.store.Tenants()
			auth, _, err := f.v.Authenticate(fitRequest(mint(t, f, tc.env)), jiraApp)
			if tc.ok {
				if err != nil || auth.ClientKey != f.b.ClientKey {
					t.Fatalf("err = %v, auth %+v; want tenant b", err, auth)
				}
				return
			}
			if !errors.Is(err, connect.ErrUnknownTenant) {
				t.Fatalf("err = %v, want ErrUnknownTenant", err)
			}
			if diff := cmp.Diff(before, f.store.Tenants()); diff != "" {
				t.Errorf("a refused FIT changed the store (-before +after):\n%s", diff)
			}
		})
	}
}

func (f *fitFixture) setCloud(t *testing.T, tn *connect.Tenant, cloud string) {
	t.Helper()
	ctx := context.Background()
	cur, err := f.store.GetTenant(ctx, tn.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	cur.CloudID = cloud
	uninstalledAt := cur.UninstalledAt
	if err := f.store.SaveTenant(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if !uninstalledAt.IsZero() {
		if err := f.store.MarkUninstalled(ctx, cur.ClientKey, uninstalledAt); err != nil {
			t.Fatal(err)
		}
	}
}

func TestForgeAppARI(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"", "", false},
		{"11111111-2222-3333-4444-555555555555", testForgeAppID, false},
		{" " + testForgeAppID + " ", testForgeAppID, false},
		{"ari:cloud:ecosystem::app/11111111-2222-3333-4444-55555555555A", "ari:cloud:ecosystem::app/11111111-2222-3333-4444-55555555555a", false},
		{"ari:cloud:ecosystem::app/not-a-uuid", "", true},
		{"ari:cloud:ecosystem::installation/11111111-2222-3333-4444-555555555555", "", true},
	}
	for _, tc := range tests {
		got, err := connect.ForgeAppARI(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ForgeAppARI(%q) = %q, %v; want %q, err %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// BenchmarkFITAuthenticate measures a FIT API request's authentication
// with a warm JWKS cache: parse, RS256 verify, claims, tenant lookup.
func BenchmarkFITAuthenticate(b *testing.B) {
	f := newFITFixture(b)
	tok := f.mint(b, validFIT())
	r := fitRequest(tok)
	if _, _, err := f.v.Authenticate(r, jiraApp); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := f.v.Authenticate(r, jiraApp); err != nil {
			b.Fatal(err)
		}
	}
}

func TestJWKSFetcherRejectsBadResponses(t *testing.T) {
	s, err := connecttest.NewForgeServer(testForgeAppID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	good := s.JWKS()
	tests := []struct {
		name string
		body []byte
	}{
		{"larger than 64 KiB", append(slices.Clone(good[:len(good)-2]), []byte(`],"pad":"`+strings.Repeat("x", 70<<10)+`"}`)...)},
		{"not JSON", []byte("<html>maintenance</html>")},
		{"no usable key", []byte(`{"keys":[]}`)},
		{"too many keys", []byte(`{"keys":[` + strings.TrimSuffix(strings.Repeat(`{"kty":"EC"},`, 65), ",") + `]}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write(tc.body)
			}))
			defer srv.Close()
			keys := connect.NewJWKSFetcher(srv.URL, srv.Client(), fixedNow)
			_, err := keys.PublicKey(context.Background(), s.KID)
			if !errors.Is(err, connect.ErrKeyFetch) {
				t.Fatalf("err = %v, want ErrKeyFetch", err)
			}
		})
	}
	// The good set parses and yields the key.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(good) }))
	defer srv.Close()
	k, err := connect.NewJWKSFetcher(srv.URL, srv.Client(), fixedNow).PublicKey(context.Background(), s.KID)
	if err != nil || k.N.Cmp(s.Key.N) != 0 {
		t.Fatalf("good set: %v", err)
	}
}
