package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// TestErasePersonalDataWarningsAndMessages: erasing a closed account
// tombstones its warnings, licence snapshot users and review decisions
// too (name, e-mail, account id), clears it as the admin who started a
// snapshot or decided a review, and removes its address and name from row
// messages and the mail server's answers; the
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
				// A licence snapshot the account started, listing it; a
				// review decision about it, and one it made.
				var snapID int64
				if err := s.db.Raw(`INSERT INTO snapshots (client_key, status, trigger, started_by, queued_at, finished_at, updated_at)
					VALUES (?, 'succeeded', 'manual', ?, ?, ?, ?) RETURNING id`, ck, acc, exportT0, exportT0, exportT0).Scan(&snapID).Error; err != nil {
					t.Fatal(err)
				}
				for _, a := range []struct{ id, name, email string }{{acc, name, email}, {"557058:other", "Bo Other", "bo@example.com"}} {
					if err := s.db.Exec(`INSERT INTO snapshot_users (snapshot_id, client_key, account_id, name, sort_name, email, search, band, band_order)
						VALUES (?, ?, ?, ?, ?, ?, ?, 'inactive', 2)`, snapID, ck, a.id, a.name, strings.ToLower(a.name), a.email,
						strings.ToLower(a.name+"\n"+a.email)).Error; err != nil {
						t.Fatal(err)
					}
				}
				if err := s.db.Exec(`INSERT INTO review_decisions (client_key, account_id, run_id, state, decided_by, decided_at) VALUES (?, ?, 1, 'approved', ?, ?), (?, ?, 1, 'dismissed', ?, ?)`,
					ck, acc, "557058:other", exportT0, ck, "557058:other", acc, exportT0).Error; err != nil {
					t.Fatal(err)
				}
			}
			accounts, err := cs.PersonalDataAccounts(ctx, "ck-a")
			if err != nil || len(accounts) != 2 || accounts[0].AccountID != acc {
				t.Fatalf("reported %+v, %v: want the two accounts", accounts, err)
			}
			er, err := cs.ErasePersonalData(ctx, "ck-a", acc, "closed-account-0123456789ab", exportT0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if er.Deferred || er.RunRows != 1 || er.Warnings != 1 || er.OtherRows != 4 {
				t.Fatalf("erasure %+v, want one row, one warning, a snapshot user, a snapshot and two review decisions", er)
			}
			dump := func(ck string) string {
				var b strings.Builder
				for _, q := range []string{
					`SELECT account_id || '|' || name || '|' || email || '|' || email_key || '|' || message FROM run_users WHERE client_key = ? ORDER BY id`,
					`SELECT account_id || '|' || name || '|' || email || '|' || message || '|' || email_message FROM warnings WHERE client_key = ? ORDER BY id`,
					`SELECT account_id || '|' || name || '|' || sort_name || '|' || email || '|' || search FROM snapshot_users WHERE client_key = ? ORDER BY id`,
					`SELECT started_by FROM snapshots WHERE client_key = ?`,
					`SELECT account_id || '|' || decided_by FROM review_decisions WHERE client_key = ? ORDER BY state`,
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
			if !strings.Contains(a, "bo@example.com") || strings.Count(a, "closed-account-0123456789ab|"+cleanup.ClosedAccountName) != 3 {
				t.Errorf("ck-a after the erasure:\n%s", a)
			}
			erasures, err := cs.Erasures(ctx, "ck-a")
			if err != nil || len(erasures) != 1 || erasures[0].RunRows != 1 || erasures[0].Warnings != 1 || erasures[0].OtherRows != 4 {
				t.Errorf("audit %+v, %v", erasures, err)
			}
			if accounts, err := cs.PersonalDataAccounts(ctx, "ck-a"); err != nil || len(accounts) != 1 || accounts[0].AccountID != "557058:other" {
				t.Errorf("reported after the erasure: %+v, %v", accounts, err)
			}
			if e, _ := cs.Erasures(ctx, "ck-b"); len(e) != 0 {
				t.Errorf("ck-b has audit entries %+v", e)
			}
		})
	}
}
