package connect_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
)

const pageURL = "https://app.example.com/jira/admin/settings?xdm_e=https%3A%2F%2Facme.atlassian.net&xdm_c=channel-x__settings&cp=&lic=none&cv=1001.0.0-SNAPSHOT"

func pageClaims(t testing.TB, tn *connect.Tenant, method, rawURL string) jwt.MapClaims {
	t.Helper()
	tok, err := connecttest.PageToken(tn, jiraApp, method, rawURL, "acc-1", testNow, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVerifyAttackTable(t *testing.T) {
	f := newFixture(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	page := func(tn *connect.Tenant) string {
		tok, err := connecttest.PageToken(tn, jiraApp, http.MethodGet, pageURL, "acc-1", testNow, 3*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ctxTok := func(tn *connect.Tenant) string {
		tok, err := connecttest.ContextToken(tn, "acc-1", testNow, 15*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	withClaims := func(change func(jwt.MapClaims)) string {
		c := pageClaims(t, f.a, http.MethodGet, pageURL)
		change(c)
		tok, err := connecttest.SignHS256(f.a, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	type req struct {
		method, url string
		header      []string // Authorization values
	}
	inQuery := func(tok string) req { return req{http.MethodGet, connecttest.WithJWT(pageURL, tok), nil} }
	inHeader := func(tok string) req { return req{http.MethodGet, pageURL, []string{"JWT " + tok}} }
	apiURL := "https://app.example.com/jira/api/settings"
	api := func(tok string) req { return req{http.MethodPost, apiURL, []string{"JWT " + tok}} }

	tests := []struct {
		name    string
		req     req
		policy  connect.QSHPolicy
		wantErr error
		wantAcc string
	}{
		{"valid page token in query", inQuery(page(f.a)), connect.QSHComputed, nil, "acc-1"},
		{"valid page token in header", inHeader(page(f.a)), connect.QSHComputed, nil, "acc-1"},
		{"valid context token on API", api(ctxTok(f.a)), connect.QSHContext, nil, "acc-1"},
		{"header scheme is case-insensitive", req{http.MethodGet, pageURL, []string{"jwt " + page(f.a)}}, connect.QSHComputed, nil, "acc-1"},
		{"no token", req{http.MethodGet, pageURL, nil}, connect.QSHComputed, connect.ErrNoToken, ""},
		{"empty jwt parameter", inQuery(""), connect.QSHComputed, connect.ErrNoToken, ""},
		{"bearer scheme is not a Connect token", req{http.MethodGet, pageURL, []string{"Bearer " + page(f.a)}}, connect.QSHComputed, connect.ErrNoToken, ""},
		{"jwt hidden behind a semicolon is not a token", req{http.MethodGet, pageURL + "&a=1;jwt=" + page(f.a), nil}, connect.QSHComputed, connect.ErrNoToken, ""},
		{"alg none", inQuery(rawToken(t, map[string]any{"alg": "none", "typ": "JWT"}, pageClaims(t, f.a, http.MethodGet, pageURL), "")), connect.QSHComputed, connect.ErrBadAlgorithm, ""},
		{"alg None spelled differently", inQuery(rawToken(t, map[string]any{"alg": "None"}, pageClaims(t, f.a, http.MethodGet, pageURL), "")), connect.QSHComputed, connect.ErrBadAlgorithm, ""},
		{"HS512 not allowed", inQuery(signHS(t, jwt.SigningMethodHS512, []byte(f.a.SharedSecret.Reveal()), pageClaims(t, f.a, http.MethodGet, pageURL))), connect.QSHComputed, connect.ErrBadAlgorithm, ""},
		{"RS256 on a page", inQuery(signHS(t, jwt.SigningMethodRS256, rsaKey, pageClaims(t, f.a, http.MethodGet, pageURL))), connect.QSHComputed, connect.ErrBadAlgorithm, ""},
		{"garbage", inQuery("not-a-token"), connect.QSHComputed, connect.ErrMalformedToken, ""},
		{"four segments", inQuery(page(f.a) + ".x"), connect.QSHComputed, connect.ErrMalformedToken, ""},
		{"bad base64 claims", inQuery("eyJhbGciOiJIUzI1NiJ9.!!!.sig"), connect.QSHComputed, connect.ErrMalformedToken, ""},
		{"iss of wrong type", inQuery(withClaims(func(c jwt.MapClaims) { c["iss"] = 42 })), connect.QSHComputed, connect.ErrMalformedToken, ""},
		{"token too long", inQuery(withClaims(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", connect.MaxTokenBytes) })), connect.QSHComputed, connect.ErrMalformedToken, ""},
		{"wrong secret", inQuery(signHS(t, jwt.SigningMethodHS256, []byte("not-the-secret-0123456789abcdef"), pageClaims(t, f.a, http.MethodGet, pageURL))), connect.QSHComputed, connect.ErrBadSignature, ""},
		{"tampered payload (sub changed)", inQuery(tamper(t, page(f.a), func(c jwt.MapClaims) { c["sub"] = "admin" })), connect.QSHComputed, connect.ErrBadSignature, ""},
		{"token of tenant A presented as tenant B", inQuery(tamper(t, page(f.a), func(c jwt.MapClaims) { c["iss"] = f.b.ClientKey })), connect.QSHComputed, connect.ErrBadSignature, ""},
		{"tenant B's claims signed with A's secret", inQuery(signHS(t, jwt.SigningMethodHS256, []byte(f.a.SharedSecret.Reveal()), pageClaims(t, f.b, http.MethodGet, pageURL))), connect.QSHComputed, connect.ErrBadSignature, ""},
		{"expired beyond leeway", inQuery(withClaims(func(c jwt.MapClaims) {
			c["iat"] = testNow.Add(-time.Hour).Unix()
			c["exp"] = testNow.Add(-11 * time.Second).Unix()
		})), connect.QSHComputed, connect.ErrExpired, ""},
		{"expired within leeway", inQuery(withClaims(func(c jwt.MapClaims) {
			c["iat"] = testNow.Add(-time.Hour).Unix()
			c["exp"] = testNow.Add(-5 * time.Second).Unix()
		})), connect.QSHComputed, nil, "acc-1"},
		{"iat in the future beyond leeway", inQuery(withClaims(func(c jwt.MapClaims) {
			c["iat"] = testNow.Add(time.Minute).Unix()
			c["exp"] = testNow.Add(time.Hour).Unix()
		})), connect.QSHComputed, connect.ErrIssuedInFuture, ""},
		{"iat in the future within leeway", inQuery(withClaims(func(c jwt.MapClaims) { c["iat"] = testNow.Add(5 * time.Second).Unix() })), connect.QSHComputed, nil, "acc-1"},
		{"nbf in the future", inQuery(withClaims(func(c jwt.MapClaims) { c["nbf"] = testNow.Add(time.Minute).Unix() })), connect.QSHComputed, connect.ErrIssuedInFuture, ""},
		{"exp before iat", inQuery(withClaims(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-time.Hour).Unix() })), connect.QSHComputed, connect.ErrMalformedToken, ""},
		{"exp absurdly large", inQuery(withClaims(func(c jwt.MapClaims) { c["exp"] = 1e300 })), connect.QSHComputed, connect.ErrMalformedToken, ""},
		{"exp as a string", inQuery(withClaims(func(c jwt.MapClaims) { c["exp"] = "1900000000" })), connect.QSHComputed, connect.ErrMalformedToken, ""},
		{"exp missing", inQuery(withClaims(func(c jwt.MapClaims) { delete(c, "exp") })), connect.QSHComputed, connect.ErrMissingClaim, ""},
		{"iat missing", inQuery(withClaims(func(c jwt.MapClaims) { delete(c, "iat") })), connect.QSHComputed, connect.ErrMissingClaim, ""},
		{"iss missing", inQuery(withClaims(func(c jwt.MapClaims) { delete(c, "iss") })), connect.QSHComputed, connect.ErrMissingClaim, ""},
		{"qsh missing", inQuery(withClaims(func(c jwt.MapClaims) { delete(c, "qsh") })), connect.QSHComputed, connect.ErrMissingClaim, ""},
		{"unknown tenant", inQuery(tamper(t, page(f.a), func(c jwt.MapClaims) { c["iss"] = "jira:nobody" })), connect.QSHComputed, connect.ErrUnknownTenant, ""},
		// An uninstalled tenant's secret is forgotten: nothing verifies.
		{"uninstalled tenant", inQuery(page(f.gone)), connect.QSHComputed, connect.ErrBadSignature, ""},
		{"uninstalled tenant on API", api(ctxTok(f.gone)), connect.QSHContext, connect.ErrBadSignature, ""},
		{"tenant of the other app", inQuery(page(f.otherApp)), connect.QSHComputed, connect.ErrUnknownTenant, ""},
		{"qsh of another page", req{http.MethodGet, connecttest.WithJWT(strings.Replace(pageURL, "settings", "cleanup", 1), page(f.a)), nil}, connect.QSHComputed, connect.ErrQSHMismatch, ""},
		{"qsh with a changed parameter", req{http.MethodGet, connecttest.WithJWT(pageURL+"&extra=1", page(f.a)), nil}, connect.QSHComputed, connect.ErrQSHMismatch, ""},
		{"qsh of another method", req{http.MethodPost, connecttest.WithJWT(pageURL, page(f.a)), nil}, connect.QSHComputed, connect.ErrQSHMismatch, ""},
		{"context token on a page", inQuery(ctxTok(f.a)), connect.QSHComputed, connect.ErrContextTokenOnPage, ""},
		{"computed token on the API", api(page(f.a)), connect.QSHContext, connect.ErrComputedTokenOnAPI, ""},
		{"context token in the API's query", req{http.MethodGet, connecttest.WithJWT(apiURL, ctxTok(f.a)), nil}, connect.QSHContext, connect.ErrNoToken, ""},
		{"duplicate: query and header", req{http.MethodGet, connecttest.WithJWT(pageURL, page(f.a)), []string{"JWT " + page(f.a)}}, connect.QSHComputed, connect.ErrDuplicateToken, ""},
		{"duplicate: two query parameters", req{http.MethodGet, connecttest.WithJWT(connecttest.WithJWT(pageURL, page(f.a)), page(f.b)), nil}, connect.QSHComputed, connect.ErrDuplicateToken, ""},
		{"duplicate: escaped parameter name", req{http.MethodGet, connecttest.WithJWT(pageURL, page(f.a)) + "&%6Awt=x", nil}, connect.QSHComputed, connect.ErrDuplicateToken, ""},
		{"duplicate: two headers", req{http.MethodGet, pageURL, []string{"JWT " + page(f.a), "JWT " + page(f.b)}}, connect.QSHComputed, connect.ErrDuplicateToken, ""},
		{"request outside the app", req{http.MethodGet, connecttest.WithJWT("https://app.example.com/other/x", page(f.a)), nil}, connect.QSHComputed, connect.ErrMalformedRequest, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.req.method, tc.req.url, nil)
			for _, h := range tc.req.header {
				r.Header.Add("Authorization", h)
			}
			got, err := f.verifier.Verify(r, jiraApp, tc.policy)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if got != nil {
					t.Fatalf("got auth %+v with error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got.AccountID != tc.wantAcc || got.ClientKey != f.a.ClientKey || got.Tenant.ClientKey != f.a.ClientKey || got.App != jiraApp {
				t.Fatalf("auth = %+v", got)
			}
		})
	}
}

// TestVerifyLeeway checks that the configured leeway applies and is capped
// at MaxLeeway.
func TestVerifyLeeway(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		leeway  time.Duration
		expAgo  time.Duration
		wantErr error
	}{
		{0, 9 * time.Second, nil},                         // default 10 s
		{0, 11 * time.Second, connect.ErrExpired},         // default 10 s
		{-1, 1 * time.Second, connect.ErrExpired},         // none
		{time.Hour, 29 * time.Second, nil},                // capped to 30 s
		{time.Hour, 31 * time.Second, connect.ErrExpired}, // capped to 30 s
	}
	for _, tc := range tests {
		c := pageClaims(t, f.a, http.MethodGet, pageURL)
		c["iat"] = testNow.Add(-time.Hour).Unix()
		c["exp"] = testNow.Add(-tc.expAgo).Unix()
		tok, err := connecttest.SignHS256(f.a, c)
		if err != nil {
			t.Fatal(err)
		}
		v := &connect.Verifier{Store: f.store, Now: fixedNow, Leeway: tc.leeway}
		_, err = v.Verify(httptest.NewRequest(http.MethodGet, connecttest.WithJWT(pageURL, tok), nil), jiraApp, connect.QSHComputed)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("leeway %v, expired %v ago: err = %v, want %v", tc.leeway, tc.expAgo, err, tc.wantErr)
		}
	}
}

func TestVerifyStoreFailureIsNotUnknownTenant(t *testing.T) {
	f := newFixture(t)
	boom := errors.New("database down")
	v := &connect.Verifier{Store: failingStore{err: boom}, Now: fixedNow}
	tok, err := connecttest.PageToken(f.a, jiraApp, http.MethodGet, pageURL, "", testNow, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(httptest.NewRequest(http.MethodGet, connecttest.WithJWT(pageURL, tok), nil), jiraApp, connect.QSHComputed)
	if !errors.Is(err, boom) || errors.Is(err, connect.ErrUnknownTenant) {
		t.Fatalf("err = %v, want the store error", err)
	}
}

type failingStore struct{ err error }

func (s failingStore) GetTenant(context.Context, string) (*connect.Tenant, error) { return nil, s.err }
func (s failingStore) SaveTenant(context.Context, *connect.Tenant) error          { return s.err }
func (s failingStore) MarkUninstalled(context.Context, string, time.Time) error   { return s.err }
func (s failingStore) SetEnabled(context.Context, string, bool) error             { return s.err }

func TestTokenFromRequest(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		headers []string
		want    string
		wantErr error
	}{
		{"query", "/p?a=1&jwt=abc", nil, "abc", nil},
		{"escaped query value", "/p?jwt=a%2Eb", nil, "a.b", nil},
		{"header", "/p", []string{"JWT abc"}, "abc", nil},
		{"header with spaces", "/p", []string{"  JWT   abc  "}, "abc", nil},
		{"other schemes ignored", "/p?jwt=abc", []string{"Basic eA=="}, "abc", nil},
		{"none", "/p?a=1", nil, "", connect.ErrNoToken},
		{"empty header token", "/p", []string{"JWT "}, "", connect.ErrNoToken},
		{"semicolon keeps the pair together", "/p?a=1;jwt=abc", nil, "", connect.ErrNoToken},
		{"name must be exactly jwt", "/p?jwtx=abc&xjwt=abc", nil, "", connect.ErrNoToken},
		{"two parameters", "/p?jwt=a&jwt=b", nil, "", connect.ErrDuplicateToken},
		{"two parameters, one empty", "/p?jwt=&jwt=b", nil, "", connect.ErrDuplicateToken},
		{"query and header", "/p?jwt=a", []string{"JWT b"}, "", connect.ErrDuplicateToken},
		{"two headers", "/p", []string{"JWT a", "JWT b"}, "", connect.ErrDuplicateToken},
		{"bad escape in token", "/p?jwt=%zz", nil, "", connect.ErrMalformedRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "https://app.example.com"+tc.url, nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := connect.TokenFromRequest(r)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("got (%q, %v), want (%q, %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestAuthContext(t *testing.T) {
	if _, ok := connect.AuthFrom(context.Background()); ok {
		t.Fatal("empty context has auth")
	}
	want := &connect.Auth{ClientKey: "c", AccountID: "u", App: jiraApp}
	got, ok := connect.AuthFrom(connect.WithAuth(context.Background(), want))
	if !ok || got != want {
		t.Fatalf("AuthFrom = %v, %v", got, ok)
	}
	if _, ok := connect.AuthFrom(connect.WithAuth(context.Background(), nil)); ok {
		t.Fatal("nil auth reported as present")
	}
}

func TestErrorMessagesDoNotLeak(t *testing.T) {
	f := newFixture(t)
	tok := signHS(t, jwt.SigningMethodHS256, []byte("wrong-secret-0123456789abcdef"), pageClaims(t, f.a, http.MethodGet, pageURL))
	_, err := f.verifier.Verify(httptest.NewRequest(http.MethodGet, connecttest.WithJWT(pageURL, tok), nil), jiraApp, connect.QSHComputed)
	if err == nil {
		t.Fatal("no error")
	}
	for _, secret := range []string{tok, f.a.SharedSecret.Reveal(), "wrong-secret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q leaks %q", err, secret)
		}
	}
	if diff := cmp.Diff(connect.ErrBadSignature.Error(), err.Error()); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
}

// TestVerifyAppBaseURLForms checks the qsh base path for apps mounted at
// the root, under a path, and with a trailing slash in the baseUrl; an
// unusable app baseUrl is an error, never a pass.
func TestVerifyAppBaseURLForms(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		baseURL   string // the App's configured baseUrl
		tokenBase string // the baseUrl the product computed the qsh against
		pageURL   string
		ok        bool
	}{
		{"https://app.example.com", "https://app.example.com", "https://app.example.com/admin/settings?lic=none", true},
		{"https://app.example.com/", "https://app.example.com", "https://app.example.com/admin/settings?lic=none", true},
		{"https://app.example.com/jira/", "https://app.example.com/jira", "https://app.example.com/jira/admin/settings?lic=none", true},
		{"https://app.example.com", "https://app.example.com/jira", "https://app.example.com/jira/admin/settings", false},
		{"app.example.com/jira", "https://app.example.com/jira", "https://app.example.com/jira/admin/settings", false},
		{"https://app.example.com/jira?x=1", "https://app.example.com/jira", "https://app.example.com/jira/admin/settings", false},
	}
	for _, tc := range tests {
		tok, err := connecttest.PageToken(f.a, connect.App{BaseURL: tc.tokenBase}, http.MethodGet, tc.pageURL, "", testNow, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		app := connect.App{Key: jiraApp.Key, BaseURL: tc.baseURL, Product: connect.Jira}
		_, err = f.verifier.Verify(httptest.NewRequest(http.MethodGet, connecttest.WithJWT(tc.pageURL, tok), nil), app, connect.QSHComputed)
		if (err == nil) != tc.ok {
			t.Errorf("baseUrl %q, token base %q: err = %v, want ok=%v", tc.baseURL, tc.tokenBase, err, tc.ok)
		}
	}
}
