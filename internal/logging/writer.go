// Package logging is the server's log output: a Writer that takes the
// per-request log records into memory and writes them out in batches from
// one goroutine, so that request handlers never wait for a write to
// stderr (slog's handlers hold their lock for the whole write, which made
// every request queue behind the log's system calls under load). Every
// other record (a run started or finished, a warning, an error) is written
// at once through Direct, after the batch before it, so the log stays in
// order and those records survive a crash.
//
// Nothing is lost on a clean shutdown: Close writes out everything taken
// before it returns. What a crash loses is at most the last FlushInterval
// of batched records.
package logging

import (
	"io"
	"sync"
	"time"
)

// Defaults of NewWriter.
const (
	// FlushInterval is the longest a record waits in memory.
	FlushInterval = 50 * time.Millisecond
	// flushAt wakes the writing goroutine before the interval is up.
	flushAt = 64 << 10
	// maxBuffered bounds memory when the output is slower than the
	// records: beyond it the caller writes out the buffer itself (and so
	// waits, as without the Writer).
	maxBuffered = 1 << 20
)

// Writer buffers whole writes (one log record each, as slog's handlers
// write them) and writes them to the underlying writer in order, in
// batches. It is safe for concurrent use.
type Writer struct {
	out io.Writer

	mu      sync.Mutex
	buf     []byte
	spare   []byte
	closed  bool
	lastErr error

	flushMu  sync.Mutex // serialises writes to out
	wake     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// NewWriter starts a Writer over out. Call Close to write out the rest
// and stop it.
func NewWriter(out io.Writer) *Writer {
	w := &Writer{out: out, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

// Write takes p (a copy) for writing. It never fails: an error of the
// underlying writer is returned by Flush or Close. After Close it writes
// p through at once.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.flushMu.Lock()
		defer w.flushMu.Unlock()
		return w.out.Write(p)
	}
	w.buf = append(w.buf, p...)
	n := len(w.buf)
	w.mu.Unlock()
	switch {
	case n >= maxBuffered:
		_ = w.Flush()
	case n >= flushAt:
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Flush writes out everything taken so far.
func (w *Writer) Flush() error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	return w.flushLocked()
}

// Direct returns a writer that writes each record at once, after what is
// batched so far.
func (w *Writer) Direct() io.Writer { return direct{w} }

type direct struct{ w *Writer }

func (d direct) Write(p []byte) (int, error) {
	d.w.flushMu.Lock()
	defer d.w.flushMu.Unlock()
	if err := d.w.flushLocked(); err != nil {
		return 0, err
	}
	return d.w.out.Write(p)
}

// flushLocked writes out the batch; the caller holds flushMu.
func (w *Writer) flushLocked() error {
	w.mu.Lock()
	b := w.buf
	w.buf, w.spare = w.spare[:0], nil
	w.mu.Unlock()
	var err error
	if len(b) > 0 {
		_, err = w.out.Write(b)
	}
	w.mu.Lock()
	if cap(b) <= maxBuffered { // keep one buffer for reuse, not a huge one
		w.spare = b[:0]
	}
	if err != nil {
		w.lastErr = err
	}
	err = w.lastErr
	w.mu.Unlock()
	return err
}

func (w *Writer) loop() {
	defer close(w.done)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		case <-w.wake:
		}
		_ = w.Flush()
	}
}

// Close writes out everything taken and stops the Writer; later writes go
// straight through. It returns the last error of the underlying writer.
func (w *Writer) Close() error {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
	// Hold flushMu while closing, so a record written meanwhile is
	// either in this flush or written through after it, in order.
	w.flushMu.Lock()
	w.mu.Lock()
	b := w.buf
	w.buf, w.closed = nil, true
	w.mu.Unlock()
	var err error
	if len(b) > 0 {
		_, err = w.out.Write(b)
	}
	w.flushMu.Unlock()
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}
