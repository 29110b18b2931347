package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/idpexport"
)

// goldenExportT is the store clock of the golden run: the generation time
// the audit JSON records.
var goldenExportT = time.Date(2026, 12, 1, 8, 15, 30, 0, time.UTC)

// awkwardRun is a fixed run whose rows hold every value a file must carry
// exactly: commas, quotes, CR and LF, leading spaces, formula starts,
// non-ASCII (accents, CJK, emoji, U+2028), a control character, empty
// e-mails, rows that need manual action, rows of every action, products
// never used, and rows with a warning (warnedAt, removalDate, emailOutcome
// columns), including a failed e-mail whose answer has a comma and a
// newline. (No invalid UTF-8: PostgreSQL refuses to store it.)
func awkwardRun() []testRunUser {
	jira := func(email, name string) testRunUser {
		return testRunUser{email: email, name: name, group: "g-jira", groupName: "jira-users", synced: true,
			product: "jira-software", accountType: "atlassian", reason: "inactive for 412 days"}
	}
	conf := func(email, name string) testRunUser {
		return testRunUser{email: email, name: name, group: "g-conf", groupName: "Confluence, \"Users\"", synced: true,
			product: "confluence", accountType: "atlassian", reason: "never active",
			lastActive: `{"confluence":null}`}
	}
	return []testRunUser{
		jira("zoe@example.com", "Zoë Ångström"),
		jira("Bob@Example.com", "Bob \"The Builder\" Smith"),
		conf("carol@example.com", "Carol\r\nNewline"),
		jira("alice@example.com", " leading space"),
		jira("bob@example.com", "bob, duplicate"),
		jira("bad,comma@example.com", "Comma E-mail"),
		jira("", "No E-mail"),
		jira("  ", "Blank E-mail"),
		func() testRunUser {
			u := jira("ext_user_other.org#EXT#@example.onmicrosoft.com", "Guest 李雷")
			u.message = "Rerouted to the identity-provider export."
			return u
		}(),
		conf("=cmd@example.com", "+formula"),
		conf("dave@example.com", "-minus\ttab"),
		conf("émile@exämple.com", "Émile 🚀"),
		conf("eve@example.com", "line\u2028separator \x01ctl"),
		{email: "erin@example.com", name: "=HYPERLINK(\"x\")", group: "g-plain", groupName: "staff", product: "jira-software",
			action: cleanup.ActionRemoveProductAccess, outcome: cleanup.OutcomeDone, reason: "inactive for 99 days",
			accountType: "atlassian", lastActive: `{"confluence":null,"jira-software":"2025-06-01T00:00:00Z"}`},
		{email: "frank@example.com", name: "Frank", group: "g-plain", groupName: "staff", product: "jira-software",
			action: cleanup.ActionRemoveProductAccess, outcome: cleanup.OutcomeFailed, reason: "inactive for 120 days",
			accountType: "atlassian", message: "Jira answered 500: \"internal\", try again\nlater"},
		{email: "gina@example.com", name: "@Gina", group: "g-plain", groupName: "staff", product: "confluence",
			action: cleanup.ActionReview, outcome: cleanup.OutcomeReview, reason: "inactive for 200 days", accountType: "atlassian",
			lastActive: `{"confluence":"2024-02-29T23:59:59Z","jira-software":null,"jira-servicedesk":"2025-12-31T12:00:00Z"}`},
		{email: "", name: "", group: "g-jira", groupName: "jira-users", synced: true, product: "jira-software",
			accountType: "app", reason: "", lastActive: `{}`},
	}
}

// goldenWarnings are the warnings of the rows with these e-mails: warned
// with the e-mail sent, failed with an answer that needs quoting, and
// without an address.
var goldenWarnings = map[string]struct{ status, message string }{
	"alice@example.com": {cleanup.EmailSent, ""},
	"frank@example.com": {cleanup.EmailFailed, "550 5.1.1 <frank@example.com>: mailbox unknown,\r\nsee \"policy\""},
	"gina@example.com":  {cleanup.EmailNoAddress, ""},
	"carol@example.com": {cleanup.EmailUnconfirmed, ""},
	"erin@example.com":  {cleanup.EmailFailed, "421 try later"},
	"émile@exämple.com": {cleanup.EmailSent, "ignored for sent"},
}

// attachGoldenWarnings inserts a warning per goldenWarnings entry and
// links the run's row with that e-mail to it.
func attachGoldenWarnings(tb testing.TB, s *Store, clientKey string, runID int64) {
	tb.Helper()
	ctx := context.Background()
	i := 0
	for _, email := range []string{"alice@example.com", "carol@example.com", "erin@example.com", "frank@example.com", "gina@example.com", "émile@exämple.com"} {
		w := goldenWarnings[email]
		i++
		warned := exportT0.Add(-time.Duration(i) * 24 * time.Hour)
		removal := warned.Add(14 * 24 * time.Hour)
		var id int64
		err := s.sqlDB.QueryRowContext(ctx, s.rebind(`INSERT INTO warnings
			(client_key, cleanup_id, account_id, email, state, warn_run_id, warned_at, removal_date, email_status, email_message, created_at, updated_at)
			VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			clientKey, fmt.Sprintf("acc-w%d", i), email, cleanup.WarningWarned, runID, warned, removal, w.status, w.message, warned, warned).Scan(&id)
		if err != nil {
			tb.Fatalf("insert warning: %v", err)
		}
		if _, err := s.sqlDB.ExecContext(ctx, s.rebind(`UPDATE run_users SET warning_id = ? WHERE run_id = ? AND email = ?`), id, runID, email); err != nil {
			tb.Fatalf("link warning: %v", err)
		}
	}
}

// seedGoldenRun creates the golden run in a fresh store whose clock is
// fixed, so its ids, names and times are the same on every backend.
func seedGoldenRun(tb testing.TB, s *Store) int64 {
	tb.Helper()
	settings := cleanup.DefaultSettings()
	settings.IdentityProvider.Provider = cleanup.ProviderEntra
	settings.IdentityProvider.GroupMappings = map[string]string{"g-jira": "SG-Jira, \"Users\""}
	runID := insertRun(tb, s, "tenant-golden", false, true, settings)
	insertRunUsers(tb, s, "tenant-golden", runID, awkwardRun())
	setRunGroups(tb, s, runID, []cleanup.GroupInfo{{ID: "g-conf", Name: "Confluence, \"Users\"", IdPGroupID: "5b1e0c2d-4f3a-4b6c-8d7e-9f0a1b2c3d4e"}})
	attachGoldenWarnings(tb, s, "tenant-golden", runID)
	return runID
}

// goldenConfig returns cfg with the golden run's fixed clock.
func goldenConfig(cfg Config) Config {
	cfg.Now = func() time.Time { return goldenExportT }
	return cfg
}

// openGoldenRun opens a store on cfg (goldenConfig applied) with the
// golden run seeded, and returns the run as the exporter reads it.
func openGoldenRun(t *testing.T, cfg Config) (*Store, cleanup.ExportRun) {
	t.Helper()
	s := openStore(t, goldenConfig(cfg))
	runID := seedGoldenRun(t, s)
	run, err := s.ExportRun(context.Background(), "tenant-golden", runID)
	if err != nil {
		t.Fatal(err)
	}
	return s, run
}

// TestAuditExportsGolden pins the bytes of the golden run's audit CSV,
// audit JSON and ZIP bundle on every backend. The golden files were
// written by the exporter that stored the audit files in the database
// (commit "store: golden audit CSV, JSON and bundle …", before the audit
// was streamed at download), so they are the bytes a download must keep
// producing: the audit files are now streamed from the rows (readExport
// goes through idpexport.WriteAudit, as a download does), the bundle is
// stored.
func TestAuditExportsGolden(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, goldenConfig(b.config(t)))
			runID := seedGoldenRun(t, s)
			e := idpexport.NewExporter(s, idpexport.ExporterConfig{BatchSize: 4, ChunkSize: 64})
			if err := e.GenerateRunExports(ctx, "tenant-golden", runID); err != nil {
				t.Fatalf("GenerateRunExports: %v", err)
			}
			list, err := s.RunExports(ctx, "tenant-golden", runID)
			if err != nil {
				t.Fatal(err)
			}
			for kind, golden := range map[string]string{cleanup.ExportKindAuditCSV: "golden-audit.csv", cleanup.ExportKindAuditJSON: "golden-audit.json"} {
				f := fileOfKind(t, list.Files, kind)
				if !f.Streamed || f.Rows != int64(len(awkwardRun())) {
					t.Errorf("%s: streamed %v with %d rows, want streamed with %d", f.FileName, f.Streamed, f.Rows, len(awkwardRun()))
				}
				var stored int
				if err := s.sqlDB.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM export_chunks WHERE file_id = ?`), f.ID).Scan(&stored); err != nil || stored != 0 {
					t.Errorf("%s: %d chunks stored (%v), want none", f.FileName, stored, err)
				}
				checkGolden(t, golden, readExport(t, s, f))
			}
			checkGolden(t, "golden-bundle.zip", readExport(t, s, fileOfKind(t, list.Files, cleanup.ExportKindBundle)))
		})
	}
}

// TestStoredAuditFilesStillServed: a run exported before the audit was
// streamed has its audit files stored; they are listed as stored and read
// back byte for byte, whatever its rows hold now.
func TestStoredAuditFilesStillServed(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s, run := openGoldenRun(t, b.config(t))
			// What the exporter of the previous version did: the audit
			// files written into the store's chunks.
			sink, err := s.ExportFiles(ctx, run, 100)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string][]byte{}
			for _, kind := range []string{cleanup.ExportKindAuditCSV, cleanup.ExportKindAuditJSON} {
				data := []byte("stored " + kind + " bytes, not the rows'\n")
				w, err := sink.Create(ctx, cleanup.ExportFile{Kind: kind, FileName: kind + ".txt", ContentType: "text/plain"})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write(data); err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if err := sink.Finish(ctx, w, kind+".txt", 1, 3); err != nil {
					t.Fatal(err)
				}
				want[kind] = data
			}
			if err := sink.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.CompleteExports(ctx, run); err != nil {
				t.Fatal(err)
			}
			list, err := s.RunExports(ctx, "tenant-golden", run.ID)
			if err != nil {
				t.Fatal(err)
			}
			for kind, data := range want {
				f := fileOfKind(t, list.Files, kind)
				if f.Streamed || f.Size != int64(len(data)) {
					t.Errorf("%s: streamed %v, size %d; want stored, %d bytes", kind, f.Streamed, f.Size, len(data))
				}
				if got := readExport(t, s, f); string(got) != string(data) {
					t.Errorf("%s = %q, want the stored %q", kind, got, data)
				}
			}
		})
	}
}
