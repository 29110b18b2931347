package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/example/usercleanup/internal/cleanup"
)

// Observer records the jobs this instance works (*metrics.Metrics).
// result is "ok", "snoozed", "cancelled" or "error".
type Observer interface {
	JobWorked(kind, result string, queueWait, ran time.Duration)
}

// Job results given to Observer.
const (
	ResultOK        = "ok"
	ResultSnoozed   = "snoozed"
	ResultCancelled = "cancelled"
	ResultError     = "error"
)

// jobMiddleware puts the job's tenant in its context (cleanup.WithTenant),
// times the job, reports it to the observer and logs a failure with the
// tenant's clientKey (River's own "Job errored" line names the job id
// only).
type jobMiddleware struct {
	river.MiddlewareDefaults
	obs Observer // nil: none
	log *slog.Logger
}

func (m *jobMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	ck := clientKeyOfArgs(job.EncodedArgs)
	ctx = cleanup.WithTenant(ctx, ck) // every line logged below names the tenant
	start := time.Now()
	err := doInner(ctx)
	ran := time.Since(start)
	result := jobResult(err)
	if m.obs != nil {
		wait := time.Duration(0)
		if job.AttemptedAt != nil && job.AttemptedAt.After(job.ScheduledAt) {
			wait = job.AttemptedAt.Sub(job.ScheduledAt)
		}
		m.obs.JobWorked(job.Kind, result, wait, ran)
	}
	if result == ResultError {
		attrs := []any{"kind", job.Kind, "job_id", job.ID, "attempt", job.Attempt, "error", err.Error()}
		if ck != "" {
			attrs = append(attrs, "client_key", ck)
		}
		m.log.WarnContext(ctx, "job failed", attrs...)
	}
	return err
}

func jobResult(err error) string {
	var snooze *rivertype.JobSnoozeError
	var cancel *rivertype.JobCancelError
	switch {
	case err == nil:
		return ResultOK
	case errors.As(err, &snooze):
		return ResultSnoozed
	case errors.As(err, &cancel):
		return ResultCancelled
	}
	return ResultError
}

// clientKeyOfArgs reads the tenant of a job's arguments ("" for the
// periodic jobs, which have none).
func clientKeyOfArgs(raw []byte) string {
	var a struct {
		ClientKey string `json:"clientKey"`
	}
	if json.Unmarshal(raw, &a) != nil {
		return ""
	}
	return a.ClientKey
}

// quietHandler is the slog handler of River's logger: River's periodic
// housekeeping lines at info ("Producer job counts" every few seconds,
// each maintenance service's "Ran successfully", the poll-only notice)
// go to debug; everything else (job errors, rescues, client start and
// stop) keeps its level.
type quietHandler struct{ next slog.Handler }

// riverChatter are the substrings of River's periodic info messages.
var riverChatter = [...]string{"Producer job counts", ": Ran successfully", "entering poll only mode"}

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	// An info record may turn into debug: ask again in Handle.
	return h.next.Enabled(ctx, l) || (l == slog.LevelInfo && h.next.Enabled(ctx, slog.LevelDebug))
}

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo {
		for _, s := range riverChatter {
			if strings.Contains(r.Message, s) {
				r.Level = slog.LevelDebug
				break
			}
		}
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{next: h.next.WithAttrs(as)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{next: h.next.WithGroup(name)}
}

// QueueDepth counts the jobs in River's queue by state (available,
// scheduled, running, retryable, …) across every instance: the metrics'
// queue-depth gauge. Finished jobs (completed, cancelled, discarded) are
// left out: River keeps them for a while, and they are not work.
func (r *Runtime) QueueDepth(ctx context.Context) (map[string]int, error) {
	rows, err := r.cfg.DB.QueryContext(ctx,
		`SELECT state, COUNT(*) FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded') GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("jobs: queue depth: %w", err)
	}
	defer rows.Close()
	out := map[string]int{"available": 0, "scheduled": 0, "running": 0, "retryable": 0}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("jobs: queue depth: %w", err)
		}
		out[state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("jobs: queue depth: %w", err)
	}
	return out, nil
}
