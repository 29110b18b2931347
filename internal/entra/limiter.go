package entra

import (
	"context"
	"sync"
	"time"
)

// writeLimiter is a token bucket that keeps writes under a quota of n writes
// in any window of length w. Graph counts the quota over a sliding window, so
// a bucket that starts full with capacity n would allow up to 2n writes in the
// first window. Instead the bucket holds a small burst b (two batches, at
// most n/2) and refills at (n-b)/w, which bounds the writes in any window of
// length w by b + (n-b) = n. A burst of two batches lets a round that was
// late (a slow response, a delayed wake-up) be made up by the next one, so
// the long-run rate stays at (n-b)/w. Time and sleeping are injected.
type writeLimiter struct {
	mu     sync.Mutex // held while waiting: writers queue behind each other
	burst  float64
	rate   float64 // tokens per second
	tokens float64
	last   time.Time
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
}

func newWriteLimiter(n int, w time.Duration, burst int, now func() time.Time, sleep func(context.Context, time.Duration) error) *writeLimiter {
	burst = max(1, min(burst, n/2))
	refill := n - burst
	if refill <= 0 { // n == 1: the bound above degrades to 2 per window
		refill = n
	}
	return &writeLimiter{
		burst:  float64(burst),
		rate:   float64(refill) / w.Seconds(),
		tokens: float64(burst),
		last:   now(),
		now:    now,
		sleep:  sleep,
	}
}

// Burst is the largest number of writes one wait may ask for.
func (l *writeLimiter) Burst() int { return int(l.burst) }

// Wait blocks until k writes (1 ≤ k ≤ Burst) may be sent and takes them.
func (l *writeLimiter) Wait(ctx context.Context, k int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	need := float64(min(max(k, 1), int(l.burst)))
	for {
		now := l.now()
		if el := now.Sub(l.last).Seconds(); el > 0 {
			l.tokens = min(l.burst, l.tokens+el*l.rate)
		}
		l.last = now
		if l.tokens >= need {
			l.tokens -= need
			return nil
		}
		d := time.Duration((need - l.tokens) / l.rate * float64(time.Second))
		if err := l.sleep(ctx, max(d, time.Millisecond)); err != nil {
			return err
		}
	}
}
