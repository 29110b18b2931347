package connect

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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

// MaxLeeway is the largest clock skew tolerated on exp and iat.
const MaxLeeway = 30 * time.Second

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
	Leeway time.Duration    // clamped to [0, MaxLeeway]; zero means 0
}

type productClaims struct {
	jwt.RegisteredClaims
	QSH string `json:"qsh"`
}

// TokenFromRequest extracts the JWT from the "jwt" query parameter or from
// "Authorization: JWT <token>". A token in both places is rejected.
func TokenFromRequest(r *http.Request) (string, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil && strings.Contains(r.URL.RawQuery, "jwt=") {
		return "", fmt.Errorf("%w: %v", ErrMalformedRequest, err)
	}
	fromQuery := q["jwt"]
	if len(fromQuery) > 1 {
		return "", ErrDuplicateToken
	}
	h := r.Header.Values("Authorization")
	var fromHeader string
	for _, v := range h {
		scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
		if ok && strings.EqualFold(scheme, "JWT") {
			if fromHeader != "" {
				return "", ErrDuplicateToken
			}
			fromHeader = strings.TrimSpace(tok)
		}
	}
	switch {
	case len(fromQuery) == 1 && fromHeader != "":
		return "", ErrDuplicateToken
	case len(fromQuery) == 1:
		if fromQuery[0] == "" {
			return "", ErrNoToken
		}
		return fromQuery[0], nil
	case fromHeader != "":
		return fromHeader, nil
	}
	return "", ErrNoToken
}

// Verify authenticates r, addressed to app, under the qsh policy. On
// success it returns the verified Auth; every failure wraps one of the
// package's error values.
func (v *Verifier) Verify(r *http.Request, app App, policy QSHPolicy) (*Auth, error) {
	raw, err := TokenFromRequest(r)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	leeway := min(max(v.Leeway, 0), MaxLeeway)

	// Read iss without trusting it, to find the tenant's secret.
	var unverified productClaims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &unverified); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedToken, err)
	}
	if unverified.Issuer == "" {
		return nil, fmt.Errorf("%w: iss", ErrMissingClaim)
	}
	tenant, err := v.Store.GetTenant(r.Context(), unverified.Issuer)
	if err != nil {
		if errors.Is(err, ErrUnknownTenant) {
			return nil, err
		}
		return nil, fmt.Errorf("connect: load tenant: %w", err)
	}
	if !tenant.Installed() {
		return nil, ErrTenantUninstalled
	}
	if tenant.AppKey != "" && app.Key != "" && tenant.AppKey != app.Key {
		// A token of a tenant of the other app (e.g. the Jira app's tenant
		// calling the Confluence app's URLs).
		return nil, fmt.Errorf("%w: tenant belongs to another app", ErrUnknownTenant)
	}

	var claims productClaims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(now),
	)
	_, err = parser.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		return []byte(tenant.SharedSecret.Reveal()), nil
	})
	if err != nil {
		return nil, classifyJWTError(err)
	}
	if claims.Issuer != tenant.ClientKey {
		return nil, ErrIssuerMismatch
	}
	if claims.IssuedAt == nil {
		return nil, fmt.Errorf("%w: iat", ErrMissingClaim)
	}
	if claims.QSH == "" {
		return nil, fmt.Errorf("%w: qsh", ErrMissingClaim)
	}
	switch policy {
	case QSHContext:
		if claims.QSH != ContextQSH {
			return nil, ErrComputedTokenOnAPI
		}
	default:
		if claims.QSH == ContextQSH {
			return nil, ErrContextTokenOnPage
		}
		base, err := url.Parse(app.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("connect: app baseUrl: %w", err)
		}
		want, err := QueryStringHash(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, base.EscapedPath())
		if err != nil {
			return nil, err
		}
		if !hmac.Equal([]byte(want), []byte(claims.QSH)) {
			return nil, ErrQSHMismatch
		}
	}
	return &Auth{ClientKey: tenant.ClientKey, AccountID: claims.Subject, Tenant: tenant, App: app}, nil
}

func classifyJWTError(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fmt.Errorf("%w: %v", ErrMalformedToken, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && strings.Contains(err.Error(), "signing method"):
		return ErrBadAlgorithm
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return ErrBadAlgorithm
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrBadSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued), errors.Is(err, jwt.ErrTokenNotValidYet):
		return ErrIssuedInFuture
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fmt.Errorf("%w: exp", ErrMissingClaim)
	}
	return fmt.Errorf("%w: %v", ErrMalformedToken, err)
}
