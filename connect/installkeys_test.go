package connect_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
)

func TestInstallKeyFetcherFallbackAndCache(t *testing.T) {
	ks, err := connecttest.NewKeyServer()
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	var primaryHits atomic.Int32
	var primaryPath atomic.Value
	primary := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		primaryHits.Add(1)
		primaryPath.Store(r.URL.Path)
		http.Error(w, "gone", http.StatusBadGateway)
	}))
	defer primary.Close()

	f := connect.NewInstallKeyFetcher([]string{primary.URL + "/keys/", " ", ks.URL + "/"}, ks.Client())
	ctx := context.Background()
	k, err := f.PublicKey(ctx, ks.KID)
	if err != nil {
		t.Fatalf("PublicKey: %v", err)
	}
	if !k.Equal(&ks.Key.PublicKey) {
		t.Fatal("wrong key")
	}
	if got, want := primaryPath.Load(), "/keys/"+ks.KID; got != want {
		t.Errorf("primary asked for %v, want %v", got, want)
	}
	// Cached: neither server is asked again.
	for range 3 {
		if _, err := f.PublicKey(ctx, ks.KID); err != nil {
			t.Fatal(err)
		}
	}
	if p, s := primaryHits.Load(), ks.Hits(); p != 1 || s != 1 {
		t.Errorf("hits primary=%d fallback=%d, want 1 and 1", p, s)
	}
}

func TestInstallKeyFetcherCoalescesConcurrentLookups(t *testing.T) {
	ks, err := connecttest.NewKeyServer()
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	ks.Delay(100 * time.Millisecond)
	f := connect.NewInstallKeyFetcher([]string{ks.URL}, ks.Client())
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			_, err := f.PublicKey(context.Background(), ks.KID)
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
	if got := ks.Hits(); got != 1 {
		t.Errorf("key server hits = %d, want 1", got)
	}
}

func TestInstallKeyFetcherErrors(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	smallPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: smallDER})
	tests := []struct {
		name    string
		handler http.HandlerFunc
		kid     string
		wantErr error
	}{
		{"not PEM", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) }, "k1", connect.ErrKeyFetch},
		{"too small key", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(smallPEM) }, "k1", connect.ErrKeyFetch},
		{"oversized answer", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(strings.Repeat("A", 32<<10))) }, "k1", connect.ErrKeyFetch},
		{"server error", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }, "k1", connect.ErrKeyFetch},
		{"bad kid never reaches the server", func(w http.ResponseWriter, _ *http.Request) { t.Error("server called") }, "../etc/passwd", connect.ErrMalformedToken},
		{"overlong kid", func(w http.ResponseWriter, _ *http.Request) { t.Error("server called") }, strings.Repeat("a", 129), connect.ErrMalformedToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(tc.handler)
			defer srv.Close()
			f := connect.NewInstallKeyFetcher([]string{srv.URL}, srv.Client())
			_, err := f.PublicKey(context.Background(), tc.kid)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	f := connect.NewInstallKeyFetcher(nil, nil)
	if _, err := f.PublicKey(context.Background(), "k"); !errors.Is(err, connect.ErrKeyFetch) {
		t.Fatalf("no URLs: %v", err)
	}
}

func TestInstallKeyFetcherFailureNotCached(t *testing.T) {
	ks, err := connecttest.NewKeyServer()
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	f := connect.NewInstallKeyFetcher([]string{ks.URL}, ks.Client())
	ks.Fail(http.StatusServiceUnavailable)
	if _, err := f.PublicKey(context.Background(), ks.KID); !errors.Is(err, connect.ErrKeyFetch) {
		t.Fatalf("down: %v", err)
	}
	ks.Fail(0)
	if _, err := f.PublicKey(context.Background(), ks.KID); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestParseRSAPublicKeyPEM(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkix, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"PKIX", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}), true},
		{"PKCS1", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&key.PublicKey)}), true},
		{"private key block", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), false},
		{"garbage in block", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("xx")}), false},
		{"empty", nil, false},
	}
	for _, tc := range tests {
		k, err := connect.ParseRSAPublicKeyPEM(tc.data)
		if tc.ok != (err == nil) {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if tc.ok && !k.Equal(&key.PublicKey) {
			t.Errorf("%s: wrong key", tc.name)
		}
	}
}

func TestDefaultInstallKeyURLs(t *testing.T) {
	got := connect.DefaultInstallKeyURLs()
	want := []string{"https://asap-distribution.us-west-2.prod.atl-asap.net", "https://connect-install-keys.atlassian.com"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v, want %v", got, want)
	}
	got[0] = "mutated"
	if connect.DefaultInstallKeyURLs()[0] == "mutated" {
		t.Fatal("DefaultInstallKeyURLs shares its slice")
	}
}

// TestInstallKeyFetcherRemembersUnknownKids: a kid every key server denied
// is answered from memory until UnknownKeyTTL has passed, so repeating a
// forged token costs no request.
func TestInstallKeyFetcherRemembersUnknownKids(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		http.NotFound(w, nil)
	}))
	defer srv.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := connect.NewInstallKeyFetcher([]string{srv.URL}, srv.Client())
	f.UnknownKeyTTL = 5 * time.Minute
	f.Now = func() time.Time { return now }
	for i := range 5 {
		if _, err := f.PublicKey(context.Background(), "forged-kid"); !errors.Is(err, connect.ErrUnknownKey) {
			t.Fatalf("lookup %d: %v, want ErrUnknownKey", i, err)
		}
	}
	if got := hits.Load(); got != 1 {
		t.Fatalf("key server hits = %d, want 1", got)
	}
	now = now.Add(5 * time.Minute)
	if _, err := f.PublicKey(context.Background(), "forged-kid"); !errors.Is(err, connect.ErrUnknownKey) {
		t.Fatal(err)
	}
	if got := hits.Load(); got != 2 {
		t.Fatalf("key server hits after the TTL = %d, want 2", got)
	}
}

// TestInstallKeyFetcherBoundsAFlood: a flood of tokens with invented kids
// keeps at most MaxFetches lookups in flight; the rest are refused at once
// (unavailable, not unknown: nothing is remembered about them) without a
// request, so the app never sends more requests than it receives.
func TestInstallKeyFetcherBoundsAFlood(t *testing.T) {
	const limit, flood = 3, 50
	var (
		mu               sync.Mutex
		inFlight, maxIn  int
		hits             int
		release          = make(chan struct{})
		releaseOnce      sync.Once
		waitingForAnswer = make(chan struct{}, flood)
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		hits++
		inFlight++
		maxIn = max(maxIn, inFlight)
		mu.Unlock()
		waitingForAnswer <- struct{}{}
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
		http.NotFound(w, nil)
	}))
	defer srv.Close()
	defer releaseOnce.Do(func() { close(release) })
	f := connect.NewInstallKeyFetcher([]string{srv.URL}, srv.Client())
	f.MaxFetches = limit
	f.Timeout = time.Minute

	results := make(chan error, flood)
	for i := range flood {
		go func() {
			_, err := f.PublicKey(context.Background(), "invented-kid-"+strconv.Itoa(i))
			results <- err
		}()
	}
	// limit lookups reach the key server and wait there; every other one
	// is answered without a request while they wait.
	for range limit {
		select {
		case <-waitingForAnswer:
		case <-time.After(10 * time.Second):
			t.Fatal("the key server never got the first lookups")
		}
	}
	for i := range flood - limit {
		select {
		case err := <-results:
			if !errors.Is(err, connect.ErrKeyFetch) {
				t.Fatalf("refused lookup %d: %v, want ErrKeyFetch", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d lookups were refused while %d were in flight", i, limit)
		}
	}
	mu.Lock()
	if hits != limit {
		t.Errorf("key server hits = %d while the flood was refused, want %d", hits, limit)
	}
	mu.Unlock()
	releaseOnce.Do(func() { close(release) })
	for range limit {
		if err := <-results; !errors.Is(err, connect.ErrUnknownKey) {
			t.Fatalf("looked-up kid: %v, want ErrUnknownKey", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if maxIn > limit || hits != limit {
		t.Errorf("max in flight = %d, hits = %d; want at most %d and exactly %d", maxIn, hits, limit, limit)
	}
	if hits >= flood {
		t.Errorf("%d requests out for %d in: the app amplified the flood", hits, flood)
	}
}

// TestKeyFetchesRefuseHTTPAndRedirects: install keys and Forge key sets
// are fetched over https only, and a redirect is not followed (its target
// would choose the key). Neither has a switch to allow it: tests serve
// https.
func TestKeyFetchesRefuseHTTPAndRedirects(t *testing.T) {
	ks, err := connecttest.NewKeyServer()
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	forge, err := connecttest.NewForgeServer("ari:cloud:ecosystem::app/8d4f0b6a-1c2e-4f3a-9b5d-7e6f8a9b0c1d")
	if err != nil {
		t.Fatal(err)
	}
	defer forge.Close()
	var plainHits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainHits.Add(1)
		http.Error(w, "plain http", http.StatusTeapot)
	}))
	defer plain.Close()
	redirect := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := ks.URL + r.URL.Path
		if strings.HasSuffix(r.URL.Path, "jwks.json") {
			target = forge.URL
		}
		http.Redirect(w, r, target, http.StatusFound)
	}))
	defer redirect.Close()
	ctx := context.Background()

	for name, base := range map[string]string{"plain http": plain.URL, "redirect": redirect.URL} {
		before := ks.Hits()
		f := connect.NewInstallKeyFetcher([]string{base}, ks.Client())
		if _, err := f.PublicKey(ctx, ks.KID); !errors.Is(err, connect.ErrKeyFetch) {
			t.Errorf("install key over %s: %v, want ErrKeyFetch", name, err)
		}
		if ks.Hits() != before {
			t.Errorf("install key over %s: the redirect was followed", name)
		}
		j := connect.NewJWKSFetcher(base+"/.well-known/jwks.json", forge.Client(), nil)
		if _, err := j.PublicKey(ctx, forge.KID); !errors.Is(err, connect.ErrKeyFetch) {
			t.Errorf("Forge keys over %s: %v, want ErrKeyFetch", name, err)
		}
	}
	if n := plainHits.Load(); n != 0 {
		t.Errorf("%d requests went out over plain http", n)
	}
	// Sanity: the same fetchers work against the https servers themselves.
	if _, err := connect.NewInstallKeyFetcher([]string{ks.URL}, ks.Client()).PublicKey(ctx, ks.KID); err != nil {
		t.Errorf("install key over https: %v", err)
	}
	if _, err := connect.NewJWKSFetcher(forge.URL, forge.Client(), nil).PublicKey(ctx, forge.KID); err != nil {
		t.Errorf("Forge keys over https: %v", err)
	}
}
