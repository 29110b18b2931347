package idpexport

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/example/usercleanup/internal/cputime"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var runDate = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)

func testNames(group string) FileNames {
	return FileNames{GroupName: group, RunDate: runDate}
}

// writeAll writes ids with a new EntraWriter and returns the parts and sink.
func writeAll(t *testing.T, opts EntraOptions, ids ...string) ([]Part, *memSink) {
	t.Helper()
	sink := newMemSink()
	w, err := NewEntraWriter(sink.open, testNames("jira-users"), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := w.Write(id); err != nil {
			t.Fatalf("Write(%q): %v", id, err)
		}
	}
	parts, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return parts, sink
}

func TestEntraDefaultBytes(t *testing.T) {
	_, sink := writeAll(t, EntraOptions{}, "alice@contoso.com", "bob@contoso.com")
	want := "\xEF\xBB\xBFMember object ID or user principal name [memberObjectIdOrUpn] Required\r\n" +
		"alice@contoso.com\r\nbob@contoso.com\r\n"
	if got := sink.parts[1].String(); got != want {
		t.Errorf("default output\n got %q\nwant %q", got, want)
	}
}

func TestEntraGolden(t *testing.T) {
	ids := []string{"9832aad8-e4fe-496b-a604-95c6ef01ae76", "alice@contoso.com", "bob_fabrikam.com#EXT#@contoso.onmicrosoft.com"}
	tests := []struct {
		name string
		opts EntraOptions
	}{
		{"default", EntraOptions{}},
		{"legacy", EntraOptions{LegacyVersionRow: true}},
		{"example", EntraOptions{ExampleRow: true}},
		{"nobom", EntraOptions{NoBOM: true}},
		{"legacy-example", EntraOptions{LegacyVersionRow: true, ExampleRow: true}},
		{"legacy-example-nobom", EntraOptions{LegacyVersionRow: true, ExampleRow: true, NoBOM: true}},
		{"example-nobom", EntraOptions{ExampleRow: true, NoBOM: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, sink := writeAll(t, tt.opts, ids...)
			if len(parts) != 1 {
				t.Fatalf("got %d parts, want 1", len(parts))
			}
			got := sink.parts[1].Bytes()
			golden(t, "entra-"+tt.name+".golden", got)
			sum := sha256.Sum256(got)
			want := Part{FileName: "jira-users-2026-11-28-remove-members.csv", Part: 1, Rows: 3,
				Bytes: int64(len(got)), SHA256: hex.EncodeToString(sum[:])}
			if diff := cmp.Diff(want, parts[0]); diff != "" {
				t.Errorf("part metadata (-want +got):\n%s", diff)
			}
			if sink.parts[1].closed != 1 {
				t.Errorf("part closed %d times, want 1", sink.parts[1].closed)
			}
		})
	}
}

func TestEntraSplit(t *testing.T) {
	ids := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("user%03d@contoso.com", i)
		}
		return s
	}
	tests := []struct {
		name     string
		rows     int
		wantRows []int
	}{
		{"below limit", 2, []int{2}},
		{"exactly at limit", 3, []int{3}},
		{"limit plus one", 4, []int{3, 1}},
		{"three parts", 7, []int{3, 3, 1}},
		{"three full parts", 9, []int{3, 3, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ids(tt.rows)
			parts, sink := writeAll(t, EntraOptions{MaxRowsPerFile: 3}, in...)
			var gotRows []int
			var all []string
			for i, p := range parts {
				gotRows = append(gotRows, p.Rows)
				wantName := "jira-users-2026-11-28-remove-members.csv"
				if len(tt.wantRows) > 1 {
					wantName = fmt.Sprintf("jira-users-2026-11-28-remove-members-part%d.csv", i+1)
				}
				if p.FileName != wantName || p.Part != i+1 {
					t.Errorf("part %d: name %q number %d, want %q %d", i, p.FileName, p.Part, wantName, i+1)
				}
				f := sink.parts[p.Part]
				body, ok := strings.CutPrefix(f.String(), bom+EntraMemberHeader+crlf)
				if !ok {
					t.Errorf("part %d does not start with BOM and header: %q", p.Part, f.String())
				}
				lines := strings.Split(strings.TrimSuffix(body, crlf), crlf)
				all = append(all, lines...)
				sum := sha256.Sum256(f.Bytes())
				if p.SHA256 != hex.EncodeToString(sum[:]) || p.Bytes != int64(f.Len()) {
					t.Errorf("part %d: sha/bytes metadata wrong", p.Part)
				}
			}
			if diff := cmp.Diff(tt.wantRows, gotRows); diff != "" {
				t.Errorf("rows per part (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(in, all); diff != "" {
				t.Errorf("members across parts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEntraDedup(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"case variants adjacent", []string{"a@x.com", "A@X.com", "b@x.com", "B@x.COM", "b@x.com", "c@x.com"},
			[]string{"a@x.com", "b@x.com", "c@x.com"}},
		{"surrounding spaces", []string{"a@x.com", " a@x.com ", "b@x.com"}, []string{"a@x.com", "b@x.com"}},
		{"prefix is not a duplicate", []string{"a@x.co", "a@x.com"}, []string{"a@x.co", "a@x.com"}},
		{"duplicate across a part boundary", []string{"a@x", "b@x", "B@X", "c@x"}, []string{"a@x", "b@x", "c@x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, sink := writeAll(t, EntraOptions{MaxRowsPerFile: 2, NoBOM: true}, tt.in...)
			var got []string
			total := 0
			for _, p := range parts {
				body := strings.TrimPrefix(sink.parts[p.Part].String(), EntraMemberHeader+crlf)
				got = append(got, strings.Split(strings.TrimSuffix(body, crlf), crlf)...)
				total += p.Rows
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("members (-want +got):\n%s", diff)
			}
			if total != len(tt.want) {
				t.Errorf("row count %d, want %d", total, len(tt.want))
			}
		})
	}
}

func TestEntraNotSorted(t *testing.T) {
	sink := newMemSink()
	w, err := NewEntraWriter(sink.open, testNames("g"), EntraOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write("b@x.com"); err != nil {
		t.Fatal(err)
	}
	if err := w.Write("A@x.com"); !errors.Is(err, ErrNotSorted) {
		t.Fatalf("Write out of order: got %v, want ErrNotSorted", err)
	}
	if err := w.Write("c@x.com"); !errors.Is(err, ErrNotSorted) {
		t.Errorf("Write after ErrNotSorted: got %v, want ErrNotSorted", err)
	}
	if parts, err := w.Finish(); !errors.Is(err, ErrNotSorted) || parts != nil {
		t.Errorf("Finish after ErrNotSorted: got %v, %v; want no parts and ErrNotSorted", parts, err)
	}
	if sink.parts[1].closed != 1 {
		t.Errorf("open part closed %d times, want 1", sink.parts[1].closed)
	}
}

func TestEntraRefusedIdentifierKeepsWriterUsable(t *testing.T) {
	sink := newMemSink()
	w, err := NewEntraWriter(sink.open, testNames("g"), EntraOptions{NoBOM: true})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Write("=cmd|' /C calc'!A0@x.com")
	var ie *IdentifierError
	if !errors.As(err, &ie) || ie.Problem != ProblemFormula {
		t.Fatalf("got %v, want IdentifierError with ProblemFormula", err)
	}
	if err := w.Write("ok@x.com"); err != nil {
		t.Fatal(err)
	}
	parts, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sink.parts[1].String(), EntraMemberHeader+crlf+"ok@x.com"+crlf; got != want || parts[0].Rows != 1 {
		t.Errorf("got %q rows %d, want %q rows 1", got, parts[0].Rows, want)
	}
	if _, err := w.Finish(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Finish: got %v, want ErrClosed", err)
	}
	if err := w.Write("z@x.com"); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Finish: got %v, want ErrClosed", err)
	}
}

func TestEntraEmptyGroupWritesNothing(t *testing.T) {
	parts, sink := writeAll(t, EntraOptions{})
	if len(parts) != 0 || len(sink.parts) != 0 {
		t.Errorf("got %d parts, %d opened; want none", len(parts), len(sink.parts))
	}
}

func TestEntraSinkErrors(t *testing.T) {
	t.Run("open fails", func(t *testing.T) {
		sink := newMemSink()
		sink.openErr = errors.New("no space")
		w, _ := NewEntraWriter(sink.open, testNames("g"), EntraOptions{})
		if err := w.Write("a@x.com"); !errors.Is(err, sink.openErr) {
			t.Fatalf("Write: got %v, want the open error", err)
		}
		if _, err := w.Finish(); !errors.Is(err, sink.openErr) {
			t.Fatalf("Finish: got %v, want the open error", err)
		}
	})
	t.Run("write fails on part 2", func(t *testing.T) {
		sink := newMemSink()
		sink.failAt = 2
		w, _ := NewEntraWriter(sink.open, testNames("g"), EntraOptions{MaxRowsPerFile: 1})
		var err error
		for _, id := range []string{"a@x.com", "b@x.com", "c@x.com"} {
			if err = w.Write(id); err != nil {
				break
			}
		}
		_, ferr := w.Finish()
		if !errors.Is(err, errDisk) && !errors.Is(ferr, errDisk) {
			t.Fatalf("got %v / %v, want the disk error", err, ferr)
		}
		if !errors.Is(ferr, errDisk) {
			t.Errorf("Finish: got %v, want the disk error", ferr)
		}
		if sink.parts[2].closed != 1 {
			t.Errorf("failed part closed %d times, want 1", sink.parts[2].closed)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		if _, err := NewEntraWriter(newMemSink().open, testNames("g"), EntraOptions{MaxRowsPerFile: -1}); err == nil {
			t.Error("negative MaxRowsPerFile accepted")
		}
		if _, err := NewEntraWriter(newMemSink().open, FileNames{GroupName: "g"}, EntraOptions{}); err == nil {
			t.Error("missing run date accepted")
		}
		if _, err := NewEntraWriter(nil, testNames("g"), EntraOptions{}); err == nil {
			t.Error("nil OpenPart accepted")
		}
	})
}

func TestValidateIdentifier(t *testing.T) {
	tests := []struct {
		in, want, problem string
	}{
		{"alice@contoso.com", "alice@contoso.com", ""},
		{"  alice@contoso.com  ", "alice@contoso.com", ""},
		{"alice@contoso.com\t", "", ProblemControl},
		{"alice@contoso.com\r\n", "", ProblemControl},
		{"\talice@contoso.com", "", ProblemFormula},
		{"\ralice@contoso.com", "", ProblemFormula},
		{"o'brien!#^~_.x@contoso.com", "o'brien!#^~_.x@contoso.com", ""},
		{"bob_fabrikam.com#EXT#@contoso.onmicrosoft.com", "bob_fabrikam.com#EXT#@contoso.onmicrosoft.com", ""},
		{"9832aad8-e4fe-496b-a604-95c6eF01ae75", "9832aad8-e4fe-496b-a604-95c6eF01ae75", ""},
		{"jürgen@müller.de", "jürgen@müller.de", ""},
		{"", "", ProblemEmpty},
		{"   ", "", ProblemEmpty},
		{"a,b@x.com", "", ProblemSeparator},
		{`a"b@x.com`, "", ProblemSeparator},
		{"a;b@x.com", "", ProblemSeparator},
		{"a\nb@x.com", "", ProblemControl},
		{"a\rb@x.com", "", ProblemControl},
		{"a\x00b@x.com", "", ProblemControl},
		{"a\u202eb@x.com", "", ProblemControl},
		{"a\u200bb@x.com", "", ProblemControl},
		{"=1+2@x.com", "", ProblemFormula},
		{"+1@x.com", "", ProblemFormula},
		{"-1@x.com", "", ProblemFormula},
		{"@x.com", "", ProblemFormula},
		{"a b@x.com", "", ProblemSpace},
		{"a\u00a0b@x.com", "", ProblemSpace},
		{"alice", "", ProblemNotUPN},
		{"alice@", "", ProblemNotUPN},
		{"a@b@c.com", "", ProblemNotUPN},
		{"9832aad8-e4fe-496b-a604-95c6eF01ae7", "", ProblemNotUPN},
		{"9832aad8xe4fe-496b-a604-95c6eF01ae75", "", ProblemNotUPN},
		{"\xff@x.com", "", ProblemInvalidUTF8},
		{strings.Repeat("a", 1020) + "@x.com", "", ProblemTooLong},
	}
	for _, tt := range tests {
		got, problem := ValidateIdentifier(tt.in)
		if got != tt.want || problem != tt.problem {
			t.Errorf("ValidateIdentifier(%q) = %q, %q; want %q, %q", tt.in, got, problem, tt.want, tt.problem)
		}
	}
}

func TestIsGuestUPN(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"bob_fabrikam.com#EXT#@contoso.onmicrosoft.com", true},
		{"bob_fabrikam.com#ext#@contoso.onmicrosoft.com", true},
		{"alice@contoso.com", false},
		{"ext@contoso.com", false},
		{"a#EX@x", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsGuestUPN(tt.in); got != tt.want {
			t.Errorf("IsGuestUPN(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestWriteEntraGroup(t *testing.T) {
	sink := newMemSink()
	parts, rejected, err := WriteEntraGroup(sink.open, testNames("g"), EntraOptions{NoBOM: true},
		[]string{"carol@x.com", "", "Bob@x.com", "alice@x.com", "bob@x.com", "a,b@x.com", "ALICE@x.com"})
	if err != nil {
		t.Fatal(err)
	}
	want := EntraMemberHeader + crlf + "ALICE@x.com\r\nBob@x.com\r\ncarol@x.com\r\n"
	if got := sink.parts[1].String(); got != want || len(parts) != 1 || parts[0].Rows != 3 {
		t.Errorf("got %q (%d parts), want %q", got, len(parts), want)
	}
	wantRejected := []Rejected{{"", ProblemEmpty}, {"a,b@x.com", ProblemSeparator}}
	if diff := cmp.Diff(wantRejected, rejected); diff != "" {
		t.Errorf("rejected (-want +got):\n%s", diff)
	}
}

// FuzzEntraCSV: whatever the identifiers, the output is CSV with the header
// intact and every data line a validated identifier.
func FuzzEntraCSV(f *testing.F) {
	f.Add("alice@contoso.com\nbob@contoso.com", false, false, false)
	f.Add("=cmd@x\n a,b@x\n\"q\"@x\nB@x\nb@x", true, true, false)
	f.Add("9832aad8-e4fe-496b-a604-95c6eF01ae75", false, true, true)
	f.Fuzz(func(t *testing.T, in string, legacy, example, noBOM bool) {
		opts := EntraOptions{LegacyVersionRow: legacy, ExampleRow: example, NoBOM: noBOM, MaxRowsPerFile: 4}
		sink := newMemSink()
		parts, rejected, err := WriteEntraGroup(sink.open, testNames("g"), opts, strings.Split(in, "\n"))
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, p := range parts {
			data := sink.parts[p.Part].Bytes()
			if !noBOM {
				var ok bool
				if data, ok = bytes.CutPrefix(data, []byte(bom)); !ok {
					t.Fatal("missing BOM")
				}
			}
			r := csv.NewReader(bytes.NewReader(data))
			r.FieldsPerRecord = 1
			records, err := r.ReadAll()
			if err != nil {
				t.Fatalf("output is not one-column CSV: %v\n%q", err, data)
			}
			if !bytes.HasSuffix(data, []byte(crlf)) || bytes.Count(data, []byte("\n")) != bytes.Count(data, []byte(crlf)) {
				t.Fatalf("line endings are not all CRLF: %q", data)
			}
			i := 0
			if legacy {
				if records[i][0] != EntraLegacyVersionRow {
					t.Fatalf("line %d = %q, want version row", i, records[i][0])
				}
				i++
			}
			if records[i][0] != EntraMemberHeader {
				t.Fatalf("header = %q", records[i][0])
			}
			i++
			if example {
				if records[i][0] != EntraExampleRow {
					t.Fatalf("example row = %q", records[i][0])
				}
				i++
			}
			for _, rec := range records[i:] {
				if n, problem := ValidateIdentifier(rec[0]); problem != "" || n != rec[0] {
					t.Fatalf("data line %q is not a valid identifier: %s", rec[0], problem)
				}
			}
			if got := len(records) - i; got != p.Rows || got == 0 || got > 4 {
				t.Fatalf("part %d: %d data lines, metadata says %d", p.Part, got, p.Rows)
			}
			total += p.Rows
		}
		if total+len(rejected) > len(strings.Split(in, "\n")) {
			t.Fatalf("%d written + %d rejected > %d input", total, len(rejected), len(strings.Split(in, "\n")))
		}
	})
}

type discardCloser struct{ io.Writer }

func (discardCloser) Close() error { return nil }

func BenchmarkEntraWriter(b *testing.B) {
	const n = 1 << 16
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("firstname.lastname%07d@contoso.example.com", i)
	}
	open := func(int) (io.WriteCloser, error) { return discardCloser{io.Discard}, nil }
	b.ReportAllocs()
	cpu, _ := cputime.Process()
	b.ResetTimer()
	rows := 0
	for b.Loop() {
		w, err := NewEntraWriter(open, testNames("jira-users"), EntraOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for _, id := range ids {
			if err := w.Write(id); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.Finish(); err != nil {
			b.Fatal(err)
		}
		rows += n
	}
	reportRows(b, rows, cpu)
}

// The Entra writer allocates per part, never per row.
func TestEntraWriterAllocsPerRow(t *testing.T) {
	const n = 10000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("user%07d@contoso.example.com", i)
	}
	open := func(int) (io.WriteCloser, error) { return discardCloser{io.Discard}, nil }
	allocs := testing.AllocsPerRun(5, func() {
		w, err := NewEntraWriter(open, testNames("jira-users"), EntraOptions{MaxRowsPerFile: 5000})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if err := w.Write(id); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Finish(); err != nil {
			t.Fatal(err)
		}
	})
	if perRow := allocs / n; perRow > 0.01 {
		t.Errorf("%.0f allocations for %d rows (%.4f per row), want ~0 per row", allocs, n, perRow)
	}
}

// The writer's order is the one the databases give for
// ORDER BY lower(trim(x)) (SQLite) and lower(trim(x) COLLATE "C")
// (PostgreSQL); this list is their output, captured once.
func TestSQLOrderIsAccepted(t *testing.T) {
	sqlOrder := []string{"_z@x", "A-b@x", "a.b@x", "a_b@x", "ab@x", "Bob@x", "Z@x", "Ä@x", "ä@x"}
	parts, sink := writeAll(t, EntraOptions{NoBOM: true}, sqlOrder...)
	want := EntraMemberHeader + crlf + strings.Join(sqlOrder, crlf) + crlf
	if got := sink.parts[1].String(); got != want || parts[0].Rows != len(sqlOrder) {
		t.Errorf("got %q, want %q", got, want)
	}
	// A locale collation (en_US) puts "ab@x" before "a_b@x": refused.
	sink2 := newMemSink()
	w, _ := NewEntraWriter(sink2.open, testNames("g"), EntraOptions{})
	_ = w.Write("ab@x")
	if err := w.Write("a_b@x"); !errors.Is(err, ErrNotSorted) {
		t.Errorf("locale order: got %v, want ErrNotSorted", err)
	}
}

// BenchmarkEntraRun writes 1,000,000 members across 100 groups (one writer
// per group, split at the default 10,000 rows), the shape of the issue's
// end-to-end target, without a database. B/op shows memory per run of a
// million rows: it is per group, not per row.
func BenchmarkEntraRun(b *testing.B) {
	const groups, perGroup = 100, 10000
	ids := make([]string, perGroup)
	for i := range ids {
		ids[i] = fmt.Sprintf("firstname.lastname%07d@contoso.example.com", i)
	}
	open := func(int) (io.WriteCloser, error) { return discardCloser{io.Discard}, nil }
	b.ReportAllocs()
	cpu, _ := cputime.Process()
	rows := 0
	for b.Loop() {
		for g := range groups {
			w, err := NewEntraWriter(open, testNames(fmt.Sprintf("group-%03d", g)), EntraOptions{})
			if err != nil {
				b.Fatal(err)
			}
			for _, id := range ids {
				if err := w.Write(id); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := w.Finish(); err != nil {
				b.Fatal(err)
			}
			rows += perGroup
		}
	}
	reportRows(b, rows, cpu)
}
