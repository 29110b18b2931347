package connect_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/connect"
)

// fakeProduct records what a signed client sends and checks the token the
// way the product does: HS256 with the shared secret, qsh of the request
// relative to the tenant's base path.
type fakeProduct struct {
	t        *testing.T
	secret   string
	basePath string

	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	Method, Path, Iss, Body string
	QSHOK                   bool
	Lifetime                time.Duration
	ContentLength           int64
}

func (p *fakeProduct) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s := seenRequest{Method: r.Method, Path: r.URL.Path, ContentLength: r.ContentLength}
	b, _ := io.ReadAll(r.Body)
	s.Body = string(b)
	if scheme == "JWT" {
		var c struct {
			jwt.RegisteredClaims
			QSH string `json:"qsh"`
		}
		_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return []byte(p.secret), nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(fixedNow))
		if err != nil {
			p.t.Errorf("product rejected token: %v", err)
		} else {
			want, err := connect.QueryStringHash(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, p.basePath)
			s.QSHOK = err == nil && want == c.QSH
			s.Iss = c.Issuer
			s.Lifetime = c.ExpiresAt.Sub(c.IssuedAt.Time)
		}
	}
	p.mu.Lock()
	p.seen = append(p.seen, s)
	p.mu.Unlock()
	if r.URL.Path == "/wiki/redirect" || r.URL.Path == "/redirect" {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (p *fakeProduct) requests() []seenRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]seenRequest(nil), p.seen...)
}

func TestSignedClient(t *testing.T) {
	const secret = "tenant-shared-secret-0123456789abcdef"
	for _, tc := range []struct {
		name     string
		basePath string
		product  connect.Product
	}{
		{"jira", "", connect.Jira},
		{"confluence strips /wiki", "/wiki", connect.Confluence},
	} {
		t.Run(tc.name, func(t *testing.T) {
			product := &fakeProduct{t: t, secret: secret, basePath: tc.basePath}
			srv := httptest.NewServer(product)
			defer srv.Close()
			other := &fakeProduct{t: t, secret: secret}
			otherSrv := httptest.NewServer(other)
			defer otherSrv.Close()

			tenant := &connect.Tenant{ClientKey: "client", BaseURL: srv.URL + tc.basePath, SharedSecret: secret, ProductType: tc.product}
			client := connect.NewClient(tenant, "com.example.app."+string(tc.product), nil, 5*time.Second)
			client.Transport.(*connect.Transport).Now = fixedNow

			do := func(method, url, body string) (*http.Response, error) {
				req, err := http.NewRequest(method, url, strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				resp, err := client.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				return resp, err
			}
			base := tenant.BaseURL
			if _, err := do(http.MethodGet, base+"/rest/api/3/users/search?maxResults=50&startAt=0&q=a%20b", "ignored body"); err != nil {
				t.Fatalf("GET: %v", err)
			}
			if _, err := do(http.MethodPost, base+"/rest/api/3/group/user?groupId=g1", `{"accountId":"a"}`); err != nil {
				t.Fatalf("POST: %v", err)
			}
			if _, err := do(http.MethodGet, otherSrv.URL+tc.basePath+"/rest/api/3/myself", ""); err == nil {
				t.Fatal("request to another host was sent")
			}
			_, err := do(http.MethodGet, base+"/redirect?to="+otherSrv.URL+"/steal", "")
			if !errors.Is(err, connect.ErrRedirect) {
				t.Fatalf("redirect: err = %v, want ErrRedirect", err)
			}
			_, err = do(http.MethodGet, base+"/redirect?to="+base+"/rest/api/3/myself", "")
			if !errors.Is(err, connect.ErrRedirect) {
				t.Fatalf("same-host redirect: err = %v, want ErrRedirect", err)
			}

			iss := "com.example.app." + string(tc.product)
			want := []seenRequest{
				{Method: "GET", Path: tc.basePath + "/rest/api/3/users/search", Iss: iss, QSHOK: true, Lifetime: 3 * time.Minute},
				{Method: "POST", Path: tc.basePath + "/rest/api/3/group/user", Iss: iss, QSHOK: true, Lifetime: 3 * time.Minute, Body: `{"accountId":"a"}`, ContentLength: 17},
				{Method: "GET", Path: tc.basePath + "/redirect", Iss: iss, QSHOK: true, Lifetime: 3 * time.Minute},
				{Method: "GET", Path: tc.basePath + "/redirect", Iss: iss, QSHOK: true, Lifetime: 3 * time.Minute},
			}
			if diff := cmp.Diff(want, product.requests()); diff != "" {
				t.Errorf("product saw (-want +got):\n%s", diff)
			}
			if n := len(other.requests()); n != 0 {
				t.Errorf("other host received %d requests", n)
			}
		})
	}
}

func TestSignRequestErrors(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "https://acme.atlassian.net/wiki/rest/api/space", nil)
	if err := connect.SignRequest(req, nil, "app", testNow); !errors.Is(err, connect.ErrUnknownTenant) {
		t.Errorf("nil tenant: %v", err)
	}
	tn := &connect.Tenant{BaseURL: "https://acme.atlassian.net/wiki", SharedSecret: "s-0123456789abcdef"}
	outside := httptest.NewRequest(http.MethodGet, "https://acme.atlassian.net/rest/api/3/myself", nil)
	if err := connect.SignRequest(outside, tn, "app", testNow); !errors.Is(err, connect.ErrMalformedRequest) {
		t.Errorf("path outside /wiki: %v", err)
	}
	downgrade := httptest.NewRequest(http.MethodGet, "http://acme.atlassian.net/wiki/rest/api/space", nil)
	if err := connect.SignRequest(downgrade, tn, "app", testNow); err == nil {
		t.Error("signed a plain-http request for an https tenant")
	}
	if err := connect.SignRequest(req, tn, "app", testNow); err != nil {
		t.Fatalf("valid: %v", err)
	}
	if !strings.HasPrefix(req.Header.Get("Authorization"), "JWT ") {
		t.Errorf("Authorization = %q", req.Header.Get("Authorization"))
	}
}

func TestSignRequestOrigin(t *testing.T) {
	tn := &connect.Tenant{BaseURL: "https://acme.atlassian.net", SharedSecret: "s-0123456789abcdef"}
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://acme.atlassian.net/rest/api/3/myself", true},
		{"https://ACME.atlassian.net:443/rest/api/3/myself", true},
		{"https://acme.atlassian.net:8443/rest/api/3/myself", false},
		{"http://acme.atlassian.net:443/rest/api/3/myself", false},
		{"https://evil.atlassian.net/rest/api/3/myself", false},
		{"https://acme.atlassian.net.evil.com/rest/api/3/myself", false},
	}
	for _, tc := range tests {
		req := httptest.NewRequest(http.MethodGet, tc.url, nil)
		err := connect.SignRequest(req, tn, "app", testNow)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.url, err, tc.ok)
		}
		if !tc.ok && req.Header.Get("Authorization") != "" {
			t.Errorf("%s: Authorization set on a refused request", tc.url)
		}
	}
}

// TestSignAppRequest: a request to an Atlassian platform API for apps
// (the personal data reporting API) carries the installation's token: HS256
// with its shared secret, iss = app key, and the qsh of the request's own
// path, whatever the tenant's context path (/wiki).
func TestSignAppRequest(t *testing.T) {
	tn := &connect.Tenant{BaseURL: "https://acme.atlassian.net/wiki", SharedSecret: "s-0123456789abcdef"}
	if err := connect.SignAppRequest(httptest.NewRequest(http.MethodPost, "https://api.atlassian.com/app/report-accounts/", nil),
		&connect.Tenant{}, "app", testNow); !errors.Is(err, connect.ErrUnknownTenant) {
		t.Errorf("no shared secret: %v", err)
	}
	req := httptest.NewRequest(http.MethodPost, "https://api.atlassian.com/app/report-accounts/", nil)
	if err := connect.SignAppRequest(req, tn, "com.example.app", testNow); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimPrefix(req.Header.Get("Authorization"), "JWT ")
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return []byte("s-0123456789abcdef"), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return testNow })); err != nil {
		t.Fatalf("token: %v", err)
	}
	want, err := connect.QueryStringHash(http.MethodPost, "/app/report-accounts/", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if claims["iss"] != "com.example.app" || claims["qsh"] != want {
		t.Errorf("claims %v, want iss com.example.app and qsh %s", claims, want)
	}
}
