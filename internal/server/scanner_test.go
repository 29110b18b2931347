package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	usercleanup "github.com/example/usercleanup"
	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/server"
	"github.com/example/usercleanup/internal/store"
)

// These tests do what Atlassian's Connect security scanner
// (atlassian-labs/connect-security-req-tester, Apache-2.0) does against an
// app's descriptor, restated here: it collects every lifecycle URL and
// every module "url" of the descriptor (skipping icons and documentation,
// filling {condition.*} with "true" and other {…} variables with "test"),
// and then
//
//   - requirement 1 ("Authentication of Application Resources", 1.1 in the
//     issue): GETs and POSTs each link with no token, with an HS256 token
//     signed by a made-up secret and with an alg "none" token (iss
//     "csrt-fake-token-ignore", a qsh of "METHOD&path&query", a three-hour
//     exp); any answer below 400 fails;
//   - requirement 1.2 ("Authorization of Application Resources"): calls the
//     admin links with a real token of a user who is not an admin; any
//     answer below 400 fails;
//   - requirement 1.4 ("Signed Install Authentication"): the installed and
//     uninstalled links with forged tokens must not answer below 400; a 503
//     is read as "unavailable" and the check is skipped, so our answer to a
//     forged install must be a 401 unless a key server is really down;
//   - requirement 3.0 ("HSTS Validation"): GETs the baseUrl over https and
//     looks for a Strict-Transport-Security header.

// scanEnv is the app served over https (the scanner's setting), with a
// fake install-keys server that knows one key and a fake admin check.
type scanEnv struct {
	app    connect.App
	client *http.Client
	keys   *connecttest.KeyServer
	admins *fakeAdmins
	logs   *syncBuffer
	desc   map[string]any
	tenant *connect.Tenant
}

func newScanEnv(t *testing.T) *scanEnv {
	t.Helper()
	ks, err := connecttest.NewKeyServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ks.Close)
	cipher, err := store.NewCipher(make([]byte, store.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(context.Background(), store.Config{Driver: store.SQLite, DSN: filepath.Join(t.TempDir(), "app.db"), Cipher: cipher, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })

	ts := httptest.NewUnstartedServer(nil)
	base := "https://" + ts.Listener.Addr().String()
	params := connect.DescriptorParams{Product: connect.Jira, BaseURL: base, AppKey: appKey}
	d, err := connect.RenderDescriptor(usercleanup.DescriptorTemplate, params)
	if err != nil {
		t.Fatal(err)
	}
	e := &scanEnv{app: params.App(), keys: ks, admins: &fakeAdmins{admins: map[string]bool{}}, logs: logs}
	verifier := &connect.Verifier{Store: st}
	srv, err := server.New(server.Config{
		BaseURL: base, Apps: []connect.App{e.app}, Descriptors: map[connect.Product][]byte{connect.Jira: d},
		Lifecycle: &connect.Lifecycle{Store: st, Keys: connect.NewInstallKeyFetcher([]string{ks.URL}, ks.Client()),
			Verifier: verifier, AllowedHosts: []string{"*.atlassian.net"}},
		Verifier: verifier, Admin: e.admins, Health: st, HostScriptURL: hostScriptURL, Logger: log,
		Cleanup: nil, Exports: st, DownloadKey: make([]byte, server.DownloadKeySize),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	ts.StartTLS()
	t.Cleanup(ts.Close)
	e.client = ts.Client()

	// The scanner reads the descriptor the app serves.
	r := e.do(t, http.MethodGet, base+"/jira/atlassian-connect.json", nil)
	if err := json.Unmarshal([]byte(r.body), &e.desc); err != nil {
		t.Fatalf("descriptor: %v", err)
	}
	// An installed tenant, so 1.2 has real tokens of a non-admin user.
	e.tenant = &connect.Tenant{ClientKey: "jira:scanned-site", SharedSecret: "scanned-site-shared-secret-0123456789", ProductType: connect.Jira, BaseURL: "https://scanned.atlassian.net"}
	if err := ks.Install(context.Background(), e.client, e.app.BaseURL, connecttest.InstallPayload{
		Key: e.app.Key, ClientKey: e.tenant.ClientKey, SharedSecret: e.tenant.SharedSecret.Reveal(),
		BaseURL: e.tenant.BaseURL, ProductType: "jira",
	}); err != nil {
		t.Fatalf("install: %v", err)
	}
	e.admins.grant(e.tenant.ClientKey, adminID)
	return e
}

// do sends a request as the scanner does (its User-Agent, over https).
func (e *scanEnv) do(t *testing.T, method, link string, header http.Header) response {
	t.Helper()
	h := http.Header{"User-Agent": {"Atlassian CSRT (https://github.com/atlassian-labs/connect-security-req-tester)"}}
	for k, vs := range header {
		h[k] = vs
	}
	return doWith(t, e.client, method, link, h, nil)
}

var (
	conditionVar = regexp.MustCompile(`(?i){condition\..*}`)
	braceVar     = regexp.MustCompile(`\$?{.*}`)
)

// links returns the scanner's link list: lifecycle URLs, then every "url"
// in the modules, made absolute against the baseUrl.
func (e *scanEnv) links(t *testing.T) (lifecycle, modules []string) {
	t.Helper()
	base := strings.TrimSuffix(e.desc["baseUrl"].(string), "/")
	full := func(u string) string {
		u = braceVar.ReplaceAllString(conditionVar.ReplaceAllString(u, "true"), "test")
		if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			return u
		}
		return base + "/" + strings.TrimPrefix(u, "/")
	}
	for _, u := range e.desc["lifecycle"].(map[string]any) {
		lifecycle = append(lifecycle, full(u.(string)))
	}
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			for k, x := range v {
				switch k {
				case "icon", "icons", "documentation", "imagePlaceholder":
					continue
				case "url":
					if s, ok := x.(string); ok && !seen[s] {
						seen[s] = true
						modules = append(modules, full(s))
					}
				}
				walk(x)
			}
		}
	}
	walk(e.desc["modules"])
	if len(lifecycle) != 4 || len(modules) < 3 {
		t.Fatalf("descriptor links: lifecycle %v, modules %v", lifecycle, modules)
	}
	return lifecycle, modules
}

// scannerTokens are the scanner's forged tokens for a link.
func scannerTokens(t *testing.T, link, method string) (hs256, none string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(method + "&" + u.Path + "&" + u.RawQuery))
	claims := jwt.MapClaims{
		"qsh": hex.EncodeToString(sum[:]), "iss": "csrt-fake-token-ignore",
		"exp": time.Now().Add(3 * time.Hour).Unix(), "iat": time.Now().Unix(),
	}
	hs256, err = jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("fake-jwt-secret"))
	if err != nil {
		t.Fatal(err)
	}
	none, err = jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return hs256, none
}

// TestScannerAuthentication reproduces requirement 1 (the 1.1):
// every lifecycle and module link refuses requests without a valid token,
// and never with a 503.
func TestScannerAuthentication(t *testing.T) {
	e := newScanEnv(t)
	lifecycle, modules := e.links(t)
	before := e.keys.Hits()
	for _, link := range append(lifecycle, modules...) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			hs256, none := scannerTokens(t, link, method)
			for name, h := range map[string]http.Header{
				"no token": nil,
				"HS256":    {"Authorization": {"JWT " + hs256}},
				"alg none": {"Authorization": {"JWT " + none}},
			} {
				r := e.do(t, method, link, h)
				if r.status < 400 || r.status == http.StatusServiceUnavailable {
					t.Errorf("%s %s (%s): status %d, want a refusal other than 503", method, link, name, r.status)
				}
			}
		}
	}
	if n := e.keys.Hits() - before; n != 0 {
		t.Errorf("the scanner's tokens made the app ask the key server %d times", n)
	}
}

// TestScannerAuthorization reproduces requirement 1.2: the admin links
// called with a valid token of a user who is not an admin are refused.
func TestScannerAuthorization(t *testing.T) {
	e := newScanEnv(t)
	_, modules := e.links(t)
	for _, link := range modules {
		// The product's standard parameters, as it loads an iframe.
		u := link + "?xdm_e=" + url.QueryEscape(e.tenant.BaseURL) + "&xdm_c=channel-1&cp=&lic=none&cv=1001.0.0"
		for _, account := range []string{userID, ""} {
			tok, err := connecttest.PageToken(e.tenant, e.app, http.MethodGet, u, account, time.Now(), 3*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if r := e.do(t, http.MethodGet, connecttest.WithJWT(u, tok), nil); r.status < 400 || r.status == http.StatusServiceUnavailable {
				t.Errorf("GET %s as %q: status %d, want a refusal", link, account, r.status)
			}
		}
		// Sanity: the same link works for an admin, so the refusal above
		// is about the user.
		tok, err := connecttest.PageToken(e.tenant, e.app, http.MethodGet, u, adminID, time.Now(), 3*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if r := e.do(t, http.MethodGet, connecttest.WithJWT(u, tok), nil); r.status != http.StatusOK {
			t.Errorf("GET %s as an admin: status %d", link, r.status)
		}
	}
	// The pages' JSON API likewise.
	tok, err := connecttest.ContextToken(e.tenant, userID, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.do(t, http.MethodGet, e.app.BaseURL+"/api/me", http.Header{"Authorization": {"JWT " + tok}}); r.status != http.StatusForbidden {
		t.Errorf("GET /api/me as a non-admin: status %d, want 403", r.status)
	}
}

// TestScannerSignedInstall reproduces requirement 1.4 with the most
// believable forgeries: RS256 tokens with every claim right (aud, qsh, iss
// equal to the body's clientKey, exp) whose kid no key server knows, or
// signed by another key under the real kid. Each is a 401 (never a 503,
// which the scanner would skip), is logged as a warning and not an error,
// and a token wrong in a free check costs no key lookup.
func TestScannerSignedInstall(t *testing.T) {
	e := newScanEnv(t)
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forge := func(path, kid string, key *rsa.PrivateKey, change func(jwt.MapClaims)) string {
		qsh, err := connect.QueryStringHash(http.MethodPost, path, "", "")
		if err != nil {
			t.Fatal(err)
		}
		c := jwt.MapClaims{"iss": "jira:victim", "aud": e.app.BaseURL, "qsh": qsh,
			"iat": time.Now().Unix(), "exp": time.Now().Add(3 * time.Minute).Unix()}
		if change != nil {
			change(c)
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	body := func(event string) []byte {
		b, _ := json.Marshal(map[string]string{"key": e.app.Key, "clientKey": "jira:victim", "sharedSecret": "attacker-chosen-secret-0123456789",
			"baseUrl": "https://victim.atlassian.net", "productType": "jira", "eventType": event})
		return b
	}
	post := func(path, tok string, b []byte) response {
		return doWith(t, e.client, http.MethodPost, e.app.BaseURL+path,
			http.Header{"Authorization": {"JWT " + tok}, "Content-Type": {"application/json"}}, bytes.NewReader(b))
	}
	for _, path := range []string{"/installed", "/uninstalled"} {
		event := strings.TrimPrefix(path, "/")
		for _, tc := range []struct {
			name    string
			tok     string
			lookups int
		}{
			{"kid unknown to the key server", forge(path, "fake-kid", forger, nil), 1},
			{"another key under the real kid", forge(path, e.keys.KID, forger, nil), 1},
			{"wrong aud", forge(path, "fake-kid-2", forger, func(c jwt.MapClaims) { c["aud"] = "https://other.example.com" }), 0},
			{"wrong qsh", forge(path, "fake-kid-3", forger, func(c jwt.MapClaims) { c["qsh"] = strings.Repeat("0", 64) }), 0},
			{"expired", forge(path, "fake-kid-4", forger, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), 0},
			{"iss is not the body's clientKey", forge(path, "fake-kid-5", forger, func(c jwt.MapClaims) { c["iss"] = "jira:other" }), 0},
			{"kid with a path", forge(path, "../fake", forger, nil), 0},
			{"the scanner's own claims", forge(path, "fake-kid", forger, func(c jwt.MapClaims) {
				delete(c, "aud")
				c["iss"] = "csrt-fake-token-ignore"
			}), 0},
		} {
			before := e.keys.Hits()
			r := post(path, tc.tok, body(event))
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s, %s: status %d %s, want 401", path, tc.name, r.status, r.body)
			}
			if n := e.keys.Hits() - before; n > tc.lookups {
				t.Errorf("%s, %s: %d key server requests, want at most %d", path, tc.name, n, tc.lookups)
			}
		}
	}
	// The same forged kid again: remembered, no new request.
	before := e.keys.Hits()
	if r := post("/installed", forge("/installed", "fake-kid", forger, nil), body("installed")); r.status != http.StatusUnauthorized {
		t.Errorf("repeated forged kid: status %d", r.status)
	}
	if n := e.keys.Hits() - before; n != 0 {
		t.Errorf("repeated forged kid: %d key server requests, want 0", n)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"level":"WARN","msg":"request refused"`) {
		t.Error("forged installs are not logged as warnings")
	}
	if strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("forged installs logged as errors:\n%s", logs)
	}

	// Only a key server that really cannot be reached makes it a 503.
	e.keys.Fail(http.StatusBadGateway)
	if r := post("/installed", forge("/installed", "fresh-kid", forger, nil), body("installed")); r.status != http.StatusServiceUnavailable {
		t.Errorf("key server down: status %d, want 503", r.status)
	}
}

// TestScannerHSTS reproduces requirement 3.0: the baseUrl, fetched over
// https, carries Strict-Transport-Security.
func TestScannerHSTS(t *testing.T) {
	e := newScanEnv(t)
	for _, link := range []string{e.desc["baseUrl"].(string), e.app.BaseURL + "/atlassian-connect.json", e.app.BaseURL + "/installed"} {
		r := e.do(t, http.MethodGet, link, nil)
		hsts := r.header.Get("Strict-Transport-Security")
		if !strings.HasPrefix(hsts, "max-age=") || strings.HasPrefix(hsts, "max-age=0") {
			t.Errorf("GET %s: Strict-Transport-Security = %q", link, hsts)
		}
	}
}
