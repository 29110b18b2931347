package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// TestErasePersonalDataWarningsAndMessages: erasing a closed account
// tombstones its warnings too (name, e-mail, account id) and removes its
// address and name from row messages and the mail server's answers; the
// same account at another tenant, and the erased tenant's other accounts,
// keep everything; the audit entry counts what changed.
func TestErasePersonalDataWarningsAndMessages(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := twoTenants(t, b)
			cs := s.Cleanups(nil)
			const acc, name, email = "557058:closing", "Ada Closing", "ada.closing@example.com"
			for _, ck := range []string{"ck-a", "ck-b"} {
				runID := insertRun(t, s, ck, false, true, cleanup.DefaultSettings())
				for i, a := range []struct{ id, name, email string }{{acc, name, email}, {"557058:other", "Bo Other", "bo@example.com"}} {
					if err := s.db.Exec(`INSERT INTO run_users (run_id, client_key, account_id, name, email, action, outcome, message, email_key, created_at, updated_at)
						VALUES (?, ?, ?, ?, ?, 'review', 'review', ?, ?, ?, ?)`, runID, ck, a.id, a.name, a.email,
						"Needs manual action: "+a.email+" is hidden", EmailKey(a.email), exportT0, exportT0).Error; err != nil {
						t.Fatal(err)
					}
					w := warningRow{ClientKey: ck, CleanupID: 1, AccountID: a.id, Name: a.name, Email: a.email, State: "closed",
						WarnRunID: runID, WarnedAt: exportT0, RemovalDate: exportT0, Message: "spared", EmailStatus: "failed",
						EmailMessage: "550 mailbox " + a.email + " unknown", CreatedAt: exportT0.Add(time.Duration(i) * time.Second), UpdatedAt: exportT0}
					if err := s.db.Create(&w).Error; err != nil {
						t.Fatal(err)
					}
				}
			}
			er, err := cs.ErasePersonalData(ctx, "ck-a", acc, "closed-account-0123456789ab", exportT0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if er.Deferred || er.RunRows != 1 || er.Warnings != 1 {
				t.Fatalf("erasure %+v, want one row and one warning", er)
			}
			dump := func(ck string) string {
				var b strings.Builder
				for _, q := range []string{
					`SELECT account_id || '|' || name || '|' || email || '|' || email_key || '|' || message FROM run_users WHERE client_key = ? ORDER BY id`,
					`SELECT account_id || '|' || name || '|' || email || '|' || message || '|' || email_message FROM warnings WHERE client_key = ? ORDER BY id`,
				} {
					var lines []string
					if err := s.db.Raw(q, ck).Scan(&lines).Error; err != nil {
						t.Fatal(err)
					}
					b.WriteString(strings.Join(lines, "\n") + "\n")
				}
				return b.String()
			}
			a, other := dump("ck-a"), dump("ck-b")
			for _, needle := range []string{acc, name, email} {
				if strings.Contains(a, needle) {
					t.Errorf("ck-a still has %q:\n%s", needle, a)
				}
				if !strings.Contains(other, needle) {
					t.Errorf("ck-b lost %q:\n%s", needle, other)
				}
			}
			if !strings.Contains(a, "bo@example.com") || strings.Count(a, "closed-account-0123456789ab|"+cleanup.ClosedAccountName) != 2 {
				t.Errorf("ck-a after the erasure:\n%s", a)
			}
			erasures, err := cs.Erasures(ctx, "ck-a")
			if err != nil || len(erasures) != 1 || erasures[0].RunRows != 1 || erasures[0].Warnings != 1 {
				t.Errorf("audit %+v, %v", erasures, err)
			}
			if e, _ := cs.Erasures(ctx, "ck-b"); len(e) != 0 {
				t.Errorf("ck-b has audit entries %+v", e)
			}
		})
	}
}
