package connect

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// ContextQSH is the fixed qsh claim of context tokens issued by
// AP.context.getToken() once an app opts into the "context-qsh" migration.
const ContextQSH = "context-qsh"

// CanonicalRequest returns Atlassian's canonical request string
// METHOD&canonical-path&canonical-query for a request whose escaped path is
// rawPath and whose raw query string is rawQuery. basePath (the path of the
// app's baseUrl for incoming requests, or of the tenant's baseUrl such as
// "/wiki" for outgoing ones) is stripped from the front of the path.
//
// The rules follow Atlassian's Java canonicaliser: the path is used as sent
// (not decoded), one trailing slash is removed, "&" in the path becomes
// "%26"; query parameters are decoded with servlet semantics ("+" is a
// space, ";" is not a separator), the parameter "jwt" is dropped, values of
// a repeated parameter are sorted by their decoded form, RFC 3986-encoded
// and joined with ",", and parameters are sorted by their encoded name.
// Java compares UTF-16 code units, Go compares bytes: the orders differ only
// between characters above U+FFFF and those in U+E000–U+FFFF.
func CanonicalRequest(method, rawPath, rawQuery, basePath string) (string, error) {
	b, err := appendCanonical(make([]byte, 0, len(method)+len(rawPath)+len(rawQuery)+8), method, rawPath, rawQuery, basePath)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// QueryStringHash returns the qsh claim for a request: the lowercase hex
// SHA-256 of CanonicalRequest.
func QueryStringHash(method, rawPath, rawQuery, basePath string) (string, error) {
	sum, err := qshSum(method, rawPath, rawQuery, basePath)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sum[:]), nil
}

// QueryStringHashURL is QueryStringHash for a parsed URL.
func QueryStringHashURL(method string, u *url.URL, basePath string) (string, error) {
	return QueryStringHash(method, u.EscapedPath(), u.RawQuery, basePath)
}

// qshSum is the binary qsh, built without intermediate strings.
func qshSum(method, rawPath, rawQuery, basePath string) ([sha256.Size]byte, error) {
	var stack [512]byte
	b, err := appendCanonical(stack[:0], method, rawPath, rawQuery, basePath)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// qshMatches reports in constant time whether claim is the lowercase hex
// qsh of the request.
func qshMatches(claim, method, rawPath, rawQuery, basePath string) (bool, error) {
	want, err := qshSum(method, rawPath, rawQuery, basePath)
	if err != nil {
		return false, err
	}
	var got [sha256.Size]byte
	if len(claim) != hex.EncodedLen(len(got)) || !isLowerHex(claim) {
		return false, nil
	}
	if _, err := hex.Decode(got[:], []byte(claim)); err != nil {
		return false, nil
	}
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func hashCanonical(c string) string {
	sum := sha256.Sum256([]byte(c))
	return hex.EncodeToString(sum[:])
}

func appendCanonical(dst []byte, method, rawPath, rawQuery, basePath string) ([]byte, error) {
	path, err := canonicalPath(rawPath, basePath)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(method); i++ {
		c := method[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = append(dst, '&')
	for i := 0; i < len(path); i++ {
		if path[i] == '&' {
			dst = append(dst, "%26"...)
		} else {
			dst = append(dst, path[i])
		}
	}
	dst = append(dst, '&')
	return appendCanonicalQuery(dst, rawQuery)
}

// canonicalPath strips the base path and one trailing slash and ensures a
// leading slash. "&" is escaped by appendCanonical.
func canonicalPath(rawPath, basePath string) (string, error) {
	p := rawPath
	basePath = strings.TrimSuffix(basePath, "/")
	if basePath != "" {
		switch {
		case p == basePath:
			p = ""
		case strings.HasPrefix(p, basePath+"/"):
			p = p[len(basePath):]
		default:
			return "", fmt.Errorf("%w: path %q is outside base path %q", ErrMalformedRequest, rawPath, basePath)
		}
	}
	if p == "" {
		return "/", nil
	}
	if len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	if p[0] != '/' {
		p = "/" + p
	}
	return p, nil
}

// queryParam is one decoded query parameter; encName is its RFC 3986
// encoded name, the sort key.
type queryParam struct {
	encName string
	value   string // decoded
}

// canonicalQuery returns the canonical query string.
func canonicalQuery(rawQuery string) (string, error) {
	b, err := appendCanonicalQuery(nil, rawQuery)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// appendCanonicalQuery sorts the parameters by (encoded name, decoded
// value): this groups a repeated parameter, orders the groups by encoded
// name and each group's values by their decoded form, as Java does.
func appendCanonicalQuery(dst []byte, rawQuery string) ([]byte, error) {
	if rawQuery == "" {
		return dst, nil
	}
	var stack [16]queryParam
	params := stack[:0]
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := unescapeQuery(rawName)
		if err != nil {
			return nil, err
		}
		value, err := unescapeQuery(rawValue)
		if err != nil {
			return nil, err
		}
		if name == "jwt" {
			continue
		}
		params = append(params, queryParam{encName: percentEncode(name), value: value})
	}
	slices.SortFunc(params, func(a, b queryParam) int {
		if c := strings.Compare(a.encName, b.encName); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	for i, p := range params {
		if i > 0 && p.encName == params[i-1].encName {
			dst = append(dst, ',')
		} else {
			if i > 0 {
				dst = append(dst, '&')
			}
			dst = append(dst, p.encName...)
			dst = append(dst, '=')
		}
		dst = appendPercentEncoded(dst, p.value)
	}
	return dst, nil
}

// unescapeQuery decodes like a servlet container: "+" is a space, %XX is a
// byte. Unlike url.ParseQuery it keeps ";" as an ordinary character.
func unescapeQuery(s string) (string, error) {
	v, err := queryUnescape(s)
	if err != nil {
		return "", fmt.Errorf("%w: bad query escape: %w", ErrMalformedRequest, err)
	}
	return v, nil
}

// queryUnescape is url.QueryUnescape, which returns s itself when s holds
// no "%" and no "+"; it finds that out byte by byte, while IndexByte is
// vectorised. Every page load decodes its jwt parameter (hundreds of
// bytes, never escaped) twice, for TokenFromRequest and for the qsh: that
// walk was a quarter of Verify (BenchmarkVerifyPageRequest, about 1.8 µs).
func queryUnescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	return url.QueryUnescape(s)
}

// unreserved reports whether c is in RFC 3986's unreserved set.
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// percentEncode applies RFC 3986 encoding: unreserved characters stay, every
// other byte becomes %XX with upper-case hex. It returns s itself when
// nothing needs escaping.
func percentEncode(s string) string {
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			return string(appendPercentEncoded(make([]byte, 0, len(s)+16), s))
		}
	}
	return s
}

func appendPercentEncoded(dst []byte, s string) []byte {
	const hexUpper = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hexUpper[c>>4], hexUpper[c&15])
		}
	}
	return dst
}
