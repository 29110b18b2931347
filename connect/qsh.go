package connect

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
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
	path, err := canonicalPath(rawPath, basePath)
	if err != nil {
		return "", err
	}
	query, err := canonicalQuery(rawQuery)
	if err != nil {
		return "", err
	}
	return strings.ToUpper(method) + "&" + path + "&" + query, nil
}

// QueryStringHash returns the qsh claim for a request: the lowercase hex
// SHA-256 of CanonicalRequest.
func QueryStringHash(method, rawPath, rawQuery, basePath string) (string, error) {
	c, err := CanonicalRequest(method, rawPath, rawQuery, basePath)
	if err != nil {
		return "", err
	}
	return hashCanonical(c), nil
}

// QueryStringHashURL is QueryStringHash for a parsed URL.
func QueryStringHashURL(method string, u *url.URL, basePath string) (string, error) {
	return QueryStringHash(method, u.EscapedPath(), u.RawQuery, basePath)
}

func hashCanonical(c string) string {
	sum := sha256.Sum256([]byte(c))
	return hex.EncodeToString(sum[:])
}

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
		p = "/"
	}
	if len(p) > 1 && strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return strings.ReplaceAll(p, "&", "%26"), nil
}

type queryParam struct {
	encName string
	values  []string // decoded
}

func canonicalQuery(rawQuery string) (string, error) {
	if rawQuery == "" {
		return "", nil
	}
	params := map[string]*queryParam{}
	for _, pair := range strings.Split(rawQuery, "&") {
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := unescapeQuery(rawName)
		if err != nil {
			return "", err
		}
		value, err := unescapeQuery(rawValue)
		if err != nil {
			return "", err
		}
		if name == "jwt" {
			continue
		}
		p := params[name]
		if p == nil {
			p = &queryParam{encName: percentEncode(name)}
			params[name] = p
		}
		p.values = append(p.values, value)
	}
	list := make([]*queryParam, 0, len(params))
	for _, p := range params {
		sort.Strings(p.values)
		list = append(list, p)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].encName < list[j].encName })
	var b strings.Builder
	for i, p := range list {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.encName)
		b.WriteByte('=')
		for k, v := range p.values {
			if k > 0 {
				b.WriteByte(',')
			}
			b.WriteString(percentEncode(v))
		}
	}
	return b.String(), nil
}

// unescapeQuery decodes like a servlet container: "+" is a space, %XX is a
// byte. Unlike url.ParseQuery it keeps ";" as an ordinary character.
func unescapeQuery(s string) (string, error) {
	v, err := url.QueryUnescape(s)
	if err != nil {
		return "", fmt.Errorf("%w: bad query escape: %v", ErrMalformedRequest, err)
	}
	return v, nil
}

// percentEncode applies RFC 3986 encoding: unreserved characters stay, every
// other byte becomes %XX with upper-case hex.
func percentEncode(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
