package connect_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
)

// BenchmarkVerifyPageRequest measures a full page-load verification: token
// extraction, decoding, tenant lookup (in-memory store), HMAC, time checks
// and the computed qsh with the standard Connect parameters.
func BenchmarkVerifyPageRequest(b *testing.B) {
	f := newFixture(b)
	tok, err := connecttest.PageToken(f.a, jiraApp, http.MethodGet, pageURL, "557058:1f41", testNow, 15*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, connecttest.WithJWT(pageURL, tok), nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.verifier.Verify(r, jiraApp, connect.QSHComputed); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyContextRequest measures a browser API call with a context
// token in the Authorization header.
func BenchmarkVerifyContextRequest(b *testing.B) {
	f := newFixture(b)
	tok, err := connecttest.ContextToken(f.a, "557058:1f41", testNow, 15*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "https://app.example.com/jira/api/settings", nil)
	r.Header.Set("Authorization", "JWT "+tok)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.verifier.Verify(r, jiraApp, connect.QSHContext); err != nil {
			b.Fatal(err)
		}
	}
}
