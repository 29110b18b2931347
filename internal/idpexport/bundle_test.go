package idpexport

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/cleanup"
)

// bundleFixture writes two groups (one split in two parts) into memory and
// returns the bundle files.
func bundleFixture(t *testing.T, dryRun bool) ([]BundleFile, map[string][]byte) {
	t.Helper()
	contents := map[string][]byte{}
	var files []BundleFile
	groups := []struct {
		name, entraID string
		ids           []string
	}{
		{"jira-users", "0f4e3c1a-8d2b-4c6e-9a7f-1b2c3d4e5f60", []string{"alice@contoso.com", "bob@contoso.com", "carol@contoso.com"}},
		{"Confluence O'Brien ‘Team’", "", []string{"dave@contoso.com"}},
	}
	for _, g := range groups {
		sink := newMemSink()
		names := FileNames{GroupName: g.name, RunDate: runDate, DryRun: dryRun}
		parts, rejected, err := WriteEntraGroup(sink.open, names, EntraOptions{MaxRowsPerFile: 2}, g.ids)
		if err != nil || len(rejected) > 0 {
			t.Fatalf("writing %s: %v %v", g.name, err, rejected)
		}
		for _, p := range parts {
			data := sink.parts[p.Part].Bytes()
			contents[p.FileName] = data
			files = append(files, BundleFile{
				Name: p.FileName, GroupName: g.name, EntraGroupID: g.entraID,
				Part: p.Part, Parts: len(parts), Rows: p.Rows, SHA256: p.SHA256,
				Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
			})
		}
	}
	return files, contents
}

func TestWriteBundle(t *testing.T) {
	files, contents := bundleFixture(t, false)
	info := BundleInfo{RunID: 42, RunDate: runDate}
	var buf bytes.Buffer
	if err := WriteBundle(&buf, files, info); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var order []string
	for _, f := range zr.File {
		order = append(order, f.Name)
		if !f.Modified.Equal(time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("%s: modified %v, want the run date", f.Name, f.Modified)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		got[f.Name] = string(b)
	}
	want := map[string]string{
		BundleReadmeName: Readme(sortedFiles(files), info),
		BundleScriptName: Script(sortedFiles(files), info),
	}
	for name, b := range contents {
		want[name] = string(b)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("zip contents (-want +got):\n%s", diff)
	}
	wantOrder := []string{
		BundleReadmeName, BundleScriptName,
		"Confluence O'Brien ‘Team’-2026-11-28-remove-members.csv",
		"jira-users-2026-11-28-remove-members-part1.csv",
		"jira-users-2026-11-28-remove-members-part2.csv",
	}
	if diff := cmp.Diff(wantOrder, order); diff != "" {
		t.Errorf("zip entry order (-want +got):\n%s", diff)
	}

	// Deterministic: the same input in another order gives the same bytes.
	var again bytes.Buffer
	rev := []BundleFile{files[2], files[1], files[0]}
	if err := WriteBundle(&again, rev, info); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("the same bundle written twice differs")
	}
}

func sortedFiles(files []BundleFile) []BundleFile {
	out := append([]BundleFile(nil), files...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Name < out[i].Name {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestBundleGolden(t *testing.T) {
	files, _ := bundleFixture(t, false)
	files = sortedFiles(files)
	info := BundleInfo{RunID: 42, RunDate: runDate}
	golden(t, "readme.txt.golden", []byte(Readme(files, info)))
	golden(t, "remove-members.ps1.golden", []byte(Script(files, info)))

	dryFiles, _ := bundleFixture(t, true)
	dryFiles = sortedFiles(dryFiles)
	dry := BundleInfo{RunID: 43, RunDate: runDate, DryRun: true, Options: EntraOptions{ExampleRow: true}}
	golden(t, "readme-dry-run-example.txt.golden", []byte(Readme(dryFiles, dry)))

	readme := Readme(dryFiles, dry)
	for _, s := range []string{"*** DRY RUN ***", "Total Requests", "Example: ...", "40 minutes", "0f4e3c1a-8d2b-4c6e-9a7f-1b2c3d4e5f60"} {
		if !strings.Contains(readme, s) {
			t.Errorf("README lacks %q", s)
		}
	}
	script := Script(files, info)
	if !strings.HasPrefix(script, bom) || strings.Count(script, "\n") != strings.Count(script, "\r\n") {
		t.Error("script must be UTF-8 with BOM and CRLF line endings")
	}
	for _, s := range []string{
		"Remove-MgGroupMemberDirectoryObjectByRef", "SupportsShouldProcess", "'GroupMember.ReadWrite.All', 'User.Read.All'",
		"Group = 'Confluence O''Brien ‘‘Team’’'", "GroupId = '0f4e3c1a-8d2b-4c6e-9a7f-1b2c3d4e5f60'",
	} {
		if !strings.Contains(script, s) {
			t.Errorf("script lacks %q", s)
		}
	}
}

// TestReadmeListsManualUsers: the README accounts for every user the run
// matched: the users in no file are listed with their reason (the export's
// own "Needs manual action: " prefix dropped), at most ReadmeManualMax of
// them with the rest counted.
func TestReadmeListsManualUsers(t *testing.T) {
	files, _ := bundleFixture(t, false)
	files = sortedFiles(files)
	info := BundleInfo{RunID: 44, RunDate: runDate, ManualTotal: 3, Manual: []cleanup.AffectedUser{
		{AccountID: "712020:aaaa", Name: "Ada Berg", Email: "ada.berg@example.com", GroupName: "entra-jira-software",
			Message: `no Microsoft Entra ID group matches the group mapping "entra-jira-software": check the mapping in Settings, or remove the user there by hand`},
		{AccountID: "712020:bbbb", Name: "Bjørn\nDahl", GroupName: "entra-jira-software",
			Message: ManualPrefix + ProblemEmpty},
	}}
	readme := Readme(files, info)
	golden(t, "readme-manual.txt.golden", []byte(readme))
	for _, want := range []string{"Needs manual action (3)", "- Ada Berg <ada.berg@example.com>, account 712020:aaaa",
		"no Microsoft Entra ID group matches", "- Bjørn Dahl, account 712020:bbbb", "... and 1 more"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README lacks %q", want)
		}
	}
	if strings.Contains(readme, "Reason:  "+ManualPrefix) {
		t.Error("README repeats the manual-action prefix")
	}
	if plain := Readme(files, BundleInfo{RunID: 44, RunDate: runDate}); strings.Contains(plain, "Needs manual action") {
		t.Error("README lists a manual-action section for a run without any")
	}
}

func TestPSQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "''"},
		{"jira-users", "'jira-users'"},
		{"O'Brien", "'O''Brien'"},
		{"‘a’ ‚b‛", "'‘‘a’’ ‚‚b‛‛'"},
		{"$(Remove-Item C:\\)", "'$(Remove-Item C:\\)'"},
		{"line\r\nbreak", "'line  break'"},
	}
	for _, tt := range tests {
		if got := psQuote(tt.in); got != tt.want {
			t.Errorf("psQuote(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWriteBundleErrors(t *testing.T) {
	open := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("x")), nil }
	info := BundleInfo{RunID: 1, RunDate: runDate}
	tests := []struct {
		name  string
		files []BundleFile
		info  BundleInfo
		want  error // nil: any error
	}{
		{"no run date", nil, BundleInfo{}, nil},
		{"unsafe name", []BundleFile{{Name: "../x.csv", Open: open}}, info, nil},
		{"not csv", []BundleFile{{Name: "x.txt", Open: open}}, info, nil},
		{"duplicate ignoring case", []BundleFile{{Name: "a.csv", Open: open}, {Name: "A.csv", Open: open}}, info, nil},
		{"no opener", []BundleFile{{Name: "a.csv"}}, info, nil},
		{"checksum mismatch", []BundleFile{{Name: "a.csv", Open: open, SHA256: strings.Repeat("0", 64)}}, info, ErrChecksum},
		{"open fails", []BundleFile{{Name: "a.csv", Open: func() (io.ReadCloser, error) { return nil, errDisk }}}, info, errDisk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteBundle(io.Discard, tt.files, tt.info)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("got %v, want error %v", err, tt.want)
			}
		})
	}
}

func TestBundleFileName(t *testing.T) {
	if got, want := BundleFileName(BundleInfo{RunID: 42, RunDate: runDate, DryRun: true}),
		"user-cleanup-run-42-2026-11-28-dry-run-entra-remove-members.zip"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
