package main

import (
	"context"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/mailer/mailertest"
)

// shiftClock is the app's domain clock in the warnings test: real time
// plus an offset the test moves forward.
type shiftClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *shiftClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *shiftClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// TestWarnBeforeRemoving runs the app in-process (serve's wiring, River,
// the HTTP API) against the fake cloud and a local SMTP server, on SQLite
// and PostgreSQL: a scheduled cleanup with a 7-day warning warns exactly
// the inactive users (one e-mail each, placeholders filled, the tenant's
// own site only), removes nobody; the clock moves 8 days, two warned
// users use Jira again, and the schedule's next run removes exactly the
// other warned users and spares those two.
func TestWarnBeforeRemoving(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server")
	}
	onEachDatabase(t, warnBeforeRemoving)
}

// warnEnv is the running app of the warnings test.
type warnEnv struct {
	cloud *atlassiantest.Cloud
	mail  *mailertest.Server
	clock *shiftClock
	ks    *connecttest.KeyServer
	base  string
}

// warnWorld starts the fakes of the warnings tests: the cloud (seed 19,
// 240 accounts), a local SMTP server and an install-keys server.
func warnWorld(t *testing.T, o mailertest.Options) (*atlassiantest.Cloud, *mailertest.Server, *connecttest.KeyServer) {
	t.Helper()
	cloud := atlassiantest.New(atlassiantest.Options{Seed: 19, Users: 240})
	t.Cleanup(cloud.Close)
	mail, err := mailertest.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mail.Close)
	ks, err := connecttest.NewKeyServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ks.Close)
	return cloud, mail, ks
}

func startWarnApp(t *testing.T, databaseURL string) *warnEnv {
	t.Helper()
	cloud, mail, ks := warnWorld(t, mailertest.Options{Username: "app", Password: "smtp-password-of-the-test-0123"})
	addr := freeAddr(t)
	w := &warnEnv{cloud: cloud, mail: mail, clock: &shiftClock{}, ks: ks, base: "http://" + addr}
	env := map[string]string{
		"ADDR": addr, "BASE_URL": w.base, "DATABASE_URL": databaseURL, "ENCRYPTION_KEY": testKeyB64(),
		"CONNECT_INSTALL_KEYS_URLS": ks.URL, "CONNECT_ALLOWED_HOSTS": "127.0.0.1", "ORG_API_URL": cloud.APIURL(),
		"JOB_SCHEDULE_EVERY": "1s", "JOB_RESCUE_AFTER": "10s", "LOG_LEVEL": "debug",
		"SMTP_HOST": mail.Host(), "SMTP_PORT": strconv.Itoa(mail.Port()), "SMTP_TLS": "none",
		"SMTP_USERNAME": "app", "SMTP_PASSWORD": "smtp-password-of-the-test-0123",
		"SMTP_FROM": "User Cleanup <cleanup@example.com>", "SMTP_RATE": "200",
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- serveWith(ctx, envFunc(env), logs, serveOptions{transport: ks.Client().Transport, now: w.clock.Now})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", tail(logs.String(), 6000))
		}
		if strings.Contains(logs.String(), "smtp-password-of-the-test") {
			t.Error("the log contains the SMTP password")
		}
	})
	waitHealthy(t, w.base+"/healthz", done)
	return w
}

// tenantAPI installs a tenant of the product and stores its settings: the
// organization section, and the sections in settings (PATCH /api/settings).
func (w *warnEnv) tenantAPI(t *testing.T, p connect.Product, clientKey string, settings map[string]any) *apiClient {
	t.Helper()
	site := w.cloud.Site(p)
	app := connect.DescriptorParams{Product: p, BaseURL: w.base, AppKey: defaultAppKey}.App()
	tenant := signedInstall(t, w.ks, site, app, clientKey, "shared-secret-of-"+clientKey+"-0123456789")
	api := &apiClient{t: t, base: app.BaseURL + "/api", tenant: tenant, account: orgAdmin(t, w.cloud)}
	settings["organization"] = map[string]any{"orgId": w.cloud.OrgID(), "apiKey": "test-org-api-key"}
	if code := api.do(http.MethodPatch, "/settings", settings, nil); code != http.StatusOK {
		t.Fatalf("patch settings: %d", code)
	}
	return api
}

// warnRow is a row of Show users with its warning.
type warnRow struct {
	apiRow
	Warning *struct {
		RemovalDate string `json:"removalDate"`
		EmailStatus string `json:"emailStatus"`
	} `json:"warning"`
}

func (c *apiClient) warnRows(id int64) []warnRow { return runRows[warnRow](c, id) }

// accountsWith returns the accounts of the rows with the outcome, sorted.
func accountsWith(rows []warnRow, outcome string) []string {
	set := map[string]bool{}
	for _, r := range rows {
		if r.Outcome == outcome {
			set[r.AccountID] = true
		}
	}
	var out []string
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

const warnMessage = "Hi {name}, your {product} access on {site} ends on {removalDate} ({reason}; last seen {lastActive})."

func warnBeforeRemoving(t *testing.T, databaseURL string) {
	w := startWarnApp(t, databaseURL)
	jsw, _ := w.cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	conf, _ := w.cloud.GroupByName(atlassiantest.GroupConfluence)
	jira := w.tenantAPI(t, connect.Jira, "warn-jira", map[string]any{})
	// Confluence's licensing groups chosen by hand (this install carries no
	// cloud id, so they cannot be found).
	wiki := w.tenantAPI(t, connect.Confluence, "warn-confluence", map[string]any{
		"products": map[string]any{"licensingGroups": map[string][]string{cleanup.ProductConfluence: {conf.ID}}}})
	create := func(api *apiClient, group string) int64 {
		var c struct {
			ID int64 `json:"id"`
		}
		def := map[string]any{"name": "Inactive with warning", "action": cleanup.ActionRemoveProductAccess,
			"licensingGroupIds": []string{group}, "daysInactive": 60,
			"warning":  map[string]any{"enabled": true, "days": 7, "subject": "Access to {product} on {site}", "message": warnMessage, "replyTo": "it-help@example.com"},
			"schedule": map[string]any{"active": true, "frequency": "daily", "timeOfDay": "03:00", "timeZone": "UTC"}}
		if code := api.do(http.MethodPost, "/cleanups", def, &c); code != http.StatusCreated {
			t.Fatalf("create cleanup: %d", code)
		}
		return c.ID
	}
	jiraCleanup, wikiCleanup := create(jira, jsw.ID), create(wiki, conf.ID)
	finished := func(r apiRun) bool { return r.Status != cleanup.RunQueued && r.Status != cleanup.RunRunning }
	start := func(api *apiClient, id int64, dry bool) apiRun {
		var out struct {
			RunID int64 `json:"runId"`
		}
		if code := api.do(http.MethodPost, fmt.Sprintf("/cleanups/%d/run", id), map[string]bool{"dryRun": dry}, &out); code != http.StatusAccepted {
			t.Fatalf("start run: %d", code)
		}
		return api.waitRun(out.RunID, 60*time.Second, finished)
	}

	// A dry run shows who would be warned and sends nothing.
	dry := start(jira, jiraCleanup, true)
	wouldWarn := accountsWith(jira.warnRows(dry.ID), cleanup.OutcomeWarned)
	if dry.Status != cleanup.RunSucceeded || len(wouldWarn) < 10 || len(w.mail.Messages()) != 0 {
		t.Fatalf("dry run %s: %d would be warned, %d e-mails", dry.Status, len(wouldWarn), len(w.mail.Messages()))
	}

	// Run now: the inactive users are warned, nobody loses access.
	first := start(jira, jiraCleanup, false)
	rows := jira.warnRows(first.ID)
	warned := accountsWith(rows, cleanup.OutcomeWarned)
	if first.Status != cleanup.RunSucceeded || !slices.Equal(warned, wouldWarn) {
		t.Fatalf("first run %s: warned %d users, the dry run said %d", first.Status, len(warned), len(wouldWarn))
	}
	if calls := w.cloud.Calls(); len(calls) != 0 {
		t.Fatalf("the warning run removed %d memberships", len(calls))
	}
	var removal string
	for _, r := range rows {
		if r.Outcome == cleanup.OutcomeWarned && r.Warning != nil {
			removal = r.Warning.RemovalDate
		}
	}
	if removal == "" {
		t.Fatal("the warned rows carry no warning")
	}
	checkWarningMails(t, w, warned, "Jira Software")
	first = jira.run(first.ID)
	failed := 0
	for _, r := range jira.warnRows(first.ID) {
		if r.Warning != nil && r.Warning.EmailStatus == cleanup.EmailFailed {
			u, _ := w.cloud.User(r.AccountID)
			if _, err := mail.ParseAddress(u.Email); err == nil {
				t.Errorf("e-mail to a valid address %q failed", u.Email)
			}
			failed++
		}
	}
	if wc := first.Counts.Warnings; wc == nil || wc.Warned != len(warned) || wc.EmailSent+wc.EmailFailed+wc.NoAddress != len(warned) || wc.EmailFailed == 0 && failed > 0 {
		t.Errorf("first run counts %+v for %d warned users", wc, len(warned))
	}

	// The other tenant's cleanup warns its own users about its own site.
	w.mail.Reset()
	other := start(wiki, wikiCleanup, false)
	if other.Status != cleanup.RunSucceeded {
		t.Fatalf("confluence run %s", other.Status)
	}
	checkWarningMails(t, w, accountsWith(wiki.warnRows(other.ID), cleanup.OutcomeWarned), "Confluence")

	// The schedule list shows the open warnings.
	var list struct {
		Cleanups []cleanup.Cleanup `json:"cleanups"`
	}
	jira.do(http.MethodGet, "/cleanups", nil, &list)
	if len(list.Cleanups) != 1 || list.Cleanups[0].Warnings == nil || list.Cleanups[0].Warnings.Open != len(warned) {
		t.Fatalf("schedule list: %+v", list.Cleanups)
	}

	// Eight days later two warned users are back in Jira; the schedule's
	// next run removes the others and spares them.
	w.mail.Reset()
	w.clock.advance(8 * 24 * time.Hour)
	back := []string{warned[0], warned[len(warned)-1]}
	for _, a := range back {
		if !w.cloud.SetLastActive(a, cleanup.ProductJiraSoftware, w.clock.Now()) {
			t.Fatalf("cannot make %s active", a)
		}
	}
	second := jira.waitScheduledRun(first.ID, 90*time.Second)
	rows = jira.warnRows(second.ID)
	if got := accountsWith(rows, cleanup.OutcomeSpared); !slices.Equal(got, sortedCopy(back)) {
		t.Errorf("spared %v, want %v", got, back)
	}
	removedRows := map[string]bool{}
	for _, c := range w.cloud.Calls() {
		if c.Result == "removed" && c.GroupID == jsw.ID {
			removedRows[c.AccountID] = true
		}
	}
	var wantRemoved []string
	for _, a := range warned {
		if !slices.Contains(back, a) {
			wantRemoved = append(wantRemoved, a)
		}
	}
	if got := sortedKeys(removedRows); !slices.Equal(got, wantRemoved) {
		t.Errorf("removed %d users, want the %d warned users still inactive:\nextra %v\nmissing %v",
			len(got), len(wantRemoved), minus(got, wantRemoved), minus(wantRemoved, got))
	}
	wc := second.Counts.Warnings
	t.Logf("first run warned %d users; the next run removed %d, spared %d, warned %d more", len(warned), len(removedRows),
		len(accountsWith(rows, cleanup.OutcomeSpared)), len(accountsWith(rows, cleanup.OutcomeWarned)))
	if wc == nil || wc.Removed != len(wantRemoved) || wc.Spared != 2 {
		t.Errorf("second run counts %+v, want removed %d, spared 2", wc, len(wantRemoved))
	}
	warnedMail := map[string]bool{}
	for _, a := range warned {
		if u, _ := w.cloud.User(a); u.Email != "" {
			warnedMail[strings.ToLower(u.Email)] = true
		}
	}
	for _, m := range w.mail.Messages() {
		p, err := m.Parse()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(p.Subject, "Jira Software") && warnedMail[strings.ToLower(m.To[0])] {
			t.Errorf("a warned user got a second warning: %v", m.To)
		}
	}
}

// checkWarningMails checks one e-mail per warned user with an address, to
// that address, with every placeholder filled and only the tenant's own
// product and site.
func checkWarningMails(t *testing.T, w *warnEnv, warned []string, product string) {
	t.Helper()
	want := map[string]atlassiantest.User{}
	for _, a := range warned {
		u, _ := w.cloud.User(a)
		// The seed has a few malformed addresses: their e-mails fail
		// (checked on the rows), nothing is sent.
		if _, err := mail.ParseAddress(u.Email); u.Email != "" && err == nil {
			want[strings.ToLower(u.Email)] = u
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(w.mail.Messages()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	msgs := w.mail.Messages()
	if len(msgs) != len(want) {
		got := map[string]bool{}
		for _, m := range msgs {
			got[strings.ToLower(m.To[0])] = true
		}
		for e := range want {
			if !got[e] {
				t.Logf("no e-mail to %s", e)
			}
		}
		t.Fatalf("%d e-mails, want one per warned user with an address (%d)", len(msgs), len(want))
	}
	site := w.cloud.Site(connect.Jira)
	if product == "Confluence" {
		site = w.cloud.Site(connect.Confluence)
	}
	host := strings.TrimSuffix(strings.TrimPrefix(site.BaseURL(), "http://"), "/wiki")
	seen := map[string]int{}
	for _, m := range msgs {
		if len(m.To) != 1 {
			t.Fatalf("recipients %v", m.To)
		}
		to := strings.ToLower(m.To[0])
		seen[to]++
		u, ok := want[to]
		if !ok {
			t.Errorf("e-mail to %s, who was not warned", to)
			continue
		}
		p, err := m.Parse()
		if err != nil {
			t.Fatal(err)
		}
		if p.Subject != "Access to "+product+" on "+host {
			t.Errorf("subject %q", p.Subject)
		}
		for _, s := range []string{"Hi " + u.Name + ",", product, host, "inactive in " + product} {
			if !strings.Contains(p.Text, s) {
				t.Errorf("e-mail to %s lacks %q:\n%s", to, s, p.Text)
			}
		}
		if strings.ContainsAny(p.Text, "{}") || strings.Contains(p.HTML, "{name}") || !strings.Contains(p.Header.Get("Reply-To"), "it-help@example.com") {
			t.Errorf("e-mail to %s: unfilled placeholder or no Reply-To:\n%s", to, p.Text)
		}
		for _, other := range w.cloud.Sites() {
			oh := strings.TrimSuffix(strings.TrimPrefix(other.BaseURL(), "http://"), "/wiki")
			if oh != host && strings.Contains(p.Text+p.HTML, oh) {
				t.Errorf("e-mail to %s names another tenant's site %s", to, oh)
			}
		}
	}
	for to, n := range seen {
		if n != 1 {
			t.Errorf("%s got %d e-mails", to, n)
		}
	}
}

// waitScheduledRun waits for the first run newer than after to finish.
func (c *apiClient) waitScheduledRun(after int64, timeout time.Duration) apiRun {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var page struct {
			Items []apiRun `json:"items"`
		}
		c.do(http.MethodGet, "/runs?perPage=5", nil, &page)
		if len(page.Items) > 0 && page.Items[0].ID > after {
			return c.waitRun(page.Items[0].ID, timeout, func(r apiRun) bool {
				return r.Status != cleanup.RunQueued && r.Status != cleanup.RunRunning
			})
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.t.Fatal("no scheduled run came")
	return apiRun{}
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
