package atlassian

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// TestReportAccounts drives the personal data report against the fake:
// 204 when nothing needs action; closed and updated accounts; an answer
// naming an account that was not reported is ignored; Cycle-Period read;
// a request signed with another secret is refused with an error, never a
// silent success; a Retry-After longer than MaxWait is
// KindUnavailable with RetryAfter; more than 90 accounts never leave.
func TestReportAccounts(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	cloud := atlassiantest.New(atlassiantest.Options{Seed: 3, Users: 60, Now: func() time.Time { return now }})
	t.Cleanup(cloud.Close)
	src := &memorySources{tenant: cloud.Site(connect.Jira).Install("com.example.usercleanup", testClientKey, "shared-secret-of-the-test-installation-0123456789")}
	var waits []time.Duration
	conn := &Connector{Tenants: src, Credentials: src, Atlassian: Options{OrgAPIURL: cloud.APIURL(), Now: func() time.Time { return now },
		MaxWait: 30 * time.Second, Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}}
	users := cloud.Users()
	acc := func(ids ...string) []cleanup.ReportedAccount {
		out := make([]cleanup.ReportedAccount, len(ids))
		for i, id := range ids {
			out[i] = cleanup.ReportedAccount{AccountID: id, UpdatedAt: now.Add(-time.Hour)}
		}
		return out
	}
	a, b, c := users[0].AccountID, users[1].AccountID, users[2].AccountID

	got, err := conn.ReportAccounts(ctx, testClientKey, acc(a, b, c))
	if err != nil || len(got.Closed)+len(got.Updated) != 0 || got.Cycle != 0 {
		t.Fatalf("nothing to do: %+v, %v", got, err)
	}

	cloud.CloseAccount(a)
	cloud.UpdateAccount(b, "New Name", "new@example.com", now)
	cloud.UpdateAccount(c, "Old News", "old@example.com", now.Add(-2*time.Hour)) // before updatedAt: nothing to do
	cloud.SetReportCycle("604800")
	got, err = conn.ReportAccounts(ctx, testClientKey, acc(a, b, c))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Closed) != 1 || got.Closed[0] != a || len(got.Updated) != 1 || got.Updated[0] != b || got.Cycle != 7*24*time.Hour {
		t.Errorf("got %+v, want %s closed, %s updated, a 7-day cycle", got, a, b)
	}
	// An answer about an account this report did not carry is not acted on.
	got, err = conn.ReportAccounts(ctx, testClientKey, acc(c))
	if err != nil || len(got.Closed) != 0 {
		t.Errorf("report of %s only: %+v, %v", c, got, err)
	}

	// 429 with a Retry-After beyond MaxWait: given up, with when to retry.
	cloud.Inject(atlassiantest.Fault{Method: http.MethodPost, Path: "/app/report-accounts", Status: 429, RetryAfter: "120", Times: 5})
	_, err = conn.ReportAccounts(ctx, testClientKey, acc(a))
	if cleanup.KindOf(err) != cleanup.KindUnavailable || cleanup.RetryAfterOf(err) < 2*time.Minute {
		t.Errorf("long rate limit: %v (retry after %s), want KindUnavailable with RetryAfter ≥ 2m", err, cleanup.RetryAfterOf(err))
	}
	cloud.ResetRequests()

	// 91 accounts are refused before any request.
	many := make([]string, 91)
	for i := range many {
		many[i] = users[i%len(users)].AccountID
	}
	if _, err := conn.ReportAccounts(ctx, testClientKey, acc(many...)); cleanup.KindOf(err) != cleanup.KindInvalid {
		t.Errorf("91 accounts: %v", err)
	}
	if _, total := cloud.Requests(); total != 0 {
		t.Errorf("%d requests sent for 91 accounts", total)
	}

	// Signed with a secret Atlassian does not know: refused, not ignored.
	src.tenant = &connect.Tenant{ClientKey: testClientKey, AppKey: "com.example.usercleanup", BaseURL: src.tenant.BaseURL, SharedSecret: "not-the-secret-0123456789abcdef0123456789"}
	if _, err := conn.ReportAccounts(ctx, testClientKey, acc(a)); err == nil {
		t.Error("a report signed with the wrong secret succeeded")
	}
}

// TestReportAccountsFakeRefusesOversizedReports: the fake answers 400 with
// an error body for 91 accounts, as the API documents its 90-account
// limit (the client never sends such a request, so this talks HTTP
// directly), and 401 without a JWT.
func TestReportAccountsFakeRefusesOversizedReports(t *testing.T) {
	cloud := atlassiantest.New(atlassiantest.Options{Seed: 3, Users: 10})
	t.Cleanup(cloud.Close)
	tenant := cloud.Site(connect.Jira).Install("com.example.usercleanup", testClientKey, "shared-secret-of-the-test-installation-0123456789")
	var body bytes.Buffer
	body.WriteString(`{"accounts":[`)
	for i := range 91 {
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteString(`{"accountId":"acc","updatedAt":"2026-12-01T00:00:00Z"}`)
	}
	body.WriteString(`]}`)
	send := func(sign bool) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, cloud.APIURL()+"/app/report-accounts/", bytes.NewReader(body.Bytes()))
		req.Header.Set("Content-Type", "application/json")
		if sign {
			if err := connect.SignAppRequest(req, tenant, tenant.AppKey, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if code, msg := send(true); code != http.StatusBadRequest || !bytes.Contains([]byte(msg), []byte("at most 90")) {
		t.Errorf("91 accounts: %d %s", code, msg)
	}
	if code, _ := send(false); code != http.StatusUnauthorized {
		t.Errorf("no JWT: %d", code)
	}
}

func TestCyclePeriod(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"": 0, "x": 0, "-3": 0, "0": 0,
		"7":           7 * 24 * time.Hour,
		"366":         366 * 24 * time.Hour,
		"604800":      7 * 24 * time.Hour,
		"99999999999": 366 * 24 * time.Hour,
	} {
		if got := cyclePeriod(in); got != want {
			t.Errorf("cyclePeriod(%q) = %s, want %s", in, got, want)
		}
	}
}
