package entra

import (
	"context"
	"testing"
	"time"
)

func TestWriteLimiterSlidingWindowBound(t *testing.T) {
	tests := []struct {
		n         int
		window    time.Duration
		batch     int
		writes    int
		wantBurst int
	}{
		{n: 3000, window: 150 * time.Second, batch: 20, writes: 10000, wantBurst: 40},
		{n: 40, window: 10 * time.Second, batch: 20, writes: 200, wantBurst: 20},
		{n: 10, window: time.Second, batch: 20, writes: 55, wantBurst: 5},
		{n: 2, window: time.Second, batch: 20, writes: 9, wantBurst: 1},
	}
	for _, tt := range tests {
		now := time.Unix(0, 0)
		sleep := func(_ context.Context, d time.Duration) error { now = now.Add(d); return nil }
		l := newWriteLimiter(tt.n, tt.window, 2*tt.batch, func() time.Time { return now }, sleep)
		if got := l.Burst(); got != tt.wantBurst {
			t.Errorf("n=%d: Burst() = %d, want %d", tt.n, got, tt.wantBurst)
		}
		var at []time.Time
		for sent := 0; sent < tt.writes; {
			k := min(tt.batch, l.Burst(), tt.writes-sent)
			if err := l.Wait(context.Background(), k); err != nil {
				t.Fatal(err)
			}
			for range k {
				at = append(at, now)
			}
			sent += k
		}
		for i := range at {
			j := i
			for j < len(at) && at[j].Sub(at[i]) < tt.window {
				j++
			}
			if j-i > tt.n {
				t.Fatalf("n=%d: %d writes within %v from write %d", tt.n, j-i, tt.window, i)
			}
		}
		// Long-run rate: (n-burst)/window after the initial burst.
		b := l.Burst()
		want := time.Duration(float64(tt.writes-b) / float64(tt.n-b) * float64(tt.window))
		if got := at[len(at)-1].Sub(at[0]); got < want-time.Millisecond*10 || got > want+time.Second {
			t.Errorf("n=%d: %d writes took %v, want about %v", tt.n, tt.writes, got, want)
		}
	}
}

func TestWriteLimiterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	now := time.Unix(0, 0)
	l := newWriteLimiter(10, time.Second, 40, func() time.Time { return now },
		func(ctx context.Context, d time.Duration) error { return ctx.Err() })
	if err := l.Wait(ctx, 5); err != nil { // the initial burst needs no wait
		t.Fatalf("Wait within burst: %v", err)
	}
	if err := l.Wait(ctx, 5); err != context.Canceled {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
}
