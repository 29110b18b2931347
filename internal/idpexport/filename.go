package idpexport

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of file-name components, in bytes.
const (
	maxGroupNameBytes     = 100
	maxDisambiguatorBytes = 40
)

// FileNames names the files of one group's export:
//
//	<group>[-<disambiguator>]-<YYYY-MM-DD>[-dry-run]-remove-members[-partN].csv
//
// or, for the bulk-add files of a restore (Add), "-add-members" in place of
// "-remove-members".
//
// The group part is the display name made safe on every OS (see SafeName).
// When that changed the name, a short hash of the original name is added so
// that, for example, "a/b" and "a:b" do not both become "a_b". Groups whose
// names are equal apart from case still collide on Windows and macOS; give
// them a Disambiguator (UniqueFileNames does it for a whole run).
// The dry-run marker sits before "-remove-members" so that every file name
// ends the same way and a dry-run file cannot be mistaken for a real one.
type FileNames struct {
	GroupName     string
	Disambiguator string    // optional, e.g. a short group id; made safe like the name
	RunDate       time.Time // only the date (in its own location) is used
	DryRun        bool
	Add           bool // a bulk-add file (a restore's)
}

// Validate reports names that cannot be built.
func (f FileNames) Validate() error {
	if f.RunDate.IsZero() {
		return errors.New("idpexport: file names need the run date")
	}
	return nil
}

// Stem returns the name without part and extension.
func (f FileNames) Stem() string {
	var b strings.Builder
	b.WriteString(groupPart(f.GroupName))
	if d := SafeName(f.Disambiguator); d != "" {
		b.WriteByte('-')
		b.WriteString(truncateUTF8(d, maxDisambiguatorBytes))
	}
	b.WriteByte('-')
	b.WriteString(f.RunDate.Format(time.DateOnly))
	if f.DryRun {
		b.WriteString("-dry-run")
	}
	if f.Add {
		b.WriteString("-add-members")
	} else {
		b.WriteString("-remove-members")
	}
	return b.String()
}

// Entra returns the file name of part (1-based) of parts; "-partN" is added
// only when parts > 1.
func (f FileNames) Entra(part, parts int) string {
	s := f.Stem()
	if parts > 1 {
		s += "-part" + strconv.Itoa(part)
	}
	return s + ".csv"
}

func groupPart(name string) string {
	safe := truncateUTF8(SafeName(name), maxGroupNameBytes)
	switch {
	case safe == "":
		return "group-" + shortHash(name)
	case safe != name:
		return safe + "-" + shortHash(name)
	}
	return safe
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

// SafeName makes s usable as (part of) a file name on Windows, macOS and
// Linux and inside a ZIP: path separators, the characters Windows forbids
// (: * ? " < > |), control and invisible format characters (which can fake
// an extension with right-to-left overrides) become "_"; runs of white space
// become one space; leading dots and spaces and trailing dots and spaces
// are removed; invalid UTF-8 becomes "_"; a Windows device name (CON, PRN,
// AUX, NUL, COM0-9, LPT0-9, CONIN$, CONOUT$, also with an extension) gets a
// "_" prefix. Other Unicode letters are kept. The result is deterministic
// and may be "" when nothing usable is left.
func SafeName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1:
			r = '_'
		case unicode.IsSpace(r):
			space = true
			continue
		case r < 0x20 || r == 0x7f || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) ||
			strings.ContainsRune(`/\:*?"<>|`, r):
			r = '_'
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	out := strings.TrimLeft(b.String(), ". ")
	out = strings.TrimRight(out, ". ")
	if isWindowsReserved(out) {
		out = "_" + out
	}
	return out
}

func isWindowsReserved(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	base = strings.TrimRight(base, " ")
	switch strings.ToUpper(base) {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	u := strings.ToUpper(base)
	if strings.HasPrefix(u, "COM") || strings.HasPrefix(u, "LPT") {
		switch d := u[3:]; d {
		case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
			return true
		}
	}
	return false
}

// truncateUTF8 cuts s to at most n bytes on a rune boundary and trims
// trailing dots and spaces the cut may expose.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimRight(s[:n], ". ")
}

// GroupRef identifies a group for UniqueFileNames.
type GroupRef struct {
	ID   string
	Name string
}

// UniqueFileNames returns FileNames for every group of a run, in the same
// order, such that no two stems are equal ignoring case (which would
// collide on case-insensitive file systems and in a ZIP extracted there).
// Groups whose stems collide get their group id as Disambiguator: the first
// 8 characters, or up to 40 when those are not enough. The result depends
// only on the input, not on its order. Groups with equal names and equal
// ids still collide; WriteBundle refuses such names.
func UniqueFileNames(groups []GroupRef, runDate time.Time, dryRun bool) []FileNames {
	out := make([]FileNames, len(groups))
	for i, g := range groups {
		out[i] = FileNames{GroupName: g.Name, RunDate: runDate, DryRun: dryRun}
	}
	for _, width := range []int{8, maxDisambiguatorBytes} {
		count := make(map[string]int, len(out))
		for _, f := range out {
			count[strings.ToLower(f.Stem())]++
		}
		for i := range out {
			if count[strings.ToLower(out[i].Stem())] > 1 {
				out[i].Disambiguator = truncateUTF8(SafeName(groups[i].ID), width)
			}
		}
	}
	return out
}
