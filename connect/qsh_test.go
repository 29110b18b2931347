package connect

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// TestQSHKnownAnswers covers the real Jira Cloud iframe token, the derived
// Confluence/outgoing vectors and selected interop pairs from
// platform-connect.md §3.6, and Atlassian's Java javadoc example.
func TestQSHKnownAnswers(t *testing.T) {
	tests := []struct {
		name, method, rawURL, base string
		wantCanonical, wantQSH     string
	}{
		{
			name:          "real Jira Cloud iframe token (Sentry PR 20844)",
			method:        "GET",
			rawURL:        "https://sentry.io/extensions/jira/ui-hook/?xdm_e=https%3A%2F%2Fgetsentry.atlassian.net&xdm_c=channel-sentry.io.jira__post-install-sentry&cp=&xdm_deprecated_addon_key_do_not_use=sentry.io.jira&lic=none&cv=1001.0.0-SNAPSHOT&jwt=eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.e30.x",
			wantCanonical: "GET&/extensions/jira/ui-hook&cp=&cv=1001.0.0-SNAPSHOT&lic=none&xdm_c=channel-sentry.io.jira__post-install-sentry&xdm_deprecated_addon_key_do_not_use=sentry.io.jira&xdm_e=https%3A%2F%2Fgetsentry.atlassian.net",
			wantQSH:       "fddda0976bc54a81d92d7792644ccb62606f6169b35cb748b40d69d38da75497",
		},
		{
			name: "Confluence REST relative to /wiki", method: "GET",
			rawURL: "https://x.atlassian.net/wiki/rest/api/space?limit=25&start=0", base: "/wiki",
			wantCanonical: "GET&/rest/api/space&limit=25&start=0",
			wantQSH:       "1bd535e6b1b501117fc8943c40fc807d31a445df6da9342c7d228b0b40d6ce99",
		},
		{
			name: "Confluence CQL search", method: "GET",
			rawURL: "https://x.atlassian.net/wiki/rest/api/content/search?cql=space%3D%22DS%22%20and%20type%3Dpage&expand=version,history", base: "/wiki",
			wantCanonical: "GET&/rest/api/content/search&cql=space%3D%22DS%22%20and%20type%3Dpage&expand=version%2Chistory",
			wantQSH:       "cb8138f10c37572055ac55b1f0b1509532a43438f0774e6b55d9b899c41e81af",
		},
		{
			name: "Jira POST without query", method: "POST",
			rawURL:        "https://x.atlassian.net/rest/api/3/issue",
			wantCanonical: "POST&/rest/api/3/issue&",
			wantQSH:       "a64b1ba2731272596784da7588c6e16deb1619108576546ab4299429d981f400",
		},
		{
			name: "Jira search with comma value", method: "GET",
			rawURL:        "https://x.atlassian.net/rest/api/3/search?jql=project%20%3D%20ABC%20ORDER%20BY%20created&maxResults=50&fields=summary,status",
			wantCanonical: "GET&/rest/api/3/search&fields=summary%2Cstatus&jql=project%20%3D%20ABC%20ORDER%20BY%20created&maxResults=50",
			wantQSH:       "4284d6e87daf3f3e611c16dcccc1d6bf2b05d16ac2d323c19c03c794d90d8fcb",
		},
		{
			name: "signed install relative to the app baseUrl", method: "POST",
			rawURL: "https://app.example.com/connect/installed", base: "/connect",
			wantCanonical: "POST&/installed&",
			wantQSH:       "4a2e1de8ca74e6cafe8862d332fa3ac7a8e51e692bc6d798ea4dfedc14948bf4",
		},
		{
			name: "admin page with standard parameters", method: "GET",
			rawURL: "https://app.example.com/connect/admin/settings?xdm_e=https%3A%2F%2Fx.atlassian.net&xdm_c=channel-my-app__settings&cp=%2Fwiki&lic=none&cv=1001.0.0-SNAPSHOT&jwt=abc", base: "/connect/",
			wantCanonical: "GET&/admin/settings&cp=%2Fwiki&cv=1001.0.0-SNAPSHOT&lic=none&xdm_c=channel-my-app__settings&xdm_e=https%3A%2F%2Fx.atlassian.net",
			wantQSH:       "254402cc9650e2346a6dbafd750a35c6cb947c88ea40c2ff67d94ec12580a4c0",
		},
		{
			name: "interop: multi-value II sorts decoded values", method: "get",
			rawURL:        "https://example.com/test?ids=.1&ids=:1&ids=:2&ids=.2",
			wantCanonical: "GET&/test&ids=.1,.2,%3A1,%3A2",
			wantQSH:       "f0524d42e0f8661862e1f1e9add8757972a0043bb7136d641735d21874c5a056",
		},
		{
			name: "interop: multi-value empty", method: "GET",
			rawURL:        "https://example.com/test?c=&c=+&c=%2520&c=%2B",
			wantCanonical: "GET&/test&c=,%20,%2520,%2B",
			wantQSH:       "cbbcac9a6a02f3ad96c5ab5bf876dd9f79b2c61ceec5660a1c9d73a3b102ec2c",
		},
		{
			name: "interop: path sub-delimiters", method: "GET",
			rawURL:        "https://example.com/path!$&'()*+,;=?a=b",
			wantCanonical: "GET&/path!$%26'()*+,;=&a=b",
			wantQSH:       "9ef803f9cb8dea4f7f875caff8d31e95962c6e8bd44d64a848d6ebb055b2144b",
		},
		{
			name: "interop: trailing slash", method: "GET",
			rawURL:        "https://example.com/endsWithDelimiter/?a=b",
			wantCanonical: "GET&/endsWithDelimiter&a=b",
			wantQSH:       "8f77c6a0e6bf25041121ee44480d3c97ae9cca4b7a007ea6e1d648d9a26e5d1d",
		},
		{
			name: "Java javadoc example", method: "GET",
			rawURL:        "http://localhost:2990/path/to/service?zee_last=param&repeated=parameter%201&first=param&repeated=parameter%202",
			wantCanonical: "GET&/path/to/service&first=param&repeated=parameter%201,parameter%202&zee_last=param",
		},
		{
			name: "semicolon is not a separator", method: "GET",
			rawURL:        "https://example.com/p?a=1;b=2&c=3",
			wantCanonical: "GET&/p&a=1%3Bb%3D2&c=3",
		},
		{
			name: "base path itself is /", method: "GET",
			rawURL: "https://app.example.com/jira?x=1", base: "/jira",
			wantCanonical: "GET&/&x=1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(tc.rawURL)
			if err != nil {
				t.Fatal(err)
			}
			got, err := CanonicalRequest(tc.method, u.EscapedPath(), u.RawQuery, tc.base)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.wantCanonical {
				t.Fatalf("canonical\n got %q\nwant %q", got, tc.wantCanonical)
			}
			qsh, err := QueryStringHashURL(tc.method, u, tc.base)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantQSH != "" && qsh != tc.wantQSH {
				t.Fatalf("qsh got %s want %s", qsh, tc.wantQSH)
			}
		})
	}
	if got := hashCanonical("foo"); got != "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae" {
		t.Fatalf("sha256(foo) = %s", got)
	}
}

func TestCanonicalRequestErrors(t *testing.T) {
	tests := []struct{ path, query, base string }{
		{"/other/x", "", "/jira"},
		{"/jirax", "", "/jira"},
		{"/p", "a=%zz", ""},
		{"/p", "%zz=1", ""},
	}
	for _, tc := range tests {
		if _, err := CanonicalRequest("GET", tc.path, tc.query, tc.base); !errors.Is(err, ErrMalformedRequest) {
			t.Errorf("CanonicalRequest(%q, %q, %q) err = %v, want ErrMalformedRequest", tc.path, tc.query, tc.base, err)
		}
	}
}

var fuzzMethods = []string{"GET", "post", "PUT", "DELETE", "patch", "HEAD"}

// FuzzCanonicalRequest checks that the canonicaliser never panics and keeps
// its invariants: three "&"-separated parts with an upper-case method and
// a path starting with "/" that contains no "&"; the jwt parameter never
// matters; re-canonicalising the query is stable up to "," in joined
// multi-values.
func FuzzCanonicalRequest(f *testing.F) {
	f.Add(uint8(0), "/test", "a=1&b=2&a=0", "")
	f.Add(uint8(1), "/wiki/rest/api/space/", "limit=25&start=0&jwt=x", "/wiki")
	f.Add(uint8(2), "/path!$&'()*+,;=", "c=&c=+&c=%2520&c=%2B", "")
	f.Add(uint8(3), "/", "%E5%AE%AE=%E9%A7%BF&;=;", "/")
	f.Fuzz(func(t *testing.T, m uint8, path, query, base string) {
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		c, err := CanonicalRequest(method, path, query, base)
		if err != nil {
			if !errors.Is(err, ErrMalformedRequest) {
				t.Fatalf("error %v does not wrap ErrMalformedRequest", err)
			}
			return
		}
		parts := strings.SplitN(c, "&", 3)
		if len(parts) != 3 {
			t.Fatalf("canonical %q has no three parts", c)
		}
		if parts[0] != strings.ToUpper(method) {
			t.Fatalf("method part %q", parts[0])
		}
		if !strings.HasPrefix(parts[1], "/") {
			t.Fatalf("path part %q does not start with /", parts[1])
		}
		q := parts[2]
		again, err := canonicalQuery(q)
		if err != nil {
			t.Fatalf("canonical query %q does not parse: %v", q, err)
		}
		if want := strings.ReplaceAll(q, ",", "%2C"); again != want {
			t.Fatalf("re-canonicalised query\n got %q\nwant %q", again, want)
		}
		withJWT := query + "&jwt=abc"
		if query == "" {
			withJWT = "jwt=abc"
		}
		c2, err := CanonicalRequest(method, path, withJWT, base)
		if err != nil || c2 != c {
			t.Fatalf("jwt parameter changed the result: %q vs %q (%v)", c2, c, err)
		}
	})
}

// FuzzQueryUnescape: the shortcut of queryUnescape changes nothing: it
// returns what url.QueryUnescape returns, error included.
func FuzzQueryUnescape(f *testing.F) {
	for _, s := range []string{"", "jwt", "eyJhbGciOiJIUzI1NiJ9.e30.sig-_", "a+b", "%41", "%zz", "%", "caf%C3%A9", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gotErr := queryUnescape(s)
		want, wantErr := url.QueryUnescape(s)
		if got != want || (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("queryUnescape(%q) = %q, %v; url.QueryUnescape: %q, %v", s, got, gotErr, want, wantErr)
		}
	})
}
