package vrrp

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The simulation runs several Routers against a fake network and a fake
// clock: an event heap orders timer expiries and advert deliveries, links can
// drop, delay and be cut, and routers can crash, stop and restart. Like
// etcd-io/raft's newNetwork, it checks the protocol's promise end to end:
// whatever happened, once the network is healed and a Master_Down_Interval
// has passed there is exactly one master, and it stays so.

type simEvent struct {
	at    time.Time
	seq   int
	node  int
	epoch int // events queued before a crash/restart are dropped
	ev    Event
}

type eventHeap []simEvent

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(simEvent)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

type simNode struct {
	cfg      Config
	r        *Router
	alive    bool
	epoch    int
	holdsVIP bool
}

type simNet struct {
	t      *testing.T
	now    time.Time
	nodes  []*simNode
	q      eventHeap
	seq    int
	rng    *rand.Rand
	loss   float64       // probability an advert is dropped on a link
	delay  time.Duration // one-way delay
	jitter time.Duration // extra random delay, uniform in [0, jitter)
	cut    map[[2]int]bool
	log    []string // transitions, for failure messages
	moves  int      // state changes so far
}

func newSimNet(t *testing.T, seed uint64, cfgs ...Config) *simNet {
	n := &simNet{t: t, now: t0, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), cut: map[[2]int]bool{}}
	for _, c := range cfgs {
		n.nodes = append(n.nodes, &simNode{cfg: c})
	}
	return n
}

// simConfigs builds n router configs with the given priorities on 192.0.2.1..n.
func simConfigs(version uint8, interval time.Duration, prios ...uint8) []Config {
	var out []Config
	for i, p := range prios {
		out = append(out, Config{VRID: 7, Version: version, Priority: p, AdvertInterval: interval, Preempt: true,
			PrimaryAddr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})})
	}
	return out
}

func (n *simNet) push(at time.Time, node int, ev Event) {
	n.seq++
	heap.Push(&n.q, simEvent{at: at, seq: n.seq, node: node, epoch: n.nodes[node].epoch, ev: ev})
}

func (n *simNet) start(i int) {
	nd := n.nodes[i]
	r, err := New(nd.cfg)
	if err != nil {
		n.t.Fatal(err)
	}
	nd.r, nd.alive, nd.holdsVIP = r, true, false
	nd.epoch++
	n.apply(i, r.Handle(n.now, Startup()))
}

// crash kills a node without a word: its pending events die with it.
func (n *simNet) crash(i int) {
	nd := n.nodes[i]
	nd.alive, nd.holdsVIP = false, false
	nd.epoch++
	n.logf("node %d crashes", i)
}

// stop is a graceful shutdown: the router resigns, then the node is gone.
func (n *simNet) stop(i int) {
	n.apply(i, n.nodes[i].r.Handle(n.now, Shutdown()))
	n.crash(i)
}

func (n *simNet) linked(a, b int) bool { return !n.cut[[2]int{a, b}] && !n.cut[[2]int{b, a}] }

// partition cuts every link between the given groups.
func (n *simNet) partition(groups ...[]int) {
	for gi, g := range groups {
		for _, a := range g {
			for gj, h := range groups {
				if gi != gj {
					for _, b := range h {
						n.cut[[2]int{a, b}] = true
					}
				}
			}
		}
	}
	n.logf("partition %v", groups)
}

func (n *simNet) heal() {
	n.cut, n.loss = map[[2]int]bool{}, 0
	n.logf("heal")
}

func (n *simNet) apply(i int, actions []Action) {
	nd := n.nodes[i]
	for _, a := range actions {
		switch a.Kind {
		case ActSendAdvert:
			for j, peer := range n.nodes {
				if j == i || !peer.alive || !n.linked(i, j) || n.rng.Float64() < n.loss {
					continue
				}
				d := n.delay
				if n.jitter > 0 {
					d += time.Duration(n.rng.Int64N(int64(n.jitter)))
				}
				n.push(n.now.Add(d), j, AdvertFrom(nd.cfg.PrimaryAddr, a.Priority, nd.cfg.AdvertInterval))
			}
		case ActStartTimer:
			// Like a real driver that cannot recall a timer already
			// firing, never cancel: the router must ignore stale expiries.
			n.push(a.At, i, TimerFired(a.Timer))
		case ActTakeVIPs:
			nd.holdsVIP = true
		case ActReleaseVIPs:
			nd.holdsVIP = false
		case ActStateChanged:
			n.moves++
			n.logf("node %d %v->%v: %s", i, a.From, a.To, a.Reason)
		}
	}
	if nd.alive && nd.holdsVIP != (nd.r.State() == Master) {
		n.t.Fatalf("node %d holds VIPs=%v in state %v\n%s", i, nd.holdsVIP, nd.r.State(), n.history())
	}
}

// run processes events up to and including now+d.
func (n *simNet) run(d time.Duration) {
	until := n.now.Add(d)
	for steps := 0; n.q.Len() > 0 && !n.q[0].at.After(until); steps++ {
		if steps > 1_000_000 {
			n.t.Fatalf("event storm: over a million events before %v\n%s", until.Sub(t0), n.history())
		}
		e := heap.Pop(&n.q).(simEvent)
		n.now = e.at
		nd := n.nodes[e.node]
		if !nd.alive || e.epoch != nd.epoch {
			continue
		}
		n.apply(e.node, nd.r.Handle(n.now, e.ev))
	}
	n.now = until
}

func (n *simNet) masters() []int {
	var out []int
	for i, nd := range n.nodes {
		if nd.alive && nd.r.State() == Master {
			out = append(out, i)
		}
	}
	return out
}

// best is the node the RFC elects among routers that meet as masters:
// highest priority, then highest address. A backup of equal priority does not
// preempt, so once a master exists only the priority part is guaranteed.
func (n *simNet) best() int {
	b := -1
	for i, nd := range n.nodes {
		if !nd.alive {
			continue
		}
		if b < 0 || nd.cfg.Priority > n.nodes[b].cfg.Priority ||
			(nd.cfg.Priority == n.nodes[b].cfg.Priority && addrGreater(nd.cfg.PrimaryAddr, n.nodes[b].cfg.PrimaryAddr)) {
			b = i
		}
	}
	return b
}

// maxDown is the longest Master_Down_Interval any node can be waiting.
func (n *simNet) maxDown() time.Duration {
	var d time.Duration
	for _, nd := range n.nodes {
		if m := MasterDownInterval(nd.cfg.Version, 1, nd.cfg.AdvertInterval); m > d {
			d = m
		}
	}
	return d
}

func (n *simNet) logf(format string, args ...any) {
	n.log = append(n.log, fmt.Sprintf("%9v ", n.now.Sub(t0).Round(time.Microsecond))+fmt.Sprintf(format, args...))
}

func (n *simNet) history() string {
	h := n.log
	if len(h) > 40 {
		h = h[len(h)-40:]
	}
	return strings.Join(h, "\n")
}

// assertConverged is the scenario invariant: after the heal, once a
// Master_Down_Interval (plus the network's delay) has passed, exactly one
// master exists; if everyone preempts it has the highest priority alive; and
// nothing changes for ten more intervals.
func (n *simNet) assertConverged(wantBest bool) int {
	n.t.Helper()
	n.run(n.maxDown() + n.delay + n.jitter)
	m := n.masters()
	if len(m) != 1 {
		n.t.Fatalf("%d masters %v after heal + Master_Down_Interval\n%s", len(m), m, n.history())
	}
	if b := n.best(); wantBest && n.nodes[m[0]].cfg.Priority != n.nodes[b].cfg.Priority {
		n.t.Fatalf("master is node %d (priority %d), but node %d has priority %d\n%s",
			m[0], n.nodes[m[0]].cfg.Priority, b, n.nodes[b].cfg.Priority, n.history())
	}
	moves := n.moves
	n.run(10 * n.nodes[0].cfg.AdvertInterval)
	if n.moves != moves || len(n.masters()) != 1 || n.masters()[0] != m[0] {
		n.t.Fatalf("not stable after convergence: masters %v\n%s", n.masters(), n.history())
	}
	return m[0]
}

func TestSimulation(t *testing.T) {
	sec := time.Second
	scenarios := []struct {
		name  string
		prios []uint8
		edit  func(cfgs []Config)
		play  func(n *simNet)
		best  bool // the RFC's choice must win (everyone preempts)
	}{
		{"highest priority wins", []uint8{100, 200, 150}, nil, func(n *simNet) {
			for i := range n.nodes {
				n.start(i)
				n.run(300 * time.Millisecond)
			}
		}, true},
		{"equal priority: highest address wins", []uint8{100, 100, 100, 100, 100}, nil, func(n *simNet) {
			n.startAll()
			n.run(5 * sec)
			if m := n.masters(); len(m) != 1 || m[0] != n.best() {
				n.t.Fatalf("masters %v, want the highest address, node %d\n%s", m, n.best(), n.history())
			}
		}, true},
		{"master crash: next takes over, restart preempts back", []uint8{200, 150, 100}, nil, func(n *simNet) {
			n.startAll()
			n.run(5 * sec)
			n.crash(0)
			n.run(n.maxDown() + 100*time.Millisecond)
			if m := n.masters(); len(m) != 1 || m[0] != 1 {
				n.t.Fatalf("after crash masters %v, want [1]\n%s", m, n.history())
			}
			n.start(0)
		}, true},
		{"graceful stop: takeover after Skew_Time", []uint8{200, 150, 100}, nil, func(n *simNet) {
			n.startAll()
			n.run(5 * sec)
			n.stop(0)
			n.run(SkewTime(3, 150, sec) + time.Millisecond)
			if m := n.masters(); len(m) != 1 || m[0] != 1 {
				n.t.Fatalf("Skew_Time after a stop masters %v, want [1]\n%s", m, n.history())
			}
		}, true},
		{"partition one from the rest, then heal", []uint8{200, 150, 100}, nil, func(n *simNet) {
			n.startAll()
			n.run(5 * sec)
			n.partition([]int{0}, []int{1, 2})
			n.run(10 * sec)
			if len(n.masters()) != 2 {
				n.t.Fatalf("a partition should give each side a master: %v\n%s", n.masters(), n.history())
			}
			n.heal()
		}, true},
		{"five routers split 2|3, heal", []uint8{10, 250, 90, 90, 200}, nil, func(n *simNet) {
			n.startAll()
			n.run(5 * sec)
			n.partition([]int{0, 1}, []int{2, 3, 4})
			n.run(7 * sec)
			n.crash(1)
			n.run(7 * sec)
			n.start(1)
			n.run(2 * sec)
			n.heal()
		}, true},
		{"30% loss, then heal", []uint8{200, 150, 100, 50}, nil, func(n *simNet) {
			n.startAll()
			n.loss = 0.3
			n.run(60 * sec)
			n.heal()
		}, true},
		{"delay and jitter near the interval", []uint8{100, 100, 150}, nil, func(n *simNet) {
			n.delay, n.jitter = 300*time.Millisecond, 600*time.Millisecond
			n.startAll()
			n.run(20 * sec)
			n.crash(2)
			n.run(10 * sec)
			n.start(2)
		}, true},
		{"drain: the master hands over within Skew_Time and stays backup", []uint8{200, 150, 100}, nil, func(n *simNet) {
			n.startAll()
			n.run(5 * sec)
			n.apply(0, n.nodes[0].r.Handle(n.now, Drain()))
			// Make-before-break: right after the drain the old master still
			// holds the addresses; the new one appears within Skew_Time.
			if !n.nodes[0].holdsVIP {
				n.t.Fatal("drained master released before a successor appeared")
			}
			n.run(SkewTime(3, 150, sec) + time.Millisecond)
			if m := n.masters(); len(m) != 1 || m[0] != 1 || n.nodes[0].holdsVIP {
				n.t.Fatalf("Skew_Time after drain: masters %v, node 0 holds VIP %v\n%s", m, n.nodes[0].holdsVIP, n.history())
			}
			n.run(10 * sec)
			if m := n.masters(); len(m) != 1 || m[0] != 1 {
				n.t.Fatalf("drained router took mastership back: %v\n%s", m, n.history())
			}
			n.apply(0, n.nodes[0].r.Handle(n.now, Resume()))
		}, true},
		{"no preempt: returning higher priority stays backup", []uint8{200, 150}, func(c []Config) {
			c[0].Preempt, c[1].Preempt = false, false
		}, func(n *simNet) {
			n.startAll()
			n.run(5 * sec)
			n.crash(0)
			n.run(5 * sec)
			n.start(0)
			n.run(10 * sec)
			if m := n.masters(); len(m) != 1 || m[0] != 1 {
				n.t.Fatalf("without preempt the returning router took over: %v\n%s", m, n.history())
			}
		}, false},
	}
	for _, version := range []uint8{2, 3} {
		for _, sc := range scenarios {
			t.Run(fmt.Sprintf("v%d/%s", version, sc.name), func(t *testing.T) {
				cfgs := simConfigs(version, time.Second, sc.prios...)
				if sc.edit != nil {
					sc.edit(cfgs)
				}
				n := newSimNet(t, 1, cfgs...)
				sc.play(n)
				n.assertConverged(sc.best)
			})
		}
	}
}

func (n *simNet) startAll() {
	for i := range n.nodes {
		n.start(i)
	}
}

// TestSimulationChaos plays random sequences of crash, restart, stop,
// partition, loss and delay on 2-5 routers, then heals everything.
func TestSimulationChaos(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 50
	}
	for seed := 1; seed <= seeds; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 42))
		count := 2 + rng.IntN(4)
		prios := make([]uint8, count)
		for i := range prios {
			prios[i] = []uint8{50, 100, 100, 150, 254, 255}[rng.IntN(6)]
		}
		version := uint8(2 + rng.IntN(2))
		interval := time.Second
		if version == 3 {
			interval = []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second}[rng.IntN(3)]
		}
		cfgs := simConfigs(version, interval, prios...)
		allPreempt := true
		for i := range cfgs {
			cfgs[i].Preempt = rng.IntN(4) != 0
			allPreempt = allPreempt && cfgs[i].Preempt
		}
		ok := t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			n := newSimNet(t, uint64(seed), cfgs...)
			n.startAll()
			for step := 0; step < 12; step++ {
				n.run(time.Duration(rng.IntN(8000)) * interval / 1000)
				i := rng.IntN(count)
				switch op := rng.IntN(7); {
				case op == 0 && n.nodes[i].alive:
					n.crash(i)
				case op == 1 && n.nodes[i].alive:
					n.stop(i)
				case op <= 2 && !n.nodes[i].alive:
					n.start(i)
				case op == 3:
					n.partition([]int{i}, others(count, i))
				case op == 4:
					n.loss = float64(rng.IntN(60)) / 100
				case op == 5:
					n.delay = time.Duration(rng.IntN(400)) * interval / 1000
					n.jitter = time.Duration(rng.IntN(400)) * interval / 1000
				default:
					n.heal()
				}
			}
			for i, nd := range n.nodes {
				if !nd.alive && rng.IntN(2) == 0 {
					n.start(i)
				}
			}
			if len(n.aliveNodes()) == 0 {
				n.start(0)
			}
			n.heal()
			n.assertConverged(allPreempt)
		})
		if !ok {
			break
		}
	}
}

func others(count, skip int) []int {
	var out []int
	for i := 0; i < count; i++ {
		if i != skip {
			out = append(out, i)
		}
	}
	return out
}

func (n *simNet) aliveNodes() []int {
	var out []int
	for i, nd := range n.nodes {
		if nd.alive {
			out = append(out, i)
		}
	}
	return out
}
