package connect

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenBytes bounds the size of a JWT this package will parse. Product
// tokens are a few hundred bytes; anything near this limit is an attack.
const MaxTokenBytes = 8 << 10

// tokenHeader is the JOSE header of a Connect JWT.
type tokenHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// tokenClaims are the claims this package reads. Unknown claims (such as
// "context") are ignored.
type tokenClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.ClaimStrings `json:"aud"`
	ExpiresAt *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	QSH       string           `json:"qsh"`
}

// parsedToken is a decoded but NOT yet verified JWT. The token is decoded
// exactly once; the signature is then checked over signingInput with the key
// chosen from the (untrusted) header and issuer.
type parsedToken struct {
	header       tokenHeader
	claims       tokenClaims
	signingInput string
	signature    []byte
}

// parseToken splits and decodes a compact JWS without verifying it.
func parseToken(raw string) (*parsedToken, error) {
	if len(raw) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: token too long", ErrMalformedToken)
	}
	h, rest, ok := strings.Cut(raw, ".")
	if !ok {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrMalformedToken)
	}
	c, s, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(s, ".") {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrMalformedToken)
	}
	p := &parsedToken{signingInput: raw[:len(h)+1+len(c)]}
	if err := decodeSegment(h, &p.header); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrMalformedToken, err)
	}
	if err := decodeSegment(c, &p.claims); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrMalformedToken, err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: signature encoding", ErrMalformedToken)
	}
	p.signature = sig
	return p, nil
}

func decodeSegment(seg string, v any) error {
	buf := make([]byte, base64.RawURLEncoding.DecodedLen(len(seg)))
	n, err := base64.RawURLEncoding.Decode(buf, []byte(seg))
	if err != nil {
		return fmt.Errorf("base64: %w", err)
	}
	if err := json.Unmarshal(buf[:n], v); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	return nil
}

// verifyHS256 checks the HMAC-SHA256 signature in constant time. The
// algorithm is pinned: the header must say exactly "HS256".
func (p *parsedToken) verifyHS256(secret Secret) error {
	if p.header.Alg != jwt.SigningMethodHS256.Alg() {
		return fmt.Errorf("%w: %q", ErrBadAlgorithm, p.header.Alg)
	}
	if secret == "" {
		return ErrBadSignature
	}
	if err := jwt.SigningMethodHS256.Verify(p.signingInput, p.signature, []byte(secret.Reveal())); err != nil {
		return ErrBadSignature
	}
	return nil
}

// checkTimes validates exp (required), iat (required, not in the future
// beyond leeway, not after exp) and nbf (optional).
func (c *tokenClaims) checkTimes(now time.Time, leeway time.Duration) error {
	if c.ExpiresAt == nil {
		return fmt.Errorf("%w: exp", ErrMissingClaim)
	}
	if c.IssuedAt == nil {
		return fmt.Errorf("%w: iat", ErrMissingClaim)
	}
	exp, iat := c.ExpiresAt.Time, c.IssuedAt.Time
	if exp.Before(iat) {
		return fmt.Errorf("%w: exp before iat", ErrMalformedToken)
	}
	if !now.Before(exp.Add(leeway)) {
		return ErrExpired
	}
	if now.Add(leeway).Before(iat) {
		return ErrIssuedInFuture
	}
	if c.NotBefore != nil && now.Add(leeway).Before(c.NotBefore.Time) {
		return ErrIssuedInFuture
	}
	return nil
}

// effectiveLeeway maps a configured leeway to the one applied: 0 means
// DefaultLeeway, negative means none, and MaxLeeway is the ceiling.
func effectiveLeeway(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return DefaultLeeway
	case d < 0:
		return 0
	}
	return min(d, MaxLeeway)
}
