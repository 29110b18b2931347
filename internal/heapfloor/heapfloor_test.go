package heapfloor

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

const mib = 1 << 20

func TestPercent(t *testing.T) {
	tests := []struct {
		name        string
		live, floor uint64
		base, want  int
	}{
		// 2 MiB live under a 32 MiB floor: 1,500 would put the goal
		// at 32 MiB, but the runtime's minimum would then be 60 MiB;
		// at 800 both the minimum and the goal are 32 MiB.
		{"small heap, capped by the runtime's minimum", 2 * mib, 32 * mib, 100, 800},
		{"empty heap", 0, 32 * mib, 100, 800},
		{"goal at the floor", 10 * mib, 32 * mib, 100, 220},
		{"half the floor: the base", 16 * mib, 32 * mib, 100, 100},
		{"above half: the base", 20 * mib, 32 * mib, 100, 100},
		{"above the floor", 64 * mib, 32 * mib, 100, 100},
		{"a higher base is kept", 10 * mib, 32 * mib, 300, 300},
		{"floor below the runtime's minimum: nothing to do", 1 * mib, 2 * mib, 100, 100},
	}
	for _, tc := range tests {
		if got := percent(tc.live, tc.floor, tc.base); got != tc.want {
			t.Errorf("%s: percent(%d MiB, %d MiB, %d) = %d, want %d", tc.name, tc.live/mib, tc.floor/mib, tc.base, got, tc.want)
		}
	}
}

func read(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func gogc() int { return int(read("/gc/gogc:percent")) }

// churn allocates total bytes of short-lived garbage and returns the
// collections it took and the largest heap goal seen.
func churn(total int) (cycles uint64, maxGoal uint64) {
	before := read(metricCycles)
	// Held across iterations, the buffers are on the heap; a few live
	// at a time.
	var ring [16][]byte
	for i := 0; i < total/1024; i++ {
		ring[i%len(ring)] = make([]byte, 1024)
		if i%4096 == 0 {
			maxGoal = max(maxGoal, read("/gc/heap/goal:bytes"))
			time.Sleep(time.Millisecond) // let the floor see each cycle
		}
	}
	runtime.KeepAlive(ring)
	return read(metricCycles) - before, maxGoal
}

// waitGOGC waits until GOGC is want(), forcing collections for the floor
// to see. want is asked again each time: the live heap it may depend on
// changes with each collection.
func waitGOGC(t *testing.T, want func() int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
		if gogc() == want() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC = %d, want %d", gogc(), want())
		}
	}
}

// floorFor is the GOGC the floor sets for the live heap now.
func floorFor(floor uint64, base int) func() int {
	return func() int { return percent(read(metricLive), floor, base) }
}

func is(v int) func() int { return func() int { return v } }

// TestFloorCutsCollections: with a small live heap, a 64 MiB floor runs
// the collector a fraction as often over the same garbage, keeps the heap
// goal at the floor, and stop puts the base GOGC back.
func TestFloorCutsCollections(t *testing.T) {
	base := gogc()
	if base < 0 {
		t.Skip("GOGC=off")
	}
	runtime.GC()
	without, _ := churn(512 * mib)

	stop := Start(context.Background(), Config{Floor: 64 * mib, Every: time.Millisecond})
	defer stop()
	waitGOGC(t, floorFor(64*mib, base))
	with, maxGoal := churn(512 * mib)
	t.Logf("512 MiB of garbage: %d collections without the floor, %d with it; largest goal %d MiB", without, with, maxGoal/mib)
	if with*4 > without {
		t.Errorf("%d collections with a 64 MiB floor, %d without: want at most a quarter", with, without)
	}
	// The runtime adds stacks and globals to the goal, and the goal of
	// a cycle under way when GOGC changes may be a little off.
	if maxGoal > 64*mib*5/4 {
		t.Errorf("heap goal reached %d MiB over a 64 MiB floor", maxGoal/mib)
	}
	stop()
	if got := gogc(); got != base {
		t.Errorf("after stop GOGC = %d, want the base %d", got, base)
	}
}

// TestFloorStepsAsideForALargeHeap: once the live heap is half the floor
// or more, GOGC is the base; when it shrinks again, the floor is back.
func TestFloorStepsAsideForALargeHeap(t *testing.T) {
	base := gogc()
	if base < 0 {
		t.Skip("GOGC=off")
	}
	stop := Start(context.Background(), Config{Floor: 32 * mib, Every: time.Millisecond})
	defer stop()
	waitGOGC(t, floorFor(32*mib, base))
	if gogc() <= base {
		t.Fatalf("GOGC %d with a small heap, want above the base %d", gogc(), base)
	}

	live := make([][]byte, 48)
	for i := range live {
		live[i] = make([]byte, mib)
		for j := range live[i] {
			live[i][j] = byte(j)
		}
	}
	waitGOGC(t, is(base))
	runtime.KeepAlive(live)
	live = nil
	runtime.GC()
	waitGOGC(t, floorFor(32*mib, base))
	if gogc() <= base {
		t.Errorf("GOGC %d after the heap shrank, want the floor back", gogc())
	}
}

// TestStartDoesNothing: no floor, or the collector off, leaves GOGC alone;
// a cancelled context stops the floor like stop.
func TestStartDoesNothing(t *testing.T) {
	base := gogc()
	stop := Start(context.Background(), Config{Floor: 0})
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	if gogc() != base {
		t.Errorf("floor 0 changed GOGC to %d", gogc())
	}
	stop()

	prev := debug.SetGCPercent(-1)
	stop = Start(context.Background(), Config{Floor: 64 * mib, Every: time.Millisecond})
	time.Sleep(20 * time.Millisecond)
	if got := gogc(); got != -1 {
		t.Errorf("GOGC=off became %d", got)
	}
	stop()
	debug.SetGCPercent(prev)

	ctx, cancel := context.WithCancel(context.Background())
	stop = Start(ctx, Config{Floor: 64 * mib, Every: time.Millisecond})
	waitGOGC(t, floorFor(64*mib, base))
	cancel()
	stop() // waits for the floor to end
	if got := gogc(); got != base {
		t.Errorf("after the context ended GOGC = %d, want %d", got, base)
	}
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		hf, gogc string
		want     int64
		wantErr  bool
	}{
		{"", "", Default, false},
		{"", "200", 0, false}, // GOGC chosen: no floor unless asked for
		{"32MiB", "200", 32 * mib, false},
		{" 128MiB ", "", 128 * mib, false},
		{"1GiB", "", 1 << 30, false},
		{"off", "", 0, false},
		{"0", "", 0, false},
		{"64", "", 0, true},   // a unit is required
		{"64MB", "", 0, true}, // MiB, not MB
		{"-1MiB", "", 0, true},
		{"1.5GiB", "", 0, true},
		{"65GiB", "", 0, true},
		{"99999999999999999999MiB", "", 0, true},
	}
	for _, tc := range tests {
		got, err := FromEnv(tc.hf, tc.gogc)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("FromEnv(%q, %q) = %d, %v; want %d, error %v", tc.hf, tc.gogc, got, err, tc.want, tc.wantErr)
		}
	}
}
