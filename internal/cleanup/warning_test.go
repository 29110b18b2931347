package cleanup_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/cleanup/cleanuptest"
)

var warnAt = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func pageUser(id, email string) cleanup.OrgUser {
	return cleanup.OrgUser{AccountID: id, Name: "User " + id, Email: email}
}

func pendingRow(id, group string) cleanup.AffectedUser {
	return cleanup.AffectedUser{RunID: 9, AccountID: id, GroupID: group, Product: "jira-software", Action: cleanup.ActionRemoveProductAccess,
		Outcome: cleanup.OutcomePending, Reason: "inactive in Jira Software for 120 days (threshold 90)",
		LastActive: map[string]time.Time{"jira-software": warnAt.AddDate(0, 0, -120)}}
}

// TestPlanWarnings pins the two steps per user: a new match is warned
// (held, a warning created); an open warning before its date holds the
// rows (grace); a due one lets them through (closing); a warned user no
// longer matched is spared with a row; a dry run records nothing.
func TestPlanWarnings(t *testing.T) {
	wc := cleanup.WarningContext{Options: cleanup.WarningOptions{Enabled: true, Days: 7}, CleanupID: 3, RunID: 9, At: warnAt,
		Products: map[string]string{"jira-software": "Jira Software"}}
	users := []cleanup.OrgUser{pageUser("new", "new@example.com"), pageUser("noaddr", ""), pageUser("grace", "g@example.com"),
		pageUser("due", "d@example.com"), pageUser("back", "b@example.com"), pageUser("protected", "p@example.com"), pageUser("other", "o@example.com")}
	rows := []cleanup.AffectedUser{pendingRow("new", "g1"), pendingRow("new", "g2"), pendingRow("noaddr", "g1"),
		pendingRow("grace", "g1"), pendingRow("due", "g1"), pendingRow("protected", "g1")}
	rows[5].Outcome, rows[5].Message = cleanup.OutcomeSkipped, "protected: the account is an exception"
	open := map[string]cleanup.Warning{
		"grace":     {ID: 1, AccountID: "grace", WarnRunID: 4, WarnedAt: warnAt.AddDate(0, 0, -3), RemovalDate: warnAt.AddDate(0, 0, 4)},
		"due":       {ID: 2, AccountID: "due", WarnRunID: 4, WarnedAt: warnAt.AddDate(0, 0, -7), RemovalDate: warnAt},
		"back":      {ID: 3, AccountID: "back", Name: "User back", WarnRunID: 4, WarnedAt: warnAt.AddDate(0, 0, -8), RemovalDate: warnAt.AddDate(0, 0, -1)},
		"protected": {ID: 4, AccountID: "protected", WarnRunID: 4, WarnedAt: warnAt.AddDate(0, 0, -8), RemovalDate: warnAt.AddDate(0, 0, -1)},
	}
	p := cleanup.PlanWarnings(wc, users, rows, open)
	type line struct{ Account, Group, Outcome, Message string }
	var got []line
	for _, r := range p.Rows {
		got = append(got, line{r.AccountID, r.GroupID, r.Outcome, r.Message})
	}
	want := []line{
		{"new", "g1", cleanup.OutcomeWarned, "warned by e-mail; removal on 2026-03-09"},
		{"new", "g2", cleanup.OutcomeWarned, "warned by e-mail; removal on 2026-03-09"},
		{"noaddr", "g1", cleanup.OutcomeWarned, "warned without e-mail (no address); removal on 2026-03-09"},
		{"grace", "g1", cleanup.OutcomeGrace, "warned on 2026-02-27; removal on 2026-03-06 unless active before"},
		{"due", "g1", cleanup.OutcomePending, ""},
		{"protected", "g1", cleanup.OutcomeSkipped, "protected: the account is an exception"},
		{"back", "", cleanup.OutcomeSpared, "spared: active since the warning, or no longer selected; the warning of 2026-02-22 is closed"},
		{"protected", "", cleanup.OutcomeSpared, "spared: protected: the account is an exception; the warning of 2026-02-22 is closed"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	var ops []string
	for _, c := range p.Changes {
		ops = append(ops, c.Op+" "+c.Warning.AccountID+" "+c.Warning.EmailStatus)
	}
	wantOps := []string{"create new queued", "create noaddr no-address", "link grace ", "closing due ", "spare back ", "spare protected "}
	if diff := cmp.Diff(wantOps, ops); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	nw := p.Changes[0].Warning
	if nw.Product != "Jira Software" || !nw.RemovalDate.Equal(warnAt.AddDate(0, 0, 7)) || !nw.LastActive.Equal(warnAt.AddDate(0, 0, -120)) || nw.WarnRunID != 9 {
		t.Errorf("new warning %+v", nw)
	}

	// Planned again (a crash before the commit): the same result.
	again := cleanup.PlanWarnings(wc, users, freshRows(rows), open)
	if len(again.Changes) != len(p.Changes) {
		t.Errorf("planned again: %d changes, want %d", len(again.Changes), len(p.Changes))
	}
	// A warning this run created counts as new when the page is planned again.
	open["new"] = cleanup.Warning{ID: 5, AccountID: "new", WarnRunID: 9, WarnedAt: warnAt, RemovalDate: warnAt.AddDate(0, 0, 7)}
	re := cleanup.PlanWarnings(wc, users, freshRows(rows), open)
	if re.Rows[0].Outcome != cleanup.OutcomeWarned || re.Changes[0].Op != cleanup.WarnCreate {
		t.Errorf("re-planned page: %+v / %+v", re.Rows[0], re.Changes[0])
	}

	// A dry run creates, closes and spares nothing: links only.
	wc.DryRun = true
	dry := cleanup.PlanWarnings(wc, users, freshRows(rows), open)
	for _, c := range dry.Changes {
		if c.Op != cleanup.WarnLink {
			t.Errorf("dry run change %s %s", c.Op, c.Warning.AccountID)
		}
	}
	if !strings.HasPrefix(dry.Rows[2].Message, "dry run, nothing sent or recorded: would be warned") {
		t.Errorf("dry-run row %q", dry.Rows[2].Message)
	}
}

func freshRows(rows []cleanup.AffectedUser) []cleanup.AffectedUser {
	out := make([]cleanup.AffectedUser, len(rows))
	copy(out, rows)
	for i := range out {
		if out[i].Outcome != cleanup.OutcomeSkipped {
			out[i].Outcome, out[i].Message = cleanup.OutcomePending, ""
		}
	}
	return out
}

// TestPlanWarningsHonoursOpenWarnings: a warning given binds the cleanup
// to the date it announced, whatever the option says now. Switched off,
// nobody new is warned (the rows act as usual) while open warnings are
// held before their date, acted on at or after it, and spared when their
// user is no longer matched; with fewer days, an open warning keeps its
// date and only new warnings get the new one.
func TestPlanWarningsHonoursOpenWarnings(t *testing.T) {
	open := func() map[string]cleanup.Warning {
		return map[string]cleanup.Warning{
			"held": {ID: 1, AccountID: "held", WarnRunID: 4, WarnedAt: warnAt.AddDate(0, 0, -3), RemovalDate: warnAt.AddDate(0, 0, 4)},
			"due":  {ID: 2, AccountID: "due", WarnRunID: 4, WarnedAt: warnAt.AddDate(0, 0, -7), RemovalDate: warnAt},
			"back": {ID: 3, AccountID: "back", WarnRunID: 4, WarnedAt: warnAt.AddDate(0, 0, -3), RemovalDate: warnAt.AddDate(0, 0, 4)},
		}
	}
	users := []cleanup.OrgUser{pageUser("held", "h@example.com"), pageUser("due", "d@example.com"),
		pageUser("back", "b@example.com"), pageUser("new", "n@example.com")}
	type line struct{ Account, Outcome, Message string }
	for _, tc := range []struct {
		name    string
		options cleanup.WarningOptions
		rows    []line
		ops     []string
	}{
		{
			name:    "switched off",
			options: cleanup.WarningOptions{Enabled: false, Days: 7},
			rows: []line{
				{"held", cleanup.OutcomeGrace, "warned on 2026-02-27; removal on 2026-03-06 unless active before"},
				{"due", cleanup.OutcomePending, ""},
				{"new", cleanup.OutcomePending, ""},
				{"back", cleanup.OutcomeSpared, "spared: active since the warning, or no longer selected; the warning of 2026-02-27 is closed"},
			},
			ops: []string{"link held", "closing due", "spare back"},
		},
		{
			name:    "one day instead of seven",
			options: cleanup.WarningOptions{Enabled: true, Days: 1},
			rows: []line{
				{"held", cleanup.OutcomeGrace, "warned on 2026-02-27; removal on 2026-03-06 unless active before"},
				{"due", cleanup.OutcomePending, ""},
				{"new", cleanup.OutcomeWarned, "warned by e-mail; removal on 2026-03-03"},
				{"back", cleanup.OutcomeSpared, "spared: active since the warning, or no longer selected; the warning of 2026-02-27 is closed"},
			},
			ops: []string{"link held", "closing due", "spare back", "create new"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wc := cleanup.WarningContext{Options: tc.options, CleanupID: 3, RunID: 9, At: warnAt}
			rows := []cleanup.AffectedUser{pendingRow("held", "g1"), pendingRow("due", "g1"), pendingRow("new", "g1")}
			p := cleanup.PlanWarnings(wc, users, rows, open())
			var got []line
			for _, r := range p.Rows {
				got = append(got, line{r.AccountID, r.Outcome, r.Message})
			}
			if diff := cmp.Diff(tc.rows, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			var ops []string
			for _, c := range p.Changes {
				ops = append(ops, c.Op+" "+c.Warning.AccountID)
			}
			if diff := cmp.Diff(tc.ops, ops); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRowWarningAuditOutcome: the audit cell says when a warning was
// cancelled, and why.
func TestRowWarningAuditOutcome(t *testing.T) {
	for _, tc := range []struct {
		w    cleanup.RowWarning
		want string
	}{
		{cleanup.RowWarning{State: cleanup.WarningWarned, EmailStatus: cleanup.EmailSent}, "sent"},
		{cleanup.RowWarning{State: cleanup.WarningRemoved, EmailStatus: cleanup.EmailFailed, EmailMessage: "550 no such user"}, "failed: 550 no such user"},
		{cleanup.RowWarning{State: cleanup.WarningCancelled, EmailStatus: cleanup.EmailSent, Message: cleanup.CancelledDeleted},
			"sent; warning cancelled: the cleanup was deleted: nobody is removed for this warning"},
		{cleanup.RowWarning{State: cleanup.WarningCancelled, EmailStatus: cleanup.EmailFailed, EmailMessage: cleanup.NotSentJobFailed, Message: cleanup.CancelledNotSent},
			"failed: not sent: the sending job failed repeatedly; warning cancelled: not warned: the e-mail was not sent, so nobody is removed for this warning; the next run warns again"},
	} {
		if got := tc.w.AuditOutcome(); got != tc.want {
			t.Errorf("AuditOutcome(%+v) = %q, want %q", tc.w, got, tc.want)
		}
	}
}

func TestCloseState(t *testing.T) {
	for _, tc := range []struct {
		outcomes []string
		want     string
	}{
		{[]string{cleanup.OutcomeDone, cleanup.OutcomeExported}, cleanup.WarningRemoved},
		{[]string{cleanup.OutcomeDone, cleanup.OutcomeFailed}, cleanup.WarningFailed},
		{[]string{cleanup.OutcomeManual}, cleanup.WarningFailed},
		{nil, cleanup.WarningSpared},
	} {
		if got, _ := cleanup.CloseState(tc.outcomes); got != tc.want {
			t.Errorf("CloseState(%v) = %s, want %s", tc.outcomes, got, tc.want)
		}
	}
}

// TestRenderWarning: placeholders filled in subject, text and HTML; the
// admin's text and the values are escaped in the HTML; the subject stays
// one line.
func TestRenderWarning(t *testing.T) {
	o := cleanup.WarningOptions{Enabled: true, Days: 7, Subject: "{product} on {site}\r\nBcc: x@evil.example",
		Message: "Hi {name},\n\nlog in before {removalDate}.\nLast: {lastActive}; {reason}\n\n<b>not bold</b>", ReplyTo: "help@example.com"}
	d := cleanup.WarningData{Name: `Eve <script>alert(1)</script>`, Product: "Jira Software", Site: "acme.atlassian.net",
		LastActive: time.Date(2025, 11, 2, 0, 0, 0, 0, time.UTC), RemovalDate: time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC), Reason: "inactive for 120 days"}
	m, err := cleanup.RenderWarning(o, d, "eve@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Jira Software on acme.atlassian.net Bcc: x@evil.example" {
		t.Errorf("subject %q", m.Subject)
	}
	wantText := "Hi Eve <script>alert(1)</script>,\n\nlog in before Monday 9 March 2026.\nLast: 2 November 2025; inactive for 120 days\n\n<b>not bold</b>\n"
	if m.Text != wantText {
		t.Errorf("text:\n%s\nwant:\n%s", m.Text, wantText)
	}
	for _, s := range []string{"<p>Hi Eve &lt;script&gt;alert(1)&lt;/script&gt;,</p>", "log in before Monday 9 March 2026.<br>", "<p>&lt;b&gt;not bold&lt;/b&gt;</p>"} {
		if !strings.Contains(m.HTML, s) {
			t.Errorf("HTML lacks %q:\n%s", s, m.HTML)
		}
	}
	if strings.Contains(m.HTML, "<script>") || m.ReplyTo != "help@example.com" || m.To != "eve@example.com" {
		t.Errorf("HTML or headers wrong: %+v", m)
	}
	def, err := cleanup.RenderWarning(cleanup.WarningOptions{Days: 14}, d, "eve@example.com")
	if err != nil || !strings.Contains(def.Text, "log in to acme.atlassian.net") || strings.Contains(def.Text, "{") {
		t.Errorf("default text: %v\n%s", err, def.Text)
	}
}

func TestWarningOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		o      cleanup.WarningOptions
		action string
		field  string
	}{
		{cleanup.WarningOptions{Enabled: true, Days: 0}, cleanup.ActionRemoveProductAccess, "warning.days"},
		{cleanup.WarningOptions{Enabled: true, Days: 91}, cleanup.ActionRemoveProductAccess, "warning.days"},
		{cleanup.WarningOptions{Enabled: true, Days: 7, Message: "Hi {nmae}"}, cleanup.ActionDeactivate, "warning.message"},
		{cleanup.WarningOptions{Enabled: true, Days: 7, Subject: "a\nb"}, cleanup.ActionDeactivate, "warning.subject"},
		{cleanup.WarningOptions{Enabled: true, Days: 7, ReplyTo: "Help <help@example.com>"}, cleanup.ActionDeactivate, "warning.replyTo"},
		{cleanup.WarningOptions{Enabled: true, Days: 7}, cleanup.ActionReview, "warning.enabled"},
	} {
		fe := cleanup.FieldErrors{}
		tc.o.Validate(fe, "warning", tc.action)
		if _, ok := fe[tc.field]; !ok || len(fe) != 1 {
			t.Errorf("%+v: errors %v, want one for %s", tc.o, fe, tc.field)
		}
	}
	fe := cleanup.FieldErrors{}
	cleanup.WarningOptions{Enabled: true, Days: 90, Message: "{name} {product} {site} {lastActive} {removalDate} {reason}", ReplyTo: "it@example.com"}.Validate(fe, "warning", cleanup.ActionEntra)
	if len(fe) > 0 {
		t.Errorf("valid options: %v", fe)
	}
}

// TestNotifierSendBatch: sent, refused (5xx, recorded with the answer)
// and deferred (4xx: queued again, the job retried; on the last attempt
// failed); an e-mail found marked sending (a crash mid-send) is
// unconfirmed and not sent again; no address ever gets two e-mails.
func TestNotifierSendBatch(t *testing.T) {
	ctx := context.Background()
	d := cleanup.DefaultDefinition()
	d.Warning = cleanup.WarningOptions{Enabled: true, Days: 7, Subject: "{name}: {product} on {site}"}
	w := func(acc, email, status string) cleanup.Warning {
		return cleanup.Warning{ClientKey: "ck", WarnRunID: 1, AccountID: acc, Name: acc, Email: email, Product: "Jira Software",
			RemovalDate: warnAt.AddDate(0, 0, 7), State: cleanup.WarningWarned, EmailStatus: status}
	}
	st := cleanuptest.NewWarnings("acme.atlassian.net", d, w("a", "a@example.com", cleanup.EmailQueued), w("b", "b@example.com", cleanup.EmailQueued),
		w("c", "c@example.com", cleanup.EmailQueued), w("d", "d@example.com", cleanup.EmailSending), w("e", "", cleanup.EmailNoAddress))
	m := &cleanuptest.Mailer{}
	m.Answer("b@example.com", &cleanup.MailError{Code: 550, Answer: "550 5.1.1 mailbox unavailable"})
	m.Answer("c@example.com", &cleanup.MailError{Temporary: true, Code: 451, Answer: "451 4.3.0 try again later"},
		&cleanup.MailError{Temporary: true, Code: 451, Answer: "451 4.3.0 still busy"})
	n, err := cleanup.NewNotifier(cleanup.NotifierConfig{Store: st, Mailer: m})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.SendBatch(ctx, "ck", 1, 1, 5, false); err == nil {
		t.Fatal("a deferred e-mail must ask for a retry")
	}
	if err := n.SendBatch(ctx, "ck", 1, 1, 5, true); err != nil {
		t.Fatalf("last attempt: %v", err)
	}
	got := map[string]string{}
	for _, x := range st.All() {
		got[x.AccountID] = x.EmailStatus + " " + x.EmailMessage
	}
	want := map[string]string{
		"a": "sent ", "b": "failed 550 5.1.1 mailbox unavailable", "c": "failed 451 4.3.0 still busy",
		"d": "unconfirmed " + cleanup.Unconfirmed, "e": "no-address ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	sent := m.Sent()
	if len(sent) != 1 || sent[0].To != "a@example.com" || sent[0].Subject != "a: Jira Software on acme.atlassian.net" {
		t.Errorf("sent %+v", sent)
	}

	// The server cannot be reached: the batch is retried, then failed.
	st = cleanuptest.NewWarnings("acme.atlassian.net", d, w("f", "f@example.com", cleanup.EmailQueued))
	m = &cleanuptest.Mailer{}
	m.FailDial(&cleanup.MailError{Temporary: true, Answer: "connect: connection refused"})
	n, _ = cleanup.NewNotifier(cleanup.NotifierConfig{Store: st, Mailer: m})
	if err := n.SendBatch(ctx, "ck", 1, 1, 1, false); err == nil || st.All()[0].EmailStatus != cleanup.EmailQueued {
		t.Errorf("unreachable server: %v, %s", err, st.All()[0].EmailStatus)
	}
	if err := n.SendBatch(ctx, "ck", 1, 1, 1, true); err != nil || st.All()[0].EmailStatus != cleanup.EmailFailed {
		t.Errorf("unreachable server, last attempt: %v, %+v", err, st.All()[0])
	}
	var me *cleanup.MailError
	if !errors.As(&cleanup.MailError{Answer: "x"}, &me) {
		t.Fatal("MailError is an error")
	}
}

func TestPacer(t *testing.T) {
	if cleanup.NewPacer(0) != nil {
		t.Error("no rate: no pacer")
	}
	p := cleanup.NewPacer(1000)
	ctx := context.Background()
	for range 5 {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := cleanup.NewPacer(0.001).Wait(cctx); err == nil {
		t.Error("a cancelled wait returns the context's error")
	}
}

// TestNotifierPausesBeforeDeadline: with the job's time nearly up the
// batch stops between e-mails with a pause (KindUnavailable, RetryAfter),
// leaving the rest queued, not failed.
func TestNotifierPausesBeforeDeadline(t *testing.T) {
	d := cleanup.DefaultDefinition()
	d.Warning = cleanup.WarningOptions{Enabled: true, Days: 7}
	st := cleanuptest.NewWarnings("acme.atlassian.net", d,
		cleanup.Warning{ClientKey: "ck", WarnRunID: 1, AccountID: "a", Email: "a@example.com", EmailStatus: cleanup.EmailQueued},
		cleanup.Warning{ClientKey: "ck", WarnRunID: 1, AccountID: "b", Email: "b@example.com", EmailStatus: cleanup.EmailQueued})
	m := &cleanuptest.Mailer{}
	n, _ := cleanup.NewNotifier(cleanup.NotifierConfig{Store: st, Mailer: m})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := n.SendBatch(ctx, "ck", 1, 1, 2, true)
	if cleanup.KindOf(err) != cleanup.KindUnavailable || cleanup.RetryAfterOf(err) <= 0 {
		t.Fatalf("SendBatch near the deadline = %v, want a pause", err)
	}
	for _, w := range st.All() {
		if w.EmailStatus != cleanup.EmailQueued {
			t.Errorf("%s: %s after a pause, want queued", w.AccountID, w.EmailStatus)
		}
	}
	if len(m.Sent()) != 0 {
		t.Errorf("sent %d e-mails in the reserve", len(m.Sent()))
	}
}
