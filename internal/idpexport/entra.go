package idpexport

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/example/usercleanup/internal/cleanup"
)

// The Entra "Bulk remove group members" template (see the package doc).
const (
	// EntraMemberHeader is the one column header of the template, current and
	// legacy alike. It must be written exactly like this.
	EntraMemberHeader = "Member object ID or user principal name [memberObjectIdOrUpn] Required"
	// EntraLegacyVersionRow is the first line of the pre-2025 templates.
	EntraLegacyVersionRow = "version:v1.0"
	// EntraExampleRow is Microsoft's example row, written after the header
	// by the downloaded templates.
	EntraExampleRow = "Example: 9832aad8-e4fe-496b-a604-95c6eF01ae75"
	// DefaultMaxRowsPerFile is the default number of members per file.
	DefaultMaxRowsPerFile = 10000

	bom  = "\uFEFF"
	crlf = "\r\n"
)

// MediaTypeCSV is the content type of every CSV this package writes.
const MediaTypeCSV = "text/csv; charset=utf-8"

// EntraOptions are the per-tenant switches of the Entra CSV. The zero value
// is the current documented template: BOM, header, one member per line.
type EntraOptions struct {
	LegacyVersionRow bool `json:"legacyVersionRow"` // write "version:v1.0" as line 1 (pre-2025 templates)
	ExampleRow       bool `json:"exampleRow"`       // write Microsoft's example row after the header
	NoBOM            bool `json:"noBom"`            // omit the UTF-8 byte order mark
	// MaxRowsPerFile splits a group's members into numbered parts of at
	// most this many members; 0 means DefaultMaxRowsPerFile.
	MaxRowsPerFile int `json:"maxRowsPerFile,omitempty"`
}

// Validate reports options that cannot be used.
func (o EntraOptions) Validate() error {
	if o.MaxRowsPerFile < 0 {
		return fmt.Errorf("idpexport: MaxRowsPerFile must not be negative, got %d", o.MaxRowsPerFile)
	}
	return nil
}

func (o EntraOptions) maxRows() int {
	if o.MaxRowsPerFile == 0 {
		return DefaultMaxRowsPerFile
	}
	return o.MaxRowsPerFile
}

// preamble returns the bytes before the first member.
func (o EntraOptions) preamble() string {
	var b strings.Builder
	if !o.NoBOM {
		b.WriteString(bom)
	}
	if o.LegacyVersionRow {
		b.WriteString(EntraLegacyVersionRow + crlf)
	}
	b.WriteString(EntraMemberHeader + crlf)
	if o.ExampleRow {
		b.WriteString(EntraExampleRow + crlf)
	}
	return b.String()
}

// Problems reported by ValidateIdentifier. They are complete sentences an
// admin can read in the run's "needs manual action" list.
const (
	ProblemEmpty        = "no e-mail address or user principal name"
	ProblemInvalidUTF8  = "the identifier is not valid UTF-8"
	ProblemSeparator    = "the identifier contains a comma, quote or semicolon, which the Entra CSV cannot carry"
	ProblemControl      = "the identifier contains a line break or another control character"
	ProblemFormula      = "the identifier starts with =, +, -, @, tab or CR, which a spreadsheet would run as a formula"
	ProblemSpace        = "the identifier contains a space, so it cannot be a user principal name"
	ProblemNotUPN       = "the identifier is neither a user principal name (name@domain) nor an object ID"
	ProblemTooLong      = "the identifier is longer than 1024 bytes"
	maxIdentifierLength = 1024
)

// ValidateIdentifier checks that s can be written as one member of the Entra
// CSV. It returns s without surrounding spaces (U+0020 only: a tab or line
// break is a data problem, not padding) and "" when valid, or the
// problem (one of the Problem constants) when not. Valid identifiers are a
// user principal name (exactly one "@" with text on both sides) or an object
// ID (a GUID). Identifiers that a spreadsheet would run as a formula are
// refused rather than escaped: a leading "'" would become part of the UPN.
func ValidateIdentifier(s string) (normalized, problem string) {
	s = strings.Trim(s, " ")
	switch {
	case s == "":
		return "", ProblemEmpty
	case len(s) > maxIdentifierLength:
		return "", ProblemTooLong
	case !utf8.ValidString(s):
		return "", ProblemInvalidUTF8
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "", ProblemFormula
	}
	at := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > ' ' && c < 0x7f && c != ',' && c != '"' && c != ';' && c != '@' {
			continue // the common case: printable ASCII
		}
		switch {
		case c == ',' || c == '"' || c == ';':
			return "", ProblemSeparator
		case c == ' ':
			return "", ProblemSpace
		case c == '@':
			if at >= 0 {
				return "", ProblemNotUPN
			}
			at = i
		case c < utf8.RuneSelf: // other control characters, DEL
			return "", ProblemControl
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029':
				return "", ProblemControl
			case unicode.IsSpace(r):
				return "", ProblemSpace
			}
			i += size - 1
		}
	}
	if at < 0 {
		if cleanup.IsObjectID(s) {
			return s, ""
		}
		return "", ProblemNotUPN
	}
	if at == 0 || at == len(s)-1 {
		return "", ProblemNotUPN
	}
	return s, ""
}

// IsGuestUPN reports whether upn is the UPN of a B2B guest
// (alias_theirdomain#EXT#@tenant.onmicrosoft.com). A guest's Atlassian
// e-mail is not its UPN, so rows for guests need the object ID or a
// constructed UPN; callers flag them.
func IsGuestUPN(upn string) bool {
	const marker = "#ext#"
	for i := 0; i+len(marker) <= len(upn); i++ {
		if upn[i] == '#' && strings.EqualFold(upn[i:i+len(marker)], marker) {
			return true
		}
	}
	return false
}

// IdentifierError is returned by EntraWriter.Write for an identifier that
// ValidateIdentifier refuses. Nothing was written; the writer stays usable.
// The caller lists the user as needing manual action with Problem.
type IdentifierError struct {
	Identifier string
	Problem    string
}

func (e *IdentifierError) Error() string {
	return fmt.Sprintf("idpexport: member %q refused: %s", e.Identifier, e.Problem)
}

// ErrNotSorted is returned by EntraWriter.Write when identifiers do not
// arrive in ascending order of their ASCII-lowercased bytes.
var ErrNotSorted = errors.New("idpexport: member identifiers are not sorted case-insensitively")

// ErrClosed is returned by EntraWriter methods after Finish.
var ErrClosed = errors.New("idpexport: writer already finished")

// OpenPart creates the destination of part number part (1-based) of one
// group's export. The writer closes it when the part is complete.
type OpenPart func(part int) (io.WriteCloser, error)

// Part describes one written file of a group's export.
type Part struct {
	FileName string // see FileNames.Entra; decided when the group is finished
	Part     int    // 1-based
	Rows     int    // members in the file (the header and optional rows excluded)
	Bytes    int64
	SHA256   string // lowercase hex of the file's bytes
}

// EntraWriter writes one group's members as Entra bulk-remove CSV files,
// streaming: memory does not depend on the number of members.
//
// Members must arrive sorted by their ASCII-lowercased bytes (spaces
// around them ignored), as `ORDER BY lower(trim(x))` in SQLite or
// `ORDER BY lower(trim(x) COLLATE "C")` in PostgreSQL gives them (both fold
// ASCII only and compare bytes; a locale collation orders punctuation
// differently and gets ErrNotSorted). Out-of-order input is an error rather
// than a file with duplicates. Adjacent ASCII-case-insensitive duplicates
// are written once, the first spelling kept. A new part starts after
// MaxRowsPerFile members; every part is a complete file with its own BOM
// and header.
type EntraWriter struct {
	open     OpenPart
	naming   FileNames
	preamble string
	maxRows  int

	out     io.WriteCloser // current part, nil between parts
	buf     *bufio.Writer
	sum     hash.Hash
	counter countingWriter
	rows    int
	parts   []Part
	prev    []byte // last written identifier, for order and duplicates
	err     error  // sticky I/O error
	done    bool
	hashBuf [sha256.Size]byte
}

// NewEntraWriter returns a writer for one group. naming names the parts.
func NewEntraWriter(open OpenPart, naming FileNames, opts EntraOptions) (*EntraWriter, error) {
	if open == nil {
		return nil, errors.New("idpexport: NewEntraWriter needs an OpenPart")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := naming.Validate(); err != nil {
		return nil, err
	}
	w := &EntraWriter{
		open:     open,
		naming:   naming,
		preamble: opts.preamble(),
		maxRows:  opts.maxRows(),
		sum:      sha256.New(),
		prev:     make([]byte, 0, 64),
	}
	w.counter.w = w.sum
	return w, nil
}

// Write adds one member. It returns an *IdentifierError for an identifier
// ValidateIdentifier refuses (nothing written, the writer stays usable).
// Any other error (ErrNotSorted, the destination's I/O error) is final:
// later calls and Finish return it, and the caller discards the parts.
func (w *EntraWriter) Write(identifier string) error {
	if w.done {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	id, problem := ValidateIdentifier(identifier)
	if problem != "" {
		return &IdentifierError{Identifier: identifier, Problem: problem}
	}
	if len(w.prev) > 0 { // valid identifiers are never empty
		switch c := compareFold(id, w.prev); {
		case c == 0:
			return nil // duplicate of the previous member
		case c < 0:
			w.err = fmt.Errorf("%w: %q after %q", ErrNotSorted, id, w.prev)
			return w.err
		}
	}
	if w.out != nil && w.rows == w.maxRows {
		if err := w.closePart(); err != nil {
			return err
		}
	}
	if w.out == nil {
		if err := w.openPart(); err != nil {
			return err
		}
	}
	w.buf.WriteString(id)
	if _, err := w.buf.WriteString(crlf); err != nil {
		w.err = fmt.Errorf("idpexport: writing part %d: %w", len(w.parts)+1, err)
		return w.err
	}
	w.rows++
	w.prev = append(w.prev[:0], id...)
	return nil
}

func (w *EntraWriter) openPart() error {
	n := len(w.parts) + 1
	out, err := w.open(n)
	if err != nil {
		w.err = fmt.Errorf("idpexport: opening part %d: %w", n, err)
		return w.err
	}
	w.out = out
	w.sum.Reset()
	w.counter.n = 0
	w.counter.dst = out
	if w.buf == nil {
		w.buf = bufio.NewWriterSize(&w.counter, 64<<10)
	} else {
		w.buf.Reset(&w.counter)
	}
	w.rows = 0
	if _, err := w.buf.WriteString(w.preamble); err != nil {
		w.err = fmt.Errorf("idpexport: writing part %d: %w", n, err)
		return w.err
	}
	return nil
}

func (w *EntraWriter) closePart() error {
	n := len(w.parts) + 1
	err := w.buf.Flush()
	if cerr := w.out.Close(); err == nil {
		err = cerr
	}
	w.out = nil
	if err != nil {
		w.err = fmt.Errorf("idpexport: writing part %d: %w", n, err)
		return w.err
	}
	w.parts = append(w.parts, Part{
		Part:   n,
		Rows:   w.rows,
		Bytes:  w.counter.n,
		SHA256: hex.EncodeToString(w.sum.Sum(w.hashBuf[:0])),
	})
	return nil
}

// Finish completes the last part and returns all parts with their final
// file names: "-partN" is added only when the group needed more than one
// file. A group without members gives no parts (no header-only file).
// After an error, Finish closes the open part and returns the error; the
// caller discards what was written.
func (w *EntraWriter) Finish() ([]Part, error) {
	if w.done {
		return nil, ErrClosed
	}
	w.done = true
	if w.err != nil {
		if w.out != nil {
			_ = w.out.Close() // the sticky error is the one to report
			w.out = nil
		}
		return nil, w.err
	}
	if w.out != nil {
		if err := w.closePart(); err != nil {
			return nil, err
		}
	}
	for i := range w.parts {
		w.parts[i].FileName = w.naming.Entra(w.parts[i].Part, len(w.parts))
	}
	return w.parts, nil
}

// countingWriter forwards to dst and the hash and counts bytes.
type countingWriter struct {
	dst io.Writer
	w   hash.Hash
	n   int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.dst.Write(p)
	c.w.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// compareFold compares a and b by their ASCII-lowercased bytes.
func compareFold[S ~string | ~[]byte](a string, b S) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := lowerASCII(a[i]), lowerASCII(b[i])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// Rejected is an identifier the Entra CSV cannot carry, with the reason.
type Rejected struct {
	Identifier string
	Problem    string
}

// WriteEntraGroup is the convenience form for small, in-memory groups: it
// validates, sorts and de-duplicates ids, writes them like EntraWriter and
// returns the parts and the refused identifiers (in input order). Large
// exports stream sorted rows into an EntraWriter instead.
func WriteEntraGroup(open OpenPart, naming FileNames, opts EntraOptions, ids []string) ([]Part, []Rejected, error) {
	w, err := NewEntraWriter(open, naming, opts)
	if err != nil {
		return nil, nil, err
	}
	var rejected []Rejected
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		n, problem := ValidateIdentifier(id)
		if problem != "" {
			rejected = append(rejected, Rejected{Identifier: id, Problem: problem})
			continue
		}
		valid = append(valid, n)
	}
	slices.SortFunc(valid, func(a, b string) int {
		if c := compareFold(a, b); c != 0 {
			return c
		}
		return strings.Compare(a, b) // deterministic choice among case variants
	})
	for _, id := range valid {
		if err := w.Write(id); err != nil {
			_, _ = w.Finish()
			return nil, nil, err
		}
	}
	parts, err := w.Finish()
	if err != nil {
		return nil, nil, err
	}
	return parts, rejected, nil
}
