package atlassian

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
)

// privacyService names the personal data reporting API in messages.
const privacyService = "Personal data reporting API"

// reportAccountsPath is the personal data reporting endpoint, relative to
// Options.OrgAPIURL (https://api.atlassian.com).
const reportAccountsPath = "/app/report-accounts/"

// What is documented of the personal data reporting API ("User privacy
// guide for app developers", checked in several public copies) and what is
// inferred here:
//
//   - Documented: POST https://api.atlassian.com/app/report-accounts/ with
//     {"accounts": [{"accountId", "updatedAt" (ISO 8601)}]}, at most 90
//     accounts; 200 with {"accounts": [{"accountId", "status": "closed" or
//     "updated"}]} for the accounts that need action, 204 when none does;
//     429 with Retry-After; a default cycle of 7 days, told in a
//     Cycle-Period response header.
//   - Inferred: Connect apps authenticate "using JWTs" (Atlassian's answer
//     on the developer community); we send the installation's Connect JWT
//     (connect.SignAppRequest: HS256 with its shared secret, iss = app key,
//     qsh of this request). The guide does not give Cycle-Period's unit;
//     third-party code reads seconds, hours or days. We read a number up
//     to 366 as days (the documented default is 7 days) and a larger one
//     as seconds (604800 for 7 days); anything else is ignored.

// ReportAccounts implements cleanup.AccountReporter: one request of at
// most cleanup.ReportBatchMax accounts in the name of the tenant's
// installation. 429 and 503 are retried after Retry-After within
// Options.MaxWait; a longer limit is a KindUnavailable error with
// RetryAfter.
func (c *Connector) ReportAccounts(ctx context.Context, clientKey string, accounts []cleanup.ReportedAccount) (cleanup.AccountReport, error) {
	c.init()
	if len(accounts) == 0 {
		return cleanup.AccountReport{}, nil
	}
	if len(accounts) > cleanup.ReportBatchMax {
		return cleanup.AccountReport{}, cleanup.Invalid("accounts", "at most %d accounts per report, got %d", cleanup.ReportBatchMax, len(accounts))
	}
	t, err := c.Tenants.GetTenant(ctx, clientKey)
	if err != nil {
		return cleanup.AccountReport{}, &cleanup.Error{Kind: cleanup.KindNotFound, Message: "the installation is unknown", Err: err}
	}
	if t.SharedSecret == "" {
		return cleanup.AccountReport{}, &cleanup.Error{Kind: cleanup.KindNotConfigured, Message: "the installation has no shared secret"}
	}
	o := c.Atlassian.withDefaults()
	u, err := url.Parse(o.OrgAPIURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return cleanup.AccountReport{}, cleanup.Invalid("orgApiUrl", "%q is not an http(s) URL", o.OrgAPIURL)
	}
	rt, timeout := o.baseTransport()
	hc := &http.Client{Transport: rt, Timeout: timeout, CheckRedirect: noRedirect}
	var signErr error
	auth := func(r *http.Request) {
		if err := connect.SignAppRequest(r, t, t.AppKey, o.Now()); err != nil {
			signErr = err
		}
	}
	cl := newCaller(hc, o, privacyService, auth)
	type item struct {
		AccountID string `json:"accountId"`
		UpdatedAt string `json:"updatedAt"`
	}
	body := struct {
		Accounts []item `json:"accounts"`
	}{Accounts: make([]item, len(accounts))}
	for i, a := range accounts {
		body.Accounts[i] = item{AccountID: a.AccountID, UpdatedAt: a.UpdatedAt.UTC().Format(time.RFC3339Nano)}
	}
	res, err := cl.do(ctx, call{method: http.MethodPost, url: strings.TrimSuffix(u.String(), "/") + reportAccountsPath,
		body: body, op: "report accounts"})
	if signErr != nil {
		return cleanup.AccountReport{}, fmt.Errorf("atlassian: sign the personal data report: %w", signErr)
	}
	if err != nil {
		return cleanup.AccountReport{}, err
	}
	out := cleanup.AccountReport{Cycle: cyclePeriod(res.header.Get("Cycle-Period"))}
	if res.status == http.StatusNoContent || len(strings.TrimSpace(string(res.body))) == 0 {
		return out, nil
	}
	var ans struct {
		Accounts []struct {
			AccountID string `json:"accountId"`
			Status    string `json:"status"`
		} `json:"accounts"`
	}
	if err := json.Unmarshal(res.body, &ans); err != nil {
		return cleanup.AccountReport{}, &cleanup.Error{Kind: cleanup.KindOther,
			Message: privacyService + " answered the report with malformed JSON", Err: err}
	}
	asked := make(map[string]bool, len(accounts))
	for _, a := range accounts {
		asked[a.AccountID] = true
	}
	for _, a := range ans.Accounts {
		if !asked[a.AccountID] {
			continue // never act on an account we did not report
		}
		switch a.Status {
		case cleanup.ReportedClosed:
			out.Closed = append(out.Closed, a.AccountID)
		case cleanup.ReportedUpdated:
			out.Updated = append(out.Updated, a.AccountID)
		}
	}
	return out, nil
}

// cyclePeriod reads the Cycle-Period header (see the note above): 0 when
// absent or unreadable.
func cyclePeriod(v string) time.Duration {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	switch {
	case err != nil || n <= 0:
		return 0
	case n <= 366:
		return time.Duration(n) * 24 * time.Hour
	default:
		return time.Duration(min(n, 366*24*3600)) * time.Second
	}
}
