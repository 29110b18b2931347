package idpexport

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestSafeName(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"jira-software-users", "jira-software-users"},
		{"Jira Users", "Jira Users"},
		{"a/b\\c:d*e?f\"g<h>i|j", "a_b_c_d_e_f_g_h_i_j"},
		{"tab\tand\nnewline", "tab and newline"},
		{"  lots   of   space  ", "lots of space"},
		{"bell\x07", "bell_"},
		{"evil\u202Etxt.exe", "evil_txt.exe"},
		{"..hidden", "hidden"},
		{"trailing...", "trailing"},
		{"trailing. . ", "trailing"},
		{"CON", "_CON"},
		{"con", "_con"},
		{"Con.txt", "_Con.txt"},
		{"NUL", "_NUL"},
		{"AUX ", "_AUX"},
		{"PRN", "_PRN"},
		{"COM1", "_COM1"},
		{"lpt9", "_lpt9"},
		{"COM¹", "_COM¹"},
		{"CONIN$", "_CONIN$"},
		{"CONSOLE", "CONSOLE"},
		{"COM10", "COM10"},
		{"Équipe Développement", "Équipe Développement"},
		{"日本語グループ", "日本語グループ"},
		{"bad\xffutf8", "bad_utf8"},
		{"...", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := SafeName(tt.in); got != tt.want {
			t.Errorf("SafeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFileNames(t *testing.T) {
	date := time.Date(2026, 11, 28, 23, 59, 0, 0, time.UTC)
	long := strings.Repeat("é", 200)
	tests := []struct {
		name        string
		f           FileNames
		part, parts int
		want        string
	}{
		{"plain", FileNames{GroupName: "jira-users", RunDate: date}, 1, 1,
			"jira-users-2026-11-28-remove-members.csv"},
		{"parts", FileNames{GroupName: "jira-users", RunDate: date}, 2, 3,
			"jira-users-2026-11-28-remove-members-part2.csv"},
		{"dry run", FileNames{GroupName: "jira-users", RunDate: date, DryRun: true}, 1, 2,
			"jira-users-2026-11-28-dry-run-remove-members-part1.csv"},
		{"bulk add (a restore)", FileNames{GroupName: "jira-users", RunDate: date, Add: true}, 1, 1,
			"jira-users-2026-11-28-add-members.csv"},
		{"bulk add, dry run, parts", FileNames{GroupName: "jira-users", RunDate: date, DryRun: true, Add: true}, 2, 2,
			"jira-users-2026-11-28-dry-run-add-members-part2.csv"},
		{"disambiguator", FileNames{GroupName: "jira-users", Disambiguator: "1a2b/3c4d", RunDate: date}, 1, 1,
			"jira-users-1a2b_3c4d-2026-11-28-remove-members.csv"},
		{"unsafe name gets hash of original", FileNames{GroupName: "a/b", RunDate: date}, 1, 1,
			"a_b-" + shortHash("a/b") + "-2026-11-28-remove-members.csv"},
		{"reserved name", FileNames{GroupName: "CON", RunDate: date}, 1, 1,
			"_CON-" + shortHash("CON") + "-2026-11-28-remove-members.csv"},
		{"nothing usable", FileNames{GroupName: "...", RunDate: date}, 1, 1,
			"group-" + shortHash("...") + "-2026-11-28-remove-members.csv"},
		{"unicode kept", FileNames{GroupName: "Équipe", RunDate: date}, 1, 1,
			"Équipe-2026-11-28-remove-members.csv"},
		{"date in its own location", FileNames{GroupName: "g", RunDate: date.In(time.FixedZone("X", 3600))}, 1, 1,
			"g-2026-11-29-remove-members.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Entra(tt.part, tt.parts); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("length limited on a rune boundary", func(t *testing.T) {
		got := FileNames{GroupName: long, RunDate: date}.Entra(1, 1)
		if len(got) > 200 || !utf8.ValidString(got) || SafeName(got) != got {
			t.Errorf("got %q (%d bytes), want a valid safe name of at most 200 bytes", got, len(got))
		}
	})
	t.Run("different unsafe names do not collide", func(t *testing.T) {
		a := FileNames{GroupName: "a/b", RunDate: date}.Entra(1, 1)
		b := FileNames{GroupName: "a:b", RunDate: date}.Entra(1, 1)
		c := FileNames{GroupName: "a_b", RunDate: date}.Entra(1, 1)
		if a == b || a == c || b == c {
			t.Errorf("collision among %q %q %q", a, b, c)
		}
	})
}

func TestUniqueFileNames(t *testing.T) {
	date := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	groups := []GroupRef{
		{ID: "aaaaaaaa-1111", Name: "Jira-Users"},
		{ID: "bbbbbbbb-2222", Name: "jira-users"},
		{ID: "cccccccc-3333", Name: "confluence-users"},
		{ID: "dddddddd-4444", Name: "dup"},
		{ID: "dddddddd-5555", Name: "dup"},
	}
	got := UniqueFileNames(groups, date, false)
	var stems []string
	for _, f := range got {
		stems = append(stems, f.Stem())
	}
	want := []string{
		"Jira-Users-aaaaaaaa-2026-11-28-remove-members",
		"jira-users-bbbbbbbb-2026-11-28-remove-members",
		"confluence-users-2026-11-28-remove-members",
		"dup-dddddddd-4444-2026-11-28-remove-members",
		"dup-dddddddd-5555-2026-11-28-remove-members",
	}
	for i := range want {
		if stems[i] != want[i] {
			t.Errorf("group %d: stem %q, want %q", i, stems[i], want[i])
		}
	}
	// Order independence.
	rev := UniqueFileNames([]GroupRef{groups[4], groups[3], groups[2], groups[1], groups[0]}, date, false)
	for i := range rev {
		if rev[i].Stem() != stems[len(stems)-1-i] {
			t.Errorf("reversed input gives %q, want %q", rev[i].Stem(), stems[len(stems)-1-i])
		}
	}
}
