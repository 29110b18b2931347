package connect

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// Atlassian's Forge Invocation Token key sets.
const (
	// ForgeJWKSURL is the production JWKS that signs Forge Invocation
	// Tokens.
	ForgeJWKSURL = "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"
	// ForgeStagingJWKSURL signs tokens of Atlassian's staging platform,
	// whose app.apiBaseUrl starts with ForgeStagingAPIPrefix.
	ForgeStagingJWKSURL = "https://forge.cdn.stg.atlassian-dev.net/.well-known/jwks.json"
	// ForgeStagingAPIPrefix is the app.apiBaseUrl prefix of staging
	// installations.
	ForgeStagingAPIPrefix = "https://api.stg.atlassian.com/"
)

// JWKS defaults.
const (
	DefaultJWKSTimeout          = 5 * time.Second
	DefaultJWKSMaxAge           = time.Hour
	DefaultJWKSMinRefresh       = 30 * time.Second
	maxJWKSBytes                = 64 << 10
	maxJWKSKeys                 = 64
	maxRSAKeyBits               = 8192
	minRSAPublicExponent  int64 = 3
)

// ForgeKeys returns the RSA public key with the key id from a JSON Web Key
// Set. Errors wrap ErrKeyFetch (the set could not be loaded) or
// ErrBadSignature (the set has no usable key with that id).
type ForgeKeys interface {
	PublicKey(ctx context.Context, kid string) (*rsa.PublicKey, error)
}

// JWKSFetcher implements ForgeKeys over one JWKS URL. The set is cached for
// MaxAge; a key id not in the cache triggers a refresh, at most once per
// MinRefresh, so a flood of tokens with invented key ids cannot turn into a
// flood of requests. Concurrent refreshes share one request. When a
// refresh fails, the previous keys stay in use. Responses are bounded in
// size and time; only RSA keys of 2048 to 8192 bits meant for signatures
// (use "sig" or absent, alg "RS256" or absent) are kept.
type JWKSFetcher struct {
	url    string
	client *http.Client
	now    func() time.Time

	// Timeout bounds one request (default DefaultJWKSTimeout).
	Timeout time.Duration
	// MaxAge is how long a fetched set is used before it is fetched again
	// (default DefaultJWKSMaxAge).
	MaxAge time.Duration
	// MinRefresh is the least time between two fetches triggered by an
	// unknown key id (default DefaultJWKSMinRefresh).
	MinRefresh time.Duration

	mu          sync.Mutex
	keys        map[string]*rsa.PublicKey
	fetchedAt   time.Time // last successful fetch
	attemptedAt time.Time // last fetch attempt
	inflight    chan struct{}
	lastErr     error
}

// NewJWKSFetcher returns a fetcher for the JWKS URL. A nil client means a
// plain http.Client and a nil now means time.Now. Like the install keys,
// the set is fetched over https only and no redirect is followed.
func NewJWKSFetcher(url string, client *http.Client, now func() time.Time) *JWKSFetcher {
	if now == nil {
		now = time.Now
	}
	return &JWKSFetcher{url: url, client: keyClient(client), now: now}
}

// URL returns the JWKS URL.
func (f *JWKSFetcher) URL() string { return f.url }

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// PublicKey implements ForgeKeys.
func (f *JWKSFetcher) PublicKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if !validKeyID(kid) {
		return nil, fmt.Errorf("%w: invalid kid", ErrMalformedToken)
	}
	for attempt := 0; ; {
		f.mu.Lock()
		now := f.now()
		k, known := f.keys[kid]
		fresh := f.keys != nil && now.Sub(f.fetchedAt) < orDefault(f.MaxAge, DefaultJWKSMaxAge)
		if known && fresh {
			f.mu.Unlock()
			return k, nil
		}
		if wait := f.inflight; wait != nil {
			// A fetch is under way: its result answers this call too.
			f.mu.Unlock()
			select {
			case <-wait:
				attempt++
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: %w", ErrKeyFetch, ctx.Err())
			}
		}
		mayRefresh := f.attemptedAt.IsZero() || now.Sub(f.attemptedAt) >= orDefault(f.MinRefresh, DefaultJWKSMinRefresh)
		if !mayRefresh || attempt > 0 {
			// Rate-limited, or already refreshed for this call: answer
			// from what we have.
			err, empty := f.lastErr, len(f.keys) == 0
			f.mu.Unlock()
			if known {
				return k, nil // stale but usable
			}
			if empty && err != nil {
				return nil, fmt.Errorf("%w: %w", ErrKeyFetch, err)
			}
			return nil, fmt.Errorf("%w: unknown kid", ErrBadSignature)
		}
		wait := make(chan struct{})
		f.inflight = wait
		f.attemptedAt = now
		f.mu.Unlock()
		// The shared fetch must not die with the first caller's
		// cancellation; it is bounded by Timeout.
		keys, err := f.fetch(context.WithoutCancel(ctx))
		f.mu.Lock()
		if err == nil {
			f.keys, f.fetchedAt, f.lastErr = keys, f.now(), nil
		} else {
			f.lastErr = err
		}
		f.inflight = nil
		f.mu.Unlock()
		close(wait)
		attempt++
	}
}

func (f *JWKSFetcher) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	if f.url == "" {
		return nil, errors.New("no JWKS URL configured")
	}
	ctx, cancel := context.WithTimeout(ctx, orDefault(f.Timeout, DefaultJWKSTimeout))
	defer cancel()
	req, err := httpsRequest(ctx, f.url)
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", f.url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", f.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxJWKSBytes))
		return nil, fmt.Errorf("jwks %s: status %d", f.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", f.url, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("jwks %s: response larger than %d bytes", f.url, maxJWKSBytes)
	}
	keys, err := ParseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", f.url, err)
	}
	return keys, nil
}

// jwk is the part of a JSON Web Key this package reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// ParseJWKS parses a JSON Web Key Set and returns its RS256 signing keys by
// key id. Keys of other types, uses or algorithms are skipped; a set with
// no usable key, a duplicate key id, or more than 64 keys is an error.
func ParseJWKS(data []byte) (map[string]*rsa.PublicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("parse jwks: %w", err)
	}
	if len(set.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("parse jwks: %d keys, at most %d", len(set.Keys), maxJWKSKeys)
	}
	out := make(map[string]*rsa.PublicKey, len(set.Keys))
	for i, raw := range set.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("parse jwks: key %d: %w", i, err)
		}
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "RS256") {
			continue
		}
		if !validKeyID(k.Kid) {
			return nil, fmt.Errorf("parse jwks: key %d: invalid kid", i)
		}
		if _, dup := out[k.Kid]; dup {
			return nil, fmt.Errorf("parse jwks: duplicate kid %q", k.Kid)
		}
		pub, err := rsaFromJWK(k)
		if err != nil {
			return nil, fmt.Errorf("parse jwks: key %q: %w", k.Kid, err)
		}
		out[k.Kid] = pub
	}
	if len(out) == 0 {
		return nil, errors.New("parse jwks: no RS256 signing key")
	}
	return out, nil
}

func rsaFromJWK(k jwk) (*rsa.PublicKey, error) {
	nb, err := base64.RawURLEncoding.DecodeString(k.N)
	if err != nil || len(nb) == 0 {
		return nil, errors.New("bad modulus")
	}
	eb, err := base64.RawURLEncoding.DecodeString(k.E)
	if err != nil || len(eb) == 0 || len(eb) > 4 {
		return nil, errors.New("bad exponent")
	}
	n := new(big.Int).SetBytes(nb)
	e := new(big.Int).SetBytes(eb).Int64()
	if bits := n.BitLen(); bits < minRSAKeyBits || bits > maxRSAKeyBits {
		return nil, fmt.Errorf("RSA key of %d bits", bits)
	}
	if e < minRSAPublicExponent || e%2 == 0 {
		return nil, errors.New("bad exponent")
	}
	return &rsa.PublicKey{N: n, E: int(e)}, nil
}
