package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/idpexport"
)

// unevenRunUsers are the rows of a run whose groups differ wildly in size:
// one big group split into parts, many groups of one to three members
// (some ids upper-case, which sort before lower-case in byte order but not
// in a locale's), a group whose e-mail keys the database orders
// differently from the Entra writer (rewritten from memory), rows that get
// notes, two groups with the same name, and rows no Entra file carries.
// The groups' rows are interleaved, as concurrent writers of a run leave
// them.
func unevenRunUsers() []testRunUser {
	var users []testRunUser
	add := func(group, name string, emails ...string) {
		for _, e := range emails {
			users = append(users, testRunUser{email: e, group: group, groupName: name, synced: true})
		}
	}
	for i := range 1500 {
		add("g-big", "Big", fmt.Sprintf("user%04d@x.com", (i*7919)%1500))
	}
	for i := range 60 {
		id := fmt.Sprintf("t%02d", i)
		if i%4 == 0 {
			id = fmt.Sprintf("T%02d", i)
		}
		for j := range 1 + i%3 {
			add(id, "Tiny "+id, fmt.Sprintf("m%d-%s@x.com", j, id))
		}
	}
	add("g-sort", "Sorted in memory", "éa@x.com", "z@x.com", "Éb@x.com", "a@x.com", "bad,y@x.com")
	add("g-notes", "Notes", "bad,x@x.com", "ext_o.org#EXT#@x.onmicrosoft.com", "", "=cmd@x.com", "ok@x.com")
	add("g-dup1", "Same", "d1@x.com")
	add("g-dup2", "Same", "d2@x.com")
	users = append(users, testRunUser{email: "plain@x.com", group: "g-plain", groupName: "staff",
		action: cleanup.ActionRemoveProductAccess, outcome: cleanup.OutcomeDone})
	for i := range users {
		j := (i * 7919) % len(users)
		users[i], users[j] = users[j], users[i]
	}
	return users
}

// unevenSettings split the Entra files after 500 members and map one
// group to an Entra group.
func unevenSettings() cleanup.Settings {
	settings := cleanup.DefaultSettings()
	settings.IdentityProvider.Provider = cleanup.ProviderEntra
	settings.IdentityProvider.GroupMappings = map[string]string{"g-big": "SG-Big"}
	settings.Export.MaxRowsPerFile = 500
	return settings
}

// rangeCountingStore counts the cursors the Entra pass opens.
type rangeCountingStore struct {
	*Store
	ranges atomic.Int32
}

func (s *rangeCountingStore) ExportMembers(ctx context.Context, run cleanup.ExportRun, groups cleanup.GroupRange, batch int) (cleanup.ExportMemberCursor, error) {
	s.ranges.Add(1)
	return s.Store.ExportMembers(ctx, run, groups, batch)
}

// exportedRun is what a generation leaves of a run: its files (without
// ids) with their bytes, and every row's outcome and message.
type exportedRun struct {
	Files []cleanup.ExportFile
	Data  []string
	Rows  []string
}

// exportUneven generates the uneven run's exports with the number of Entra
// workers in a fresh store whose clock is fixed, so that ids, names and
// times are the same whatever the number of workers.
func exportUneven(t *testing.T, b backend, workers int) (_ exportedRun, ranges int) {
	t.Helper()
	ctx := context.Background()
	s := openStore(t, goldenConfig(b.config(t)))
	runID := insertRun(t, s, "tenant-a", false, true, unevenSettings())
	insertRunUsers(t, s, "tenant-a", runID, unevenRunUsers())
	var log bytes.Buffer
	cs := &rangeCountingStore{Store: s}
	e := idpexport.NewExporter(cs, idpexport.ExporterConfig{BatchSize: 64, ChunkSize: 512, EntraWorkers: workers,
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err := e.GenerateRunExports(ctx, "tenant-a", runID); err != nil {
		t.Fatalf("%d workers: %v", workers, err)
	}
	if !strings.Contains(log.String(), "group_id=g-sort") {
		t.Fatalf("%d workers: g-sort was not sorted in memory; log:\n%s", workers, log.String())
	}
	list, err := s.RunExports(ctx, "tenant-a", runID)
	if err != nil {
		t.Fatal(err)
	}
	var out exportedRun
	for _, f := range list.Files {
		out.Data = append(out.Data, string(readExport(t, s, f)))
		f.ID = 0
		out.Files = append(out.Files, f)
	}
	rows, err := s.sqlDB.QueryContext(ctx, s.rebind(`SELECT id, outcome, message FROM run_users WHERE run_id = ? ORDER BY id`), runID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id               int64
			outcome, message string
		)
		if err := rows.Scan(&id, &outcome, &message); err != nil {
			t.Fatal(err)
		}
		out.Rows = append(out.Rows, fmt.Sprintf("%d %s %s", id, outcome, message))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out, int(cs.ranges.Load())
}

// TestEntraWorkersWriteTheSameFiles: the Entra pass on several workers
// (each reading its own ranges of groups, storing through one sink,
// recording notes at the same time) leaves byte for byte the files of one
// worker, the bundle included, and the same notes on the rows.
func TestEntraWorkersWriteTheSameFiles(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			one, ranges := exportUneven(t, b, 1)
			if ranges != 1 {
				t.Errorf("one worker read %d ranges, want 1", ranges)
			}
			entra, manual := 0, 0
			for i, f := range one.Files {
				if f.Kind == cleanup.ExportKindEntra {
					entra++
				}
				if f.Kind == cleanup.ExportKindBundle && len(one.Data[i]) == 0 {
					t.Error("empty bundle")
				}
			}
			for _, r := range one.Rows {
				if strings.Contains(r, " "+cleanup.OutcomeManual+" ") {
					manual++
				}
			}
			if entra < 66 || manual < 4 {
				t.Fatalf("one worker: %d Entra files, %d manual rows: the scenario is not what it should be", entra, manual)
			}
			for _, workers := range []int{2, 4} {
				many, ranges := exportUneven(t, b, workers)
				if ranges != workers*4 {
					t.Errorf("%d workers read %d ranges, want %d", workers, ranges, workers*4)
				}
				if diff := cmp.Diff(one, many); diff != "" {
					t.Errorf("%d workers differ from one (-one +many):\n%s", workers, diff)
				}
			}
		})
	}
}

// errInjected is the failure of one Entra worker's cursor.
var errInjected = errors.New("injected cursor failure")

// failingRangeStore fails the cursor of the first group range on its
// second batch, after the worker has begun writing files. Every other
// cursor holds its second batch until the pass is cancelled (or five
// seconds pass, which the test reports), so the other workers are mid-range when
// the failure comes.
type failingRangeStore struct {
	*Store
	stalled atomic.Int32 // cursors that waited out the timeout: not cancelled
}

func (s *failingRangeStore) ExportMembers(ctx context.Context, run cleanup.ExportRun, groups cleanup.GroupRange, batch int) (cleanup.ExportMemberCursor, error) {
	c, err := s.Store.ExportMembers(ctx, run, groups, batch)
	return &failingCursor{ExportMemberCursor: c, s: s, fail: groups.From == ""}, err
}

type failingCursor struct {
	cleanup.ExportMemberCursor
	s       *failingRangeStore
	fail    bool
	batches int
}

func (c *failingCursor) Next(ctx context.Context, buf []cleanup.ExportMember) ([]cleanup.ExportMember, error) {
	c.batches++
	if c.batches == 2 {
		if c.fail {
			return buf[:0], errInjected
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			c.s.stalled.Add(1)
		}
	}
	return c.ExportMemberCursor.Next(ctx, buf)
}

// TestEntraWorkerFailureStopsThePass: a failure in one worker cancels the
// others and is the error of the generation, which leaves no file behind
// (complete or not) and no goroutine running; the next attempt succeeds.
func TestEntraWorkerFailureStopsThePass(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, goldenConfig(b.config(t)))
			runID := insertRun(t, s, "tenant-a", false, true, unevenSettings())
			insertRunUsers(t, s, "tenant-a", runID, unevenRunUsers())
			fs := &failingRangeStore{Store: s}
			goroutines := runtime.NumGoroutine()
			err := idpexport.NewExporter(fs, idpexport.ExporterConfig{BatchSize: 8, ChunkSize: 64, EntraWorkers: 4}).
				GenerateRunExports(ctx, "tenant-a", runID)
			if !errors.Is(err, errInjected) {
				t.Fatalf("err = %v, want the injected failure", err)
			}
			if n := fs.stalled.Load(); n > 0 {
				t.Errorf("%d cursors went on after the failure: the other workers were not cancelled", n)
			}
			var files, chunks int
			if err := s.sqlDB.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM export_files WHERE run_id = ?`), runID).Scan(&files); err != nil {
				t.Fatal(err)
			}
			if err := s.sqlDB.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM export_chunks c JOIN export_files f ON f.id = c.file_id WHERE f.run_id = ?`), runID).Scan(&chunks); err != nil {
				t.Fatal(err)
			}
			if files != 0 || chunks != 0 {
				t.Errorf("%d files, %d chunks left behind", files, chunks)
			}
			if n := settledGoroutines(goroutines); n > goroutines {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines after the failed generation, %d before:\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
			}

			if err := idpexport.NewExporter(s, idpexport.ExporterConfig{BatchSize: 8, EntraWorkers: 4}).GenerateRunExports(ctx, "tenant-a", runID); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if done, err := s.HasExports(ctx, cleanup.ExportRun{ClientKey: "tenant-a", ID: runID}); err != nil || !done {
				t.Errorf("retry: HasExports = %v, %v", done, err)
			}
		})
	}
}

// settledGoroutines waits up to a second for the number of goroutines to
// fall to want (goroutines that are ending may not have exited yet) and
// returns the last count.
func settledGoroutines(want int) int {
	var n int
	for range 100 {
		if n = runtime.NumGoroutine(); n <= want {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

// TestAsyncSinkProducers: several producers put chunks of their own files
// at once through one sink, with syncs in between, and every chunk is
// stored; after close, put and sync are errors (not a panic) and the
// goroutine has stopped.
func TestAsyncSinkProducers(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, b.config(t))
			runID := insertRun(t, s, "tenant-a", false, true, cleanup.DefaultSettings())
			run := cleanup.ExportRun{ClientKey: "tenant-a", ID: runID}
			sink, err := s.ExportFiles(ctx, run, 16)
			if err != nil {
				t.Fatal(err)
			}
			const producers, size = 6, 1000
			want := make([][]byte, producers)
			ids := make([]int64, producers)
			var wg sync.WaitGroup
			errs := make([]error, producers)
			for p := range producers {
				want[p] = bytes.Repeat([]byte{byte('a' + p)}, size+p)
				wg.Go(func() {
					w, err := sink.Create(ctx, cleanup.ExportFile{Kind: cleanup.ExportKindEntra, GroupID: fmt.Sprint("g", p), FileName: fmt.Sprintf("p%d.csv", p)})
					if err != nil {
						errs[p] = err
						return
					}
					ids[p] = w.FileID()
					for i := 0; i < len(want[p]); i += 7 {
						if _, err := w.Write(want[p][i:min(i+7, len(want[p]))]); err != nil {
							errs[p] = err
							return
						}
						if i%210 == 0 {
							if err := sink.Sync(); err != nil {
								errs[p] = err
								return
							}
						}
					}
					errs[p] = w.Close()
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if err := sink.Close(); err != nil {
				t.Fatal(err)
			}
			for p, id := range ids {
				got := readExport(t, s, cleanup.ExportFile{ID: id})
				if !bytes.Equal(got, want[p]) {
					t.Errorf("producer %d: %d bytes stored, want %d of %q", p, len(got), len(want[p]), want[p][0])
				}
			}
			fsink := sink.(*fileSink)
			if _, err := fsink.chunks.put(ids[0], 999, fsink.chunks.buffer()); !errors.Is(err, errSinkClosed) {
				t.Errorf("put after close: %v, want errSinkClosed", err)
			}
			if err := fsink.chunks.sync(); !errors.Is(err, errSinkClosed) {
				t.Errorf("sync after close: %v, want errSinkClosed", err)
			}
			select {
			case <-fsink.chunks.done:
			default:
				t.Error("the sink's goroutine runs on after close")
			}
		})
	}
}
