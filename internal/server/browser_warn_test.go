package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// TestBrowserWarningEmail: in the schedule form the admin switches on
// "Warn users before removing access", edits the message, previews it
// (the server's rendering, placeholders filled with the admin's name and
// the site, HTML in a sandboxed frame) and sends a test e-mail to their
// own address, which the local SMTP server receives; the saved schedule
// keeps the options.
func TestBrowserWarningEmail(t *testing.T) {
	e := newUIEnv(t)
	ctx := e.tab(t)
	const p = connect.Jira
	in := cleanup.SettingsInput{Settings: cleanup.DefaultSettings()}
	in.OrgID = e.cloud.OrgID()
	key := cleanup.Secret("test-org-api-key")
	in.APIKey = &key
	if _, err := e.svc.SaveSettings(cleanup.AsOperator(context.Background()), e.tenants[p].ClientKey, in); err != nil {
		t.Fatal(err)
	}
	admin, _ := e.cloud.User(e.admin)
	jsw, _ := e.cloud.GroupByName(atlassiantest.GroupJiraSoftware)

	e.open(t, ctx, p, "cleanup", e.admin)
	f := e.frame(t, ctx, "/jira/admin/cleanup")
	waitJS(t, f, "schedules", `document.querySelector('#schedules .uc-state-empty') !== null`)
	act(t, f, "add schedule", press(chromedp.ID("add-schedule")))
	waitJS(t, f, "creation form", `document.getElementById('sched-form') !== null`)
	setValue(t, f, "sched-name", "Warn first")
	act(t, f, "choose group", press(chromedp.ID("sched-lic-"+jsw.ID)))
	evalJS[bool](t, f, `(() => { const s = document.getElementById('sched-action'); s.value = 'remove-product-access'; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
	act(t, f, "warn users", press(chromedp.ID("sched-warn")))
	waitJS(t, f, "warning options", `!document.getElementById('sched-warn-box').hidden`)
	if got := evalJS[string](t, f, unlabelledJS); got != "" {
		t.Errorf("form controls without a label: %s", got)
	}
	setValue(t, f, "sched-warn-days", "7")
	setValue(t, f, "sched-warn-message", "Dear {name}, keep {product} on {site}: log in before {removalDate}. <b>Thanks</b>")
	setValue(t, f, "sched-warn-replyTo", "it-help@example.com")

	act(t, f, "preview", press(chromedp.ID("sched-warn-preview-button")))
	waitJS(t, f, "preview shown", `!document.getElementById('sched-warn-preview').hidden`)
	axeCheck(t, f, "schedule form with the warning's preview")
	html := evalJS[string](t, f, `document.getElementById('sched-warn-preview-html').srcdoc`)
	site := strings.TrimPrefix(e.cloud.Site(p).BaseURL(), "http://")
	for _, want := range []string{"Dear " + admin.Name + ",", "keep Jira Software on " + site, "&lt;b&gt;Thanks&lt;/b&gt;"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML preview lacks %q:\n%s", want, html)
		}
	}
	if strings.Contains(html, "{") || strings.Contains(html, "<b>Thanks") {
		t.Errorf("HTML preview with a placeholder left or unescaped text:\n%s", html)
	}
	if got := evalJS[string](t, f, `document.getElementById('sched-warn-preview-subject').textContent`); !strings.Contains(got, site) {
		t.Errorf("preview subject %q", got)
	}
	screenshot(t, ctx, f, "form-warning")

	act(t, f, "send test e-mail", press(chromedp.ID("sched-warn-test")))
	waitJS(t, f, "test sent", `document.getElementById('sched-warn-status').textContent.startsWith('Test e-mail sent to ')`)
	msgs := e.mail.Messages()
	if len(msgs) != 1 || !strings.EqualFold(msgs[0].To[0], admin.Email) {
		t.Fatalf("test e-mails %+v, want one to %s", msgs, admin.Email)
	}
	m, err := msgs[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Subject, "[Test] ") || !strings.Contains(m.Text, "Dear "+admin.Name+", keep Jira Software on "+site) ||
		!strings.Contains(m.Header.Get("Reply-To"), "it-help@example.com") {
		t.Errorf("test e-mail: %q\n%s", m.Subject, m.Text)
	}

	act(t, f, "create schedule", press(chromedp.ID("save-schedule")))
	waitJS(t, f, "schedule row", `document.querySelector('#schedules-table tbody tr') !== null`)
	var list struct{ Cleanups []cleanup.Cleanup }
	e.apiGet(t, p, "/cleanups", &list)
	if len(list.Cleanups) != 1 {
		t.Fatalf("cleanups %+v", list.Cleanups)
	}
	w := list.Cleanups[0].Warning
	if !w.Enabled || w.Days != 7 || w.ReplyTo != "it-help@example.com" || !strings.HasPrefix(w.Message, "Dear {name}") {
		t.Errorf("saved warning options %+v", w)
	}
}
