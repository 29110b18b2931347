package idpexport

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// memExportStore is an in-memory cleanup.ExportStore: one run's rows and
// its stored files, kept the way the contract says (Entra order by group
// id, then the lower-cased trimmed e-mail, then id; files invisible until
// CompleteExports). It lets the generation rules be tested without a
// database; internal/store's tests run the same generation on SQLite and
// PostgreSQL against golden files.
type memExportStore struct {
	mu       sync.Mutex
	run      cleanup.ExportRun
	rows     []cleanup.AffectedUser
	files    []*memStoredFile
	nextID   int64
	complete bool
	notes    []cleanup.ExportNote
	failOn   string // a method that fails ("AuditRows", …)
	queries  int    // ExportMembers batches read
	// delay is how long each batch takes to read, so that the Entra
	// pass's workers take turns as they do on a database.
	delay time.Duration
}

type memStoredFile struct {
	cleanup.ExportFile
	data    bytes.Buffer
	dropped bool
}

var errMemStore = errors.New("memstore: induced failure")

func newMemExportStore(run cleanup.ExportRun, rows []cleanup.AffectedUser) *memExportStore {
	for i := range rows {
		rows[i].ID = int64(i + 1)
		if rows[i].LastActive == nil {
			rows[i].LastActive = map[string]time.Time{}
		}
	}
	return &memExportStore{run: run, rows: rows}
}

func (m *memExportStore) fail(method string) error {
	if m.failOn == method {
		return fmt.Errorf("%s: %w", method, errMemStore)
	}
	return nil
}

func (m *memExportStore) ExportRun(_ context.Context, clientKey string, runID int64) (cleanup.ExportRun, error) {
	if clientKey != m.run.ClientKey || runID != m.run.ID {
		return cleanup.ExportRun{}, &cleanup.Error{Kind: cleanup.KindNotFound, Message: "No such run."}
	}
	return m.run, nil
}

func (m *memExportStore) HasExports(context.Context, cleanup.ExportRun) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.complete, nil
}

func (m *memExportStore) DeleteIncompleteExports(context.Context, cleanup.ExportRun) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.complete {
		m.files = nil
	}
	return nil
}

func (m *memExportStore) CompleteExports(context.Context, cleanup.ExportRun) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.complete = true
	return nil
}

// members are the rows an Entra file may carry, in Entra order.
func (m *memExportStore) members() []cleanup.ExportMember {
	var out []cleanup.ExportMember
	for _, r := range m.rows {
		if r.Action == cleanup.ActionIdPExport && r.Outcome == cleanup.OutcomeExported {
			out = append(out, cleanup.ExportMember{ID: r.ID, GroupID: r.GroupID, Email: r.Email})
		}
	}
	key := func(e string) string { return strings.ToLower(strings.TrimSpace(e)) }
	slices.SortFunc(out, func(a, b cleanup.ExportMember) int {
		return cmp.Or(strings.Compare(a.GroupID, b.GroupID), strings.Compare(key(a.Email), key(b.Email)), cmp.Compare(a.ID, b.ID))
	})
	return out
}

func (m *memExportStore) ExportGroups(context.Context, cleanup.ExportRun) ([]cleanup.ExportGroup, error) {
	var out []cleanup.ExportGroup
	for _, mem := range m.members() {
		if len(out) > 0 && out[len(out)-1].ID == mem.GroupID {
			continue
		}
		r := m.rows[mem.ID-1]
		out = append(out, cleanup.ExportGroup{ID: r.GroupID, Name: r.GroupName, IdentityProvider: r.IdentityProvider})
	}
	return out, m.fail("ExportGroups")
}

func (m *memExportStore) ExportMembers(_ context.Context, _ cleanup.ExportRun, groups cleanup.GroupRange, batch int) (cleanup.ExportMemberCursor, error) {
	var rows []cleanup.ExportMember
	for _, mem := range m.members() {
		if mem.GroupID >= groups.From && (groups.To == "" || mem.GroupID < groups.To) {
			rows = append(rows, mem)
		}
	}
	return &memMemberCursor{m: m, rows: rows, batch: batch}, m.fail("ExportMembers")
}

type memMemberCursor struct {
	m     *memExportStore
	rows  []cleanup.ExportMember
	batch int
	pos   int
}

func (c *memMemberCursor) Next(_ context.Context, buf []cleanup.ExportMember) ([]cleanup.ExportMember, error) {
	c.m.mu.Lock()
	c.m.queries++
	c.m.mu.Unlock()
	time.Sleep(c.m.delay)
	n := min(c.batch, len(c.rows)-c.pos)
	buf = append(buf[:0], c.rows[c.pos:c.pos+n]...)
	c.pos += n
	return buf, nil
}

func (c *memMemberCursor) SkipGroup(groupID string) {
	for c.pos = 0; c.pos < len(c.rows) && c.rows[c.pos].GroupID <= groupID; c.pos++ {
	}
}

func (m *memExportStore) GroupExportMembers(_ context.Context, _ cleanup.ExportRun, groupID string) ([]cleanup.ExportMember, error) {
	var out []cleanup.ExportMember
	for _, mem := range m.members() {
		if mem.GroupID == groupID {
			out = append(out, mem)
		}
	}
	slices.SortFunc(out, func(a, b cleanup.ExportMember) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func (m *memExportStore) AuditRows(context.Context, cleanup.ExportRun, int) (cleanup.AuditCursor, error) {
	return &memAuditCursor{m: m}, m.fail("AuditRows")
}

type memAuditCursor struct {
	m   *memExportStore
	pos int
}

func (c *memAuditCursor) Next(_ context.Context, users []cleanup.AffectedUser) (int, error) {
	n := 0
	for ; n < len(users) && c.pos < len(c.m.rows); n, c.pos = n+1, c.pos+1 {
		la := users[n].LastActive
		clear(la)
		users[n] = c.m.rows[c.pos]
		maps := c.m.rows[c.pos].LastActive
		for k, v := range maps {
			la[k] = v
		}
		users[n].LastActive = la
	}
	return n, nil
}

func (c *memAuditCursor) Close() error { return nil }

func (m *memExportStore) RecordExportNotes(_ context.Context, _ cleanup.ExportRun, notes []cleanup.ExportNote) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notes = append(m.notes, notes...)
	return nil
}

// ManualRows returns the rows that were manual, or that a note made
// manual, in id order (as the store's UPDATE of the notes would leave them).
func (m *memExportStore) ManualRows(_ context.Context, _ cleanup.ExportRun, limit int) ([]cleanup.AffectedUser, int, error) {
	if err := m.fail("ManualRows"); err != nil {
		return nil, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	noted := map[int64]string{}
	for _, n := range m.notes {
		if n.Manual {
			noted[n.RowID] = n.Message
		}
	}
	var out []cleanup.AffectedUser
	total := 0
	for _, r := range m.rows {
		if msg, ok := noted[r.ID]; ok {
			r.Outcome, r.Message = cleanup.OutcomeManual, msg
		}
		if r.Outcome != cleanup.OutcomeManual {
			continue
		}
		total++
		if len(out) < limit {
			out = append(out, r)
		}
	}
	return out, total, nil
}

func (m *memExportStore) ExportFiles(context.Context, cleanup.ExportRun, int) (cleanup.ExportFileSink, error) {
	return &memFileSink{m: m}, nil
}

func (m *memExportStore) RecordStreamedFile(_ context.Context, _ cleanup.ExportRun, f cleanup.ExportFile) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail("RecordStreamedFile"); err != nil {
		return err
	}
	m.nextID++
	f.ID, f.ClientKey, f.RunID, f.DryRun, f.Streamed, f.Part, f.Parts = m.nextID, m.run.ClientKey, m.run.ID, m.run.DryRun, true, 1, 1
	m.files = append(m.files, &memStoredFile{ExportFile: f})
	return nil
}

func (m *memExportStore) RowCount(context.Context, cleanup.ExportRun) (int64, error) {
	return int64(len(m.rows)), m.fail("RowCount")
}

// visible returns the complete files, in kind, group, part order.
func (m *memExportStore) visible() []*memStoredFile {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.complete {
		return nil
	}
	var out []*memStoredFile
	for _, f := range m.files {
		if !f.dropped {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b *memStoredFile) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.GroupName, b.GroupName), cmp.Compare(a.Part, b.Part))
	})
	return out
}

type memFileSink struct {
	m      *memExportStore
	closed bool
}

type memFileWriter struct {
	f      *memStoredFile
	closed bool
}

func (w *memFileWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("memstore: write after close")
	}
	return w.f.data.Write(p)
}
func (w *memFileWriter) Close() error  { w.closed = true; return nil }
func (w *memFileWriter) FileID() int64 { return w.f.ID }
func (w *memFileWriter) Size() int64   { return int64(w.f.data.Len()) }
func (w *memFileWriter) SHA256() string {
	sum := sha256.Sum256(w.f.data.Bytes())
	return hex.EncodeToString(sum[:])
}

func (s *memFileSink) Create(_ context.Context, f cleanup.ExportFile) (cleanup.ExportFileWriter, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if s.closed {
		return nil, errors.New("memstore: create after close")
	}
	s.m.nextID++
	f.ID, f.ClientKey, f.RunID, f.DryRun, f.CreatedAt = s.m.nextID, s.m.run.ClientKey, s.m.run.ID, s.m.run.DryRun, s.m.run.GeneratedAt
	sf := &memStoredFile{ExportFile: f}
	s.m.files = append(s.m.files, sf)
	return &memFileWriter{f: sf}, nil
}

func (s *memFileSink) Finish(_ context.Context, w cleanup.ExportFileWriter, name string, parts int, rows int64) error {
	f := w.(*memFileWriter).f
	f.FileName, f.Parts, f.Rows, f.Size, f.SHA256 = name, parts, rows, w.Size(), w.SHA256()
	return nil
}

func (s *memFileSink) Drop(_ context.Context, w cleanup.ExportFileWriter) error {
	w.(*memFileWriter).f.dropped = true
	return nil
}

func (s *memFileSink) Sync() error { return nil }

func (s *memFileSink) Open(_ context.Context, id int64) (io.ReadCloser, error) {
	for _, f := range s.m.files {
		if f.ID == id && !f.dropped {
			return io.NopCloser(bytes.NewReader(f.data.Bytes())), nil
		}
	}
	return nil, errors.New("memstore: no such file")
}

func (s *memFileSink) Close() error { s.closed = true; return nil }
