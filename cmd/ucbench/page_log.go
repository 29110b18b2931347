package main

import (
	"io"
	"log/slog"

	"github.com/example/usercleanup/internal/logging"
	"github.com/example/usercleanup/internal/server"
)

// benchLogger is the in-process server's logger, as serve makes it when
// stderr is not a terminal: JSON at level, the per-request lines batched
// by a logging.Writer and the others written at once (direct: every line
// straight to w, for comparison). flush writes out what is buffered.
func benchLogger(w io.Writer, level slog.Level, direct bool) (log *slog.Logger, flush func()) {
	opts := &slog.HandlerOptions{Level: level}
	if direct {
		return slog.New(slog.NewJSONHandler(w, opts)), func() {}
	}
	out := logging.NewWriter(w)
	return slog.New(logging.SplitHandler{
		Batched: slog.NewJSONHandler(out, opts),
		Direct:  slog.NewJSONHandler(out.Direct(), opts),
		Batch:   func(r slog.Record) bool { return r.Message == server.RequestLogMessage && r.Level < slog.LevelWarn },
	}), func() { _ = out.Close() }
}
