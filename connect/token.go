package connect

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
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
	ExpiresAt *numericDate     `json:"exp"`
	NotBefore *numericDate     `json:"nbf"`
	IssuedAt  *numericDate     `json:"iat"`
	QSH       string           `json:"qsh"`
}

// numericDate is a JWT NumericDate: seconds since the epoch, possibly
// fractional. A string or any other JSON type fails decoding.
type numericDate float64

// maxNumericDate (year 5138) bounds time claims so conversions cannot
// overflow.
const maxNumericDate = 1e11

func (d numericDate) valid() bool { return d >= 0 && d <= maxNumericDate }

func (d numericDate) time() time.Time {
	sec, frac := math.Modf(float64(d))
	return time.Unix(int64(sec), int64(frac*1e9))
}

// Encoded JOSE headers products send, recognised without a JSON decode.
const (
	headerTypAlg = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9" // {"typ":"JWT","alg":"HS256"}
	headerAlgTyp = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" // {"alg":"HS256","typ":"JWT"}
	headerAlg    = "eyJhbGciOiJIUzI1NiJ9"                 // {"alg":"HS256"}
)

// knownHeader is the fast path for the common HS256 headers.
func knownHeader(h string) (tokenHeader, bool) {
	switch h {
	case headerTypAlg, headerAlgTyp, headerAlg:
		return tokenHeader{Alg: "HS256"}, true
	}
	return tokenHeader{}, false
}

// parsedToken is a decoded but NOT yet verified JWT. The token is decoded
// exactly once; the signature is then checked over signingInput with the key
// chosen from the (untrusted) header and issuer.
type parsedToken struct {
	header       tokenHeader
	claims       tokenClaims
	times        [3]numericDate // exp, nbf, iat when decodeClaims's fast path read them
	signingInput string
	signed       []byte // signingInput's bytes, for the HMAC
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
	// One buffer (one allocation) holds the token's bytes, followed by the
	// decoded header, claims and signature: the HMAC and the base64
	// decoder read bytes, and converting each segment would copy it.
	enc := base64.RawURLEncoding
	buf := make([]byte, len(raw), len(raw)+enc.DecodedLen(len(h))+enc.DecodedLen(len(c))+enc.DecodedLen(len(s)))
	copy(buf, raw)
	hb, cb, sb := buf[:len(h)], buf[len(h)+1:len(h)+1+len(c)], buf[len(h)+1+len(c)+1:]
	p := &parsedToken{signingInput: raw[:len(h)+1+len(c)], signed: buf[:len(h)+1+len(c)]}
	var err error
	if known, ok := knownHeader(h); ok {
		p.header = known // fast path for the headers products send
	} else if buf, err = decodeSegment(buf, hb, &p.header); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrMalformedToken, err)
	}
	start := len(buf)
	if buf, err = enc.AppendDecode(buf, cb); err != nil {
		return nil, fmt.Errorf("%w: claims: base64: %w", ErrMalformedToken, err)
	}
	if err := decodeClaims(buf[start:], &p.claims, &p.times); err != nil {
		return nil, fmt.Errorf("%w: claims: json: %w", ErrMalformedToken, err)
	}
	start = len(buf)
	if buf, err = enc.AppendDecode(buf, sb); err != nil {
		return nil, fmt.Errorf("%w: signature encoding", ErrMalformedToken)
	}
	p.signature = buf[start:]
	return p, nil
}

// decodeSegment base64url-decodes seg onto buf and JSON-decodes it into v.
func decodeSegment(buf, seg []byte, v any) ([]byte, error) {
	start := len(buf)
	buf, err := base64.RawURLEncoding.AppendDecode(buf, seg)
	if err != nil {
		return buf, fmt.Errorf("base64: %w", err)
	}
	if err := json.Unmarshal(buf[start:], v); err != nil {
		return buf, fmt.Errorf("json: %w", err)
	}
	return buf, nil
}

// verifyHS256 checks the HMAC-SHA256 signature in constant time, with a
// keyed HMAC state from macs. The algorithm is pinned: the header must say
// exactly "HS256".
func (p *parsedToken) verifyHS256(secret Secret, macs *macPools) error {
	if p.header.Alg != jwt.SigningMethodHS256.Alg() {
		return fmt.Errorf("%w: %q", ErrBadAlgorithm, p.header.Alg)
	}
	if secret == "" {
		return ErrBadSignature
	}
	var sum [sha256.Size]byte
	if !hmac.Equal(p.signature, macs.sum(secret, p.signed, sum[:0])) {
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
	for _, d := range []*numericDate{c.ExpiresAt, c.IssuedAt, c.NotBefore} {
		if d != nil && !d.valid() {
			return fmt.Errorf("%w: time claim out of range", ErrMalformedToken)
		}
	}
	exp, iat := c.ExpiresAt.time(), c.IssuedAt.time()
	if exp.Before(iat) {
		return fmt.Errorf("%w: exp before iat", ErrMalformedToken)
	}
	if !now.Before(exp.Add(leeway)) {
		return ErrExpired
	}
	if now.Add(leeway).Before(iat) {
		return ErrIssuedInFuture
	}
	if c.NotBefore != nil && now.Add(leeway).Before(c.NotBefore.time()) {
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
