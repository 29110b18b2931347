package idpexport

import (
	"context"
	"errors"
	"fmt"
	"io"

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
	naming   FileNames
	idpGroup string // the identity-provider group the files are for
}

// entraGroups lists the run's groups with unique file names and the
// identity-provider group each maps to.
func (g *generation) entraGroups(ctx context.Context) (map[string]*entraGroup, error) {
	list, err := g.e.store.ExportGroups(ctx, g.run)
	if err != nil {
		return nil, err
	}
	refs := make([]GroupRef, len(list))
	for i, gr := range list {
		refs[i] = GroupRef{ID: gr.ID, Name: gr.Name}
	}
	names := UniqueFileNames(refs, g.run.Date, g.run.DryRun)
	for i := range names {
		names[i].Add = g.run.Restore
	}
	out := make(map[string]*entraGroup, len(list))
	for i, gr := range list {
		if gr.IdentityProvider == "" {
			gr.IdentityProvider = cleanup.ProviderEntra
		}
		out[gr.ID] = &entraGroup{ExportGroup: gr, naming: names[i],
			idpGroup: g.run.Settings.IdentityProvider.IdPGroup(gr.ID, gr.Name)}
	}
	return out, nil
}

// entraPass writes the Entra files of every group from the rows in Entra
// order (group, then e-mail key): one EntraWriter per group at a time.
type entraPass struct {
	g      *generation
	groups map[string]*entraGroup
	cursor cleanup.ExportMemberCursor
	cur    *entraGroup
	writer *EntraWriter
	parts  []cleanup.ExportFileWriter // of the current group
	notes  []cleanup.ExportNote       // of the current batch
	total  int64
}

// writeEntraFiles writes the Entra files of every group and returns the
// number of members written.
func (g *generation) writeEntraFiles(ctx context.Context) (int64, error) {
	groups, err := g.entraGroups(ctx)
	if err != nil || len(groups) == 0 {
		return 0, err
	}
	cursor, err := g.e.store.ExportMembers(ctx, g.run, g.e.batch)
	if err != nil {
		return 0, err
	}
	p := &entraPass{g: g, groups: groups, cursor: cursor}
	defer p.abandon()
	buf := make([]cleanup.ExportMember, 0, g.e.batch)
	for {
		if buf, err = cursor.Next(ctx, buf); err != nil {
			return 0, err
		}
		if len(buf) == 0 {
			break
		}
		if err := p.batch(ctx, buf); err != nil {
			return 0, err
		}
		// Notes are recorded between batches, with no query open.
		if err := g.e.store.RecordExportNotes(ctx, g.run, p.notes); err != nil {
			return 0, err
		}
		p.notes = p.notes[:0]
	}
	if err := p.finishGroup(ctx); err != nil {
		return 0, err
	}
	return p.total, nil
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

// startGroup opens the writer of a group.
func (p *entraPass) startGroup(ctx context.Context, gr *entraGroup) error {
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
		p.g.entra = append(p.g.entra, cleanup.ExportFile{
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

// abandon finishes a writer left open by an error.
func (p *entraPass) abandon() {
	if p.writer != nil {
		_, _ = p.writer.Finish()
	}
}
