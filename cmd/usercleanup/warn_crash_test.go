package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/mailer/mailertest"
)

// TestWarningMailCrash SIGKILLs a real serve process while it sends a
// run's warning e-mails (each message takes the SMTP server 60 ms, so the
// kill lands mid-batch, usually between the end of a message's DATA and
// the server's answer), restarts it, and checks that the run finishes
// with every warning's e-mail settled and that no address got two
// e-mails: the e-mail in doubt is marked unconfirmed, not sent again.
func TestWarningMailCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	dbs := []struct{ name, url string }{{"sqlite", "sqlite://" + filepath.Join(t.TempDir(), "app.db")}}
	if u := os.Getenv("TEST_POSTGRES_URL"); u != "" {
		dbs = append(dbs, struct{ name, url string }{"postgres", postgresSchemaURL(t, u)})
	}
	for _, db := range dbs {
		t.Run(db.name, func(t *testing.T) { warningMailCrash(t, db.url) })
	}
}

func warningMailCrash(t *testing.T, databaseURL string) {
	cloud, mail, ks := warnWorld(t, mailertest.Options{Delay: 60 * time.Millisecond})
	addr := freeAddr(t)
	base := "http://" + addr
	env := map[string]string{
		"ADDR": addr, "BASE_URL": base, "DATABASE_URL": databaseURL, "ENCRYPTION_KEY": testKeyB64(),
		"CONNECT_INSTALL_KEYS_URLS": ks.URL, "SSL_CERT_FILE": trustKeyServer(t, ks),
		"CONNECT_ALLOWED_HOSTS": "127.0.0.1", "ORG_API_URL": cloud.APIURL(), "JOB_RESCUE_AFTER": "3s",
		"SMTP_HOST": mail.Host(), "SMTP_PORT": strconv.Itoa(mail.Port()), "SMTP_TLS": "none",
		"SMTP_FROM": "cleanup@example.com", "SMTP_RATE": "1000", "LOG_LEVEL": "debug",
	}
	first := startServe(t, env)
	site := cloud.Site(connect.Jira)
	app := connect.DescriptorParams{Product: connect.Jira, BaseURL: base, AppKey: defaultAppKey}.App()
	tenant := signedInstall(t, ks, site, app, "mail-crash", "shared-secret-of-the-mail-crash-test-0123456789")
	api := &apiClient{t: t, base: app.BaseURL + "/api", tenant: tenant, account: orgAdmin(t, cloud)}
	settings := map[string]any{"organization": map[string]any{"orgId": cloud.OrgID(), "apiKey": "test-org-api-key"}}
	if code := api.do(http.MethodPatch, "/settings", settings, nil); code != http.StatusOK {
		t.Fatalf("patch settings: %d", code)
	}
	jsw, _ := cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	var created struct {
		ID int64 `json:"id"`
	}
	def := map[string]any{"name": "Warn", "action": cleanup.ActionRemoveProductAccess, "licensingGroupIds": []string{jsw.ID},
		"daysInactive": 60, "manual": true, "warning": map[string]any{"enabled": true, "days": 7}}
	if code := api.do(http.MethodPost, "/cleanups", def, &created); code != http.StatusCreated {
		t.Fatalf("create cleanup: %d", code)
	}
	var out struct {
		RunID int64 `json:"runId"`
	}
	if code := api.do(http.MethodPost, fmt.Sprintf("/cleanups/%d/run", created.ID), map[string]bool{"dryRun": false}, &out); code != http.StatusAccepted {
		t.Fatalf("start run: %d", code)
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(mail.Messages()) < 15 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d e-mails sent", len(mail.Messages()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	first.kill(t)
	atKill := len(mail.Messages())

	startServe(t, env)
	final := api.waitRun(out.RunID, 120*time.Second, func(r apiRun) bool {
		return r.Status != cleanup.RunQueued && r.Status != cleanup.RunRunning
	})
	if final.Status != cleanup.RunSucceeded {
		t.Fatalf("run %s: %s", final.Status, final.Error)
	}
	got := map[string]int{}
	for _, m := range mail.Messages() {
		got[strings.ToLower(m.To[0])]++
	}
	status := map[string]string{}
	for _, r := range api.warnRows(out.RunID) {
		if r.Warning != nil {
			u, _ := cloud.User(r.AccountID)
			status[strings.ToLower(u.Email)] = r.Warning.EmailStatus
		}
	}
	unconfirmed := 0
	for email, s := range status {
		n := got[email]
		switch s {
		case cleanup.EmailSent:
			if n != 1 {
				t.Errorf("%s: sent, but %d e-mails arrived", email, n)
			}
		case cleanup.EmailUnconfirmed:
			unconfirmed++
			if n > 1 {
				t.Errorf("%s: in doubt and got %d e-mails", email, n)
			}
		case cleanup.EmailFailed, cleanup.EmailNoAddress:
			if n != 0 {
				t.Errorf("%s: %s but got %d e-mails", email, s, n)
			}
		default:
			t.Errorf("%s: e-mail still %s after the run finished", email, s)
		}
	}
	for email, n := range got {
		if n > 1 {
			t.Errorf("%s got %d e-mails", email, n)
		}
	}
	wc := final.Counts.Warnings
	if wc == nil || wc.EmailUnconfirmed != unconfirmed || wc.EmailPending != 0 || unconfirmed > 1 {
		t.Errorf("counts %+v; %d unconfirmed rows (one batch: at most one in doubt)", wc, unconfirmed)
	}
	t.Logf("killed after %d of %d e-mails; %d in doubt marked unconfirmed, %d e-mails in all, none twice",
		atKill, len(status), unconfirmed, len(mail.Messages()))
}
