package connect

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultMaxBodyBytes bounds lifecycle request bodies (install payloads are
// about 1 KiB).
const DefaultMaxBodyBytes int64 = 64 << 10

// DefaultAllowedHosts returns the host patterns of Atlassian cloud sites a
// tenant baseUrl may point to: commercial, legacy, staging and FedRAMP.
func DefaultAllowedHosts() []string {
	return []string{"*.atlassian.net", "*.jira.com", "*.jira-dev.com", "*.atlassian-us-gov-mod.net"}
}

// HostAllowed reports whether host (a hostname, optionally with a port,
// which is ignored) matches one of the patterns. A pattern is either an
// exact hostname or "*.suffix", which matches any hostname with at least
// one more label in front of suffix (not suffix itself). Comparison is
// case-insensitive; a trailing dot on host is ignored.
func HostAllowed(host string, patterns []string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" {
		return false
	}
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if suffix, ok := strings.CutPrefix(p, "*."); ok {
			if suffix == "" {
				continue
			}
			label, found := strings.CutSuffix(host, "."+suffix)
			if found && label != "" && !strings.HasSuffix(label, ".") {
				return true
			}
			continue
		}
		if p != "" && host == p {
			return true
		}
	}
	return false
}

// Lifecycle verifies and applies the four Connect lifecycle callbacks.
//
// installed and uninstalled are "signed installs": RS256 tokens signed by
// Atlassian, verified with the key named by the header kid (fetched through
// Keys), with aud equal to the app's baseUrl, a computed qsh, exp/iat, and
// iss equal to the body clientKey. enabled and disabled are ordinary HS256
// tokens signed with the tenant's current shared secret, verified by
// Verifier with a computed qsh.
//
// Each method returns nil only when the request is authentic and the store
// was updated; every rejection wraps one of the package's errors.
type Lifecycle struct {
	Store        TenantStore
	Keys         InstallKeys
	Verifier     *Verifier        // for enabled/disabled; nil: a Verifier over Store with Now
	AllowedHosts []string         // tenant baseUrl host patterns; nil: DefaultAllowedHosts()
	Now          func() time.Time // nil: time.Now
	MaxBodyBytes int64            // 0: DefaultMaxBodyBytes
	// Leeway tolerated on exp/iat/nbf of signed installs: 0 means
	// DefaultLeeway, negative none; at most MaxLeeway.
	Leeway time.Duration
	// OnUninstalled, when set, is called after a verified "uninstalled"
	// was recorded, with the tenant's client key: the app erases what it
	// keeps for the tenant and stops its work. An error makes Uninstalled
	// fail (the product may send the callback again; the hook must be
	// idempotent).
	OnUninstalled func(ctx context.Context, clientKey string) error
}

// installPayload is the part of the lifecycle body this package reads.
// The rest of the body is kept in Tenant.Payload, without the shared
// secret (ScrubInstallPayload).
type installPayload struct {
	Key            string `json:"key"`
	ClientKey      string `json:"clientKey"`
	SharedSecret   string `json:"sharedSecret"`
	BaseURL        string `json:"baseUrl"`
	DisplayURL     string `json:"displayUrl"`
	ProductType    string `json:"productType"`
	EventType      string `json:"eventType"`
	InstallationID string `json:"installationId"`
	CloudID        string `json:"cloudId"`
}

const (
	minSharedSecretLen = 16
	maxSharedSecretLen = 1024
	maxClientKeyLen    = 256
)

func (l *Lifecycle) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Lifecycle) verifier() *Verifier {
	if l.Verifier != nil {
		return l.Verifier
	}
	return &Verifier{Store: l.Store, Now: l.Now, Leeway: l.Leeway}
}

// Installed verifies a signed "installed" callback and saves the tenant
// (insert, or replace on re-install: the new shared secret wins and an
// uninstalled tenant is revived). The caller answers 204 No Content.
func (l *Lifecycle) Installed(r *http.Request, app App) (*Tenant, error) {
	_, p, body, err := l.verifySigned(r, app, "installed")
	if err != nil {
		return nil, err
	}
	if n := len(p.SharedSecret); n < minSharedSecretLen || n > maxSharedSecretLen {
		return nil, fmt.Errorf("%w: sharedSecret missing or of unusable length", ErrBadPayload)
	}
	if err := l.checkTenantURL(p.BaseURL, true); err != nil {
		return nil, err
	}
	if p.DisplayURL != "" {
		if err := l.checkTenantURL(p.DisplayURL, false); err != nil {
			return nil, fmt.Errorf("%w: displayUrl", err)
		}
	}
	kept, err := ScrubInstallPayload(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPayload, err)
	}
	product := Product(p.ProductType)
	if product == "" {
		product = app.Product
	}
	t := &Tenant{
		ClientKey:      p.ClientKey,
		AppKey:         p.Key,
		ProductType:    product,
		BaseURL:        strings.TrimSuffix(p.BaseURL, "/"),
		DisplayURL:     strings.TrimSuffix(p.DisplayURL, "/"),
		SharedSecret:   Secret(p.SharedSecret),
		InstallationID: p.InstallationID,
		CloudID:        p.CloudID,
		Payload:        kept,
		Enabled:        true, // apps registered on Forge get no "enabled" event
		InstalledAt:    l.now(),
	}
	if err := l.Store.SaveTenant(r.Context(), t); err != nil {
		return nil, fmt.Errorf("connect: save tenant: %w", err)
	}
	return t, nil
}

// Uninstalled verifies a signed "uninstalled" callback, marks the tenant
// uninstalled (its shared secret forgotten: from then on no token of the
// tenant verifies until a new signed install) and calls OnUninstalled.
func (l *Lifecycle) Uninstalled(r *http.Request, app App) error {
	_, p, _, err := l.verifySigned(r, app, "uninstalled")
	if err != nil {
		return err
	}
	t, err := l.Store.GetTenant(r.Context(), p.ClientKey)
	if err != nil {
		if errors.Is(err, ErrUnknownTenant) {
			return err
		}
		return fmt.Errorf("connect: load tenant: %w", err)
	}
	if t.AppKey != "" && app.Key != "" && t.AppKey != app.Key {
		return fmt.Errorf("%w: tenant belongs to another app", ErrUnknownTenant)
	}
	if err := l.Store.MarkUninstalled(r.Context(), p.ClientKey, l.now()); err != nil {
		return fmt.Errorf("connect: mark uninstalled: %w", err)
	}
	if l.OnUninstalled != nil {
		if err := l.OnUninstalled(r.Context(), p.ClientKey); err != nil {
			return fmt.Errorf("connect: after uninstall of %s: %w", p.ClientKey, err)
		}
	}
	return nil
}

// Enabled verifies an "enabled" callback (HS256, computed qsh) and records
// it. An uninstalled tenant stays uninstalled (ErrTenantUninstalled).
func (l *Lifecycle) Enabled(r *http.Request, app App) error { return l.setEnabled(r, app, true) }

// Disabled verifies a "disabled" callback (HS256, computed qsh) and records
// it. It is safe against a concurrent "uninstalled": uninstalled wins.
func (l *Lifecycle) Disabled(r *http.Request, app App) error { return l.setEnabled(r, app, false) }

func (l *Lifecycle) setEnabled(r *http.Request, app App, enabled bool) error {
	if err := l.checkContentLength(r); err != nil {
		return err
	}
	auth, err := l.verifier().Verify(r, app, QSHComputed)
	if err != nil {
		return err
	}
	body, err := l.readBody(r)
	if err != nil {
		return err
	}
	event := "disabled"
	if enabled {
		event = "enabled"
	}
	if len(bytes.TrimSpace(body)) > 0 {
		var p installPayload
		if err := json.Unmarshal(body, &p); err != nil {
			return fmt.Errorf("%w: %w", ErrBadPayload, err)
		}
		if p.EventType != "" && p.EventType != event {
			return fmt.Errorf("%w: eventType %q on the %s callback", ErrBadPayload, p.EventType, event)
		}
		if p.ClientKey != "" && p.ClientKey != auth.ClientKey {
			return ErrIssuerMismatch
		}
	}
	if err := l.Store.SetEnabled(r.Context(), auth.ClientKey, enabled); err != nil {
		if errors.Is(err, ErrTenantUninstalled) || errors.Is(err, ErrUnknownTenant) {
			return err
		}
		return fmt.Errorf("connect: set enabled: %w", err)
	}
	return nil
}

// verifySigned authenticates a signed-install request and returns its
// claims, its decoded payload and its body.
//
// Everything that costs nothing is checked before the key is fetched: the
// algorithm (RS256 only), the kid's form, iss, exp/iat, aud, qsh, and the
// body's clientKey against iss. So a token that could never pass causes no
// request to the key servers, and only a token that is right in every
// other respect costs a key lookup (InstallKeys bounds and caches those).
func (l *Lifecycle) verifySigned(r *http.Request, app App, event string) (*tokenClaims, *installPayload, []byte, error) {
	if l.Store == nil || l.Keys == nil {
		return nil, nil, nil, errors.New("connect: lifecycle needs Store and Keys")
	}
	if err := l.checkContentLength(r); err != nil {
		return nil, nil, nil, err
	}
	raw, err := TokenFromRequest(r)
	if err != nil {
		return nil, nil, nil, err
	}
	tok, err := parseToken(raw)
	if err != nil {
		return nil, nil, nil, err
	}
	// RS256 only: HS256 here would be the classic key-confusion attack
	// (the "secret" would be a public key or attacker-chosen).
	if tok.header.Alg != jwt.SigningMethodRS256.Alg() {
		return nil, nil, nil, fmt.Errorf("%w: %q on a signed install", ErrBadAlgorithm, tok.header.Alg)
	}
	if !validKeyID(tok.header.Kid) {
		return nil, nil, nil, fmt.Errorf("%w: missing or invalid kid", ErrMalformedToken)
	}
	c := &tok.claims
	if c.Issuer == "" {
		return nil, nil, nil, fmt.Errorf("%w: iss", ErrMissingClaim)
	}
	if err := c.checkTimes(l.now(), effectiveLeeway(l.Leeway)); err != nil {
		return nil, nil, nil, err
	}
	if !audienceMatches(c.Audience, app.BaseURL) {
		return nil, nil, nil, ErrAudienceMismatch
	}
	if err := checkQSH(r, app, c.QSH, QSHComputed); err != nil {
		return nil, nil, nil, err
	}
	body, err := l.readBody(r)
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := decodePayload(body, app, event)
	if err != nil {
		return nil, nil, nil, err
	}
	if !hmac.Equal([]byte(p.ClientKey), []byte(c.Issuer)) {
		return nil, nil, nil, ErrIssuerMismatch
	}
	key, err := l.Keys.PublicKey(r.Context(), tok.header.Kid)
	if err != nil {
		if errors.Is(err, ErrKeyFetch) || errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrMalformedToken) {
			return nil, nil, nil, err
		}
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrKeyFetch, err)
	}
	if err := jwt.SigningMethodRS256.Verify(tok.signingInput, tok.signature, key); err != nil {
		return nil, nil, nil, ErrBadSignature
	}
	return c, p, body, nil
}

// audienceMatches reports whether one aud value equals baseURL, tolerating
// one trailing slash on either side.
func audienceMatches(aud []string, baseURL string) bool {
	want := strings.TrimSuffix(baseURL, "/")
	if want == "" {
		return false
	}
	for _, a := range aud {
		if strings.TrimSuffix(a, "/") == want {
			return true
		}
	}
	return false
}

func (l *Lifecycle) maxBody() int64 {
	if l.MaxBodyBytes > 0 {
		return l.MaxBodyBytes
	}
	return DefaultMaxBodyBytes
}

func (l *Lifecycle) checkContentLength(r *http.Request) error {
	if r.ContentLength > l.maxBody() {
		return ErrBodyTooLarge
	}
	return nil
}

func (l *Lifecycle) readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	limit := l.maxBody()
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, ErrBodyTooLarge
		}
		return nil, fmt.Errorf("%w: read body: %w", ErrMalformedRequest, err)
	}
	if int64(len(body)) > limit {
		return nil, ErrBodyTooLarge
	}
	return body, nil
}

// decodePayload parses and checks the fields common to installed and
// uninstalled payloads.
func decodePayload(body []byte, app App, event string) (*installPayload, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrBadPayload)
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("%w: not JSON", ErrBadPayload)
	}
	var p installPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPayload, err)
	}
	if p.EventType != "" && p.EventType != event {
		return nil, fmt.Errorf("%w: eventType %q on the %s callback", ErrBadPayload, p.EventType, event)
	}
	if p.ClientKey == "" || len(p.ClientKey) > maxClientKeyLen || !printable(p.ClientKey) {
		return nil, fmt.Errorf("%w: clientKey missing or invalid", ErrBadPayload)
	}
	if app.Key != "" && p.Key != app.Key {
		return nil, fmt.Errorf("%w: key is not this app's key", ErrBadPayload)
	}
	if p.ProductType != "" && app.Product != "" && Product(p.ProductType) != app.Product {
		return nil, fmt.Errorf("%w: productType %q for the %s app", ErrBadPayload, p.ProductType, app.Product)
	}
	return &p, nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// checkTenantURL validates a tenant URL from an install payload: absolute,
// https (http only for loopback hosts, for local fakes), no credentials,
// query or fragment, and — for the API baseUrl — a host on the allow-list.
func (l *Lifecycle) checkTenantURL(raw string, mustBeAllowed bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%w: baseUrl is not an absolute URL", ErrBadPayload)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: baseUrl has credentials, query or fragment", ErrBadPayload)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("%w: baseUrl must be https", ErrBadPayload)
		}
	default:
		return fmt.Errorf("%w: baseUrl must be https", ErrBadPayload)
	}
	if !mustBeAllowed {
		return nil
	}
	patterns := l.AllowedHosts
	if patterns == nil {
		patterns = DefaultAllowedHosts()
	}
	if !HostAllowed(u.Host, patterns) {
		return ErrHostNotAllowed
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
