package atlassian

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

func TestResponseError(t *testing.T) {
	cl := newCaller(http.DefaultClient, Options{Now: func() time.Time { return time.Unix(1000, 0) }}.withDefaults(), "Jira", nil)
	tests := []struct {
		name      string
		c         call
		status    int
		body      string
		hdr       http.Header
		wantKind  cleanup.Kind
		wantInMsg string
		wantNil   bool
		wantRetry time.Duration
	}{
		{name: "jira 401", status: 401, body: `{"errorMessages":["JWT expired"],"errors":{}}`, wantKind: cleanup.KindUnauthorized, wantInMsg: "JWT expired"},
		{name: "jira 403 field errors", status: 403, body: `{"errorMessages":[],"errors":{"groupId":"no permission"}}`, wantKind: cleanup.KindForbidden, wantInMsg: "groupId: no permission"},
		{name: "confluence 404", status: 404, body: `{"statusCode":404,"data":{},"message":"No group found"}`, wantKind: cleanup.KindNotFound, wantInMsg: "No group found"},
		{name: "org v2 errors", status: 403, body: `{"errors":[{"status":"403","code":"X","title":"Forbidden","detail":"not an org admin"}]}`, wantKind: cleanup.KindForbidden, wantInMsg: "Forbidden: not an org admin"},
		{name: "org v1 message", status: 401, body: `{"code":401,"message":"Unauthorized"}`, wantKind: cleanup.KindUnauthorized, wantInMsg: "Unauthorized"},
		{name: "user mgmt external directory", status: 403, body: `{"key":"forbidden.action","reason":{"key":"externalDirectory.google"}}`, wantKind: cleanup.KindExternallyManaged, wantInMsg: "forbidden.action"},
		{name: "removal 404 is success", c: call{removal: true}, status: 404, body: `{}`, wantNil: true},
		{name: "removal 409", c: call{removal: true}, status: 409, body: `{"errorMessages":["group is read-only"]}`, wantKind: cleanup.KindExternallyManaged},
		{name: "removal 400 on synced group", c: call{removal: true, synced: true}, status: 400, body: `{}`, wantKind: cleanup.KindExternallyManaged},
		{name: "removal 403 on synced group", c: call{removal: true, synced: true}, status: 403, body: `{}`, wantKind: cleanup.KindExternallyManaged},
		{name: "removal 400 on other group", c: call{removal: true}, status: 400, body: `{}`, wantKind: cleanup.KindInvalid},
		{name: "500 html body", status: 500, body: `<html>oops</html>`, wantKind: cleanup.KindUnavailable, wantInMsg: "HTTP 500"},
		{name: "503 retry after", status: 503, body: ``, hdr: http.Header{"Retry-After": {"7"}}, wantKind: cleanup.KindUnavailable, wantRetry: 7 * time.Second},
		{name: "control characters stripped", status: 400, body: `{"errorMessages":["bad\u0000\ninput"]}`, wantKind: cleanup.KindInvalid, wantInMsg: "bad  input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.op = "doing it"
			err := cl.responseError(tc.c, response{status: tc.status, body: []byte(tc.body)}, tc.hdr)
			if tc.wantNil {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			e, ok := err.(*cleanup.Error)
			if !ok {
				t.Fatalf("err = %T %v, want *cleanup.Error", err, err)
			}
			if e.Kind != tc.wantKind {
				t.Errorf("kind = %v, want %v", e.Kind, tc.wantKind)
			}
			if !strings.Contains(e.Message, tc.wantInMsg) || !strings.HasPrefix(e.Message, "Jira: doing it failed with HTTP") {
				t.Errorf("message = %q, want it to contain %q", e.Message, tc.wantInMsg)
			}
			if e.RetryAfter != tc.wantRetry {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tc.wantRetry)
			}
		})
	}
	long := `{"message":"` + strings.Repeat("x", 1000) + `"}`
	err := cl.responseError(call{op: "x"}, response{status: 400, body: []byte(long)}, nil)
	if n := len(err.Error()); n > 400 {
		t.Errorf("message of %d bytes not capped", n)
	}
}

func TestRetryWait(t *testing.T) {
	now := time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		hdr  http.Header
		want time.Duration
		ok   bool
	}{
		{"seconds", http.Header{"Retry-After": {"3"}}, 3 * time.Second, true},
		{"fractional seconds", http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond, true},
		{"http date", http.Header{"Retry-After": {now.Add(4 * time.Second).Format(http.TimeFormat)}}, 4 * time.Second, true},
		{"past date", http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0, true},
		{"reset minutes", http.Header{"X-Ratelimit-Reset": {"2026-11-28T11:01Z"}}, time.Minute, true},
		{"reset millis", http.Header{"X-Ratelimit-Reset": {"2026-11-28T11:00:02.500Z"}}, 2500 * time.Millisecond, true},
		{"retry-after wins", http.Header{"Retry-After": {"1"}, "X-Ratelimit-Reset": {"2026-11-28T11:01Z"}}, time.Second, true},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0, false},
		{"none", http.Header{}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := retryWait(tc.hdr, now)
			if got != tc.want || ok != tc.ok {
				t.Errorf("retryWait = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestResolveConfluenceNext(t *testing.T) {
	base, _ := url.Parse("https://x.atlassian.net/wiki")
	tests := []struct {
		next, want string
		wantErr    bool
	}{
		{next: "/rest/api/group?start=200&limit=200", want: "https://x.atlassian.net/wiki/rest/api/group?start=200&limit=200"},
		{next: "/wiki/rest/api/group?start=200", want: "https://x.atlassian.net/wiki/rest/api/group?start=200"},
		{next: "https://x.atlassian.net/wiki/rest/api/group?start=2", want: "https://x.atlassian.net/wiki/rest/api/group?start=2"},
		{next: "https://evil.example/wiki/rest/api/group", wantErr: true},
		{next: "rest/api/group", wantErr: true},
	}
	for _, tc := range tests {
		got, err := resolveConfluenceNext(base, tc.next)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("resolve(%q) = %q, %v; want %q, err %v", tc.next, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestNextCursor(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"data":[{"accountId":"a","links":{"self":"x"}}],"links":{"next":"n1","self":""}}`, "n1"},
		{`{"links":{"next":"n2"},"data":[{"accountId":"a","links":{"self":"x"}}]}`, "n2"},
		{`{"data":[],"links":{}}`, ""},
	}
	for _, tc := range tests {
		got, err := nextCursor([]byte(tc.body))
		if err != nil || got != tc.want {
			t.Errorf("nextCursor(%s) = %q, %v; want %q", tc.body, got, err, tc.want)
		}
	}
	if _, err := nextCursor([]byte(`{"data":[`)); cleanup.KindOf(err) != cleanup.KindOther {
		t.Errorf("malformed: err = %v", err)
	}
}

func TestUpdatePace(t *testing.T) {
	now := time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC)
	cl := newCaller(http.DefaultClient, Options{Now: func() time.Time { return now }}.withDefaults(), "Jira", nil)
	tests := []struct {
		name string
		hdr  http.Header
		want time.Duration
	}{
		{"plenty left", http.Header{"X-Ratelimit-Limit": {"100"}, "X-Ratelimit-Remaining": {"80"}}, 0},
		{"near limit flag only", http.Header{"X-Ratelimit-Nearlimit": {"true"}}, 100 * time.Millisecond},
		{"refill rate from reset", http.Header{"X-Ratelimit-Limit": {"100"}, "X-Ratelimit-Remaining": {"10"},
			"X-Ratelimit-Reset": {"2026-11-28T11:00:00.900Z"}}, 10 * time.Millisecond},
		{"capped", http.Header{"X-Ratelimit-Nearlimit": {"true"}, "X-Ratelimit-Limit": {"10"}, "X-Ratelimit-Remaining": {"9"},
			"X-Ratelimit-Reset": {"2026-11-28T11:10Z"}}, 5 * time.Second},
		{"no headers", http.Header{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cl.updatePace(tc.hdr)
			if cl.pace.gap != tc.want {
				t.Errorf("gap = %v, want %v", cl.pace.gap, tc.want)
			}
		})
	}
}
