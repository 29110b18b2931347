package idpexport

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

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
}

// AuditColumns returns the header of the audit CSV.
func AuditColumns() []string { return slices.Clone(auditColumns[:]) }

// NeverActive is written for a product the user never used.
const NeverActive = "never"

// AuditCSVWriter writes a run's affected users as CSV for people and
// spreadsheets: UTF-8 BOM (so Excel reads the UTF-8 names correctly),
// RFC 4180 quoting, CRLF, one header row. Cells a spreadsheet would run as a
// formula (leading =, +, -, @, tab, CR) get a leading "'" (OWASP "CSV
// injection"). lastActive is one column, "product=time;product=time" with
// products sorted and times in RFC 3339 UTC ("never" for a zero time), so
// the columns do not depend on which products exist. Times are RFC 3339 in
// UTC. Memory does not depend on the number of rows.
type AuditCSVWriter struct {
	buf    *bufio.Writer
	csv    *csv.Writer
	record []string
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
	a := &AuditCSVWriter{buf: bufio.NewWriterSize(w, 64<<10), record: make([]string, len(auditColumns))}
	a.csv = csv.NewWriter(a.buf)
	a.csv.UseCRLF = true
	if _, err := a.buf.WriteString(bom); err != nil {
		return nil, fmt.Errorf("idpexport: writing audit CSV: %w", err)
	}
	if err := a.csv.Write(auditColumns[:]); err != nil {
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
	r := a.record
	r[0] = strconv.FormatInt(u.RunID, 10)
	r[1] = strconv.FormatBool(u.DryRun)
	r[2] = NeutralizeCell(u.AccountID)
	r[3] = NeutralizeCell(u.Name)
	r[4] = NeutralizeCell(u.Email)
	r[5] = NeutralizeCell(u.AccountType)
	r[6] = NeutralizeCell(u.Product)
	r[7] = NeutralizeCell(u.GroupID)
	r[8] = NeutralizeCell(u.GroupName)
	r[9] = strconv.FormatBool(u.GroupSynced)
	r[10] = NeutralizeCell(u.IdentityProvider)
	r[11] = NeutralizeCell(a.lastActive(u.LastActive))
	r[12] = NeutralizeCell(u.Reason)
	r[13] = NeutralizeCell(u.Action)
	r[14] = NeutralizeCell(u.Outcome)
	r[15] = NeutralizeCell(u.Message)
	r[16] = formatTime(u.CreatedAt)
	r[17] = formatTime(u.UpdatedAt)
	if err := a.csv.Write(r); err != nil {
		a.err = fmt.Errorf("idpexport: writing audit CSV: %w", err)
		return a.err
	}
	return nil
}

func (a *AuditCSVWriter) lastActive(m map[string]time.Time) string {
	if len(m) == 0 {
		return ""
	}
	a.keys = a.keys[:0]
	for k := range m {
		a.keys = append(a.keys, k)
	}
	slices.Sort(a.keys)
	b := a.scr[:0]
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
	a.scr = b
	return string(b)
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
	a.csv.Flush()
	if err := a.csv.Error(); err != nil {
		return fmt.Errorf("idpexport: writing audit CSV: %w", err)
	}
	if err := a.buf.Flush(); err != nil {
		return fmt.Errorf("idpexport: writing audit CSV: %w", err)
	}
	return nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
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

// auditJSONRow is one user of the audit JSON. lastActive maps each product
// to an RFC 3339 time, or null when the user never used it.
type auditJSONRow struct {
	RunID            int64                `json:"runId"`
	DryRun           bool                 `json:"dryRun"`
	AccountID        string               `json:"accountId"`
	Name             string               `json:"name"`
	Email            string               `json:"email"`
	AccountType      string               `json:"accountType"`
	Product          string               `json:"product"`
	GroupID          string               `json:"groupId"`
	GroupName        string               `json:"groupName"`
	GroupSynced      bool                 `json:"groupSynced"`
	IdentityProvider string               `json:"identityProvider"`
	LastActive       map[string]*jsonTime `json:"lastActive"`
	Reason           string               `json:"reason"`
	Action           string               `json:"action"`
	Outcome          string               `json:"outcome"`
	Message          string               `json:"message"`
	CreatedAt        *jsonTime            `json:"createdAt"`
	UpdatedAt        *jsonTime            `json:"updatedAt"`
}

// jsonTime marshals as RFC 3339 in UTC, seconds precision.
type jsonTime time.Time

func (t jsonTime) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(time.RFC3339)+4)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, time.RFC3339)
	return append(b, '"'), nil
}

func optTime(t time.Time) *jsonTime {
	if t.IsZero() {
		return nil
	}
	j := jsonTime(t)
	return &j
}

// AuditJSONWriter writes a run's affected users as one JSON object
// {"runId":…,"dryRun":…,"generatedAt":…,"users":[…]}, one user per line,
// without holding rows in memory. Strings are not HTML-escaped.
type AuditJSONWriter struct {
	buf    *bufio.Writer
	enc    *json.Encoder
	scr    bytes.Buffer
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
	a := &AuditJSONWriter{buf: bufio.NewWriterSize(w, 64<<10)}
	a.enc = json.NewEncoder(&a.scr)
	a.enc.SetEscapeHTML(false)
	head := struct {
		RunID       int64     `json:"runId"`
		DryRun      bool      `json:"dryRun"`
		GeneratedAt *jsonTime `json:"generatedAt"`
	}{meta.RunID, meta.DryRun, optTime(meta.GeneratedAt)}
	if err := a.enc.Encode(head); err != nil {
		return nil, fmt.Errorf("idpexport: writing audit JSON: %w", err)
	}
	b := bytes.TrimSuffix(a.scr.Bytes(), []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("}"))
	a.buf.Write(b)
	if _, err := a.buf.WriteString(`,"users":[`); err != nil {
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
	row := auditJSONRow{
		RunID: u.RunID, DryRun: u.DryRun, AccountID: u.AccountID, Name: u.Name, Email: u.Email,
		AccountType: u.AccountType, Product: u.Product, GroupID: u.GroupID, GroupName: u.GroupName,
		GroupSynced: u.GroupSynced, IdentityProvider: u.IdentityProvider,
		LastActive: make(map[string]*jsonTime, len(u.LastActive)),
		Reason:     u.Reason, Action: u.Action, Outcome: u.Outcome, Message: u.Message,
		CreatedAt: optTime(u.CreatedAt), UpdatedAt: optTime(u.UpdatedAt),
	}
	for k, t := range u.LastActive {
		row.LastActive[k] = optTime(t)
	}
	a.scr.Reset()
	if err := a.enc.Encode(row); err != nil {
		a.err = fmt.Errorf("idpexport: writing audit JSON: %w", err)
		return a.err
	}
	if a.rows > 0 {
		a.buf.WriteByte(',')
	}
	a.buf.WriteByte('\n')
	if _, err := a.buf.Write(bytes.TrimSuffix(a.scr.Bytes(), []byte("\n"))); err != nil {
		a.err = fmt.Errorf("idpexport: writing audit JSON: %w", err)
		return a.err
	}
	a.rows++
	return nil
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
