package store

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/idpexport"
)

var updateExports = flag.Bool("update-exports", false, "rewrite testdata/exports/*.golden")

var exportT0 = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)

// testRunUser is one run_users row for the tests.
type testRunUser struct {
	account, name, email string
	group, groupName     string
	synced               bool
	action, outcome      string
	lastActive, reason   string
	product, accountType string
	identityProvider     string
	message              string
}

// insertRun inserts a finished run (or an unfinished one) with a settings
// snapshot, as the run engine would, and returns its id.
func insertRun(tb testing.TB, s *Store, clientKey string, dryRun, finished bool, settings cleanup.Settings) int64 {
	tb.Helper()
	js, err := json.Marshal(settings)
	if err != nil {
		tb.Fatal(err)
	}
	var fin any
	status := "running"
	if finished {
		fin, status = exportT0.Add(time.Hour), "succeeded"
	}
	var id int64
	err = s.sqlDB.QueryRowContext(context.Background(), s.rebind(`INSERT INTO runs
		(client_key, cleanup_name, definition, settings, trigger, dry_run, status, phase, queued_at, started_at, finished_at, created_at, updated_at)
		VALUES (?, 'Inactive users', '{}', ?, 'manual', ?, ?, 'done', ?, ?, ?, ?, ?) RETURNING id`),
		clientKey, string(js), dryRun, status, exportT0, exportT0, fin, exportT0, exportT0).Scan(&id)
	if err != nil {
		tb.Fatalf("insert run: %v", err)
	}
	return id
}

// setRunGroups stores the run's groups snapshot, as the engine does when
// the run begins.
func setRunGroups(tb testing.TB, s *Store, runID int64, groups []cleanup.GroupInfo) {
	tb.Helper()
	js, err := json.Marshal(groups)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.sqlDB.ExecContext(context.Background(), s.rebind(`UPDATE runs SET groups = ? WHERE id = ?`), string(js), runID); err != nil {
		tb.Fatal(err)
	}
}

// insertRunUsers inserts rows in the given order.
func insertRunUsers(tb testing.TB, s *Store, clientKey string, runID int64, users []testRunUser) {
	tb.Helper()
	ctx := context.Background()
	tx, err := s.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	for i, u := range users {
		if u.action == "" {
			u.action = cleanup.ActionIdPExport
		}
		if u.outcome == "" {
			// The engine settles every exportable row to exported before
			// it calls the exporter; other rows are still pending.
			u.outcome = cleanup.OutcomePending
			if u.action == cleanup.ActionIdPExport {
				u.outcome = cleanup.OutcomeExported
			}
		}
		if u.lastActive == "" {
			u.lastActive = `{"jira-software":"2025-01-02T03:04:05Z"}`
		}
		if u.account == "" {
			u.account = fmt.Sprintf("acc-%d", i)
		}
		if u.synced && u.identityProvider == "" {
			u.identityProvider = cleanup.ProviderEntra
		}
		_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO run_users
			(run_id, client_key, account_id, name, email, account_type, product, group_id, group_name, group_synced,
			 identity_provider, last_active, reason, action, outcome, message, email_key, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			runID, clientKey, u.account, u.name, u.email, u.accountType, u.product, u.group, u.groupName, u.synced,
			u.identityProvider, u.lastActive, u.reason, u.action, u.outcome, u.message, strings.ToLower(strings.TrimSpace(u.email)),
			exportT0, exportT0)
		if err != nil {
			tb.Fatalf("insert run user %d: %v", i, err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// readExport returns the bytes of f as a download gets them: stored, or
// streamed from the run's rows.
func readExport(tb testing.TB, s *Store, f cleanup.ExportFile) []byte {
	tb.Helper()
	if f.Streamed {
		var buf bytes.Buffer
		if _, err := idpexport.WriteAudit(context.Background(), s, f, &buf); err != nil {
			tb.Fatalf("stream %s: %v", f.FileName, err)
		}
		return buf.Bytes()
	}
	rc, err := s.OpenExportFile(context.Background(), f)
	if err != nil {
		tb.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatalf("read %s: %v", f.FileName, err)
	}
	return b
}

func checkGolden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", "exports", name+".golden")
	if *updateExports {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run with -update-exports to create it)", err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("%s differs from %s:\n%s", name, path, cmp.Diff(string(want), string(got)))
	}
}

// sampleRun is a run over two synced groups and one unsynced group:
// unsorted input, a case-variant duplicate, a guest, and rows the Entra
// file cannot carry.
func sampleRun() []testRunUser {
	jira := func(email string) testRunUser {
		return testRunUser{email: email, name: "N " + email, group: "g-jira", groupName: "jira-users", synced: true,
			product: "jira-software", accountType: "atlassian", reason: "inactive for 412 days"}
	}
	conf := func(email string) testRunUser {
		return testRunUser{email: email, name: "N " + email, group: "g-conf", groupName: "Confluence: Users", synced: true,
			product: "confluence", accountType: "atlassian", reason: "never active"}
	}
	return []testRunUser{
		jira("zoe@example.com"),
		jira("Bob@Example.com"),
		conf("carol@example.com"),
		jira("alice@example.com"),
		jira("bob@example.com"), // duplicate of Bob@Example.com
		jira("bad,comma@example.com"),
		jira(""),
		func() testRunUser {
			u := jira("ext_user_other.org#EXT#@example.onmicrosoft.com")
			u.message = "Rerouted to the identity-provider export."
			return u
		}(),
		conf("=cmd@example.com"),
		conf("dave@example.com"),
		{email: "erin@example.com", name: "=HYPERLINK(\"x\")", group: "g-plain", groupName: "staff", product: "jira-software",
			action: cleanup.ActionRemoveProductAccess, outcome: cleanup.OutcomeDone, reason: "inactive for 99 days",
			lastActive: `{"confluence":null,"jira-software":"2025-06-01T00:00:00Z"}`},
	}
}

func entraFiles(files []cleanup.ExportFile) []cleanup.ExportFile {
	var out []cleanup.ExportFile
	for _, f := range files {
		if f.Kind == cleanup.ExportKindEntra {
			out = append(out, f)
		}
	}
	return out
}

func fileOfKind(tb testing.TB, files []cleanup.ExportFile, kind string) cleanup.ExportFile {
	tb.Helper()
	for _, f := range files {
		if f.Kind == kind {
			return f
		}
	}
	tb.Fatalf("no %s file in %v", kind, files)
	return cleanup.ExportFile{}
}

// fileSummary is what the tests compare of a listed file.
type fileSummary struct {
	Kind, Group, IdPGroup, Name string
	Part, Parts                 int
	Rows                        int64
}

func summarize(files []cleanup.ExportFile) []fileSummary {
	out := make([]fileSummary, len(files))
	for i, f := range files {
		out[i] = fileSummary{Kind: f.Kind, Group: f.GroupID, IdPGroup: f.IdPGroup, Name: f.FileName, Part: f.Part, Parts: f.Parts, Rows: f.Rows}
	}
	return out
}

func TestGenerateRunExports(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, b.config(t))
			// A tiny chunk size makes every file span many chunks.
			e := idpexport.NewExporter(s, idpexport.ExporterConfig{BatchSize: 3, ChunkSize: 7})
			settings := cleanup.DefaultSettings()
			settings.IdentityProvider.GroupMappings = map[string]string{"g-jira": "SG-Jira-Users"}
			runID := insertRun(t, s, "tenant-a", false, true, settings)
			insertRunUsers(t, s, "tenant-a", runID, sampleRun())
			// The run's connection found the Confluence group's Entra object id.
			setRunGroups(t, s, runID, []cleanup.GroupInfo{{ID: "g-conf", Name: "Confluence: Users", IdPGroupID: "5b1e0c2d-4f3a-4b6c-8d7e-9f0a1b2c3d4e"}})

			if err := e.GenerateRunExports(ctx, "tenant-a", runID); err != nil {
				t.Fatalf("GenerateRunExports: %v", err)
			}
			got, err := s.RunExports(ctx, "tenant-a", runID)
			if err != nil {
				t.Fatalf("RunExports: %v", err)
			}
			if !got.Finished || got.DryRun {
				t.Errorf("Finished, DryRun = %v, %v; want true, false", got.Finished, got.DryRun)
			}
			want := []fileSummary{
				{Kind: "audit-csv", Name: "user-cleanup-run-" + fmt.Sprint(runID) + "-2026-11-28-affected-users.csv", Part: 1, Parts: 1, Rows: 11},
				{Kind: "audit-json", Name: "user-cleanup-run-" + fmt.Sprint(runID) + "-2026-11-28-affected-users.json", Part: 1, Parts: 1, Rows: 11},
				{Kind: "bundle", Name: "user-cleanup-run-" + fmt.Sprint(runID) + "-2026-11-28-entra-remove-members.zip", Part: 1, Parts: 1, Rows: 6},
				{Kind: "entra", Group: "g-conf", IdPGroup: "Confluence: Users", Name: "Confluence_ Users-7ef0b5ee-2026-11-28-remove-members.csv", Part: 1, Parts: 1, Rows: 2},
				{Kind: "entra", Group: "g-jira", IdPGroup: "SG-Jira-Users", Name: "jira-users-2026-11-28-remove-members.csv", Part: 1, Parts: 1, Rows: 4},
			}
			if diff := cmp.Diff(want, summarize(got.Files)); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			for _, f := range got.Files {
				data := readExport(t, s, f)
				sum := sha256.Sum256(data)
				if f.Streamed != (f.Kind == cleanup.ExportKindAuditCSV || f.Kind == cleanup.ExportKindAuditJSON) {
					t.Errorf("%s: streamed = %v; want only the audit files streamed", f.FileName, f.Streamed)
				}
				if f.Streamed && (f.Size != 0 || f.SHA256 != "") {
					t.Errorf("%s: streamed with size %d, sha %q; want 0 and empty", f.FileName, f.Size, f.SHA256)
				}
				if !f.Streamed && (hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(data)) != f.Size) {
					t.Errorf("%s: stored %d bytes with sha %x, recorded %d bytes %s", f.FileName, len(data), sum, f.Size, f.SHA256)
				}
				if f.ClientKey != "tenant-a" || f.RunID != runID {
					t.Errorf("%s: tenant, run = %q, %d", f.FileName, f.ClientKey, f.RunID)
				}
				if f.Kind == cleanup.ExportKindEntra {
					checkGolden(t, "entra-"+f.GroupID, data)
					if f.ContentType != idpexport.MediaTypeCSV {
						t.Errorf("%s: content type %q", f.FileName, f.ContentType)
					}
				}
			}

			// Rows the Entra file cannot carry need manual action; guests are flagged.
			notes := rowNotes(t, s, runID)
			wantNotes := map[string][2]string{
				"bad,comma@example.com": {"manual", idpexport.ManualPrefix + idpexport.ProblemSeparator},
				"":                      {"manual", idpexport.ManualPrefix + idpexport.ProblemEmpty},
				"=cmd@example.com":      {"manual", idpexport.ManualPrefix + idpexport.ProblemFormula},
				"ext_user_other.org#EXT#@example.onmicrosoft.com": {"exported", "Rerouted to the identity-provider export. " + idpexport.GuestMessage},
			}
			if diff := cmp.Diff(wantNotes, notes); diff != "" {
				t.Errorf("row notes (-want +got):\n%s", diff)
			}

			// The audit CSV and JSON carry every row, after the notes.
			csvData := readExport(t, s, fileOfKind(t, got.Files, cleanup.ExportKindAuditCSV))
			if n := bytes.Count(csvData, []byte("\r\n")); n != 12 {
				t.Errorf("audit CSV has %d lines, want 12 (header + 11)", n)
			}
			if !bytes.Contains(csvData, []byte(`'=HYPERLINK(""x"")`)) {
				t.Errorf("audit CSV does not neutralise the formula name:\n%s", csvData)
			}
			var doc struct {
				RunID int64 `json:"runId"`
				Users []struct {
					Email      string             `json:"email"`
					Outcome    string             `json:"outcome"`
					Message    string             `json:"message"`
					LastActive map[string]*string `json:"lastActive"`
				} `json:"users"`
			}
			if err := json.Unmarshal(readExport(t, s, fileOfKind(t, got.Files, cleanup.ExportKindAuditJSON)), &doc); err != nil {
				t.Fatalf("audit JSON: %v", err)
			}
			if doc.RunID != runID || len(doc.Users) != 11 {
				t.Fatalf("audit JSON run %d with %d users, want %d and 11", doc.RunID, len(doc.Users), runID)
			}
			if u := doc.Users[5]; u.Email != "bad,comma@example.com" || u.Outcome != "manual" {
				t.Errorf("audit JSON user 6 = %+v, want the manual row", u)
			}
			if la := doc.Users[10].LastActive; la["confluence"] != nil || la["jira-software"] == nil || *la["jira-software"] != "2025-06-01T00:00:00Z" {
				t.Errorf("audit JSON lastActive = %v", la)
			}

			// The bundle holds README, script and the Entra files byte for byte.
			zr := openZip(t, readExport(t, s, fileOfKind(t, got.Files, cleanup.ExportKindBundle)))
			var names []string
			for _, zf := range zr.File {
				names = append(names, zf.Name)
			}
			wantNames := []string{"README.txt", "remove-members.ps1", "Confluence_ Users-7ef0b5ee-2026-11-28-remove-members.csv", "jira-users-2026-11-28-remove-members.csv"}
			if diff := cmp.Diff(wantNames, names); diff != "" {
				t.Errorf("bundle entries (-want +got):\n%s", diff)
			}
			for _, f := range entraFiles(got.Files) {
				if got, want := zipEntry(t, zr, f.FileName), readExport(t, s, f); !bytes.Equal(got, want) {
					t.Errorf("bundle copy of %s differs", f.FileName)
				}
			}
			readme := string(zipEntry(t, zr, "README.txt"))
			for _, want := range []string{
				"SG-Jira-Users", // the mapped Entra group
				"Object ID:    5b1e0c2d-4f3a-4b6c-8d7e-9f0a1b2c3d4e", // found by the run's connection
				"Needs manual action (3)", "- N bad,comma@example.com <bad,comma@example.com>", "- N =cmd@example.com",
			} {
				if !strings.Contains(readme, want) {
					t.Errorf("README lacks %q:\n%s", want, readme)
				}
			}

			// Regenerated never: a second call changes nothing.
			if err := e.GenerateRunExports(ctx, "tenant-a", runID); err != nil {
				t.Fatalf("second GenerateRunExports: %v", err)
			}
			again, err := s.RunExports(ctx, "tenant-a", runID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("second generation changed the files (-first +second):\n%s", diff)
			}

			// Another tenant sees nothing and cannot generate.
			if _, err := s.RunExports(ctx, "tenant-b", runID); cleanup.KindOf(err) != cleanup.KindNotFound {
				t.Errorf("RunExports as another tenant: %v, want not found", err)
			}
			if err := e.GenerateRunExports(ctx, "tenant-b", runID); cleanup.KindOf(err) != cleanup.KindNotFound {
				t.Errorf("GenerateRunExports as another tenant: %v, want not found", err)
			}
		})
	}
}

// rowNotes returns outcome and message of rows that have a message, by e-mail.
func rowNotes(tb testing.TB, s *Store, runID int64) map[string][2]string {
	tb.Helper()
	rows, err := s.sqlDB.Query(s.rebind(`SELECT email, outcome, message FROM run_users WHERE run_id = ? AND message <> ''`), runID)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[string][2]string{}
	for rows.Next() {
		var email, outcome, msg string
		if err := rows.Scan(&email, &outcome, &msg); err != nil {
			tb.Fatal(err)
		}
		out[email] = [2]string{outcome, msg}
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func openZip(tb testing.TB, data []byte) *zip.Reader {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		tb.Fatalf("bundle is not a ZIP: %v", err)
	}
	return zr
}

func zipEntry(tb testing.TB, zr *zip.Reader, name string) []byte {
	tb.Helper()
	rc, err := zr.Open(name)
	if err != nil {
		tb.Fatalf("bundle entry %s: %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestGenerateRunExportsOptionsAndParts(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		dryRun    bool
		export    cleanup.ExportOptions
		wantFiles []string
		wantRows  []int64
	}{
		{
			name:      "split into parts",
			export:    cleanup.ExportOptions{MaxRowsPerFile: 2, Identifier: cleanup.IdentifierUPN},
			wantFiles: []string{"jira-users-2026-11-28-remove-members-part1.csv", "jira-users-2026-11-28-remove-members-part2.csv", "jira-users-2026-11-28-remove-members-part3.csv"},
			wantRows:  []int64{2, 2, 1},
		},
		{
			name:      "dry run legacy example no BOM",
			dryRun:    true,
			export:    cleanup.ExportOptions{LegacyVersionRow: true, ExampleRow: true, NoBOM: true, MaxRowsPerFile: 10, Identifier: cleanup.IdentifierUPN},
			wantFiles: []string{"jira-users-2026-11-28-dry-run-remove-members.csv"},
			wantRows:  []int64{5},
		},
	}
	for _, b := range backends(t) {
		for _, tc := range tests {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				s := openStore(t, b.config(t))
				settings := cleanup.DefaultSettings()
				settings.Export = tc.export
				runID := insertRun(t, s, "tenant-a", tc.dryRun, true, settings)
				var users []testRunUser
				for _, e := range []string{"e@x.com", "c@x.com", "a@x.com", "d@x.com", "b@x.com"} {
					users = append(users, testRunUser{email: e, group: "g1", groupName: "jira-users", synced: true})
				}
				insertRunUsers(t, s, "tenant-a", runID, users)
				if err := idpexport.NewExporter(s, idpexport.ExporterConfig{BatchSize: 2}).GenerateRunExports(ctx, "tenant-a", runID); err != nil {
					t.Fatal(err)
				}
				got, err := s.RunExports(ctx, "tenant-a", runID)
				if err != nil {
					t.Fatal(err)
				}
				if got.DryRun != tc.dryRun {
					t.Errorf("DryRun = %v", got.DryRun)
				}
				var names []string
				var rows []int64
				var all []byte
				for _, f := range entraFiles(got.Files) {
					names = append(names, f.FileName)
					rows = append(rows, f.Rows)
					if f.Parts != len(tc.wantFiles) {
						t.Errorf("%s: parts = %d", f.FileName, f.Parts)
					}
					all = append(all, readExport(t, s, f)...)
				}
				if diff := cmp.Diff(tc.wantFiles, names); diff != "" {
					t.Errorf("files (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.wantRows, rows); diff != "" {
					t.Errorf("rows (-want +got):\n%s", diff)
				}
				checkGolden(t, strings.ReplaceAll(tc.name, " ", "-"), all)
				bundle := fileOfKind(t, got.Files, cleanup.ExportKindBundle)
				if tc.dryRun != strings.Contains(bundle.FileName, "-dry-run-") {
					t.Errorf("bundle name %q, dry run %v", bundle.FileName, tc.dryRun)
				}
			})
		}
	}
}

func TestGenerateRunExportsRecovery(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, b.config(t))
			runID := insertRun(t, s, "tenant-a", false, true, cleanup.DefaultSettings())
			insertRunUsers(t, s, "tenant-a", runID, []testRunUser{{email: "a@x.com", group: "g1", groupName: "G", synced: true}})

			// A crashed attempt left an incomplete file with a chunk.
			stale, err := s.createExportFile(ctx, cleanup.ExportFile{ClientKey: "tenant-a", RunID: runID, Kind: cleanup.ExportKindEntra,
				GroupID: "g1", Part: 1, Parts: 1, FileName: "x.csv", ContentType: idpexport.MediaTypeCSV, CreatedAt: exportT0})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.sqlDB.Exec(s.rebind(`INSERT INTO export_chunks (file_id, seq, data) VALUES (?, 0, ?)`), stale, []byte("partial")); err != nil {
				t.Fatal(err)
			}
			if got, err := s.RunExports(ctx, "tenant-a", runID); err != nil || len(got.Files) != 0 {
				t.Fatalf("incomplete files listed: %v, %v", got.Files, err)
			}
			if _, err := s.ExportFile(ctx, stale); cleanup.KindOf(err) != cleanup.KindNotFound {
				t.Errorf("ExportFile(incomplete) = %v, want not found", err)
			}

			if err := idpexport.NewExporter(s, idpexport.ExporterConfig{}).GenerateRunExports(ctx, "tenant-a", runID); err != nil {
				t.Fatalf("GenerateRunExports after a crash: %v", err)
			}
			got, err := s.RunExports(ctx, "tenant-a", runID)
			if err != nil {
				t.Fatal(err)
			}
			kinds := make([]string, 0, len(got.Files))
			for _, f := range got.Files {
				kinds = append(kinds, f.Kind)
				if f.ID == stale {
					t.Errorf("the stale file %d survived", stale)
				}
			}
			if diff := cmp.Diff([]string{"audit-csv", "audit-json", "bundle", "entra"}, kinds); diff != "" {
				t.Errorf("kinds (-want +got):\n%s", diff)
			}
			var chunks int
			if err := s.sqlDB.QueryRow(s.rebind(`SELECT COUNT(*) FROM export_chunks WHERE file_id = ?`), stale).Scan(&chunks); err != nil || chunks != 0 {
				t.Errorf("chunks of the stale file: %d, %v", chunks, err)
			}
		})
	}
}

func TestGenerateRunExportsWithoutIdPRows(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, b.config(t))
			runID := insertRun(t, s, "tenant-a", false, true, cleanup.DefaultSettings())
			insertRunUsers(t, s, "tenant-a", runID, []testRunUser{{email: "a@x.com", group: "g1", groupName: "G",
				action: cleanup.ActionRemoveProductAccess, outcome: cleanup.OutcomeDone}})
			// Another tenant's run with IdP rows must not leak in.
			other := insertRun(t, s, "tenant-b", false, true, cleanup.DefaultSettings())
			insertRunUsers(t, s, "tenant-b", other, []testRunUser{{email: "b@x.com", group: "g1", groupName: "G", synced: true}})

			if err := idpexport.NewExporter(s, idpexport.ExporterConfig{}).GenerateRunExports(ctx, "tenant-a", runID); err != nil {
				t.Fatal(err)
			}
			got, err := s.RunExports(ctx, "tenant-a", runID)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, f := range got.Files {
				kinds = append(kinds, f.Kind)
			}
			if diff := cmp.Diff([]string{"audit-csv", "audit-json"}, kinds); diff != "" {
				t.Errorf("kinds (-want +got):\n%s", diff)
			}
			if f := fileOfKind(t, got.Files, cleanup.ExportKindAuditCSV); f.Rows != 1 {
				t.Errorf("audit rows = %d, want 1", f.Rows)
			}
		})
	}
}

func TestRunExportsPending(t *testing.T) {
	s := openStore(t, sqliteConfig(t))
	runID := insertRun(t, s, "tenant-a", true, false, cleanup.DefaultSettings())
	got, err := s.RunExports(context.Background(), "tenant-a", runID)
	if err != nil {
		t.Fatal(err)
	}
	want := cleanup.RunExports{RunID: runID, DryRun: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RunExports (-want +got):\n%s", diff)
	}
}

func TestParseLastActive(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]time.Time
		err  bool
	}{
		{in: `{}`, want: map[string]time.Time{}},
		{in: ``, want: map[string]time.Time{}},
		{in: `{"jira":"2025-01-02T03:04:05Z"}`, want: map[string]time.Time{"jira": time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}},
		{in: ` { "a" : null , "b":"" } `, want: map[string]time.Time{"a": {}, "b": {}}},
		{in: `{"a\u0062":"2025-01-02T04:04:05+01:00"}`, want: map[string]time.Time{"ab": time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}},
		{in: `{"a":"yesterday"}`, err: true},
		{in: `[1]`, err: true},
		{in: `{"a":1}`, err: true},
	}
	for _, tc := range tests {
		sc := newAuditScanner(1, false)
		got := map[string]time.Time{"stale": {}}
		err := sc.lastActive([]byte(tc.in), got)
		if (err != nil) != tc.err {
			t.Errorf("lastActive(%q) error = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if tc.err {
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("lastActive(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestChunkReaderWriter(t *testing.T) {
	s := openStore(t, sqliteConfig(t))
	ctx := context.Background()
	runID := insertRun(t, s, "tenant-a", false, true, cleanup.DefaultSettings())
	insert, err := s.sqlDB.Prepare(s.rebind(`INSERT INTO export_chunks (file_id, seq, data) VALUES (?, ?, ?)`))
	if err != nil {
		t.Fatal(err)
	}
	defer insert.Close()
	for _, size := range []int{0, 1, 9, 10, 11, 95} {
		id, err := s.createExportFile(ctx, cleanup.ExportFile{ClientKey: "tenant-a", RunID: runID, Kind: cleanup.ExportKindAuditCSV,
			GroupID: fmt.Sprint(size), FileName: "f", ContentType: "text/plain", CreatedAt: exportT0, Part: 1, Parts: 1})
		if err != nil {
			t.Fatal(err)
		}
		data := bytes.Repeat([]byte("0123456789abcdef"), 8)[:size]
		w := newChunkWriter(stmtSink{ctx: ctx, insert: insert, size: 10}, id)
		// Odd write sizes cross chunk boundaries.
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 3)
			if _, err := w.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if w.size != int64(size) || w.SHA256() != hex.EncodeToString(sum[:]) {
			t.Errorf("size %d: writer counted %d bytes, sha %s", size, w.size, w.SHA256())
		}
		var chunks int
		if err := s.sqlDB.QueryRow(`SELECT COUNT(*) FROM export_chunks WHERE file_id = ?`, id).Scan(&chunks); err != nil {
			t.Fatal(err)
		}
		if want := (size + 9) / 10; chunks != want {
			t.Errorf("size %d: %d chunks, want %d", size, chunks, want)
		}
		got := readExport(t, s, cleanup.ExportFile{ID: id})
		if !bytes.Equal(got, data) && !(len(got) == 0 && size == 0) {
			t.Errorf("size %d: read back %q", size, got)
		}
	}
}

// TestGenerateRunExportsManyRows crosses every batch boundary: keyset
// queries, the audit pipeline's batches, file parts and chunks.
func TestGenerateRunExportsManyRows(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, sqliteConfig(t))
	settings := cleanup.DefaultSettings()
	settings.Export.MaxRowsPerFile = 100
	runID := insertRun(t, s, "tenant-a", false, true, settings)
	const n = 1000
	users := make([]testRunUser, n)
	for i := range users {
		users[i] = testRunUser{email: fmt.Sprintf("u%04d@x.com", (i*7919)%n), group: fmt.Sprintf("g%d", i%3), groupName: fmt.Sprintf("G%d", i%3), synced: true}
	}
	insertRunUsers(t, s, "tenant-a", runID, users)
	if err := idpexport.NewExporter(s, idpexport.ExporterConfig{BatchSize: 97, ChunkSize: 1000}).GenerateRunExports(ctx, "tenant-a", runID); err != nil {
		t.Fatal(err)
	}
	got, err := s.RunExports(ctx, "tenant-a", runID)
	if err != nil {
		t.Fatal(err)
	}
	var members []string
	for _, f := range entraFiles(got.Files) {
		lines := strings.Split(strings.TrimSuffix(string(readExport(t, s, f)), "\r\n"), "\r\n")
		if int64(len(lines)-1) != f.Rows || f.Rows > 100 {
			t.Errorf("%s: %d lines for %d rows", f.FileName, len(lines), f.Rows)
		}
		members = append(members, lines[1:]...)
	}
	if len(members) != n {
		t.Fatalf("%d members in the Entra files, want %d", len(members), n)
	}
	var doc struct {
		Users []struct {
			ID    int64  `json:"id"`
			Email string `json:"email"`
		} `json:"users"`
	}
	if err := json.Unmarshal(readExport(t, s, fileOfKind(t, got.Files, cleanup.ExportKindAuditJSON)), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Users) != n {
		t.Fatalf("audit JSON has %d users, want %d", len(doc.Users), n)
	}
	for i, u := range doc.Users {
		if want := users[i].email; u.Email != want {
			t.Fatalf("audit JSON user %d = %s, want %s (id order)", i, u.Email, want)
		}
	}
}

// TestGenerateRunExportsNonASCIIOrder covers e-mail keys lower-cased beyond
// ASCII (as the run engine stores them): the database order then differs
// from the Entra writer's, and the group is sorted in memory instead.
func TestGenerateRunExportsNonASCIIOrder(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, b.config(t))
			runID := insertRun(t, s, "tenant-a", false, true, cleanup.DefaultSettings())
			var users []testRunUser
			add := func(group string, emails ...string) {
				for _, e := range emails {
					users = append(users, testRunUser{email: e, group: group, groupName: "G-" + group, synced: true})
				}
			}
			add("g0", "b@x.com", "a@x.com")
			add("g1", "éa@x.com", "z@x.com", "Éb@x.com", "a@x.com", "bad,x@x.com")
			add("g2", "c@x.com", "d@x.com", "e@x.com")
			insertRunUsers(t, s, "tenant-a", runID, users)
			if err := idpexport.NewExporter(s, idpexport.ExporterConfig{BatchSize: 2}).GenerateRunExports(ctx, "tenant-a", runID); err != nil {
				t.Fatalf("GenerateRunExports: %v", err)
			}
			got, err := s.RunExports(ctx, "tenant-a", runID)
			if err != nil {
				t.Fatal(err)
			}
			members := map[string][]string{}
			for _, f := range entraFiles(got.Files) {
				lines := strings.Split(strings.TrimSuffix(string(readExport(t, s, f)), "\r\n"), "\r\n")
				members[f.GroupID] = append(members[f.GroupID], lines[1:]...)
			}
			want := map[string][]string{
				"g0": {"a@x.com", "b@x.com"},
				"g1": {"a@x.com", "z@x.com", "Éb@x.com", "éa@x.com"},
				"g2": {"c@x.com", "d@x.com", "e@x.com"},
			}
			if diff := cmp.Diff(want, members); diff != "" {
				t.Errorf("members (-want +got):\n%s", diff)
			}
			if n := len(entraFiles(got.Files)); n != 3 {
				t.Errorf("%d Entra files, want 3 (no leftovers of the dropped attempt)", n)
			}
			if notes := rowNotes(t, s, runID); notes["bad,x@x.com"][0] != cleanup.OutcomeManual {
				t.Errorf("notes = %v, want the refused row manual", notes)
			}
		})
	}
}

// TestGenerateRunExportsInterleavedRuns: runs that wrote rows at the same
// time have interleaved ids; each audit holds its own rows only.
func TestGenerateRunExportsInterleavedRuns(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, b.config(t))
			runA := insertRun(t, s, "tenant-a", false, true, cleanup.DefaultSettings())
			runB := insertRun(t, s, "tenant-b", false, true, cleanup.DefaultSettings())
			for i := 0; i < 30; i++ {
				insertRunUsers(t, s, "tenant-a", runA, []testRunUser{{account: fmt.Sprint("a", i), email: fmt.Sprintf("a%02d@x.com", i), group: "g", groupName: "G", synced: true}})
				insertRunUsers(t, s, "tenant-b", runB, []testRunUser{{account: fmt.Sprint("b", i), email: fmt.Sprintf("b%02d@x.com", i), group: "g", groupName: "G", synced: true}})
			}
			for _, run := range []struct {
				key    string
				id     int64
				prefix string
			}{{"tenant-a", runA, "a"}, {"tenant-b", runB, "b"}} {
				if err := idpexport.NewExporter(s, idpexport.ExporterConfig{BatchSize: 7}).GenerateRunExports(ctx, run.key, run.id); err != nil {
					t.Fatal(err)
				}
				got, err := s.RunExports(ctx, run.key, run.id)
				if err != nil {
					t.Fatal(err)
				}
				var doc struct {
					Users []struct {
						Email string `json:"email"`
					} `json:"users"`
				}
				if err := json.Unmarshal(readExport(t, s, fileOfKind(t, got.Files, cleanup.ExportKindAuditJSON)), &doc); err != nil {
					t.Fatal(err)
				}
				if len(doc.Users) != 30 {
					t.Errorf("run %s: %d audit rows, want 30", run.prefix, len(doc.Users))
				}
				for _, u := range doc.Users {
					if !strings.HasPrefix(u.Email, run.prefix) {
						t.Errorf("run %s: audit holds %s", run.prefix, u.Email)
					}
				}
				entra := string(readExport(t, s, entraFiles(got.Files)[0]))
				if strings.Count(entra, "@x.com") != 30 || strings.Contains(entra, map[string]string{"a": "b0", "b": "a0"}[run.prefix]) {
					t.Errorf("run %s: Entra file %q", run.prefix, entra)
				}
			}
		})
	}
}

// TestGenerateRunExportsFromRunStore writes the run through the run
// engine's store API (its time and last-active formats, its e-mail keys)
// and checks what the export reads back.
func TestGenerateRunExportsFromRunStore(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, b.config(t))
			cs := s.Cleanups(nil)
			if err := s.SaveTenant(ctx, sampleTenant("tenant-a", "secret-of-tenant-a-0123456789", exportT0)); err != nil {
				t.Fatal(err)
			}
			runID, err := cs.CreateRun(ctx, cleanup.NewRun{ClientKey: "tenant-a", CleanupName: "c", Settings: cleanup.DefaultSettings(),
				Trigger: "manual", DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			until := exportT0.Add(time.Hour)
			if _, err := cs.AcquireRunLease(ctx, "tenant-a", runID, "owner", until); err != nil {
				t.Fatal(err)
			}
			if err := cs.BeginRun(ctx, "tenant-a", runID, "owner", nil, exportT0); err != nil {
				t.Fatal(err)
			}
			active := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
			rows := []cleanup.AffectedUser{
				{AccountID: "1", Name: "Zoë", Email: " Zoe@Example.com", Product: "jira-software", GroupID: "g1", GroupName: "Jira Users",
					GroupSynced: true, IdentityProvider: cleanup.ProviderEntra, LastActive: map[string]time.Time{"jira-software": active, "confluence": {}},
					Reason: "inactive for 400 days", Action: cleanup.ActionIdPExport, Outcome: cleanup.OutcomePending},
				{AccountID: "2", Name: "Al", Email: "al@example.com", Product: "jira-software", GroupID: "g1", GroupName: "Jira Users",
					GroupSynced: true, IdentityProvider: cleanup.ProviderEntra, Action: cleanup.ActionIdPExport, Outcome: cleanup.OutcomePending},
				{AccountID: "3", Name: "Bo", Email: "bo@example.com", Product: "confluence", GroupID: "g2", GroupName: "staff",
					Action: cleanup.ActionRemoveProductAccess, Outcome: cleanup.OutcomeSkipped},
			}
			if err := cs.Commit(ctx, cleanup.Commit{ClientKey: "tenant-a", RunID: runID, Owner: "owner", LeaseUntil: until, Rows: rows}); err != nil {
				t.Fatal(err)
			}
			// As the engine does before exporting.
			if err := cs.SettleRows(ctx, "tenant-a", runID, "owner", []string{cleanup.ActionIdPExport}, cleanup.OutcomeExported, ""); err != nil {
				t.Fatal(err)
			}
			if err := idpexport.NewExporter(s, idpexport.ExporterConfig{}).GenerateRunExports(ctx, "tenant-a", runID); err != nil {
				t.Fatal(err)
			}
			got, err := s.RunExports(ctx, "tenant-a", runID)
			if err != nil {
				t.Fatal(err)
			}
			if !got.DryRun || got.Finished {
				t.Errorf("DryRun, Finished = %v, %v; want true, false (the engine finishes the run after the export)", got.DryRun, got.Finished)
			}
			entra := entraFiles(got.Files)
			if len(entra) != 1 || entra[0].FileName != "Jira Users-2026-11-28-dry-run-remove-members.csv" {
				t.Fatalf("Entra files = %+v", summarize(entra))
			}
			if body := string(readExport(t, s, entra[0])); body != "\ufeff"+idpexport.EntraMemberHeader+"\r\nal@example.com\r\nZoe@Example.com\r\n" {
				t.Errorf("Entra file = %q", body)
			}
			var doc struct {
				DryRun bool `json:"dryRun"`
				Users  []struct {
					Name       string             `json:"name"`
					LastActive map[string]*string `json:"lastActive"`
					CreatedAt  string             `json:"createdAt"`
				} `json:"users"`
			}
			if err := json.Unmarshal(readExport(t, s, fileOfKind(t, got.Files, cleanup.ExportKindAuditJSON)), &doc); err != nil {
				t.Fatal(err)
			}
			if !doc.DryRun || len(doc.Users) != 3 || doc.Users[0].Name != "Zoë" {
				t.Fatalf("audit JSON = %+v", doc)
			}
			la := doc.Users[0].LastActive
			if la["confluence"] != nil || la["jira-software"] == nil || *la["jira-software"] != "2025-03-04T05:06:07Z" {
				t.Errorf("lastActive = %v", la)
			}
			if ts, err := time.Parse(time.RFC3339, doc.Users[0].CreatedAt); err != nil || ts.IsZero() {
				t.Errorf("createdAt = %q (%v)", doc.Users[0].CreatedAt, err)
			}
		})
	}
}

// TestExportChunksCompression checks that PostgreSQL stores export chunks
// with lz4 where the server supports it (pglz is four times slower).
func TestExportChunksCompression(t *testing.T) {
	for _, b := range backends(t) {
		if b.name != "postgres" {
			continue
		}
		s := openStore(t, b.config(t))
		var supported bool
		if err := s.sqlDB.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_settings, unnest(enumvals) AS v(name)
			WHERE pg_settings.name = 'default_toast_compression' AND v.name = 'lz4')`).Scan(&supported); err != nil {
			t.Fatal(err)
		}
		var method string
		if err := s.sqlDB.QueryRow(`SELECT attcompression::text FROM pg_attribute
			WHERE attrelid = 'export_chunks'::regclass AND attname = 'data'`).Scan(&method); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]string{true: "l", false: ""}[supported]; method != want {
			t.Errorf("export_chunks.data compression = %q, want %q (lz4 supported: %v)", method, want, supported)
		}
	}
}

// TestGenerateRunExportsFailsCleanly: a row the audit cannot read does not
// stop the export (the audit is streamed at download) but fails the
// audit's download with an error naming it; an export that fails leaves
// no file behind.
func TestGenerateRunExportsFailsCleanly(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, sqliteConfig(t))
	runID := insertRun(t, s, "tenant-a", false, true, cleanup.DefaultSettings())
	users := make([]testRunUser, 200)
	for i := range users {
		users[i] = testRunUser{email: fmt.Sprintf("u%03d@x.com", i), group: "g", groupName: "G", synced: true}
	}
	users[150].lastActive = `{"jira":42}`
	insertRunUsers(t, s, "tenant-a", runID, users)
	if err := idpexport.NewExporter(s, idpexport.ExporterConfig{BatchSize: 16}).GenerateRunExports(ctx, "tenant-a", runID); err != nil {
		t.Fatalf("GenerateRunExports: %v", err)
	}
	list, err := s.RunExports(ctx, "tenant-a", runID)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{cleanup.ExportKindAuditCSV, cleanup.ExportKindAuditJSON} {
		_, err := idpexport.WriteAudit(ctx, s, fileOfKind(t, list.Files, kind), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "last_active") {
			t.Errorf("%s download error = %v, want the unreadable last_active", kind, err)
		}
	}

	// A generation that fails (its run's rows vanish under it: the
	// store's export queries fail) leaves nothing.
	runID = insertRun(t, s, "tenant-a", false, true, cleanup.DefaultSettings())
	insertRunUsers(t, s, "tenant-a", runID, users[:10])
	if _, err := s.sqlDB.Exec(`DROP INDEX run_users_export_members`); err != nil {
		t.Fatal(err)
	}
	if err := idpexport.NewExporter(s, idpexport.ExporterConfig{BatchSize: 16}).GenerateRunExports(ctx, "tenant-a", runID); err == nil {
		t.Fatal("GenerateRunExports without its index: no error")
	}
	var files int
	if err := s.sqlDB.QueryRow(`SELECT COUNT(*) FROM export_files WHERE run_id = ?`, runID).Scan(&files); err != nil || files != 0 {
		t.Errorf("%d files left behind (%v)", files, err)
	}
	var chunks int
	if err := s.sqlDB.QueryRow(`SELECT COUNT(*) FROM export_chunks c JOIN export_files f ON f.id = c.file_id WHERE f.run_id = ?`, runID).Scan(&chunks); err != nil || chunks != 0 {
		t.Errorf("%d chunks left behind (%v)", chunks, err)
	}
}

// TestGenerateRunExportsOnlyExportedRows pins the rule of cleanup.Exporter:
// an Entra bulk-remove file carries only rows with action idp-export AND
// outcome exported. A protected user (site admin, exception) keeps the
// planned action with outcome skipped, and a row without a configured
// identity provider is manual: uploading a file with either would remove
// someone the cleanup promised to spare.
func TestGenerateRunExportsOnlyExportedRows(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, b.config(t))
			runID := insertRun(t, s, "tenant-a", false, true, cleanup.DefaultSettings())
			row := func(email, outcome, reason string) testRunUser {
				return testRunUser{email: email, group: "g-jira", groupName: "jira-users", synced: true,
					product: "jira-software", outcome: outcome, reason: reason}
			}
			insertRunUsers(t, s, "tenant-a", runID, []testRunUser{
				row("admin@example.com", cleanup.OutcomeSkipped, "protected: site or organization admin"),
				row("inactive@example.com", cleanup.OutcomeExported, "inactive for 400 days"),
				row("spared@example.com", cleanup.OutcomeSkipped, "protected: exception group"),
				row("noidp@example.com", cleanup.OutcomeManual, "group synced from an identity provider, no identity provider configured"),
				row("late@example.com", cleanup.OutcomePending, "inactive for 401 days"),
			})
			if err := idpexport.NewExporter(s, idpexport.ExporterConfig{}).GenerateRunExports(ctx, "tenant-a", runID); err != nil {
				t.Fatal(err)
			}
			got, err := s.RunExports(ctx, "tenant-a", runID)
			if err != nil {
				t.Fatal(err)
			}
			entra := entraFiles(got.Files)
			if len(entra) != 1 {
				t.Fatalf("Entra files = %+v, want one", summarize(entra))
			}
			want := "\ufeff" + idpexport.EntraMemberHeader + "\r\ninactive@example.com\r\n"
			if body := string(readExport(t, s, entra[0])); body != want {
				t.Errorf("Entra file = %q, want %q", body, want)
			}
			if f := fileOfKind(t, got.Files, cleanup.ExportKindAuditCSV); f.Rows != 5 {
				t.Errorf("audit rows = %d, want all 5 rows", f.Rows)
			}
		})
	}
}
