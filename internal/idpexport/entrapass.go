package idpexport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/example/usercleanup/internal/cleanup"
)

// Notes export generation records on run rows.
const (
	// ManualPrefix starts the message of a row the Entra file cannot carry.
	ManualPrefix = cleanup.ManualNotePrefix
	// GuestMessage flags a B2B guest in an Entra file.
	GuestMessage = "B2B guest (#EXT#): check that this is the user's principal name in Entra before uploading"
)

// CheckMember decides what an Entra file does with one row: id is the
// identifier to write ("" when the file cannot carry the row's e-mail
// address), and note, when its Message is set, is recorded on the row: a
// manual-action note for an address the file cannot carry (ValidateIdentifier
// says why), a flag for a B2B guest's UPN (IsGuestUPN), whose Atlassian
// e-mail may not be its user principal name.
//
// A row erased for a closed account (m.Erased) is left out without a note:
// its outcome and the run's counts stay as they were.
func CheckMember(m cleanup.ExportMember) (id string, note cleanup.ExportNote) {
	if m.Erased {
		return "", note
	}
	norm, problem := ValidateIdentifier(m.Email)
	if problem != "" {
		return "", cleanup.ExportNote{RowID: m.ID, Manual: true, Message: ManualPrefix + problem}
	}
	if IsGuestUPN(norm) {
		note = cleanup.ExportNote{RowID: m.ID, Message: GuestMessage}
	}
	return norm, note
}

// entraGroup is one group of a run's Entra files.
type entraGroup struct {
	cleanup.ExportGroup
	order    int // position in the run's group list (group id order)
	naming   FileNames
	idpGroup string      // the identity-provider group the files are for
	started  atomic.Bool // a worker began writing it
}

// entraGroups lists the run's groups in group id order with unique file
// names and the identity-provider group each maps to, and indexes them by
// id.
func (g *generation) entraGroups(ctx context.Context) ([]*entraGroup, map[string]*entraGroup, error) {
	list, err := g.e.store.ExportGroups(ctx, g.run)
	if err != nil {
		return nil, nil, err
	}
	refs := make([]GroupRef, len(list))
	for i, gr := range list {
		refs[i] = GroupRef{ID: gr.ID, Name: gr.Name}
	}
	names := UniqueFileNames(refs, g.run.Date, g.run.DryRun)
	for i := range names {
		names[i].Add = g.run.Restore
	}
	ordered := make([]*entraGroup, len(list))
	byID := make(map[string]*entraGroup, len(list))
	for i, gr := range list {
		if gr.IdentityProvider == "" {
			gr.IdentityProvider = cleanup.ProviderEntra
		}
		ordered[i] = &entraGroup{ExportGroup: gr, order: i, naming: names[i],
			idpGroup: g.run.Settings.IdentityProvider.IdPGroup(gr.ID, gr.Name)}
		byID[gr.ID] = ordered[i]
	}
	return ordered, byID, nil
}

// maxDefaultEntraWorkers caps the default number of Entra pass workers.
//
// Why at least two, even on one core: on PostgreSQL the pass mostly waits
// for the server (each batch is tens of milliseconds of index scan), and
// on SQLite it waits for the chunks and notes to be written; a second
// worker formats and stores its groups in that time. Why at most four:
// each worker holds a database connection while it reads (a SQLite reader,
// a PostgreSQL backend shared with the app's requests and jobs), a batch
// of rows and a chunk buffer, and beyond a few workers the single writer
// (SQLite's lock, the sink's one storing goroutine) is the limit, not the
// reading.
const maxDefaultEntraWorkers = 4

// defaultEntraWorkers is the number of Entra pass workers when the
// configuration does not say: one per core the process may use, between 2
// and maxDefaultEntraWorkers.
func defaultEntraWorkers() int {
	return min(max(runtime.GOMAXPROCS(0), 2), maxDefaultEntraWorkers)
}

// entraRangesPerWorker is how many group ranges the pass splits the run's
// groups into per worker. Group sizes are not known in advance (counting
// them would read every row), so more ranges than workers let a worker
// that drew small groups take more ranges while another writes a big one.
// Each range costs one keyset query at least, whatever its number of
// groups, so there are not many more.
const entraRangesPerWorker = 4

// groupRanges splits the run's groups (in group id order) into contiguous
// ranges of about equal numbers of groups: one range for one worker,
// otherwise up to entraRangesPerWorker per worker. The first range starts
// at the lowest id and the last has no upper bound, and each ends where
// the next begins, so together they hold every row of the pass, even one
// of a group added after the list was read (which the pass then reports).
func groupRanges(groups []*entraGroup, workers int) []cleanup.GroupRange {
	n := 1
	if workers > 1 {
		n = min(len(groups), workers*entraRangesPerWorker)
	}
	out := make([]cleanup.GroupRange, n)
	for i := range out {
		if i > 0 {
			out[i].From = groups[i*len(groups)/n].ID
		}
		if i < n-1 {
			out[i].To = groups[(i+1)*len(groups)/n].ID
		}
	}
	return out
}

// entraPass is one worker of the Entra pass: it takes group ranges from a
// shared queue and writes the files of each range's groups from the rows
// in Entra order (group, then e-mail key), one EntraWriter at a time. A
// group is written by one worker only, so its bytes do not depend on how
// many workers there are.
type entraPass struct {
	g      *generation
	groups map[string]*entraGroup // shared, read only
	cursor cleanup.ExportMemberCursor
	cur    *entraGroup
	writer *EntraWriter
	parts  []cleanup.ExportFileWriter // of the current group
	notes  []cleanup.ExportNote       // of the current batch
	files  []cleanup.ExportFile       // written by this worker
	total  int64
}

// writeEntraFiles writes the Entra files of every group on several
// workers (ExporterConfig.EntraWorkers), collects them into g.entra in
// group then part order, as one worker would write them, and returns the
// number of members written. The first worker's error cancels the others
// and is returned once all have stopped.
func (g *generation) writeEntraFiles(ctx context.Context) (int64, error) {
	list, groups, err := g.entraGroups(ctx)
	if err != nil || len(list) == 0 {
		return 0, err
	}
	ranges := groupRanges(list, g.e.entraWorkers)
	queue := make(chan cleanup.GroupRange, len(ranges))
	for _, r := range ranges {
		queue <- r
	}
	close(queue)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	passes := make([]*entraPass, min(g.e.entraWorkers, len(ranges)))
	var (
		wg     sync.WaitGroup
		failed atomic.Bool
	)
	for i := range passes {
		p := &entraPass{g: g, groups: groups}
		passes[i] = p
		wg.Go(func() {
			if err := p.run(ctx, queue); err != nil {
				failed.Store(true)
				cancel(err) // only the first cause is kept
			}
		})
	}
	wg.Wait()
	if failed.Load() {
		return 0, context.Cause(ctx)
	}
	var total int64
	for _, p := range passes {
		g.entra = append(g.entra, p.files...)
		total += p.total
	}
	slices.SortFunc(g.entra, func(a, b cleanup.ExportFile) int {
		return cmp.Or(cmp.Compare(groups[a.GroupID].order, groups[b.GroupID].order), cmp.Compare(a.Part, b.Part))
	})
	return total, nil
}

// run writes the groups of the ranges it takes from queue until the queue
// is empty or ctx is done.
func (p *entraPass) run(ctx context.Context, queue <-chan cleanup.GroupRange) error {
	defer p.abandon()
	buf := make([]cleanup.ExportMember, 0, p.g.e.batch)
	for r := range queue {
		if err := ctx.Err(); err != nil {
			return err
		}
		cursor, err := p.g.e.store.ExportMembers(ctx, p.g.run, r, p.g.e.batch)
		if err != nil {
			return err
		}
		p.cursor = cursor
		for {
			if buf, err = cursor.Next(ctx, buf); err != nil {
				return err
			}
			if len(buf) == 0 {
				break
			}
			if err := p.batch(ctx, buf); err != nil {
				return err
			}
			// Notes are recorded between batches, with no query open.
			if err := p.g.e.store.RecordExportNotes(ctx, p.g.run, p.notes); err != nil {
				return err
			}
			p.notes = p.notes[:0]
		}
		// A range holds whole groups: its last one is complete.
		if err := p.finishGroup(ctx); err != nil {
			return err
		}
		p.cur = nil
	}
	return nil
}

// batch writes one batch of rows.
func (p *entraPass) batch(ctx context.Context, rows []cleanup.ExportMember) error {
	for _, m := range rows {
		if p.cur == nil || m.GroupID != p.cur.ID {
			if err := p.finishGroup(ctx); err != nil {
				return err
			}
			gr := p.groups[m.GroupID]
			if gr == nil { // a row added after the group list was read
				return fmt.Errorf("%w (run %d)", errChanged, p.g.run.ID)
			}
			if err := p.startGroup(ctx, gr); err != nil {
				return err
			}
		}
		id, note := CheckMember(m)
		if note.Message != "" {
			p.notes = append(p.notes, note)
		}
		if id == "" {
			continue
		}
		if err := p.writer.Write(id); err != nil {
			if !errors.Is(err, ErrNotSorted) {
				return fmt.Errorf("idpexport: export group %q of run %d: %w", p.cur.ID, p.g.run.ID, err)
			}
			// The rest of this batch belongs to the group (rewritten now)
			// or comes after it (read again from after the group).
			return p.rewriteSorted(ctx)
		}
		p.total++
	}
	return nil
}

// startGroup opens the writer of a group. A group whose rows come a
// second time (a store that broke the order, or ranges that overlap) is an
// error, not a second set of files with the same names.
func (p *entraPass) startGroup(ctx context.Context, gr *entraGroup) error {
	if gr.started.Swap(true) {
		return fmt.Errorf("idpexport: export group %q of run %d: its rows were read twice", gr.ID, p.g.run.ID)
	}
	p.cur = gr
	w, err := NewEntraWriter(p.openPart(ctx, gr), gr.naming, p.g.opts)
	p.writer = w
	return err
}

// openPart creates the stored file of a group's part.
func (p *entraPass) openPart(ctx context.Context, gr *entraGroup) OpenPart {
	return func(part int) (io.WriteCloser, error) {
		w, err := p.g.sink.Create(ctx, cleanup.ExportFile{
			Kind: p.g.run.EntraKind(), IdentityProvider: gr.IdentityProvider, GroupID: gr.ID, GroupName: gr.Name,
			IdPGroup: gr.idpGroup, Part: part, Parts: part,
			FileName: gr.naming.Entra(part, part+1), ContentType: MediaTypeCSV,
		})
		if err != nil {
			return nil, err
		}
		p.parts = append(p.parts, w)
		return w, nil
	}
}

// finishGroup completes the current group's files.
func (p *entraPass) finishGroup(ctx context.Context) error {
	if p.writer == nil {
		return nil
	}
	w := p.writer
	p.writer = nil
	written, err := w.Finish()
	for _, f := range p.parts {
		_ = f.Close() // closed by the Entra writer; this releases the buffer after an error
	}
	if err != nil {
		return fmt.Errorf("idpexport: export group %q of run %d: %w", p.cur.ID, p.g.run.ID, err)
	}
	return p.recordParts(ctx, written)
}

// recordParts records the written parts of the current group as files.
func (p *entraPass) recordParts(ctx context.Context, written []Part) error {
	gr := p.cur
	if len(written) != len(p.parts) {
		return fmt.Errorf("idpexport: export group %q of run %d: %d parts written, %d opened", gr.ID, p.g.run.ID, len(written), len(p.parts))
	}
	for i, part := range written {
		f := p.parts[i]
		if f.SHA256() != part.SHA256 || f.Size() != part.Bytes {
			return fmt.Errorf("idpexport: export group %q of run %d: stored part %d differs from what was written", gr.ID, p.g.run.ID, part.Part)
		}
		if err := p.g.sink.Finish(ctx, f, part.FileName, len(written), int64(part.Rows)); err != nil {
			return err
		}
		p.files = append(p.files, cleanup.ExportFile{
			ID: f.FileID(), Kind: p.g.run.EntraKind(), IdentityProvider: gr.IdentityProvider, GroupID: gr.ID,
			GroupName: gr.Name, IdPGroup: gr.idpGroup, Part: part.Part, Parts: len(written),
			FileName: part.FileName, Rows: int64(part.Rows), Size: part.Bytes, SHA256: part.SHA256,
		})
	}
	p.parts = p.parts[:0]
	return nil
}

// rewriteSorted rewrites the current group from memory when the store's
// order was not the writer's (e-mail keys lower-cased beyond ASCII): its
// parts so far are dropped, its rows read again and sorted in Go, and the
// cursor continues after the group. Memory grows with that group only.
func (p *entraPass) rewriteSorted(ctx context.Context) error {
	gr := p.cur
	_, _ = p.writer.Finish()
	p.writer = nil
	for _, f := range p.parts {
		if err := p.g.sink.Drop(ctx, f); err != nil {
			return fmt.Errorf("idpexport: drop part of export group %q: %w", gr.ID, err)
		}
	}
	p.parts = p.parts[:0]
	if err := p.g.e.store.RecordExportNotes(ctx, p.g.run, p.notes); err != nil {
		return err
	}
	p.notes = p.notes[:0]
	p.g.e.log.WarnContext(ctx, "export group not in writer order, sorting it in memory",
		"client_key", p.g.run.ClientKey, "run_id", p.g.run.ID, "group_id", gr.ID)
	rows, err := p.g.e.store.GroupExportMembers(ctx, p.g.run, gr.ID)
	if err != nil {
		return err
	}
	var ids []string
	for _, m := range rows {
		id, note := CheckMember(m)
		if note.Message != "" {
			p.notes = append(p.notes, note)
		}
		if id != "" {
			ids = append(ids, id)
		}
	}
	written, _, err := WriteEntraGroup(p.openPart(ctx, gr), gr.naming, p.g.opts, ids)
	if err != nil {
		return fmt.Errorf("idpexport: export group %q of run %d: %w", gr.ID, p.g.run.ID, err)
	}
	if err := p.recordParts(ctx, written); err != nil {
		return err
	}
	p.cursor.SkipGroup(gr.ID)
	p.cur = nil
	return nil
}

// abandon finishes a writer left open by an error and closes its parts,
// which gives their chunk buffers back to the sink.
func (p *entraPass) abandon() {
	if p.writer != nil {
		_, _ = p.writer.Finish()
		p.writer = nil
	}
	for _, f := range p.parts {
		_ = f.Close()
	}
	p.parts = nil
}
