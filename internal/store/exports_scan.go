package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// maxInterned bounds the strings an auditScanner remembers.
const maxInterned = 16 << 10

// auditScanner turns run_users rows into cleanup.AffectedUser values for
// the audit writers with few allocations: it scans into reused raw
// buffers, shares the strings that repeat from row to row (product, group,
// reason, action, outcome …) and fills the caller's AffectedUser and its
// LastActive map in place.
type auditScanner struct {
	runID   int64
	dryRun  bool
	intern  map[string]string
	raw     [13]sql.RawBytes
	dest    []any
	synced  bool
	created time.Time
	updated time.Time
	id      int64
	// the row's warning (LEFT JOIN: NULL without one)
	warnedAt, removalDate            sql.NullTime
	warnState, emailStatus, emailMsg sql.NullString
}

func newAuditScanner(runID int64, dryRun bool) *auditScanner {
	sc := &auditScanner{runID: runID, dryRun: dryRun, intern: make(map[string]string, 256)}
	r := &sc.raw
	// id, account_id, name, email, account_type, product, group_id,
	// group_name, group_synced, identity_provider, last_active, reason,
	// action, outcome, message, created_at, updated_at
	sc.dest = []any{&sc.id, &r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6], &sc.synced, &r[7], &r[8],
		&r[9], &r[10], &r[11], &r[12], &sc.created, &sc.updated,
		&sc.warnedAt, &sc.removalDate, &sc.warnState, &sc.emailStatus, &sc.emailMsg}
	return sc
}

// str returns b as a string, shared with earlier equal values.
func (sc *auditScanner) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := sc.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(sc.intern) < maxInterned {
		sc.intern[s] = s
	}
	return s
}

// scan reads the current row into u. u.LastActive must not be nil; it is
// cleared and refilled.
func (sc *auditScanner) scan(rows *sql.Rows, u *cleanup.AffectedUser) error {
	if err := rows.Scan(sc.dest...); err != nil {
		return err
	}
	r := &sc.raw
	u.ID = sc.id
	u.RunID, u.DryRun = sc.runID, sc.dryRun
	u.AccountID = string(r[0])
	u.Name = string(r[1])
	u.Email = string(r[2])
	u.AccountType = sc.str(r[3])
	u.Product = sc.str(r[4])
	u.GroupID = sc.str(r[5])
	u.GroupName = sc.str(r[6])
	u.GroupSynced = sc.synced
	u.IdentityProvider = sc.str(r[7])
	if err := sc.lastActive(r[8], u.LastActive); err != nil {
		return fmt.Errorf("row %d: last_active: %w", sc.id, err)
	}
	u.Reason = sc.str(r[9])
	u.Action = sc.str(r[10])
	u.Outcome = sc.str(r[11])
	u.Message = sc.str(r[12])
	u.CreatedAt = sc.created.UTC()
	u.UpdatedAt = sc.updated.UTC()
	u.Warning = nil
	if sc.warnedAt.Valid {
		u.Warning = &cleanup.RowWarning{WarnedAt: sc.warnedAt.Time.UTC(), RemovalDate: sc.removalDate.Time.UTC(),
			State: sc.warnState.String, EmailStatus: sc.emailStatus.String, EmailMessage: sc.emailMsg.String}
	}
	return nil
}

// lastActive fills m from the column's JSON object of product
// keys to RFC 3339 times ("" or null: never). The flat form the run engine
// writes is parsed by hand; anything else falls back to encoding/json.
func (sc *auditScanner) lastActive(b []byte, m map[string]time.Time) error {
	clear(m)
	if ok := sc.parseFlat(b, m); ok {
		return nil
	}
	clear(m)
	var raw map[string]*string
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for k, v := range raw {
		var t time.Time
		if v != nil && *v != "" {
			var err error
			if t, err = time.Parse(time.RFC3339Nano, *v); err != nil {
				return err
			}
		}
		m[k] = t.UTC()
	}
	return nil
}

// parseFlat parses {"k":"v","k2":null} without escapes; false means "not
// this simple form, use the general parser".
func (sc *auditScanner) parseFlat(b []byte, m map[string]time.Time) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return len(b) == 0 // an empty column is "no products"
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		key, j, ok := flatString(b, i)
		if !ok {
			return false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		var t time.Time
		switch {
		case i+4 <= len(b) && string(b[i:i+4]) == "null":
			i += 4
		default:
			val, j, ok := flatString(b, i)
			if !ok {
				return false
			}
			i = j
			if len(val) > 0 {
				var err error
				if t, err = time.Parse(time.RFC3339Nano, string(val)); err != nil {
					return false
				}
			}
		}
		m[sc.str(key)] = t.UTC()
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// flatString reads a JSON string without escapes starting at b[i].
func flatString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20:
			return nil, i, false
		}
	}
	return nil, i, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
