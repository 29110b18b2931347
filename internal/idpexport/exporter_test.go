package idpexport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/cleanup"
)

func TestCheckMember(t *testing.T) {
	tests := []struct {
		email    string
		wantID   string
		wantNote cleanup.ExportNote
	}{
		{" Alice@Contoso.com ", "Alice@Contoso.com", cleanup.ExportNote{}},
		{"9832aad8-e4fe-496b-a604-95c6ef01ae76", "9832aad8-e4fe-496b-a604-95c6ef01ae76", cleanup.ExportNote{}},
		{"bob_fabrikam.com#EXT#@contoso.onmicrosoft.com", "bob_fabrikam.com#EXT#@contoso.onmicrosoft.com",
			cleanup.ExportNote{RowID: 7, Message: GuestMessage}},
		{"bad,comma@contoso.com", "", cleanup.ExportNote{RowID: 7, Manual: true, Message: ManualPrefix + ProblemSeparator}},
		{"", "", cleanup.ExportNote{RowID: 7, Manual: true, Message: ManualPrefix + ProblemEmpty}},
		{"=cmd@contoso.com", "", cleanup.ExportNote{RowID: 7, Manual: true, Message: ManualPrefix + ProblemFormula}},
	}
	for _, tc := range tests {
		id, note := CheckMember(cleanup.ExportMember{ID: 7, Email: tc.email})
		if id != tc.wantID || note != tc.wantNote {
			t.Errorf("CheckMember(%q) = %q, %+v; want %q, %+v", tc.email, id, note, tc.wantID, tc.wantNote)
		}
	}
}

const testGroupObjectID = "0d6c3b8a-5f64-4e0b-9d7e-2c1b7a4f9e10"

// testRun is a finished run of tenant-a whose settings map g1 to an Entra
// group object id and split files after two members.
func testRun() cleanup.ExportRun {
	s := cleanup.DefaultSettings()
	s.IdentityProvider.Provider = cleanup.ProviderEntra
	s.IdentityProvider.GroupMappings = map[string]string{"g1": testGroupObjectID}
	s.Export.MaxRowsPerFile = 2
	at := time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
	return cleanup.ExportRun{ClientKey: "tenant-a", ID: 42, Date: at, Settings: s, GeneratedAt: at.Add(time.Hour)}
}

// row is an exported identity-provider row unless action/outcome are set.
func row(group, groupName, email string, actionOutcome ...string) cleanup.AffectedUser {
	u := cleanup.AffectedUser{AccountID: "acc-" + email, Email: email, GroupID: group, GroupName: groupName,
		GroupSynced: true, IdentityProvider: cleanup.ProviderEntra, Action: cleanup.ActionIdPExport, Outcome: cleanup.OutcomeExported}
	if len(actionOutcome) == 2 {
		u.Action, u.Outcome = actionOutcome[0], actionOutcome[1]
	}
	return u
}

// entraMembers returns each Entra file's members by file name, and the
// files' group, idp group and parts.
func entraMembers(t *testing.T, m *memExportStore) (map[string][]string, []string) {
	t.Helper()
	members := map[string][]string{}
	var meta []string
	for _, f := range m.visible() {
		if f.Kind != cleanup.ExportKindEntra {
			continue
		}
		lines := strings.Split(strings.TrimSuffix(f.data.String(), "\r\n"), "\r\n")
		members[f.FileName] = lines[1:]
		meta = append(meta, f.GroupID+" → "+f.IdPGroup+" "+strings.Repeat("*", f.Part)+"/"+strings.Repeat("*", f.Parts))
	}
	return members, meta
}

// TestExporterRules: which rows go into which Entra file, the identifier
// check and its notes, the identity-provider group of each file, the
// parts, and the audit and bundle files beside them, without a database.
func TestExporterRules(t *testing.T) {
	m := newMemExportStore(testRun(), []cleanup.AffectedUser{
		row("g1", "Jira Users", "b@x.com"),
		row("g1", "Jira Users", "A@x.com"),
		row("g1", "Jira Users", "bad,comma@x.com"),
		row("g1", "Jira Users", "ext_other.org#EXT#@x.onmicrosoft.com"),
		row("g1", "Jira Users", "skipped@x.com", cleanup.ActionIdPExport, cleanup.OutcomeSkipped),
		row("g1", "Jira Users", "review@x.com", cleanup.ActionReview, cleanup.OutcomeReview),
		row("g2", "Confluence Users", "c@x.com"),
	})
	if err := NewExporter(m, ExporterConfig{BatchSize: 3}).GenerateRunExports(context.Background(), "tenant-a", 42); err != nil {
		t.Fatal(err)
	}
	members, meta := entraMembers(t, m)
	want := map[string][]string{
		"Jira Users-2026-11-28-remove-members-part1.csv": {"A@x.com", "b@x.com"},
		"Jira Users-2026-11-28-remove-members-part2.csv": {"ext_other.org#EXT#@x.onmicrosoft.com"},
		"Confluence Users-2026-11-28-remove-members.csv": {"c@x.com"},
	}
	if diff := cmp.Diff(want, members); diff != "" {
		t.Errorf("Entra files (-want +got):\n%s", diff)
	}
	wantMeta := []string{"g2 → Confluence Users */*", "g1 → " + testGroupObjectID + " */**", "g1 → " + testGroupObjectID + " **/**"}
	if diff := cmp.Diff(wantMeta, meta); diff != "" {
		t.Errorf("files' groups and parts (-want +got):\n%s", diff)
	}
	wantNotes := []cleanup.ExportNote{
		{RowID: 3, Manual: true, Message: ManualPrefix + ProblemSeparator},
		{RowID: 4, Message: GuestMessage},
	}
	if diff := cmp.Diff(wantNotes, m.notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	kinds := map[string]int{}
	for _, f := range m.visible() {
		kinds[f.Kind]++
		if f.Kind == cleanup.ExportKindAuditCSV && f.Rows != 7 {
			t.Errorf("audit CSV has %d rows, want all 7 of the run", f.Rows)
		}
	}
	if diff := cmp.Diff(map[string]int{cleanup.ExportKindEntra: 3, cleanup.ExportKindAuditCSV: 1, cleanup.ExportKindAuditJSON: 1, cleanup.ExportKindBundle: 1}, kinds); diff != "" {
		t.Errorf("files by kind (-want +got):\n%s", diff)
	}

	// Generated once: a second call changes nothing.
	before := len(m.files)
	if err := NewExporter(m, ExporterConfig{}).GenerateRunExports(context.Background(), "tenant-a", 42); err != nil || len(m.files) != before {
		t.Errorf("second generation: %v, %d files (was %d)", err, len(m.files), before)
	}
	if err := NewExporter(m, ExporterConfig{}).GenerateRunExports(context.Background(), "tenant-b", 42); cleanup.KindOf(err) != cleanup.KindNotFound {
		t.Errorf("another tenant's run: %v, want not found", err)
	}
}

// TestExporterBatchesDoNotChangeFiles: the batch size only changes how
// the rows are read.
func TestExporterBatchesDoNotChangeFiles(t *testing.T) {
	rows := func() []cleanup.AffectedUser {
		var out []cleanup.AffectedUser
		for i, e := range []string{"d@x.com", "a@x.com", "c@x.com", "b@x.com", "e@x.com"} {
			out = append(out, row("g"+string(rune('1'+i%2)), "G", e))
		}
		return out
	}
	sums := func(batch int) map[string]string {
		m := newMemExportStore(testRun(), rows())
		if err := NewExporter(m, ExporterConfig{BatchSize: batch}).GenerateRunExports(context.Background(), "tenant-a", 42); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, f := range m.visible() {
			out[f.FileName] = f.SHA256
		}
		return out
	}
	if diff := cmp.Diff(sums(1000), sums(1)); diff != "" {
		t.Errorf("batch size 1 changed the files (-1000 +1):\n%s", diff)
	}
}

// TestExporterRewritesUnsortedGroup: e-mail keys lower-cased beyond ASCII
// come out of the store in an order the Entra writer refuses; the group is
// rewritten from memory, its first attempt dropped, and the rows after it
// are read again from after the group.
func TestExporterRewritesUnsortedGroup(t *testing.T) {
	m := newMemExportStore(testRun(), []cleanup.AffectedUser{
		row("g0", "G0", "b@x.com"), row("g0", "G0", "a@x.com"),
		row("g1", "G1", "éa@x.com"), row("g1", "G1", "z@x.com"), row("g1", "G1", "Éb@x.com"), row("g1", "G1", "a@x.com"),
		row("g1", "G1", "bad,x@x.com"),
		row("g2", "G2", "c@x.com"), row("g2", "G2", "d@x.com"), row("g2", "G2", "e@x.com"),
	})
	m.run.Settings.Export.MaxRowsPerFile = 0 // one file per group
	if err := NewExporter(m, ExporterConfig{BatchSize: 2}).GenerateRunExports(context.Background(), "tenant-a", 42); err != nil {
		t.Fatal(err)
	}
	members, _ := entraMembers(t, m)
	want := map[string][]string{
		"G0-2026-11-28-remove-members.csv": {"a@x.com", "b@x.com"},
		"G1-2026-11-28-remove-members.csv": {"a@x.com", "z@x.com", "Éb@x.com", "éa@x.com"},
		"G2-2026-11-28-remove-members.csv": {"c@x.com", "d@x.com", "e@x.com"},
	}
	if diff := cmp.Diff(want, members); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	dropped := 0
	for _, f := range m.files {
		if f.dropped {
			dropped++
		}
	}
	if dropped == 0 {
		t.Error("the first attempt at g1 was not dropped: the scenario did not trigger the rewrite")
	}
	manual := 0
	for _, n := range m.notes {
		if n.Manual && n.RowID == 7 {
			manual++
		}
	}
	if manual == 0 {
		t.Errorf("notes %+v: the refused row of the rewritten group is not marked manual", m.notes)
	}
}

// TestExporterFailureLeavesNothing: a failed generation deletes what it
// wrote, shows nothing, and the next attempt succeeds; this holds for the
// row count too, which runs beside the Entra pass.
func TestExporterFailureLeavesNothing(t *testing.T) {
	for _, method := range []string{"RecordStreamedFile", "RowCount"} {
		t.Run(method, func(t *testing.T) {
			m := newMemExportStore(testRun(), []cleanup.AffectedUser{row("g1", "G1", "a@x.com")})
			m.failOn = method // both after the Entra files are written
			err := NewExporter(m, ExporterConfig{}).GenerateRunExports(context.Background(), "tenant-a", 42)
			if !errors.Is(err, errMemStore) || !strings.Contains(err.Error(), method) {
				t.Fatalf("err = %v, want the store's failure in %s", err, method)
			}
			if len(m.files) != 0 || m.complete {
				t.Errorf("after a failure: %d files left, complete=%v", len(m.files), m.complete)
			}
			m.failOn = ""
			if err := NewExporter(m, ExporterConfig{}).GenerateRunExports(context.Background(), "tenant-a", 42); err != nil {
				t.Fatal(err)
			}
			if n := len(m.visible()); n != 4 {
				t.Errorf("retry: %d files, want Entra, audit CSV and JSON, bundle", n)
			}
		})
	}
}

// TestExporterInvalidOptions: settings the writer cannot honour are the
// run's error, before anything is written.
func TestExporterInvalidOptions(t *testing.T) {
	m := newMemExportStore(testRun(), []cleanup.AffectedUser{row("g1", "G1", "a@x.com")})
	m.run.Settings.Export.MaxRowsPerFile = -1
	err := NewExporter(m, ExporterConfig{}).GenerateRunExports(context.Background(), "tenant-a", 42)
	if cleanup.KindOf(err) != cleanup.KindInvalid || len(m.files) != 0 {
		t.Errorf("err = %v (%s), %d files; want KindInvalid and nothing written", err, cleanup.KindOf(err), len(m.files))
	}
}

// TestOpenAudit: a run's audit files are recorded without bytes and, when
// read, are exactly what the audit writers make of the run's rows, the
// JSON naming the generation time; anything but
// an audit file of a known run is refused.
func TestOpenAudit(t *testing.T) {
	m := newMemExportStore(testRun(), []cleanup.AffectedUser{
		row("g1", "Jira Users", "b@x.com"),
		row("g1", "Jira Users", "bad,comma@x.com"),
		row("g1", "Jira Users", "review@x.com", cleanup.ActionReview, cleanup.OutcomeReview),
	})
	if err := NewExporter(m, ExporterConfig{}).GenerateRunExports(context.Background(), "tenant-a", 42); err != nil {
		t.Fatal(err)
	}
	var csvBuf, jsonBuf bytes.Buffer
	cw, _ := NewAuditCSVWriter(&csvBuf)
	jw, _ := NewAuditJSONWriter(&jsonBuf, AuditMeta{RunID: 42, GeneratedAt: m.run.GeneratedAt})
	for _, u := range m.rows {
		if err := cw.Write(u); err != nil {
			t.Fatal(err)
		}
		if err := jw.Write(u); err != nil {
			t.Fatal(err)
		}
	}
	_ = cw.Close()
	_ = jw.Close()
	want := map[string][]byte{cleanup.ExportKindAuditCSV: csvBuf.Bytes(), cleanup.ExportKindAuditJSON: jsonBuf.Bytes()}
	found := 0
	for _, f := range m.visible() {
		w, ok := want[f.Kind]
		if !ok {
			continue
		}
		found++
		if !f.Streamed || f.data.Len() != 0 || f.Size != 0 || f.Rows != 3 || !f.CreatedAt.Equal(m.run.GeneratedAt) {
			t.Errorf("%s: streamed %v, %d bytes stored, size %d, rows %d, created %s; want streamed, nothing stored, 3 rows",
				f.FileName, f.Streamed, f.data.Len(), f.Size, f.Rows, f.CreatedAt)
		}
		var got bytes.Buffer
		n, err := WriteAudit(context.Background(), m, f.ExportFile, &got)
		if err != nil || n != int64(got.Len()) {
			t.Fatalf("WriteAudit %s: %d bytes, %v", f.FileName, n, err)
		}
		if !bytes.Equal(got.Bytes(), w) {
			t.Errorf("%s differs from the writers' output:\n%s\nwant:\n%s", f.FileName, got.Bytes(), w)
		}
	}
	if found != 2 {
		t.Fatalf("%d audit files, want 2", found)
	}

	for _, f := range m.visible() {
		if f.Kind == cleanup.ExportKindEntra || f.Kind == cleanup.ExportKindBundle {
			if _, err := OpenAudit(context.Background(), m, f.ExportFile, 0); err == nil {
				t.Errorf("OpenAudit of a %s file: no error", f.Kind)
			}
		}
	}
	other := cleanup.ExportFile{Kind: cleanup.ExportKindAuditCSV, ClientKey: "tenant-b", RunID: 42}
	if _, err := OpenAudit(context.Background(), m, other, 0); cleanup.KindOf(err) != cleanup.KindNotFound {
		t.Errorf("OpenAudit of another tenant's run: %v, want not found", err)
	}
	m.failOn = "AuditRows"
	f := cleanup.ExportFile{Kind: cleanup.ExportKindAuditJSON, ClientKey: "tenant-a", RunID: 42}
	if _, err := WriteAudit(context.Background(), m, f, io.Discard); !errors.Is(err, errMemStore) {
		t.Errorf("WriteAudit with a failing store: %v", err)
	}
}
