package connect

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// InstallKeys returns the RSA public key Atlassian signed an install or
// uninstall callback with, by the key id in the token header. Errors wrap
// ErrUnknownKey (no key server knows the kid: a forged token),
// ErrKeyFetch (the key could not be fetched: try again later) or
// ErrMalformedToken (unusable kid).
type InstallKeys interface {
	PublicKey(ctx context.Context, kid string) (*rsa.PublicKey, error)
}

// DefaultInstallKeyURLs returns Atlassian's install-key CDN base URLs for
// commercial cloud, in the order to try them: the ASAP distribution CDN
// first, then the documented connect-install-keys host. A key is fetched
// as <base>/<kid>. FedRAMP and staging sites use other CDNs; configure
// those explicitly.
func DefaultInstallKeyURLs() []string {
	return []string{
		"https://asap-distribution.us-west-2.prod.atl-asap.net",
		"https://connect-install-keys.atlassian.com",
	}
}

// Install-key fetch defaults.
const (
	// DefaultInstallKeyTimeout bounds one key-server request.
	DefaultInstallKeyTimeout = 5 * time.Second
	// DefaultUnknownKeyTTL is how long a kid every key server denied is
	// answered from memory.
	DefaultUnknownKeyTTL = 5 * time.Minute
	// DefaultMaxKeyFetches bounds the key lookups in flight at once.
	DefaultMaxKeyFetches = 4
)

const (
	maxKeyBytes     = 16 << 10 // a PEM RSA public key is under 1 KiB
	maxCachedKeys   = 256
	maxUnknownKeys  = 4096
	minRSAKeyBits   = 2048
	maxKeyIDLength  = 128
	keyIDCharacters = "A-Z a-z 0-9 . _ -"
)

// InstallKeyFetcher implements InstallKeys by fetching PEM public keys from
// an ordered list of key-server base URLs (<base>/<kid>), trying the next
// when one does not answer with the key.
//
// A kid is unknown (ErrUnknownKey, which the HTTP layer answers 401) only
// when every key server says the key does not exist: 404, 403 (what a CDN
// answers for a missing object) or 410. A network error, a timeout, a 5xx
// or any other answer from one of them makes the lookup unavailable
// (ErrKeyFetch, 503): the key may exist, so the product should retry.
//
// Keys are immutable per kid, so found keys are cached (bounded); unknown
// kids are remembered for UnknownKeyTTL, concurrent lookups of one kid share
// one fetch, and at most MaxFetches lookups are in flight: a lookup of yet
// another kid is refused at once as unavailable rather than queued. So a
// flood of tokens with invented kids costs at most MaxFetches requests per
// key server at a time, and nothing for a kid seen recently. The kid is
// validated before it is put in a URL.
type InstallKeyFetcher struct {
	baseURLs []string
	client   *http.Client
	// Timeout bounds each key-server request (default
	// DefaultInstallKeyTimeout). Set the fields before first use.
	Timeout time.Duration
	// UnknownKeyTTL is how long a kid every key server denied is answered
	// from memory (default DefaultUnknownKeyTTL).
	UnknownKeyTTL time.Duration
	// MaxFetches bounds the lookups in flight (default
	// DefaultMaxKeyFetches).
	MaxFetches int
	// Now is the clock of the unknown-kid memory (nil: time.Now).
	Now func() time.Time

	mu       sync.Mutex
	cache    map[string]*rsa.PublicKey
	unknown  map[string]time.Time // kid -> until
	inflight map[string]*keyCall
}

type keyCall struct {
	done chan struct{}
	key  *rsa.PublicKey
	err  error
}

// NewInstallKeyFetcher returns a fetcher for the base URLs (in order;
// trailing slashes are ignored). A nil client means a plain http.Client;
// either way each request is bounded by Timeout, follows no redirect, and
// only https URLs are fetched (a key fetched over plain http could be
// anyone's): there is no switch to allow http, tests serve https.
func NewInstallKeyFetcher(baseURLs []string, client *http.Client) *InstallKeyFetcher {
	urls := make([]string, 0, len(baseURLs))
	for _, u := range baseURLs {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			urls = append(urls, u)
		}
	}
	return &InstallKeyFetcher{
		baseURLs: urls,
		client:   keyClient(client),
		Timeout:  DefaultInstallKeyTimeout,
		cache:    map[string]*rsa.PublicKey{},
		unknown:  map[string]time.Time{},
		inflight: map[string]*keyCall{},
	}
}

// validKeyID reports whether kid is safe to put into a URL path: 1-128
// characters from [A-Za-z0-9._-], not starting with a dot (no "..", no
// "/", no "%", no query or fragment).
func validKeyID(kid string) bool {
	if kid == "" || len(kid) > maxKeyIDLength || kid[0] == '.' {
		return false
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

func (f *InstallKeyFetcher) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// PublicKey implements InstallKeys.
func (f *InstallKeyFetcher) PublicKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if !validKeyID(kid) {
		return nil, fmt.Errorf("%w: invalid kid (1-%d characters of %s)", ErrMalformedToken, maxKeyIDLength, keyIDCharacters)
	}
	f.mu.Lock()
	if k, ok := f.cache[kid]; ok {
		f.mu.Unlock()
		return k, nil
	}
	if until, ok := f.unknown[kid]; ok {
		if f.now().Before(until) {
			f.mu.Unlock()
			return nil, fmt.Errorf("%w: kid %s (remembered)", ErrUnknownKey, kid)
		}
		delete(f.unknown, kid)
	}
	if c, ok := f.inflight[kid]; ok {
		f.mu.Unlock()
		select {
		case <-c.done:
			return c.key, c.err
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrKeyFetch, ctx.Err())
		}
	}
	if len(f.inflight) >= orDefaultInt(f.MaxFetches, DefaultMaxKeyFetches) {
		f.mu.Unlock()
		return nil, fmt.Errorf("%w: too many key lookups in flight", ErrKeyFetch)
	}
	c := &keyCall{done: make(chan struct{})}
	f.inflight[kid] = c
	f.mu.Unlock()

	// The shared fetch must not die with the first caller's context
	// cancellation, but it keeps its values and is bounded by Timeout.
	c.key, c.err = f.fetch(context.WithoutCancel(ctx), kid)

	f.mu.Lock()
	delete(f.inflight, kid)
	switch {
	case c.err == nil:
		if len(f.cache) >= maxCachedKeys {
			clear(f.cache)
		}
		f.cache[kid] = c.key
	case errors.Is(c.err, ErrUnknownKey):
		f.rememberUnknown(kid)
	}
	f.mu.Unlock()
	close(c.done)
	return c.key, c.err
}

// rememberUnknown records that no key server knows kid; f.mu is held.
// The memory is bounded: expired entries go first, then everything.
func (f *InstallKeyFetcher) rememberUnknown(kid string) {
	now := f.now()
	if len(f.unknown) >= maxUnknownKeys {
		for k, until := range f.unknown {
			if !now.Before(until) {
				delete(f.unknown, k)
			}
		}
		if len(f.unknown) >= maxUnknownKeys {
			clear(f.unknown)
		}
	}
	f.unknown[kid] = now.Add(orDefault(f.UnknownKeyTTL, DefaultUnknownKeyTTL))
}

func orDefaultInt(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// errKeyNotFound is a key server's answer that the key does not exist.
var errKeyNotFound = errors.New("key not found")

func (f *InstallKeyFetcher) fetch(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if len(f.baseURLs) == 0 {
		return nil, fmt.Errorf("%w: no key servers configured", ErrKeyFetch)
	}
	var errs []error
	allNotFound := true
	for _, base := range f.baseURLs {
		k, err := f.fetchOne(ctx, base+"/"+kid)
		if err == nil {
			return k, nil
		}
		allNotFound = allNotFound && errors.Is(err, errKeyNotFound)
		errs = append(errs, fmt.Errorf("%s: %w", base, err))
	}
	if allNotFound {
		return nil, fmt.Errorf("%w: kid %s: %w", ErrUnknownKey, kid, errors.Join(errs...))
	}
	return nil, fmt.Errorf("%w: kid %s: %w", ErrKeyFetch, kid, errors.Join(errs...))
}

func (f *InstallKeyFetcher) fetchOne(ctx context.Context, u string) (*rsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, orDefault(f.Timeout, DefaultInstallKeyTimeout))
	defer cancel()
	req, err := httpsRequest(ctx, u)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/x-pem-file, text/plain, */*")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusForbidden, http.StatusGone:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxKeyBytes))
		return nil, fmt.Errorf("%w (status %d)", errKeyNotFound, resp.StatusCode)
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxKeyBytes))
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxKeyBytes {
		return nil, errors.New("key response too large")
	}
	return ParseRSAPublicKeyPEM(body)
}

// keyClient returns a copy of client (nil: a plain one) that follows no
// redirect: a key server answers the key itself, and a redirect would let
// whoever controls the redirect target choose the key. The 3xx answer is
// then an unusable status, like any other.
func keyClient(client *http.Client) *http.Client {
	c := &http.Client{}
	if client != nil {
		cp := *client
		c = &cp
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// httpsRequest builds the GET of a key or key set, refusing anything but
// an absolute https URL.
func httpsRequest(ctx context.Context, rawURL string) (*http.Request, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("key URL is not an https URL")
	}
	return http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
}

// ParseRSAPublicKeyPEM parses a PEM "PUBLIC KEY" (PKIX) or "RSA PUBLIC
// KEY" (PKCS #1) block holding an RSA key of at least 2048 bits.
func ParseRSAPublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key *rsa.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("public key is not RSA")
		}
		key = rk
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		key = k
	default:
		return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
	}
	if key.N.BitLen() < minRSAKeyBits {
		return nil, fmt.Errorf("RSA key too small: %d bits", key.N.BitLen())
	}
	return key, nil
}
