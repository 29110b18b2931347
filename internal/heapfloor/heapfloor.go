// Package heapfloor keeps the garbage collector from running while the
// heap is small.
//
// With the default GOGC=100 a collection starts when the heap reaches
// twice what the last one left live, but never below 4 MiB. The server's
// live heap between requests is about 2 MiB, so while it serves pages it
// collects every 3 MiB of garbage: about 30 times a second at 15,000
// requests/s, each cycle costing CPU on both cores and a share of every
// request's latency. A floor of some MiB (16 by default, Default) is
// little for a server and makes collections rare: in this package's test,
// 512 MiB of short-lived garbage takes 8 collections with a 64 MiB floor
// and about 160 without.
//
// Go has no setting for a floor (GOMEMLIMIT is a ceiling), so Start
// adjusts GOGC after every collection: the next one starts at twice the
// live heap, as with GOGC=100, or at the floor, whichever is larger. Once
// the live heap is half the floor or more (a large export, an evaluation),
// GOGC is back at its base value and the collector behaves exactly as
// without the floor; the floor never raises the heap goal much above
// itself (the runtime adds the goroutine stacks and globals to it).
package heapfloor

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Default is the floor when HEAP_FLOOR and GOGC are unset (FromEnv).
const Default = 16 << 20

// runtimeMinHeap is the runtime's smallest heap goal at GOGC=100 (its
// defaultHeapMinimum), which it scales by GOGC/100: at GOGC=1500 no
// collection would start below 60 MiB, whatever the live heap.
const runtimeMinHeap = 4 << 20

// percent is the GOGC that makes the collection after one that left live
// bytes start at max(live × (1 + base/100), floor): the base while that
// is above the floor, and otherwise the percent that puts the goal at the
// floor, but no higher than the one at which the runtime's own minimum
// reaches the floor (with a tiny live heap that minimum is the goal).
func percent(live, floor uint64, base int) int {
	if live >= floor {
		return base
	}
	limit := floor * 100 / runtimeMinHeap
	p := limit
	if live > 0 {
		p = min(limit, (floor-live)*100/live)
	}
	if p <= uint64(base) {
		return base
	}
	return int(p)
}

// Config configures Start.
type Config struct {
	// Floor is the heap size below which no collection starts, in bytes;
	// 0 or less starts nothing.
	Floor int64
	// Every is how often the collection count is read; 0 is 20 ms. A
	// change takes effect from the collection after the one just seen.
	Every time.Duration
	// Logger gets one debug line per change of GOGC; nil is silent.
	Logger *slog.Logger
}

const (
	metricCycles = "/gc/cycles/total:gc-cycles"
	metricLive   = "/gc/heap/live:bytes"
)

// Start keeps the floor until ctx is done or stop is called, then puts
// back the GOGC in effect when it started; stop waits for that. It does
// nothing when the floor is 0 or the collector is off (GOGC=off). The
// setting is the process's: start one at a time.
func Start(ctx context.Context, cfg Config) (stop func()) {
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if cfg.Floor <= 0 || base < 0 {
		return func() {}
	}
	every := cfg.Every
	if every <= 0 {
		every = 20 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer debug.SetGCPercent(base)
		samples := []metrics.Sample{{Name: metricCycles}, {Name: metricLive}}
		var seen uint64
		current := base
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			metrics.Read(samples)
			if n := samples[0].Value.Uint64(); n != seen {
				seen = n
				if p := percent(samples[1].Value.Uint64(), uint64(cfg.Floor), base); p != current {
					debug.SetGCPercent(p)
					if cfg.Logger != nil {
						cfg.Logger.Debug("heap floor: GOGC changed", "gogc", p, "live_bytes", samples[1].Value.Uint64())
					}
					current = p
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// FromEnv is the floor set by HEAP_FLOOR (its value hf) and GOGC (gogc):
// "off" or "0" is none, a whole number of MiB or GiB ("64MiB", "1GiB") is
// that, and unset is Default, unless GOGC is set: whoever chose GOGC
// chose how the collector runs, and an unset HEAP_FLOOR then adds
// nothing to it.
func FromEnv(hf, gogc string) (int64, error) {
	hf = strings.TrimSpace(hf)
	switch {
	case hf == "" && strings.TrimSpace(gogc) != "":
		return 0, nil
	case hf == "":
		return Default, nil
	case hf == "off" || hf == "0":
		return 0, nil
	}
	unit := int64(0)
	num := hf
	switch {
	case strings.HasSuffix(hf, "MiB"):
		unit, num = 1<<20, strings.TrimSuffix(hf, "MiB")
	case strings.HasSuffix(hf, "GiB"):
		unit, num = 1<<30, strings.TrimSuffix(hf, "GiB")
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if unit == 0 || err != nil || n < 0 || n > 64<<30/unit {
		return 0, fmt.Errorf("must be off or a whole number of MiB or GiB up to 64GiB (e.g. 64MiB), got %q", hf)
	}
	return n * unit, nil
}
