package atlassian

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// queued waits until n requests wait in p's line.
func queued(t *testing.T, p *pacer, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		l := len(p.line)
		p.mu.Unlock()
		if l == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests in line, want %d", l, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPacerPriority: while pacing, waiting requests start in order of
// priority (those without one first, equal priorities in arrival order),
// never faster than one a gap, even when a higher priority arrives after a
// lower one is first in line.
func TestPacerPriority(t *testing.T) {
	const gap = 20 * time.Millisecond
	p := &pacer{now: time.Now, sleep: sleepCtx}
	p.setGap(gap)
	first := time.Now().Add(150 * time.Millisecond) // the first start is a while off
	p.next = first
	type start struct {
		name string
		at   time.Time
	}
	starts := make(chan start, 5)
	launch := func(name string, priority int) {
		ctx := context.Background()
		if priority >= 0 {
			ctx = cleanup.WithRequestPriority(ctx, priority)
		}
		go func() {
			if err := p.wait(ctx); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			starts <- start{name, time.Now()}
		}()
	}
	launch("low", 1)
	queued(t, p, 1)
	launch("high", 50)
	queued(t, p, 2)
	launch("middle", 10)
	queued(t, p, 3)
	launch("middle, later", 10)
	queued(t, p, 4)
	launch("none", -1) // e.g. an admin's page while a run evaluates
	queued(t, p, 5)
	var order []string
	for i := range 5 {
		s := <-starts
		// A late wake-up may bring the next start closer, but the k-th
		// start is never before the first plus k gaps.
		if earliest := first.Add(time.Duration(i) * gap); s.at.Before(earliest) {
			t.Errorf("%s started %v before the rate allows", s.name, earliest.Sub(s.at))
		}
		order = append(order, s.name)
	}
	want := []string{"none", "high", "middle", "middle, later", "low"}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("start order %q, want %q", order, want)
		}
	}
}

// TestPacerLeave: a request whose context ends leaves the line with the
// context's error, and the one behind it takes its turn.
func TestPacerLeave(t *testing.T) {
	p := &pacer{now: time.Now, sleep: sleepCtx}
	p.setGap(10 * time.Millisecond)
	p.next = time.Now().Add(100 * time.Millisecond)
	ctx, cancel := context.WithCancel(cleanup.WithRequestPriority(context.Background(), 9))
	first := make(chan error, 1)
	go func() { first <- p.wait(ctx) }()
	queued(t, p, 1)
	second := make(chan error, 1)
	go func() { second <- p.wait(context.Background()) }()
	queued(t, p, 2)
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait = %v, want context.Canceled", err)
	}
	select {
	case err := <-second:
		if err != nil {
			t.Errorf("second wait = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request behind a cancelled one never started")
	}
	queued(t, p, 0)
}

// TestPacerIdle: without a gap nothing waits, and a gap set to 0 while
// requests wait releases them.
func TestPacerIdle(t *testing.T) {
	p := &pacer{now: time.Now, sleep: sleepCtx}
	if err := p.wait(context.Background()); err != nil || len(p.line) != 0 {
		t.Fatalf("wait without a gap = %v, line %d", err, len(p.line))
	}
	p.setGap(time.Second)
	p.next = time.Now().Add(time.Hour)
	done := make(chan error, 2)
	for range 2 {
		go func() { done <- p.wait(context.Background()) }()
	}
	queued(t, p, 2)
	p.setGap(0)
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("requests still waiting after pacing stopped")
		}
	}
}
