package idpexport

import (
	"bytes"
	"errors"
	"flag"
	"github.com/example/usercleanup/internal/cputime"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file\n got: %q\nwant: %q", name, got, want)
	}
}

// memSink collects parts in memory.
type memSink struct {
	parts   map[int]*memFile
	openErr error
	failAt  int // part number whose writes fail; 0 = none
}

type memFile struct {
	bytes.Buffer
	closed int
	fail   bool
}

var errDisk = errors.New("disk full")

func (f *memFile) Write(p []byte) (int, error) {
	if f.fail {
		return 0, errDisk
	}
	return f.Buffer.Write(p)
}

func (f *memFile) Close() error { f.closed++; return nil }

func newMemSink() *memSink { return &memSink{parts: map[int]*memFile{}} }

func (s *memSink) open(part int) (io.WriteCloser, error) {
	if s.openErr != nil {
		return nil, s.openErr
	}
	f := &memFile{fail: part == s.failAt}
	s.parts[part] = f
	return f, nil
}

// reportRows reports rows/s (wall clock) and, where the OS tells, rows per
// CPU-second of the whole process (GC included) since cpuStart.
func reportRows(b *testing.B, rows int, cpuStart time.Duration) {
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	if now, ok := cputime.Process(); ok && now > cpuStart {
		b.ReportMetric(float64(rows)/(now-cpuStart).Seconds(), "rows/cpu-s")
	}
}
