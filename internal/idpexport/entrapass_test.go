package idpexport

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/cleanup"
)

// TestGroupRanges: the ranges follow each other without gap or overlap,
// from below the first group to past the last, each holding at least one
// group; one worker reads one range.
func TestGroupRanges(t *testing.T) {
	groups := func(n int) []*entraGroup {
		out := make([]*entraGroup, n)
		for i := range out {
			out[i] = &entraGroup{ExportGroup: cleanup.ExportGroup{ID: fmt.Sprintf("g%03d", i)}, order: i}
		}
		return out
	}
	for _, tc := range []struct{ groups, workers, want int }{
		{1, 1, 1}, {100, 1, 1}, {1, 4, 1}, {3, 2, 3}, {100, 2, 8}, {100, 4, 16}, {7, 4, 7},
	} {
		list := groups(tc.groups)
		got := groupRanges(list, tc.workers)
		if len(got) != tc.want {
			t.Errorf("%d groups, %d workers: %d ranges, want %d", tc.groups, tc.workers, len(got), tc.want)
			continue
		}
		if got[0].From != "" || got[len(got)-1].To != "" {
			t.Errorf("%d groups, %d workers: ranges %+v do not reach both ends", tc.groups, tc.workers, got)
		}
		held := 0
		for i, r := range got {
			if i > 0 && r.From != got[i-1].To {
				t.Errorf("%d groups, %d workers: range %d starts at %q, the one before ends at %q", tc.groups, tc.workers, i, r.From, got[i-1].To)
			}
			n := 0
			for _, g := range list {
				if g.ID >= r.From && (r.To == "" || g.ID < r.To) {
					n++
				}
			}
			if n == 0 {
				t.Errorf("%d groups, %d workers: range %+v holds no group", tc.groups, tc.workers, r)
			}
			held += n
		}
		if held != tc.groups {
			t.Errorf("%d groups, %d workers: the ranges hold %d groups", tc.groups, tc.workers, held)
		}
	}
}

// unevenRows are rows of groups of very different sizes: one big group
// split into parts, many groups of one to three members, a group whose
// e-mail keys the store orders differently from the Entra writer (it is
// rewritten from memory), and rows that get notes.
func unevenRows() []cleanup.AffectedUser {
	var rows []cleanup.AffectedUser
	for i := range 300 {
		rows = append(rows, row("g-big", "Big", fmt.Sprintf("u%03d@x.com", (i*7)%300)))
	}
	for i := range 40 {
		for j := range 1 + i%3 {
			rows = append(rows, row(fmt.Sprintf("t%02d", i), fmt.Sprintf("Tiny %d", i), fmt.Sprintf("m%d-%d@x.com", j, i)))
		}
	}
	for _, e := range []string{"éa@x.com", "z@x.com", "Éb@x.com", "a@x.com", "bad,y@x.com"} {
		rows = append(rows, row("g-sort", "Sorted", e))
	}
	for _, e := range []string{"bad,x@x.com", "ext_o.org#EXT#@x.onmicrosoft.com", "", "ok@x.com"} {
		rows = append(rows, row("g-notes", "Notes", e))
	}
	// Interleave the groups' ids, as concurrent writers of a run do.
	for i := range rows {
		j := (i * 7919) % len(rows)
		rows[i], rows[j] = rows[j], rows[i]
	}
	return rows
}

// passResult is what an Entra pass leaves: the files for the bundle in
// its order (without ids), their bytes, the sorted notes and the count.
type passResult struct {
	Files []cleanup.ExportFile
	Data  map[string]string
	Notes []cleanup.ExportNote
	Total int64
}

// runEntraPass runs the Entra pass alone on unevenRows. interleaved
// reports whether workers wrote groups at the same time (the files were
// created out of group order).
func runEntraPass(t *testing.T, workers int) (_ passResult, interleaved bool) {
	t.Helper()
	run := testRun()
	run.Settings.Export.MaxRowsPerFile = 50
	m := newMemExportStore(run, unevenRows())
	m.delay = 100 * time.Microsecond
	e := NewExporter(m, ExporterConfig{BatchSize: 16, EntraWorkers: workers})
	sink, err := m.ExportFiles(context.Background(), run, 0)
	if err != nil {
		t.Fatal(err)
	}
	g := &generation{e: e, run: run, opts: EntraOptionsOf(run.Settings.Export), sink: sink}
	total, err := g.writeEntraFiles(context.Background())
	if err != nil {
		t.Fatalf("%d workers: %v", workers, err)
	}
	out := passResult{Data: map[string]string{}, Total: total}
	byID := map[int64]*memStoredFile{}
	for _, f := range m.files {
		byID[f.ID] = f
	}
	for i, f := range g.entra {
		if i > 0 && f.ID < g.entra[i-1].ID {
			interleaved = true
		}
		out.Data[f.FileName] = byID[f.ID].data.String()
		f.ID = 0
		out.Files = append(out.Files, f)
	}
	out.Notes = slices.Clone(m.notes)
	slices.SortFunc(out.Notes, func(a, b cleanup.ExportNote) int {
		return cmp.Or(cmp.Compare(a.RowID, b.RowID), cmp.Compare(a.Message, b.Message))
	})
	dropped := 0
	for _, f := range m.files {
		if f.dropped {
			dropped++
		}
	}
	if dropped == 0 {
		t.Fatalf("%d workers: no part dropped: g-sort was not rewritten from memory", workers)
	}
	return out, interleaved
}

// TestEntraPassWorkersWriteTheSameFiles: any number of workers writes the
// same files (names, parts, bytes), lists them for the bundle in the same
// group then part order, and records the same notes as one worker.
func TestEntraPassWorkersWriteTheSameFiles(t *testing.T) {
	one, _ := runEntraPass(t, 1)
	if len(one.Files) < 45 || one.Total < 340 {
		t.Fatalf("one worker: %d files, %d members; the scenario is not what it should be", len(one.Files), one.Total)
	}
	for _, workers := range []int{2, 3, 8, 64} {
		many, interleaved := runEntraPass(t, workers)
		if !interleaved {
			t.Errorf("%d workers wrote the groups one after the other: the test did not test the workers", workers)
		}
		if diff := gocmp.Diff(one, many); diff != "" {
			t.Errorf("%d workers differ from one (-one +many):\n%s", workers, diff)
		}
	}
}
