package connect

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Decoding the claims of every page load with encoding/json (reflection,
// a validating pre-pass, an allocation per time claim) was the largest
// single cost of Verify: about 5 µs of the server's ~31 µs per
// authenticated page request (BenchmarkServePage in internal/server).
// Products send the claims in one plain form: a flat object of a few
// ASCII strings and integers, plus a "context" object nobody reads.
// decodeClaims reads that form with the small scanner below and hands
// everything else to encoding/json.
//
// The scanner never decides anything on its own: for any input it either
// produces exactly what json.Unmarshal into tokenClaims produces, or it
// declines and json.Unmarshal runs. It declines on whatever it does not
// handle itself: a key that is a claim name in another case (encoding/json
// matches those case-insensitively), a claim given twice (encoding/json
// keeps the last one), "aud" (its own decoder, jwt.ClaimStrings), a kept
// string or key with an escape or a byte outside printable ASCII, a value
// of the wrong type for its claim, a number strconv cannot represent,
// nesting deeper than maxSkipDepth, and any byte that is not valid JSON.
// FuzzDecodeClaims checks this against encoding/json.

// maxSkipDepth bounds the nesting of an ignored claim (such as "context")
// the scanner validates itself; deeper input goes to encoding/json.
const maxSkipDepth = 32

// decodeClaims decodes a token's claims JSON into c. times holds the time
// claims the fast path decodes, so they cost no allocation of their own.
func decodeClaims(data []byte, c *tokenClaims, times *[3]numericDate) error {
	if fastClaims(string(data), c, times) {
		return nil
	}
	*c = tokenClaims{}
	return json.Unmarshal(data, c)
}

// The claims the scanner knows, by index into a bit set of those seen.
const (
	claimIss = iota
	claimSub
	claimQSH
	claimExp
	claimNbf
	claimIat
	claimAud
	claimUnknown
	claimDecline // a known name in another case: encoding/json's business
)

var claimNames = [...]string{claimIss: "iss", claimSub: "sub", claimQSH: "qsh", claimExp: "exp", claimNbf: "nbf", claimIat: "iat", claimAud: "aud"}

// claimOf classifies an object key (printable ASCII without escapes).
func claimOf(key string) int {
	for i, name := range claimNames {
		if key == name {
			return i
		}
	}
	for _, name := range claimNames {
		if strings.EqualFold(key, name) {
			return claimDecline
		}
	}
	return claimUnknown
}

// fastClaims decodes s into c (which must be zero) when s is in the plain
// form described above, and reports whether it did. When it returns false
// c may be partly filled.
func fastClaims(s string, c *tokenClaims, times *[3]numericDate) bool {
	i := skipSpace(s, 0)
	if i == len(s) || s[i] != '{' {
		return false
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return skipSpace(s, i+1) == len(s)
	}
	var seen uint
	for {
		key, j, ok := plainString(s, i)
		if !ok {
			return false
		}
		i = skipSpace(s, j)
		if i == len(s) || s[i] != ':' {
			return false
		}
		i = skipSpace(s, i+1)
		claim := claimOf(key)
		if claim < claimUnknown {
			if seen&(1<<claim) != 0 {
				return false
			}
			seen |= 1 << claim
		}
		switch claim {
		case claimIss, claimSub, claimQSH:
			if strings.HasPrefix(s[i:], "null") {
				// encoding/json leaves a string untouched for null.
				j = i + len("null")
				break
			}
			var v string
			if v, j, ok = plainString(s, i); !ok {
				return false
			}
			switch claim {
			case claimIss:
				c.Issuer = v
			case claimSub:
				c.Subject = v
			default:
				c.QSH = v
			}
		case claimExp, claimNbf, claimIat:
			if strings.HasPrefix(s[i:], "null") {
				// A nil pointer, as encoding/json leaves it for null.
				j = i + len("null")
				break
			}
			if j, ok = skipNumber(s, i); !ok {
				return false
			}
			f, err := strconv.ParseFloat(s[i:j], 64)
			if err != nil {
				return false
			}
			d := &times[claim-claimExp]
			*d = numericDate(f)
			switch claim {
			case claimExp:
				c.ExpiresAt = d
			case claimNbf:
				c.NotBefore = d
			default:
				c.IssuedAt = d
			}
		case claimUnknown:
			if j, ok = skipValue(s, i, 0); !ok {
				return false
			}
		default: // aud, or a claim name in another case
			return false
		}
		var more bool
		if i, more, ok = afterMember(s, j, '}'); !ok {
			return false
		}
		if !more {
			return skipSpace(s, i) == len(s)
		}
	}
}

// afterMember reads what follows an object member or array element ending
// at i: a comma, after which more follow (next is the start of the next
// one), or closing (next is the index after it).
func afterMember(s string, i int, closing byte) (next int, more, ok bool) {
	i = skipSpace(s, i)
	switch {
	case i == len(s):
		return i, false, false
	case s[i] == ',':
		return skipSpace(s, i+1), true, true
	case s[i] == closing:
		return i + 1, false, true
	default:
		return i, false, false
	}
}

// skipSpace returns the index of the first non-whitespace byte at or
// after i (JSON whitespace: space, tab, CR, LF).
func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	return i
}

// plainString reads a JSON string at i made only of printable ASCII
// without escapes, whose value is then its bytes; it returns the value and
// the index after the closing quote.
func plainString(s string, i int) (string, int, bool) {
	if i == len(s) || s[i] != '"' {
		return "", i, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return s[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c > 0x7e:
			return "", j, false
		}
	}
	return "", len(s), false
}

// skipValue validates the JSON value at i and returns the index after it.
func skipValue(s string, i, depth int) (int, bool) {
	if i == len(s) {
		return i, false
	}
	switch c := s[i]; {
	case c == '"':
		return skipString(s, i)
	case c == '{':
		if depth >= maxSkipDepth {
			return i, false
		}
		i = skipSpace(s, i+1)
		if i < len(s) && s[i] == '}' {
			return i + 1, true
		}
		for {
			j, ok := skipString(s, i)
			if !ok {
				return j, false
			}
			i = skipSpace(s, j)
			if i == len(s) || s[i] != ':' {
				return i, false
			}
			if i, ok = skipValue(s, skipSpace(s, i+1), depth+1); !ok {
				return i, false
			}
			var more bool
			if i, more, ok = afterMember(s, i, '}'); !ok || !more {
				return i, ok
			}
		}
	case c == '[':
		if depth >= maxSkipDepth {
			return i, false
		}
		i = skipSpace(s, i+1)
		if i < len(s) && s[i] == ']' {
			return i + 1, true
		}
		for {
			var ok, more bool
			if i, ok = skipValue(s, i, depth+1); !ok {
				return i, false
			}
			if i, more, ok = afterMember(s, i, ']'); !ok || !more {
				return i, ok
			}
		}
	case c == '-' || '0' <= c && c <= '9':
		return skipNumber(s, i)
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if strings.HasPrefix(s[i:], lit) {
			return i + len(lit), true
		}
	}
	return i, false
}

// skipString validates the JSON string at i (any bytes but control
// characters, and only the escapes JSON defines) and returns the index
// after its closing quote.
func skipString(s string, i int) (int, bool) {
	if i == len(s) || s[i] != '"' {
		return i, false
	}
	for i++; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			i++
			if i == len(s) {
				return i, false
			}
			switch s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s) {
					return i, false
				}
				for _, h := range []byte(s[i+1 : i+5]) {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return i, false
					}
				}
				i += 4
			default:
				return i, false
			}
		}
	}
	return i, false
}

// skipNumber validates the JSON number at i:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(s string, i int) (int, bool) {
	digits := func(i int) int {
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i == len(s):
		return i, false
	case s[i] == '0':
		i++
	case '1' <= s[i] && s[i] <= '9':
		i = digits(i)
	default:
		return i, false
	}
	if i < len(s) && s[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}
