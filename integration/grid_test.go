package integration

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// gridFit describes how a stream of adverts sits on the grid of its
// interval. A drifting timer (next = now + interval) adds its wake-up
// latency (tens of microseconds) to every gap, so the median gap between
// consecutive adverts — which single late wake-ups do not move — exceeds the
// interval by that much, and the adverts slide off the grid. A loaded
// machine may delay or skip single adverts, but a deadline-keeping timer
// never drifts. The median gap of a steady stream measured here stays within
// a few microseconds of the interval (it is not exactly the mean gap, as
// wake-up latencies are skewed); 20 µs of tolerance still fails a drift of
// 30 µs per advert, less than a wake-up costs on this kind of machine.
type gridFit struct {
	step, window    time.Duration
	n, slots        int           // adverts in the window; grid slots in it
	missed, doubled int           // slots with no advert; adverts sharing a slot
	period          time.Duration // median gap between consecutive adverts
	bias            time.Duration // typical offset from the grid of the first advert
	spread          time.Duration // median |offset| from the typical phase, last quarter
}

// fitGrid places the adverts at times at (in order) within window from the
// first on the grid of step that starts at the first.
func fitGrid(at []time.Time, window, step time.Duration) gridFit {
	g := gridFit{step: step, window: window, slots: int(window / step)}
	// wrap puts an offset from the grid into [-step/2, step/2).
	wrap := func(d time.Duration) time.Duration { return (d%step+step+step/2)%step - step/2 }
	median := func(ds []time.Duration) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	taken := map[int64]bool{}
	var offsets, gaps []time.Duration
	for i, t := range at {
		since := t.Sub(at[0])
		if since >= window-step/2 { // slots 0..window/step-1 exactly
			break
		}
		taken[int64((since+step/2)/step)] = true
		offsets = append(offsets, wrap(since))
		if i > 0 {
			gaps = append(gaps, t.Sub(at[i-1]))
		}
	}
	g.n = len(offsets)
	g.missed, g.doubled = g.slots-len(taken), g.n-len(taken)
	g.period = median(gaps)
	// The first advert may itself have been late, which shifts the whole
	// grid: measure offsets from the typical phase, and judge the last
	// quarter, where drift would have accumulated.
	g.bias = median(offsets)
	var spread []time.Duration
	for _, off := range offsets[g.n*3/4:] {
		d := wrap(off - g.bias)
		spread = append(spread, max(d, -d))
	}
	g.spread = median(spread)
	return g
}

func (g gridFit) String() string {
	return fmt.Sprintf("%d adverts in %v (%.1f/s), %d of %d slots missed, %d doubled; median gap %v; offset from the typical phase in the last quarter: median %s (first advert %s off it)",
		g.n, g.window, float64(g.n)/g.window.Seconds(), g.missed, g.slots, g.doubled, g.period, ms(g.spread), ms(-g.bias))
}

// problems lists what makes the stream not a steady one at its interval.
func (g gridFit) problems() []string {
	var out []string
	if d := g.period - g.step; d > 20*time.Microsecond || d < -20*time.Microsecond {
		out = append(out, fmt.Sprintf("adverts drift: median gap %v, want %v ± 20µs", g.period, g.step))
	}
	if g.spread > 1500*time.Microsecond {
		out = append(out, fmt.Sprintf("adverts drift off the %v grid: median offset %s in the last quarter", g.step, ms(g.spread)))
	}
	// Missed or doubled slots are single late adverts, not drift; more than
	// 2% would mean the loop cannot keep up (missed) or sends more often
	// than its interval (doubled).
	if g.missed > g.slots/50 {
		out = append(out, fmt.Sprintf("%d of %d slots missed", g.missed, g.slots))
	}
	if g.doubled > g.slots/50 {
		out = append(out, fmt.Sprintf("%d of %d slots have two adverts: sending faster than the interval", g.doubled, g.slots))
	}
	return out
}

// The grid check passes a steady stream with the disturbances of a busy
// machine and fails the streams it exists to catch. Pure computation: runs
// without root.
func TestGridFit(t *testing.T) {
	const step, window = 10 * time.Millisecond, 4 * time.Second
	base := time.Unix(1700000000, 0)
	// stream returns 420 adverts: the k-th at deadline(k) plus a wake-up
	// latency of 20-120 µs, with late(k) added.
	stream := func(deadline func(k int) time.Duration, late func(k int) time.Duration) []time.Time {
		rng := rand.New(rand.NewPCG(1, 2))
		var at []time.Time
		for k := range 420 {
			lat := 20*time.Microsecond + time.Duration(rng.IntN(100))*time.Microsecond
			at = append(at, base.Add(deadline(k)+lat+late(k)))
		}
		slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
		return at
	}
	onGrid := func(k int) time.Duration { return time.Duration(k) * step }
	none := func(int) time.Duration { return 0 }
	// next = previous wake-up + interval: every latency accumulates.
	drifting := func(latency time.Duration) func(int) time.Duration {
		return func(k int) time.Duration { return time.Duration(k) * (step + latency) }
	}
	for _, tc := range []struct {
		name string
		at   []time.Time
		ok   bool
	}{
		{"steady", stream(onGrid, none), true},
		{"first advert 4ms late", stream(onGrid, func(k int) time.Duration {
			if k == 0 {
				return 4 * time.Millisecond
			}
			return 0
		}), true},
		{"a few adverts up to 9.8ms late", stream(onGrid, func(k int) time.Duration {
			if k%50 == 7 {
				return 9800 * time.Microsecond
			}
			return 0
		}), true},
		{"drift 30µs per advert", stream(drifting(30*time.Microsecond), none), false},
		{"drift 100µs per advert", stream(drifting(100*time.Microsecond), none), false},
		{"twice the rate", stream(func(k int) time.Duration { return time.Duration(k) * step / 2 }, none), false},
		{"every 10th advert skipped", stream(func(k int) time.Duration { return time.Duration(k+k/9) * step }, none), false},
	} {
		g := fitGrid(tc.at, window, step)
		p := g.problems()
		t.Logf("%s: %v; problems %q", tc.name, g, p)
		if (len(p) == 0) != tc.ok {
			t.Errorf("%s: want ok=%v", tc.name, tc.ok)
		}
	}
}
