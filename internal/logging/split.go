package logging

import (
	"context"
	"log/slog"
)

// SplitHandler sends the records Batch selects to Batched and every other
// record to Direct; both should format alike (the same kind of handler
// over a Writer and its Direct view).
type SplitHandler struct {
	Batched, Direct slog.Handler
	Batch           func(slog.Record) bool
}

// Enabled implements slog.Handler.
func (h SplitHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Direct.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (h SplitHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.Batch(r) {
		return h.Batched.Handle(ctx, r)
	}
	return h.Direct.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h SplitHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return SplitHandler{Batched: h.Batched.WithAttrs(as), Direct: h.Direct.WithAttrs(as), Batch: h.Batch}
}

// WithGroup implements slog.Handler.
func (h SplitHandler) WithGroup(name string) slog.Handler {
	return SplitHandler{Batched: h.Batched.WithGroup(name), Direct: h.Direct.WithGroup(name), Batch: h.Batch}
}
