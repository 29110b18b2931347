package store

import (
	"encoding/json"
	"time"
)

// maxInterned bounds the strings an auditScanner remembers.
const maxInterned = 16 << 10

// auditScanner holds what reading a run's rows into cleanup.AffectedUser
// values for the audit writers reuses from row to row (exports_sqlite.go
// and exports_postgres.go fill the rows): the run, and the strings that
// repeat (product, group, reason, action, outcome …), shared instead of
// allocated per row.
type auditScanner struct {
	runID  int64
	dryRun bool
	intern map[string]string
}

func newAuditScanner(runID int64, dryRun bool) *auditScanner {
	return &auditScanner{runID: runID, dryRun: dryRun, intern: make(map[string]string, 256)}
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
