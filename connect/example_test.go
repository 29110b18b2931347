package connect_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
)

// Verify a page load from Jira: the token comes in ?jwt=, its qsh must
// match this very request, and the verified user is on the Auth.
func ExampleVerifier_Verify() {
	ctx := context.Background()
	store := connecttest.NewMemoryStore()
	tenant := &connect.Tenant{
		ClientKey: "jira:2aceafb1", AppKey: "com.example.app.jira", ProductType: connect.Jira,
		BaseURL: "https://acme.atlassian.net", SharedSecret: "a-long-shared-secret-from-install",
	}
	if err := store.SaveTenant(ctx, tenant); err != nil {
		fmt.Println(err)
		return
	}
	app := connect.App{Key: "com.example.app.jira", BaseURL: "https://app.example.com/jira", Product: connect.Jira}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	// What Jira sends: the admin page URL with standard parameters and a
	// token signed with the tenant's shared secret.
	page := "https://app.example.com/jira/admin/settings?cp=&lic=none&xdm_e=https%3A%2F%2Facme.atlassian.net"
	tok, _ := connecttest.PageToken(tenant, app, http.MethodGet, page, "557058:f00", now, 3*time.Minute)
	r := httptest.NewRequest(http.MethodGet, connecttest.WithJWT(page, tok), nil)

	v := &connect.Verifier{Store: store, Now: func() time.Time { return now }}
	auth, err := v.Verify(r, app, connect.QSHComputed)
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	fmt.Println("tenant:", auth.ClientKey)
	fmt.Println("user:", auth.AccountID)

	// The same token replayed on another page is rejected.
	other := strings.Replace(page, "settings", "cleanup", 1)
	_, err = v.Verify(httptest.NewRequest(http.MethodGet, connecttest.WithJWT(other, tok), nil), app, connect.QSHComputed)
	fmt.Println("replayed elsewhere:", errors.Is(err, connect.ErrQSHMismatch))

	// A context token (AP.context.getToken) is refused on a page...
	ctxTok, _ := connecttest.ContextToken(tenant, "557058:f00", now, 15*time.Minute)
	_, err = v.Verify(httptest.NewRequest(http.MethodGet, connecttest.WithJWT(page, ctxTok), nil), app, connect.QSHComputed)
	fmt.Println("context token on page:", errors.Is(err, connect.ErrContextTokenOnPage))

	// ...and accepted on the app's own browser API.
	api := httptest.NewRequest(http.MethodPost, "https://app.example.com/jira/api/settings", nil)
	api.Header.Set("Authorization", "JWT "+ctxTok)
	_, err = v.Verify(api, app, connect.QSHContext)
	fmt.Println("context token on API:", err == nil)
	// Output:
	// tenant: jira:2aceafb1
	// user: 557058:f00
	// replayed elsewhere: true
	// context token on page: true
	// context token on API: true
}

// Sign an outgoing call to Confluence: the token's iss is the app key and
// its qsh is computed without the /wiki context path.
func ExampleNewClient() {
	product := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		fmt.Println(r.Method, r.URL.Path, "auth scheme:", scheme)
		qsh, _ := connect.QueryStringHash(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, "/wiki")
		fmt.Println("product computes qsh over:", mustCanonical(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, "/wiki"), len(qsh) == 64)
	}))
	defer product.Close()

	tenant := &connect.Tenant{
		ClientKey: "conf:1", BaseURL: product.URL + "/wiki", ProductType: connect.Confluence,
		SharedSecret: "a-long-shared-secret-from-install",
	}
	client := connect.NewClient(tenant, "com.example.app.confluence", nil, 10*time.Second)
	resp, err := client.Get(tenant.BaseURL + "/rest/api/space?limit=25&start=0")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()

	// Requests to any other host are refused before they are sent.
	_, err = client.Get("https://evil.example.com/wiki/rest/api/space")
	fmt.Println("other host refused:", err != nil)
	// Output:
	// GET /wiki/rest/api/space auth scheme: JWT
	// product computes qsh over: GET&/rest/api/space&limit=25&start=0 true
	// other host refused: true
}

func mustCanonical(method, path, query, base string) string {
	c, err := connect.CanonicalRequest(method, path, query, base)
	if err != nil {
		return err.Error()
	}
	return c
}
