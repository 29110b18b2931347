package idpexport

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/cputime"
	"github.com/google/go-cmp/cmp"
)

var (
	t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	t1 = time.Date(2025, 10, 12, 8, 15, 30, 0, time.FixedZone("CEST", 2*3600))
)

func auditRows() []cleanup.AffectedUser {
	return []cleanup.AffectedUser{
		{
			ID: 1, RunID: 42, AccountID: "5b10ac8d82e05b22cc7d4ef5", Name: "Alice Example", Email: "alice@contoso.com",
			AccountType: "atlassian", Product: "jira-software", GroupID: "g-1", GroupName: "jira-users",
			GroupSynced: true, IdentityProvider: cleanup.ProviderEntra,
			LastActive: map[string]time.Time{"jira-software": t1, "confluence": {}},
			Reason:     "inactive for 412 days", Action: cleanup.ActionEntra, Outcome: cleanup.OutcomeExported,
			CreatedAt: t0, UpdatedAt: t0.Add(time.Minute),
			Warning: &cleanup.RowWarning{WarnedAt: t0.AddDate(0, 0, -7), RemovalDate: t0, State: cleanup.WarningRemoved,
				EmailStatus: cleanup.EmailSent},
		},
		{
			ID: 2, RunID: 42, AccountID: "5b10ac8d82e05b22cc7d4ef6", Name: "=HYPERLINK(\"http://evil\",\"x\")",
			Email: "", AccountType: "atlassian", Product: "confluence", GroupID: "g-2", GroupName: "@admins, \"core\"",
			Reason: "never active", Action: cleanup.ActionRemoveProductAccess, Outcome: cleanup.OutcomeManual,
			Message: "-no e-mail\r\nsecond line", CreatedAt: t0,
		},
		{
			ID: 3, RunID: 42, AccountID: "5b10ac8d82e05b22cc7d4ef7", Name: "Jürgen Müller & Söhne <b>",
			Email: "juergen@contoso.com", AccountType: "atlassian", Action: cleanup.ActionDeactivate,
			Outcome: cleanup.OutcomeWarned, DryRun: false, CreatedAt: t0, UpdatedAt: t0,
			Warning: &cleanup.RowWarning{WarnedAt: t0, RemovalDate: t0.AddDate(0, 0, 14), State: cleanup.WarningWarned,
				EmailStatus: cleanup.EmailFailed, EmailMessage: "sending SMTP RCPT TO command: 550 5.1.1 mailbox unavailable, affected recipient(s): juergen@contoso.com"},
		},
	}
}

func TestAuditCSVGolden(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewAuditCSVWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range auditRows() {
		if err := w.Write(u); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	golden(t, "audit.csv.golden", buf.Bytes())

	// The file parses back as RFC 4180 with the neutralised cells.
	data, ok := bytes.CutPrefix(buf.Bytes(), []byte(bom))
	if !ok {
		t.Fatal("audit CSV has no BOM")
	}
	records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(AuditColumns(), records[0]); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	col := func(name string) int {
		for i, c := range records[0] {
			if c == name {
				return i
			}
		}
		t.Fatalf("no column %q", name)
		return -1
	}
	checks := []struct {
		row    int
		column string
		want   string
	}{
		{1, "lastActive", "confluence=never;jira-software=2025-10-12T06:15:30Z"},
		{1, "groupSynced", "true"},
		{1, "identityProvider", "entra"},
		{1, "updatedAt", "2026-11-28T10:01:00Z"},
		{2, "name", `'=HYPERLINK("http://evil","x")`},
		{2, "groupName", `'@admins, "core"`},
		{2, "message", "'-no e-mail\nsecond line"}, // encoding/csv reads CRLF in a quoted field as LF
		{2, "lastActive", ""},
		{2, "updatedAt", ""},
		{3, "name", "Jürgen Müller & Söhne <b>"},
		{3, "dryRun", "false"},
	}
	for _, c := range checks {
		if got := records[c.row][col(c.column)]; got != c.want {
			t.Errorf("row %d %s = %q, want %q", c.row, c.column, got, c.want)
		}
	}
}

func TestNeutralizeCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"=1+1", "'=1+1"},
		{"+1", "'+1"},
		{"-1", "'-1"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"a=b", "a=b"},
		{" =1", " =1"},
		{"'=1", "'=1"},
	}
	for _, tt := range tests {
		if got := NeutralizeCell(tt.in); got != tt.want {
			t.Errorf("NeutralizeCell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAuditJSONGolden(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewAuditJSONWriter(&buf, AuditMeta{RunID: 42, GeneratedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range auditRows() {
		if err := w.Write(u); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	golden(t, "audit.json.golden", buf.Bytes())

	var doc struct {
		RunID       int64  `json:"runId"`
		DryRun      bool   `json:"dryRun"`
		GeneratedAt string `json:"generatedAt"`
		Users       []struct {
			AccountID  string             `json:"accountId"`
			Name       string             `json:"name"`
			LastActive map[string]*string `json:"lastActive"`
			UpdatedAt  *string            `json:"updatedAt"`
		} `json:"users"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("audit JSON does not parse: %v", err)
	}
	if doc.RunID != 42 || doc.GeneratedAt != "2026-11-28T10:00:00Z" || len(doc.Users) != 3 {
		t.Fatalf("metadata wrong: %+v", doc)
	}
	if got := doc.Users[1].Name; got != `=HYPERLINK("http://evil","x")` {
		t.Errorf("JSON must keep values verbatim, got %q", got)
	}
	if la := doc.Users[0].LastActive; la["confluence"] != nil || la["jira-software"] == nil || *la["jira-software"] != "2025-10-12T06:15:30Z" {
		t.Errorf("lastActive = %v", la)
	}
	if doc.Users[1].UpdatedAt != nil {
		t.Errorf("zero updatedAt should be null, got %q", *doc.Users[1].UpdatedAt)
	}
}

func TestAuditJSONEmpty(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewAuditJSONWriter(&buf, AuditMeta{RunID: 7, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), `{"runId":7,"dryRun":true,"generatedAt":null,"users":[]}`+"\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := w.Write(cleanup.AffectedUser{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: got %v, want ErrClosed", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errDisk }

func TestAuditWriteErrors(t *testing.T) {
	c, err := NewAuditCSVWriter(failWriter{})
	if err != nil {
		t.Fatal(err) // buffered: the failure shows at the latest on Close
	}
	if err := c.Close(); !errors.Is(err, errDisk) {
		t.Errorf("CSV Close: got %v, want disk error", err)
	}
	j, err := NewAuditJSONWriter(failWriter{}, AuditMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); !errors.Is(err, errDisk) {
		t.Errorf("JSON Close: got %v, want disk error", err)
	}
}

func TestAuditFileNames(t *testing.T) {
	c, j := AuditFileNames(42, t0, true)
	if c != "user-cleanup-run-42-2026-11-28-dry-run-affected-users.csv" || j != strings.TrimSuffix(c, ".csv")+".json" {
		t.Errorf("got %q %q", c, j)
	}
}

func benchRows(n int) []cleanup.AffectedUser {
	rows := make([]cleanup.AffectedUser, n)
	for i := range rows {
		rows[i] = cleanup.AffectedUser{
			ID: int64(i), RunID: 42, AccountID: fmt.Sprintf("5b10ac8d82e05b22cc%06d", i),
			Name: fmt.Sprintf("User %d", i), Email: fmt.Sprintf("user%d@contoso.com", i), AccountType: "atlassian",
			Product: "jira-software", GroupID: "g-1", GroupName: "jira-users", GroupSynced: true,
			IdentityProvider: cleanup.ProviderEntra, LastActive: map[string]time.Time{"jira-software": t1},
			Reason: "inactive for 412 days", Action: cleanup.ActionEntra, Outcome: cleanup.OutcomeExported,
			CreatedAt: t0, UpdatedAt: t0,
		}
	}
	return rows
}

func BenchmarkAuditCSV(b *testing.B) {
	rows := benchRows(4096)
	b.ReportAllocs()
	cpu, _ := cputime.Process()
	n := 0
	for b.Loop() {
		w, err := NewAuditCSVWriter(io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		for _, u := range rows {
			if err := w.Write(u); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		n += len(rows)
	}
	reportRows(b, n, cpu)
}

func BenchmarkAuditJSON(b *testing.B) {
	rows := benchRows(4096)
	b.ReportAllocs()
	cpu, _ := cputime.Process()
	n := 0
	for b.Loop() {
		w, err := NewAuditJSONWriter(io.Discard, AuditMeta{RunID: 42, GeneratedAt: t0})
		if err != nil {
			b.Fatal(err)
		}
		for _, u := range rows {
			if err := w.Write(u); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		n += len(rows)
	}
	reportRows(b, n, cpu)
}

// FuzzAuditCell: any cell value is written as one field that encoding/csv
// reads back as the neutralised value.
func FuzzAuditCell(f *testing.F) {
	for _, s := range []string{"", "plain", "=1+1", " lead", "a,b", `q"q`, "l\nf", "c\r\nr", "\r", "-\"x\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		w, err := NewAuditCSVWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(cleanup.AffectedUser{Name: s, Message: s}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(buf.Bytes(), []byte(bom))))
		r.FieldsPerRecord = len(auditColumns)
		records, err := r.ReadAll()
		if err != nil {
			t.Fatalf("output does not parse: %v\n%q", err, buf.Bytes())
		}
		if len(records) != 2 {
			t.Fatalf("got %d records, want 2", len(records))
		}
		// encoding/csv turns CRLF inside a quoted field into LF.
		want := strings.ReplaceAll(NeutralizeCell(s), "\r\n", "\n")
		if got := records[1][3]; got != want || records[1][15] != want {
			t.Fatalf("cell %q read back as %q, want %q", s, got, want)
		}
	})
}

// FuzzJSONString: the hand-written string escaping equals encoding/json's
// (HTML escaping off), so the audit JSON is what encoding/json would write.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"b\s`, "\b\f\n\r\t\x00\x1f\x7f", "<&>", "\u2028\u2029", "\xff\xfe", "Jürgen 日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); string(got) != strings.TrimSuffix(want.String(), "\n") {
			t.Fatalf("appendJSONString(%q) = %s, encoding/json gives %s", s, got, want.String())
		}
	})
}
