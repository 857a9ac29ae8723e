package daemon

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The deadline heap pops in time order whatever the order of pushes (ties
// included), and pushing and popping allocate nothing.
func TestDeadlineHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	base := time.Now()
	for round := range 50 {
		var h deadlineHeap
		var want []time.Time
		for range rng.IntN(300) {
			at := base.Add(time.Duration(rng.IntN(100)) * time.Millisecond) // many ties
			h.push(deadline{at: at})
			want = append(want, at)
			// Interleave pops as the loop does.
			if rng.IntN(4) == 0 {
				slices.SortFunc(want, time.Time.Compare)
				if got := h.pop().at; !got.Equal(want[0]) {
					t.Fatalf("round %d: popped %v, want %v", round, got.Sub(base), want[0].Sub(base))
				}
				want = want[1:]
			}
		}
		slices.SortFunc(want, time.Time.Compare)
		for i, w := range want {
			if got := h.pop().at; !got.Equal(w) {
				t.Fatalf("round %d, pop %d: %v, want %v", round, i, got.Sub(base), w.Sub(base))
			}
		}
		if h.Len() != 0 {
			t.Fatalf("round %d: %d left", round, h.Len())
		}
	}

	h := make(deadlineHeap, 0, 8)
	if n := testing.AllocsPerRun(100, func() {
		h.push(deadline{at: base})
		h.push(deadline{at: base.Add(time.Second)})
		h.pop()
		h.pop()
	}); n != 0 {
		t.Errorf("%v allocations per push and pop", n)
	}
}
