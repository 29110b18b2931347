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
	"strings"
	"sync"
	"time"
)

// InstallKeys returns the RSA public key Atlassian signed an install or
// uninstall callback with, by the key id in the token header. Errors wrap
// ErrKeyFetch (key unavailable) or ErrMalformedToken (unusable kid).
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

// DefaultInstallKeyTimeout bounds one key-server request.
const DefaultInstallKeyTimeout = 5 * time.Second

const (
	maxKeyBytes    = 16 << 10 // a PEM RSA public key is under 1 KiB
	maxCachedKeys  = 256
	minRSAKeyBits  = 2048
	maxKeyIDLength = 128
)

// InstallKeyFetcher implements InstallKeys by fetching PEM public keys from
// an ordered list of key-server base URLs (<base>/<kid>), trying the next
// on any failure. Keys are immutable per kid, so successful lookups are
// cached (bounded); concurrent lookups of one kid share one fetch. The kid
// is validated before it is put in a URL.
type InstallKeyFetcher struct {
	baseURLs []string
	client   *http.Client
	// Timeout bounds each key-server request (default
	// DefaultInstallKeyTimeout). Set before first use.
	Timeout time.Duration

	mu       sync.Mutex
	cache    map[string]*rsa.PublicKey
	inflight map[string]*keyCall
}

type keyCall struct {
	done chan struct{}
	key  *rsa.PublicKey
	err  error
}

// NewInstallKeyFetcher returns a fetcher for the base URLs (in order;
// trailing slashes are ignored). A nil client means a plain http.Client;
// either way each request is bounded by Timeout.
func NewInstallKeyFetcher(baseURLs []string, client *http.Client) *InstallKeyFetcher {
	urls := make([]string, 0, len(baseURLs))
	for _, u := range baseURLs {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			urls = append(urls, u)
		}
	}
	if client == nil {
		client = &http.Client{}
	}
	return &InstallKeyFetcher{
		baseURLs: urls,
		client:   client,
		Timeout:  DefaultInstallKeyTimeout,
		cache:    map[string]*rsa.PublicKey{},
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

// PublicKey implements InstallKeys.
func (f *InstallKeyFetcher) PublicKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if !validKeyID(kid) {
		return nil, fmt.Errorf("%w: invalid kid", ErrMalformedToken)
	}
	f.mu.Lock()
	if k, ok := f.cache[kid]; ok {
		f.mu.Unlock()
		return k, nil
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
	c := &keyCall{done: make(chan struct{})}
	f.inflight[kid] = c
	f.mu.Unlock()

	// The shared fetch must not die with the first caller's context
	// cancellation, but it keeps its values and is bounded by Timeout.
	c.key, c.err = f.fetch(context.WithoutCancel(ctx), kid)

	f.mu.Lock()
	delete(f.inflight, kid)
	if c.err == nil {
		if len(f.cache) >= maxCachedKeys {
			clear(f.cache)
		}
		f.cache[kid] = c.key
	}
	f.mu.Unlock()
	close(c.done)
	return c.key, c.err
}

func (f *InstallKeyFetcher) fetch(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if len(f.baseURLs) == 0 {
		return nil, fmt.Errorf("%w: no key servers configured", ErrKeyFetch)
	}
	var errs []error
	for _, base := range f.baseURLs {
		k, err := f.fetchOne(ctx, base+"/"+kid)
		if err == nil {
			return k, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", base, err))
	}
	return nil, fmt.Errorf("%w: kid %s: %w", ErrKeyFetch, kid, errors.Join(errs...))
}

func (f *InstallKeyFetcher) fetchOne(ctx context.Context, u string) (*rsa.PublicKey, error) {
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultInstallKeyTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/x-pem-file, text/plain, */*")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
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
