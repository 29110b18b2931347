package connect

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// OutgoingTokenTTL is the lifetime of tokens the app signs for its own calls
// to the product (ACE uses three minutes).
const OutgoingTokenTTL = 3 * time.Minute

// SignRequest adds "Authorization: JWT <token>" to req, a request from the
// app to the tenant's product REST API: HS256 with the tenant's shared
// secret, iss = appKey, qsh computed relative to the tenant baseUrl (so the
// Confluence context path /wiki is excluded), exp = now + OutgoingTokenTTL.
func SignRequest(req *http.Request, t *Tenant, appKey string, now time.Time) error {
	if t == nil || t.SharedSecret == "" {
		return fmt.Errorf("%w: no shared secret", ErrUnknownTenant)
	}
	base, err := url.Parse(t.BaseURL)
	if err != nil {
		return fmt.Errorf("connect: tenant baseUrl: %w", err)
	}
	if !sameOrigin(base, req.URL) {
		return fmt.Errorf("connect: refusing to sign a request to %s for tenant %s", req.URL.Host, base.Host)
	}
	return sign(req, t, appKey, base.EscapedPath(), now)
}

// SignAppRequest adds "Authorization: JWT <token>" to req, a request from
// the app, in the name of one installation, to an Atlassian platform API
// for apps that is not on the tenant's site (the personal data reporting
// API, POST https://api.atlassian.com/app/report-accounts/): the same
// token as SignRequest, HS256 with the installation's shared secret and
// iss = appKey, with the qsh of the request's own path (no context path).
//
// Atlassian documents only that Connect apps call that API "using JWTs";
// the token's form is an inference from how every other Connect call is
// signed. The caller decides which hosts may receive it.
func SignAppRequest(req *http.Request, t *Tenant, appKey string, now time.Time) error {
	if t == nil || t.SharedSecret == "" {
		return fmt.Errorf("%w: no shared secret", ErrUnknownTenant)
	}
	return sign(req, t, appKey, "", now)
}

// sign signs req with the tenant's shared secret, the qsh computed
// relative to contextPath.
func sign(req *http.Request, t *Tenant, appKey, contextPath string, now time.Time) error {
	qsh, err := QueryStringHashURL(req.Method, req.URL, contextPath)
	if err != nil {
		return err
	}
	claims := jwt.MapClaims{
		"iss": appKey,
		"iat": now.Unix(),
		"exp": now.Add(OutgoingTokenTTL).Unix(),
		"qsh": qsh,
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(t.SharedSecret.Reveal()))
	if err != nil {
		return fmt.Errorf("connect: sign: %w", err)
	}
	req.Header.Set("Authorization", "JWT "+tok)
	return nil
}

// sameOrigin compares scheme, host and port; a default port equals none.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// Transport is an http.RoundTripper that signs every request to one tenant
// with SignRequest. It clones requests before changing them, drops bodies
// on GET and HEAD, and refuses requests to any other origin.
type Transport struct {
	Tenant *Tenant
	AppKey string
	Base   http.RoundTripper // nil: http.DefaultTransport
	Now    func() time.Time  // nil: time.Now
}

// RoundTrip implements http.RoundTripper.
func (tr *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	now := time.Now
	if tr.Now != nil {
		now = tr.Now
	}
	r := req.Clone(req.Context())
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		r.Body, r.GetBody, r.ContentLength = nil, nil, 0
		r.Header.Del("Content-Length")
	}
	if err := SignRequest(r, tr.Tenant, tr.AppKey, now()); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	base := tr.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// ErrRedirect is returned when the product answers a signed request with a
// redirect: a signed client never follows redirects, so a token is never
// sent to another host or re-sent with a qsh for a different path.
var ErrRedirect = errors.New("connect: redirect not followed")

// NewClient returns an http.Client that signs requests to the tenant and
// never follows redirects. base may be nil.
func NewClient(t *Tenant, appKey string, base http.RoundTripper, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: &Transport{Tenant: t, AppKey: appKey, Base: base},
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			return fmt.Errorf("%w: to %s", ErrRedirect, req.URL.Redacted())
		},
	}
}
