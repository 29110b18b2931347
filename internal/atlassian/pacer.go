package atlassian

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// pacer spaces one tenant's requests while the server says we are near its
// rate limit: requests start at least gap apart (gap 0: no spacing).
//
// When several requests wait, the one of highest priority
// (cleanup.RequestPriorityOf its context) takes the next start; a request
// without a priority goes before every one with a priority, and equal
// priorities go in arrival order. A run's evaluation follows several cursor
// chains at once and gives the longer ones a higher priority: a chain is
// sequential, so at the rate limit the run ends when its longest chain
// does, and a fair share of the requests would slow that one down as much
// as the short ones.
//
// The first waiter in line sleeps until the next start (through sleep, so
// tests can use a fake clock); the others wait to be first. A request that
// arrives with a higher priority than the first waiter takes its place and
// wakes it, so it goes back in line.
type pacer struct {
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	mu       sync.Mutex
	gap      time.Duration
	next     time.Time // the next request may start at
	line     []*paceWaiter
	arrivals uint64
}

// paceWaiter is a request waiting for its start.
type paceWaiter struct {
	priority int
	arrival  uint64
	turn     chan struct{} // signalled when it becomes first in line
	wake     context.CancelFunc
}

// before reports whether w goes before o.
func (w *paceWaiter) before(o *paceWaiter) bool {
	if w.priority != o.priority {
		return w.priority > o.priority
	}
	return w.arrival < o.arrival
}

func (w *paceWaiter) signal() {
	select {
	case w.turn <- struct{}{}:
	default:
	}
	if w.wake != nil {
		w.wake()
	}
}

// setGap sets the spacing; a first waiter sleeping on the old one checks
// again.
func (p *pacer) setGap(gap time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gap = gap
	if len(p.line) > 0 {
		p.line[0].signal()
	}
}

// wait returns when the request may start, or ctx's error.
func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	if p.gap == 0 && len(p.line) == 0 {
		p.mu.Unlock()
		return nil
	}
	priority, ok := cleanup.RequestPriorityOf(ctx)
	if !ok {
		priority = math.MaxInt
	}
	w := &paceWaiter{priority: priority, arrival: p.arrivals, turn: make(chan struct{}, 1)}
	p.arrivals++
	i, _ := slices.BinarySearchFunc(p.line, w, func(o, w *paceWaiter) int {
		if o.before(w) {
			return -1
		}
		return 1
	})
	p.line = slices.Insert(p.line, i, w)
	if i == 0 && len(p.line) > 1 {
		p.line[1].signal() // it was first: it waits again
	}
	for {
		if p.line[0] != w {
			p.mu.Unlock()
			select {
			case <-w.turn:
			case <-ctx.Done():
				p.leave(w)
				return ctx.Err()
			}
			p.mu.Lock()
			continue
		}
		now := p.now()
		if p.gap == 0 || !p.next.After(now) {
			p.line = p.line[1:]
			if p.gap > 0 {
				// From the slot just taken, unless it lies more than a gap
				// back (the pacer was idle): a late wake-up does not
				// shift the starts after it.
				base := p.next
				if now.Sub(base) > p.gap {
					base = now
				}
				p.next = base.Add(p.gap)
			}
			if len(p.line) > 0 {
				p.line[0].signal()
			}
			p.mu.Unlock()
			return nil
		}
		d := p.next.Sub(now)
		sctx, wake := context.WithCancel(ctx)
		w.wake = wake
		p.mu.Unlock()
		err := p.sleep(sctx, d)
		wake()
		if ctx.Err() != nil {
			p.leave(w)
			return ctx.Err()
		}
		_ = err // woken early: check again
		p.mu.Lock()
		w.wake = nil
	}
}

// leave takes w out of line (its context ended) and lets the next one be
// first.
func (p *pacer) leave(w *paceWaiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.Index(p.line, w)
	if i < 0 {
		return
	}
	p.line = slices.Delete(p.line, i, i+1)
	if i == 0 && len(p.line) > 0 {
		p.line[0].signal()
	}
}
