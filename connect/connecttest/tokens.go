package connecttest

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/usercleanup/connect"
)

// PageToken mints the HS256 token a product sends with a page load,
// webhook or enabled/disabled callback addressed to app: iss = the tenant's
// clientKey, sub = accountID (omitted when empty), qsh computed for method
// and rawURL relative to app.BaseURL, iat = now, exp = now + ttl. Append it
// as ?jwt= or send it as "Authorization: JWT <token>".
func PageToken(t *connect.Tenant, app connect.App, method, rawURL, accountID string, now time.Time, ttl time.Duration) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("connecttest: parse url: %w", err)
	}
	base, err := url.Parse(app.BaseURL)
	if err != nil {
		return "", fmt.Errorf("connecttest: parse app baseUrl: %w", err)
	}
	qsh, err := connect.QueryStringHashURL(method, u, base.EscapedPath())
	if err != nil {
		return "", err
	}
	return SignHS256(t, productClaims(t, accountID, qsh, now, ttl))
}

// ContextToken mints a context token as AP.context.getToken() returns it:
// like PageToken but with qsh "context-qsh".
func ContextToken(t *connect.Tenant, accountID string, now time.Time, ttl time.Duration) (string, error) {
	return SignHS256(t, productClaims(t, accountID, connect.ContextQSH, now, ttl))
}

func productClaims(t *connect.Tenant, accountID, qsh string, now time.Time, ttl time.Duration) jwt.MapClaims {
	c := jwt.MapClaims{
		"iat":     now.Unix(),
		"exp":     now.Add(ttl).Unix(),
		"qsh":     qsh,
		"context": map[string]any{},
	}
	if t != nil {
		c["iss"] = t.ClientKey
	}
	if accountID != "" {
		c["sub"] = accountID
	}
	return c
}

// SignHS256 signs arbitrary claims with the tenant's shared secret, for
// tests that need malformed or hostile tokens.
func SignHS256(t *connect.Tenant, claims jwt.MapClaims) (string, error) {
	if t == nil || t.SharedSecret == "" {
		return "", errors.New("connecttest: tenant has no shared secret")
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(t.SharedSecret.Reveal()))
	if err != nil {
		return "", fmt.Errorf("connecttest: sign: %w", err)
	}
	return s, nil
}

// WithJWT returns rawURL with jwt=token appended to its query.
func WithJWT(rawURL, token string) string {
	sep := "?"
	if strings.Contains(rawURL, "?") {
		sep = "&"
	}
	return rawURL + sep + "jwt=" + url.QueryEscape(token)
}
