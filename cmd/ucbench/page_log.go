package main

import (
	"io"
	"log/slog"
)

// benchLogger is the in-process server's logger: JSON at level, as serve
// logs when stderr is not a terminal. flush writes out what is buffered.
func benchLogger(w io.Writer, level slog.Level) (log *slog.Logger, flush func()) {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})), func() {}
}
