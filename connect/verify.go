package connect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// QSHPolicy says which qsh claim an endpoint accepts.
type QSHPolicy int

const (
	// QSHComputed: the qsh must equal the hash of this request. For pages,
	// dialogs, webhooks and the enabled/disabled lifecycle callbacks.
	QSHComputed QSHPolicy = iota
	// QSHContext: the qsh must be exactly "context-qsh". For JSON APIs the
	// app's own browser code calls with AP.context.getToken() tokens.
	QSHContext
)

// MaxLeeway is the largest clock skew tolerated on exp, iat and nbf.
const MaxLeeway = 30 * time.Second

// DefaultLeeway is the clock skew tolerated when none is configured.
// Product clocks may run ahead of ours, so a small leeway on iat is needed.
const DefaultLeeway = 10 * time.Second

// Auth is the verified identity of a request from the product.
type Auth struct {
	ClientKey string  // tenant (token iss)
	AccountID string  // acting user (token sub); may be empty
	Tenant    *Tenant // the installed tenant
	App       App     // the app the request was addressed to
}

type authKey struct{}

// WithAuth returns a context carrying a.
func WithAuth(ctx context.Context, a *Auth) context.Context {
	return context.WithValue(ctx, authKey{}, a)
}

// AuthFrom returns the Auth stored by WithAuth.
func AuthFrom(ctx context.Context) (*Auth, bool) {
	a, ok := ctx.Value(authKey{}).(*Auth)
	return a, ok && a != nil
}

// Verifier verifies symmetric (HS256) JWTs that the product sends with page
// loads, webhooks, enabled/disabled callbacks and browser API calls.
type Verifier struct {
	Store  TenantStore
	Now    func() time.Time // nil: time.Now
	Leeway time.Duration    // 0: DefaultLeeway; negative: none; at most MaxLeeway

	macs macPools // keyed HMAC states of the tenants' secrets
}

// TokenFromRequest extracts the JWT from the "jwt" query parameter or from
// "Authorization: JWT <token>". Page loads carry it in the query, webhooks,
// lifecycle callbacks and browser API calls in the header. A token given
// more than once (two "jwt" parameters, two JWT Authorization headers, or
// query and header together) is rejected with ErrDuplicateToken, so two
// layers can never disagree about which token was verified. Tokens in a
// request body are never read.
//
// The query is split on "&" only, like the Java servlet parsing the qsh is
// defined by: "a=1;jwt=x" is one parameter "a", not a token.
func TokenFromRequest(r *http.Request) (string, error) {
	tok, _, err := tokenAndSource(r)
	return tok, err
}

// tokenAndSource is TokenFromRequest that also tells whether the token
// came from the query.
func tokenAndSource(r *http.Request) (string, bool, error) {
	var (
		fromQuery string
		inQuery   bool
	)
	rawQuery := r.URL.RawQuery
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		rawName, rawValue, _ := strings.Cut(pair, "=")
		if !mayBeJWTName(rawName) {
			continue
		}
		name, err := queryUnescape(rawName)
		if err != nil || name != "jwt" {
			continue
		}
		if inQuery {
			return "", false, ErrDuplicateToken
		}
		v, err := queryUnescape(rawValue)
		if err != nil {
			return "", false, fmt.Errorf("%w: bad jwt escape", ErrMalformedRequest)
		}
		fromQuery, inQuery = v, true
	}
	var (
		fromHeader string
		inHeader   bool
	)
	for _, v := range r.Header.Values("Authorization") {
		scheme, tok, _ := strings.Cut(strings.TrimSpace(v), " ")
		if !strings.EqualFold(scheme, "JWT") {
			continue
		}
		if inHeader {
			return "", false, ErrDuplicateToken
		}
		fromHeader, inHeader = strings.TrimSpace(tok), true
	}
	switch {
	case inQuery && inHeader:
		return "", false, ErrDuplicateToken
	case inQuery && fromQuery != "":
		return fromQuery, true, nil
	case inHeader && fromHeader != "":
		return fromHeader, false, nil
	}
	return "", false, ErrNoToken
}

// mayBeJWTName is a cheap pre-filter: an escaped name that decodes to "jwt"
// is "jwt" itself or contains a percent escape.
func mayBeJWTName(raw string) bool {
	return raw == "jwt" || strings.IndexByte(raw, '%') >= 0
}

// Verify authenticates r, addressed to app, under the qsh policy. On
// success it returns the verified Auth; every failure wraps one of the
// package's error values.
//
// Under QSHContext (the JSON APIs) the token must come in the
// Authorization header: one in the jwt query parameter is ErrNoToken.
//
// Order of checks: token extraction (single source), decoding, algorithm
// pinned to HS256, iss present, tenant lookup by iss, constant-time HMAC
// with the tenant's shared secret, then (only for authenticated tokens)
// installed state, app, exp/iat/nbf with at most MaxLeeway, and the qsh
// policy. Nothing about a tenant is revealed before the signature checks.
func (v *Verifier) Verify(r *http.Request, app App, policy QSHPolicy) (*Auth, error) {
	raw, inQuery, err := tokenAndSource(r)
	if err != nil {
		return nil, err
	}
	if inQuery && policy == QSHContext {
		// The app's own API calls send context tokens in the header. A
		// token in a URL ends up in logs, browser history and Referer
		// headers, and a link carrying one would act as the user.
		return nil, fmt.Errorf("%w: context tokens are accepted in the Authorization header only", ErrNoToken)
	}
	tok, err := parseToken(raw)
	if err != nil {
		return nil, err
	}
	if tok.header.Alg != jwt.SigningMethodHS256.Alg() {
		return nil, fmt.Errorf("%w: %q", ErrBadAlgorithm, tok.header.Alg)
	}
	if tok.claims.Issuer == "" {
		return nil, fmt.Errorf("%w: iss", ErrMissingClaim)
	}
	if v.Store == nil {
		return nil, errors.New("connect: verifier has no tenant store")
	}
	tenant, err := v.Store.GetTenant(r.Context(), tok.claims.Issuer)
	if err != nil {
		if errors.Is(err, ErrUnknownTenant) {
			return nil, err
		}
		return nil, fmt.Errorf("connect: load tenant: %w", err)
	}
	if err := tok.verifyHS256(tenant.SharedSecret, &v.macs); err != nil {
		return nil, err
	}
	if tenant.ClientKey != tok.claims.Issuer {
		return nil, ErrIssuerMismatch
	}
	if !tenant.Installed() {
		return nil, ErrTenantUninstalled
	}
	if tenant.AppKey != "" && app.Key != "" && tenant.AppKey != app.Key {
		// A tenant of the other app (e.g. the Jira app's tenant calling
		// the Confluence app's URLs).
		return nil, fmt.Errorf("%w: tenant belongs to another app", ErrUnknownTenant)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if err := tok.claims.checkTimes(now(), effectiveLeeway(v.Leeway)); err != nil {
		return nil, err
	}
	if err := checkQSH(r, app, tok.claims.QSH, policy); err != nil {
		return nil, err
	}
	return &Auth{ClientKey: tenant.ClientKey, AccountID: tok.claims.Subject, Tenant: tenant, App: app}, nil
}

// checkQSH applies the qsh policy to a verified token.
func checkQSH(r *http.Request, app App, qsh string, policy QSHPolicy) error {
	if qsh == "" {
		return fmt.Errorf("%w: qsh", ErrMissingClaim)
	}
	switch policy {
	case QSHContext:
		if qsh != ContextQSH {
			return ErrComputedTokenOnAPI
		}
		return nil
	case QSHComputed:
		if qsh == ContextQSH {
			return ErrContextTokenOnPage
		}
		basePath, err := baseURLPath(app.BaseURL)
		if err != nil {
			return err
		}
		ok, err := qshMatches(qsh, r.Method, r.URL.EscapedPath(), r.URL.RawQuery, basePath)
		if err != nil {
			return err
		}
		if !ok {
			return ErrQSHMismatch
		}
		return nil
	}
	return fmt.Errorf("connect: unknown qsh policy %d", policy)
}

// baseURLPath returns the escaped path of an absolute base URL without a
// trailing slash ("" for a host-only URL).
func baseURLPath(baseURL string) (string, error) {
	_, afterScheme, ok := strings.Cut(baseURL, "://")
	if !ok || afterScheme == "" {
		return "", fmt.Errorf("connect: app baseUrl %q is not absolute", baseURL)
	}
	i := strings.IndexByte(afterScheme, '/')
	if i < 0 {
		return "", nil
	}
	p := afterScheme[i:]
	if strings.ContainsAny(p, "?#") {
		return "", fmt.Errorf("connect: app baseUrl %q has a query or fragment", baseURL)
	}
	return strings.TrimSuffix(p, "/"), nil
}
