package lab

import (
	"slices"
	"testing"
	"time"
)

// At 1 ms the precise prober keeps its period: nearly every probe is sent
// (a ticker drops about one in ten here) and answered, and the send times
// are 1 ms apart.
func TestPreciseProberKeepsOneMillisecond(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace test skipped in -short mode")
	}
	l := newLab(t, 1, 1)
	h, c := l.Hosts[0], l.Clients[0]
	r, err := h.StartResponder()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	p, err := c.StartPreciseProber(h.IPv4.Addr(), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	time.Sleep(500 * time.Millisecond)
	res := p.Stop(50 * time.Millisecond)
	elapsed := time.Since(start) - 50*time.Millisecond
	want := int(elapsed / time.Millisecond)
	t.Logf("%d probes in %v (%d periods), %d answered", len(res.Sent), elapsed, want, len(res.Replies))
	// Generous bounds: CI machines are busy; a ticker gets ~90% here.
	if len(res.Sent) < want*95/100 || len(res.Sent) > want+2 {
		t.Errorf("%d probes sent in %d periods", len(res.Sent), want)
	}
	if len(res.Replies) < len(res.Sent)*95/100 {
		t.Errorf("%d of %d probes answered", len(res.Replies), len(res.Sent))
	}
	var gaps []time.Duration
	for i := 1; i < len(res.Sent); i++ {
		gaps = append(gaps, res.Sent[i].Sub(res.Sent[i-1]))
	}
	slices.Sort(gaps)
	if med := gaps[len(gaps)/2]; med < 900*time.Microsecond || med > 1100*time.Microsecond {
		t.Errorf("median period %v, want 1ms", med)
	}
}
