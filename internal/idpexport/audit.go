package idpexport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/example/usercleanup/internal/cleanup"
)

// Media types of the audit exports.
const (
	MediaTypeJSON = "application/json"
)

// auditColumns is the header of the audit CSV, in order.
var auditColumns = [...]string{
	"runId", "dryRun", "accountId", "name", "email", "accountType", "product",
	"groupId", "groupName", "groupSynced", "identityProvider", "lastActive",
	"reason", "action", "outcome", "message", "createdAt", "updatedAt",
	"warnedAt", "removalDate", "emailOutcome",
}

// AuditColumns returns the header of the audit CSV.
func AuditColumns() []string { return slices.Clone(auditColumns[:]) }

// NeverActive is written for a product the user never used.
const NeverActive = "never"

// AuditCSVWriter writes a run's affected users as CSV for people and
// spreadsheets: UTF-8 BOM (so Excel reads the UTF-8 names correctly),
// RFC 4180 quoting (a field is quoted when it contains a comma, quote, CR or
// LF or starts with a space; quotes are doubled; the content is kept byte
// for byte), CRLF after every record, one header row. Cells a spreadsheet
// would run as a formula (leading =, +, -, @, tab, CR) get a leading "'"
// (OWASP "CSV injection"). lastActive is one column,
// "product=time;product=time" with products sorted, times in RFC 3339 UTC
// and "never" for a zero time, so the columns do not depend on which
// products exist. Times are RFC 3339 in UTC, "" when unset. The last
// three columns are the row's warning (cleanups that warn before
// removing): warnedAt, removalDate and emailOutcome (sent, failed with
// the server's answer, unconfirmed, no-address …), empty without one.
// Rows are
// appended to a reused buffer (no encoding/csv: it is several times slower
// and drops a lone CR), so memory does not depend on the number of rows.
type AuditCSVWriter struct {
	buf    *bufio.Writer
	line   []byte
	scr    []byte
	keys   []string
	err    error
	closed bool
}

// NewAuditCSVWriter writes the BOM and header to w and returns the writer.
// Call Close to flush; Close does not close w.
func NewAuditCSVWriter(w io.Writer) (*AuditCSVWriter, error) {
	if w == nil {
		return nil, errors.New("idpexport: NewAuditCSVWriter needs a writer")
	}
	a := &AuditCSVWriter{buf: bufio.NewWriterSize(w, 64<<10), line: make([]byte, 0, 512)}
	a.line = append(a.line, bom...)
	for i, c := range auditColumns {
		if i > 0 {
			a.line = append(a.line, ',')
		}
		a.line = append(a.line, c...)
	}
	a.line = append(a.line, crlf...)
	if _, err := a.buf.Write(a.line); err != nil {
		return nil, fmt.Errorf("idpexport: writing audit CSV: %w", err)
	}
	return a, nil
}

// Write adds one row.
func (a *AuditCSVWriter) Write(u cleanup.AffectedUser) error {
	if a.closed {
		return ErrClosed
	}
	if a.err != nil {
		return a.err
	}
	b := a.line[:0]
	b = strconv.AppendInt(b, u.RunID, 10)
	b = append(b, ',')
	b = strconv.AppendBool(b, u.DryRun)
	b = appendCell(b, u.AccountID)
	b = appendCell(b, u.Name)
	b = appendCell(b, u.Email)
	b = appendCell(b, u.AccountType)
	b = appendCell(b, u.Product)
	b = appendCell(b, u.GroupID)
	b = appendCell(b, u.GroupName)
	b = append(b, ',')
	b = strconv.AppendBool(b, u.GroupSynced)
	b = appendCell(b, u.IdentityProvider)
	a.scr = a.appendLastActive(a.scr[:0], u.LastActive)
	b = appendCell(b, a.scr)
	b = appendCell(b, u.Reason)
	b = appendCell(b, u.Action)
	b = appendCell(b, u.Outcome)
	b = appendCell(b, u.Message)
	b = append(b, ',')
	b = appendTime(b, u.CreatedAt)
	b = append(b, ',')
	b = appendTime(b, u.UpdatedAt)
	b = appendWarningCells(b, u.Warning)
	b = append(b, crlf...)
	a.line = b
	if _, err := a.buf.Write(b); err != nil {
		a.err = fmt.Errorf("idpexport: writing audit CSV: %w", err)
		return a.err
	}
	return nil
}

func (a *AuditCSVWriter) appendLastActive(b []byte, m map[string]time.Time) []byte {
	if len(m) == 0 {
		return b
	}
	a.keys = a.keys[:0]
	for k := range m {
		a.keys = append(a.keys, k)
	}
	slices.Sort(a.keys)
	for i, k := range a.keys {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, k...)
		b = append(b, '=')
		if t := m[k]; t.IsZero() {
			b = append(b, NeverActive...)
		} else {
			b = t.UTC().AppendFormat(b, time.RFC3339)
		}
	}
	return b
}

// appendWarningCells appends the warning columns: when the user was
// warned, the removal date and the e-mail outcome, which says so when
// the warning was cancelled (empty without a warning).
func appendWarningCells(b []byte, w *cleanup.RowWarning) []byte {
	if w == nil {
		return append(b, ",,,"...)
	}
	b = append(b, ',')
	b = appendTime(b, w.WarnedAt)
	b = append(b, ',')
	b = appendTime(b, w.RemovalDate)
	return appendCell(b, w.AuditOutcome())
}

// appendWarningJSON appends "warnedAt", "removalDate" (null without a
// warning) and "emailOutcome" ("" without one).
func appendWarningJSON(b []byte, w *cleanup.RowWarning) []byte {
	var rw cleanup.RowWarning
	if w != nil {
		rw = *w
	}
	b = append(b, `,"warnedAt":`...)
	b = appendJSONTime(b, rw.WarnedAt)
	b = append(b, `,"removalDate":`...)
	b = appendJSONTime(b, rw.RemovalDate)
	return appendJSONField(b, "emailOutcome", rw.AuditOutcome())
}

// appendCell appends a comma and s as a neutralised, RFC 4180-quoted field.
func appendCell[S ~string | ~[]byte](b []byte, s S) []byte {
	b = append(b, ',')
	if len(s) == 0 {
		return b
	}
	formula := false
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		formula = true
	}
	quote := s[0] == ' '
	for i := 0; i < len(s) && !quote; i++ {
		switch s[i] {
		case ',', '"', '\r', '\n':
			quote = true
		}
	}
	if !quote {
		if formula {
			b = append(b, '\'')
		}
		return append(b, s...)
	}
	b = append(b, '"')
	if formula {
		b = append(b, '\'')
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	return t.UTC().AppendFormat(b, time.RFC3339)
}

// Close flushes the rows. It does not close the underlying writer.
func (a *AuditCSVWriter) Close() error {
	if a.closed {
		return ErrClosed
	}
	a.closed = true
	if a.err != nil {
		return a.err
	}
	if err := a.buf.Flush(); err != nil {
		return fmt.Errorf("idpexport: writing audit CSV: %w", err)
	}
	return nil
}

// NeutralizeCell prefixes a cell that a spreadsheet would evaluate as a
// formula (first character =, +, -, @, tab or CR) with "'", following the
// OWASP CSV-injection guidance. Other cells are returned unchanged.
func NeutralizeCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// AuditMeta is the metadata object of the audit JSON.
type AuditMeta struct {
	RunID       int64     `json:"runId"`
	DryRun      bool      `json:"dryRun"`
	GeneratedAt time.Time `json:"generatedAt"`
}

// AuditJSONWriter writes a run's affected users as one JSON object
// {"runId":…,"dryRun":…,"generatedAt":…,"users":[…]}, one user per line,
// without holding rows in memory. Each user has the audit CSV's fields;
// "lastActive" is an object mapping each product to an RFC 3339 time, or
// null when the user never used it; unset times are null. Strings are
// escaped exactly like encoding/json without HTML escaping; rows are built
// by hand in a reused buffer because reflection made this writer the
// slowest part of an export.
type AuditJSONWriter struct {
	buf    *bufio.Writer
	line   []byte
	keys   []string
	rows   int
	err    error
	closed bool
}

// NewAuditJSONWriter writes the metadata to w and opens the users array.
// Call Close to finish the document; Close does not close w.
func NewAuditJSONWriter(w io.Writer, meta AuditMeta) (*AuditJSONWriter, error) {
	if w == nil {
		return nil, errors.New("idpexport: NewAuditJSONWriter needs a writer")
	}
	a := &AuditJSONWriter{buf: bufio.NewWriterSize(w, 64<<10), line: make([]byte, 0, 1024)}
	b := append(a.line[:0], `{"runId":`...)
	b = strconv.AppendInt(b, meta.RunID, 10)
	b = append(b, `,"dryRun":`...)
	b = strconv.AppendBool(b, meta.DryRun)
	b = append(b, `,"generatedAt":`...)
	b = appendJSONTime(b, meta.GeneratedAt)
	b = append(b, `,"users":[`...)
	if _, err := a.buf.Write(b); err != nil {
		return nil, fmt.Errorf("idpexport: writing audit JSON: %w", err)
	}
	return a, nil
}

// Write adds one user.
func (a *AuditJSONWriter) Write(u cleanup.AffectedUser) error {
	if a.closed {
		return ErrClosed
	}
	if a.err != nil {
		return a.err
	}
	b := a.line[:0]
	if a.rows > 0 {
		b = append(b, ',')
	}
	b = append(b, "\n{\"runId\":"...)
	b = strconv.AppendInt(b, u.RunID, 10)
	b = append(b, `,"dryRun":`...)
	b = strconv.AppendBool(b, u.DryRun)
	b = appendJSONField(b, "accountId", u.AccountID)
	b = appendJSONField(b, "name", u.Name)
	b = appendJSONField(b, "email", u.Email)
	b = appendJSONField(b, "accountType", u.AccountType)
	b = appendJSONField(b, "product", u.Product)
	b = appendJSONField(b, "groupId", u.GroupID)
	b = appendJSONField(b, "groupName", u.GroupName)
	b = append(b, `,"groupSynced":`...)
	b = strconv.AppendBool(b, u.GroupSynced)
	b = appendJSONField(b, "identityProvider", u.IdentityProvider)
	b = append(b, `,"lastActive":{`...)
	a.keys = a.keys[:0]
	for k := range u.LastActive {
		a.keys = append(a.keys, k)
	}
	slices.Sort(a.keys)
	for i, k := range a.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONTime(b, u.LastActive[k])
	}
	b = append(b, '}')
	b = appendJSONField(b, "reason", u.Reason)
	b = appendJSONField(b, "action", u.Action)
	b = appendJSONField(b, "outcome", u.Outcome)
	b = appendJSONField(b, "message", u.Message)
	b = append(b, `,"createdAt":`...)
	b = appendJSONTime(b, u.CreatedAt)
	b = append(b, `,"updatedAt":`...)
	b = appendJSONTime(b, u.UpdatedAt)
	b = appendWarningJSON(b, u.Warning)
	b = append(b, '}')
	a.line = b
	if _, err := a.buf.Write(b); err != nil {
		a.err = fmt.Errorf("idpexport: writing audit JSON: %w", err)
		return a.err
	}
	a.rows++
	return nil
}

// appendJSONField appends ,"key":"value"; key must not need escaping.
func appendJSONField(b []byte, key, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, value)
}

// appendJSONTime appends t as an RFC 3339 UTC string, or null when zero.
func appendJSONTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string the way encoding/json does
// with HTML escaping off: invalid UTF-8 becomes U+FFFD, U+2028 and U+2029
// are escaped for JavaScript.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Close ends the array and the object and flushes. It does not close the
// underlying writer.
func (a *AuditJSONWriter) Close() error {
	if a.closed {
		return ErrClosed
	}
	a.closed = true
	if a.err != nil {
		return a.err
	}
	end := "]}\n"
	if a.rows > 0 {
		end = "\n]}\n"
	}
	a.buf.WriteString(end)
	if err := a.buf.Flush(); err != nil {
		return fmt.Errorf("idpexport: writing audit JSON: %w", err)
	}
	return nil
}

// AuditFileNames returns the names of a run's audit exports, e.g.
// "user-cleanup-run-42-2026-11-28[-dry-run]-affected-users.csv" and ".json".
func AuditFileNames(runID int64, runDate time.Time, dryRun bool) (csvName, jsonName string) {
	stem := "user-cleanup-run-" + strconv.FormatInt(runID, 10) + "-" + runDate.Format(time.DateOnly)
	if dryRun {
		stem += "-dry-run"
	}
	stem += "-affected-users"
	return stem + ".csv", stem + ".json"
}
