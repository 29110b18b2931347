package main

import (
	"io"
	"log/slog"

	"github.com/example/usercleanup/internal/logging"
)

// benchLogger is the in-process server's logger, as serve makes it when
// stderr is not a terminal: JSON at level, through the batching
// logging.Writer (direct: straight to w, for comparison). flush writes out
// what is buffered.
func benchLogger(w io.Writer, level slog.Level, direct bool) (log *slog.Logger, flush func()) {
	opts := &slog.HandlerOptions{Level: level}
	if direct {
		return slog.New(slog.NewJSONHandler(w, opts)), func() {}
	}
	out := logging.NewWriter(w)
	return slog.New(slog.NewJSONHandler(out, opts)), func() { _ = out.Close() }
}
