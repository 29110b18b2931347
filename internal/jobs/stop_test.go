package jobs

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/store"
)

// blockingSteps is a Stepper whose steps run until release closes (a
// step that finishes) or until their context ends (a step cut short).
type blockingSteps struct {
	started   chan struct{}
	release   chan struct{}
	finished  atomic.Int32
	cancelled atomic.Int32
}

func (s *blockingSteps) Step(ctx context.Context, _ string, _ int64, _ string) (cleanup.StepResult, error) {
	select {
	case s.started <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
		s.finished.Add(1)
		return cleanup.StepResult{Done: true}, nil
	case <-ctx.Done():
		s.cancelled.Add(1)
		return cleanup.StepResult{}, ctx.Err()
	}
}

type openGate struct{}

func (openGate) StepGate(context.Context, string, int64) (bool, time.Duration, error) {
	return true, 0, nil
}

type noWork struct{}

func (noWork) ScheduleDue(context.Context, int) (int, error)        { return 0, nil }
func (noWork) CheckFollowUp(context.Context, string, int64) error   { return nil }
func (noWork) Take(context.Context, string, int64) error            { return nil }
func (noWork) PurgeHistory(context.Context, time.Time) (int, error) { return 0, nil }
func (noWork) PurgeUninstalled(context.Context, time.Duration, time.Time) (int, error) {
	return 0, nil
}
func (noWork) UnfinishedRuns(context.Context, time.Time, int) ([]cleanup.RunRef, error) {
	return nil, nil
}

func stepWork(s *blockingSteps) Work {
	return Work{Steps: s, Gate: openGate{}, Schedules: noWork{}, FollowUps: noWork{}, Retention: noWork{}, Runs: noWork{}, Snapshots: noWork{}}
}

func newBlockingSteps() *blockingSteps {
	return &blockingSteps{started: make(chan struct{}, 1), release: make(chan struct{})}
}

// jobState reads the state of the only run_step job.
func jobState(t *testing.T, st *store.Store) string {
	t.Helper()
	var state string
	if err := st.SQLDB().QueryRow(`SELECT state FROM river_job WHERE kind = 'run_step'`).Scan(&state); err != nil {
		t.Fatal(err)
	}
	return state
}

// TestStopLetsStepsFinish: Stop waits for a step under way that ends
// within the grace period, and its job completes (nothing is redone).
func TestStopLetsStepsFinish(t *testing.T) {
	st := openStore(t, store.SQLite, filepath.Join(t.TempDir(), "t.db"))
	rt, err := New(context.Background(), Config{DB: st.SQLDB(), Driver: SQLite, PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	steps := newBlockingSteps()
	if err := rt.Start(context.Background(), stepWork(steps)); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.client.Insert(context.Background(), RunStepArgs{ClientKey: "c", RunID: 1}, nil); err != nil {
		t.Fatal(err)
	}
	<-steps.started
	time.AfterFunc(300*time.Millisecond, func() { close(steps.release) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if f, c := steps.finished.Load(), steps.cancelled.Load(); f != 1 || c != 0 {
		t.Errorf("steps finished %d, cancelled %d; want the step finished", f, c)
	}
	if s := jobState(t, st); s != "completed" {
		t.Errorf("job state %q, want completed", s)
	}
}

// TestStopHandsBackLongSteps: a step still running when half of Stop's
// time is gone is cancelled and its job handed back, and the next runtime
// on the database (another instance, or this one restarted) works it.
func TestStopHandsBackLongSteps(t *testing.T) {
	st := openStore(t, store.SQLite, filepath.Join(t.TempDir(), "t.db"))
	cfg := Config{DB: st.SQLDB(), Driver: SQLite, PollInterval: 100 * time.Millisecond}
	rt, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	steps := newBlockingSteps()
	// The context given to Start ending (the signal) must not cut the
	// step short: only Stop decides.
	startCtx, endStart := context.WithCancel(context.Background())
	if err := rt.Start(startCtx, stepWork(steps)); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.client.Insert(context.Background(), RunStepArgs{ClientKey: "c", RunID: 1}, nil); err != nil {
		t.Fatal(err)
	}
	<-steps.started
	endStart()
	time.Sleep(200 * time.Millisecond)
	if c := steps.cancelled.Load(); c != 0 {
		t.Fatal("ending Start's context cancelled the step")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	began := time.Now()
	if err := rt.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if took := time.Since(began); took < 900*time.Millisecond || took > 2*time.Second {
		t.Errorf("Stop took %s, want about half of its 2 s, then the cancellation", took)
	}
	if f, c := steps.finished.Load(), steps.cancelled.Load(); f != 0 || c != 1 {
		t.Fatalf("steps finished %d, cancelled %d; want the step cancelled", f, c)
	}
	if s := jobState(t, st); s != "retryable" && s != "available" {
		t.Fatalf("job state %q after the hand-back, want retryable or available", s)
	}

	// The next runtime finishes it.
	rt2, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	next := newBlockingSteps()
	close(next.release)
	start(t, rt2, stepWork(next))
	deadline := time.Now().Add(20 * time.Second)
	for jobState(t, st) != "completed" {
		if time.Now().After(deadline) {
			t.Fatalf("the handed-back job was not worked again: state %q", jobState(t, st))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if next.finished.Load() != 1 {
		t.Errorf("the next runtime finished %d steps, want 1", next.finished.Load())
	}
}

// TestRiverChatterIsDebug: River's periodic info lines go to debug; its
// other lines keep their level.
func TestRiverChatterIsDebug(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var buf bytes.Buffer
		log := slog.New(quietHandler{next: slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level})})
		log.Info("producer: Producer job counts", "queue", "default")
		log.Info("JobCleaner: Ran successfully", "num_jobs_deleted", 0)
		log.Info("River client started", "client_id", "x")
		log.Warn("jobexecutor: Job errored", "job_id", 7)
		out := buf.String()
		for _, want := range []string{"level=INFO msg=\"River client started\"", "level=WARN msg=\"jobexecutor: Job errored\""} {
			if !strings.Contains(out, want) {
				t.Errorf("at %s: %q missing:\n%s", level, want, out)
			}
		}
		chatter := []string{"level=DEBUG msg=\"producer: Producer job counts\"", "level=DEBUG msg=\"JobCleaner: Ran successfully\""}
		for _, c := range chatter {
			if got := strings.Contains(out, c); got != (level == slog.LevelDebug) {
				t.Errorf("at %s: %q logged %v:\n%s", level, c, got, out)
			}
		}
		if strings.Contains(out, "level=INFO msg=\"producer") || strings.Contains(out, "level=INFO msg=JobCleaner") {
			t.Errorf("chatter at info:\n%s", out)
		}
	}
}
