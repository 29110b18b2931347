package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is the underlying output, safe to read while written.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWriterKeepsEveryRecordOnClose: records logged concurrently through
// slog all arrive, whole and in each goroutine's order, once Close returns.
func TestWriterKeepsEveryRecordOnClose(t *testing.T) {
	out := &lockedBuffer{}
	w := NewWriter(out)
	log := slog.New(slog.NewJSONHandler(w, nil))
	const goroutines, each = 16, 3000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				log.Info("request", "g", g, "i", i, "path", strings.Repeat("x", i%200))
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != goroutines*each {
		t.Fatalf("%d records written, want %d", len(lines), goroutines*each)
	}
	next := make([]int, goroutines)
	for _, line := range lines {
		var rec struct{ G, I int }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("broken record %q: %v", line, err)
		}
		if rec.I != next[rec.G] {
			t.Fatalf("goroutine %d: record %d arrived when %d was due", rec.G, rec.I, next[rec.G])
		}
		next[rec.G]++
	}
	if out.writes >= goroutines*each/10 {
		t.Errorf("%d writes for %d records: not batched", out.writes, len(lines))
	}
}

// TestWriterFlushesOnItsOwn: a record reaches the output within the flush
// interval without Close.
func TestWriterFlushesOnItsOwn(t *testing.T) {
	out := &lockedBuffer{}
	w := NewWriter(out)
	t.Cleanup(func() { _ = w.Close() })
	fmt.Fprintln(w, "one record")
	deadline := time.Now().Add(20 * FlushInterval)
	for out.String() != "one record\n" {
		if time.Now().After(deadline) {
			t.Fatalf("after %s the output is %q", 20*FlushInterval, out.String())
		}
		time.Sleep(FlushInterval / 5)
	}
}

// TestWriterAfterClose: writes after Close go straight through, Close is
// idempotent.
func TestWriterAfterClose(t *testing.T) {
	out := &lockedBuffer{}
	w := NewWriter(out)
	fmt.Fprintln(w, "before")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(w, "after")
	if got := out.String(); got != "before\nafter\n" {
		t.Errorf("output = %q", got)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// BenchmarkLogRequest compares a request's log record through slog's JSON
// handler written straight to a file-like sink (a write system call under
// the handler's lock per record) with the same through the Writer, from
// many goroutines.
func BenchmarkLogRequest(b *testing.B) {
	for _, tc := range []struct {
		name string
		wrap bool
	}{{"direct", false}, {"buffered", true}} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := openSink(b.TempDir())
			if err != nil {
				b.Skip(err)
			}
			defer f.Close()
			var out interface {
				Write([]byte) (int, error)
			} = f
			var w *Writer
			if tc.wrap {
				w = NewWriter(f)
				out = w
			}
			log := slog.New(slog.NewJSONHandler(out, nil))
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					log.LogAttrs(b.Context(), slog.LevelInfo, "request", slog.String("method", "GET"),
						slog.String("path", "/jira/admin/settings"), slog.Int("status", 200),
						slog.Duration("duration", time.Millisecond), slog.String("request_id", "0123456789abcdef01234567"))
				}
			})
			if w != nil {
				_ = w.Close()
			}
		})
	}
}

// TestSplitHandler: records the split batches wait for the flush; every
// other record is written at once, after the batched ones before it.
func TestSplitHandler(t *testing.T) {
	out := &lockedBuffer{}
	w := NewWriter(out)
	t.Cleanup(func() { _ = w.Close() })
	log := slog.New(SplitHandler{
		Batched: slog.NewTextHandler(w, nil),
		Direct:  slog.NewTextHandler(w.Direct(), nil),
		Batch:   func(r slog.Record) bool { return r.Message == "request" },
	}).With("component", "test")
	log.Info("request", "n", 1)
	log.Info("request", "n", 2)
	log.Warn("run finished", "n", 3)
	got := out.String()
	for i, want := range []string{"msg=request component=test n=1", "msg=request component=test n=2", "msg=\"run finished\" component=test n=3"} {
		lines := strings.Split(strings.TrimSpace(got), "\n")
		if len(lines) != 3 || !strings.Contains(lines[i], want) {
			t.Fatalf("after a direct record the output is\n%s\nwant line %d with %s", got, i+1, want)
		}
	}
}
