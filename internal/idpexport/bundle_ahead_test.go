package idpexport

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// aheadFixture returns files of varied sizes and content: Entra-like CSV
// (compresses well), random bytes (does not), an empty file and files
// long enough to cross deflate's window and block sizes.
func aheadFixture(t *testing.T) []BundleFile {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var files []BundleFile
	for i, size := range []int{0, 1, 70, 4 << 10, 40 << 10, 100 << 10, 300 << 10, 700 << 10, 33 << 10, 1 << 20} {
		var b bytes.Buffer
		if i%3 == 1 {
			for b.Len() < size {
				b.WriteByte(byte(rng.UintN(256)))
			}
		} else {
			for n := 0; b.Len() < size; n++ {
				fmt.Fprintf(&b, "user%07d@example.com\r\n", rng.UintN(10_000_000))
			}
			b.Truncate(size)
		}
		data := b.Bytes()
		sum := sha256.Sum256(data)
		files = append(files, BundleFile{
			Name: fmt.Sprintf("group-%02d.csv", i), GroupName: fmt.Sprintf("group %d", i), Part: 1, Parts: 1,
			Rows: strings.Count(string(data), "\n"), SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		})
	}
	// The bundle sorts by name; hand them over in another order.
	slices.Reverse(files)
	return files
}

// plainBundle is the bundle as WriteBundle wrote it before files were
// deflated ahead: every entry through zip.Writer's own compressor.
func plainBundle(t *testing.T, files []BundleFile, info BundleInfo) []byte {
	t.Helper()
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b BundleFile) int { return strings.Compare(a.Name, b.Name) })
	mod := time.Date(info.RunDate.Year(), info.RunDate.Month(), info.RunDate.Day(), 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	write := func(name string, r io.Reader) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: mod})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, r); err != nil {
			t.Fatal(err)
		}
	}
	write(BundleReadmeName, strings.NewReader(Readme(files, info)))
	write(BundleScriptName, strings.NewReader(Script(files, info)))
	for _, f := range files {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		write(f.Name, rc)
		rc.Close()
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestWriteBundleAheadSameBytes: deflating files ahead on several workers
// gives exactly the bytes zip.Writer alone gives, whichever files go ahead
// (all, some, none).
func TestWriteBundleAheadSameBytes(t *testing.T) {
	files := aheadFixture(t)
	info := BundleInfo{RunID: 7, RunDate: runDate}
	want := plainBundle(t, files, info)
	for _, tc := range []struct {
		name     string
		workers  int
		aheadMax int64
	}{
		{"none ahead", 0, 0},
		{"all ahead, one worker", 1, 1 << 30},
		{"all ahead, two workers", 2, 1 << 30},
		{"small ones ahead, three workers", 3, 64 << 10},
		{"WriteBundle's defaults", bundleWorkers, bundleAheadMax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got bytes.Buffer
			if err := writeBundle(&got, files, info, tc.workers, tc.aheadMax); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("bundle differs from zip.Writer's: %d bytes, want %d", got.Len(), len(want))
			}
		})
	}
}

// TestWriteBundleAheadErrors: a file that cannot be read or does not match
// its hash fails the bundle with that file's error, and no worker is left
// running.
func TestWriteBundleAheadErrors(t *testing.T) {
	info := BundleInfo{RunID: 7, RunDate: runDate}
	failed := errors.New("store went away")
	before := runtime.NumGoroutine()
	for _, bad := range []int{0, 3, 9} {
		for _, kind := range []string{"open", "checksum"} {
			files := aheadFixture(t)
			slices.SortFunc(files, func(a, b BundleFile) int { return strings.Compare(a.Name, b.Name) })
			want := error(ErrChecksum)
			if kind == "open" {
				files[bad].Open = func() (io.ReadCloser, error) { return nil, failed }
				want = failed
			} else {
				files[bad].SHA256 = strings.Repeat("0", 64)
			}
			err := writeBundle(io.Discard, files, info, 2, 1<<30)
			if !errors.Is(err, want) || !strings.Contains(err.Error(), files[bad].Name) {
				t.Errorf("file %d %s: error %v, want %v naming %s", bad, kind, err, want, files[bad].Name)
			}
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after the failed bundles, %d before", n, before)
	}
}
