package instance

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/failover-ha/failover/pkg/config"
	"github.com/failover-ha/failover/pkg/netif"
	"github.com/failover-ha/failover/vrrp"
)

var (
	t0   = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src  = netip.MustParseAddr("192.0.2.11")
	peer = netip.MustParseAddr("192.0.2.12")
	vip  = netip.MustParsePrefix("192.0.2.100/24")
)

// world is a fake outside: it records every effect in order, so a test can
// assert what the driver did and in which order.
type world struct {
	log     []string
	up      bool
	srcAddr netip.Addr
	sent    []vrrp.Advert
	failAdd bool
}

func (w *world) Send(payload []byte, s, dst netip.Addr) error {
	var a vrrp.Advert
	if err := a.Decode(payload, s, dst); err != nil {
		return fmt.Errorf("driver sent an undecodable advert: %w", err)
	}
	w.sent = append(w.sent, a)
	w.log = append(w.log, fmt.Sprintf("send(%d)->%v", a.Priority, dst))
	return nil
}

func (w *world) Add(ifname string, vips []netip.Prefix) error {
	w.log = append(w.log, fmt.Sprintf("add%v", vips))
	if w.failAdd {
		return errors.New("EPERM")
	}
	return nil
}

func (w *world) Remove(ifname string, vips []netip.Prefix) error {
	w.log = append(w.log, fmt.Sprintf("remove%v", vips))
	return nil
}

func (w *world) Announce(vips []netip.Prefix) error {
	w.log = append(w.log, "announce")
	return nil
}

func (w *world) Link(ifname string) netif.LinkState {
	return netif.LinkState{Name: ifname, Exists: true, Up: w.up, Index: 2}
}

func (w *world) PrimaryAddress(string, bool) (netip.Addr, error) {
	if !w.srcAddr.IsValid() {
		return netip.Addr{}, errors.New("eth0 has no IPv4 address")
	}
	return w.srcAddr, nil
}

func (w *world) Notify(t Transition) {
	w.log = append(w.log, fmt.Sprintf("notify(%v->%v)", t.From, t.To))
}

func (w *world) take() string {
	s := strings.Join(w.log, " ")
	w.log = nil
	return s
}

func baseConfig() config.Instance {
	return config.Instance{
		Name: "web", Interface: "eth0", VRID: 51, Priority: 100, Version: 3,
		AdvertInterval: time.Second, Preempt: true, VirtualIPs: []netip.Prefix{vip},
		GARPRepeat: 3, GARPInterval: 100 * time.Millisecond,
	}
}

func newTestInstance(t *testing.T, cfg config.Instance) (*Instance, *world) {
	t.Helper()
	w := &world{up: true, srcAddr: src}
	in, err := New(cfg, IO{Sender: w, Addresses: w, Announcer: w, Link: w, Notifier: w}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return in, w
}

// advanceTo runs every deadline up to at, as Run would with a real clock.
func advanceTo(in *Instance, at time.Time) {
	for {
		next, ok := in.NextDeadline()
		if !ok || next.After(at) {
			return
		}
		in.Tick(next)
	}
}

func expectLog(t *testing.T, w *world, want string) {
	t.Helper()
	if got := w.take(); got != want {
		t.Errorf("effects\n got: %s\nwant: %s", got, want)
	}
}

func TestTakeoverOrderAndAnnounceBurst(t *testing.T) {
	in, w := newTestInstance(t, baseConfig())
	in.Start(t0)
	expectLog(t, w, "notify(INIT->BACKUP)")
	advanceTo(in, t0.Add(3609*time.Millisecond))
	expectLog(t, w, "")
	advanceTo(in, t0.Add(3610*time.Millisecond))
	// The addresses are added and announced, then the advert goes out, and
	// only then are hooks told: the app can bind the VIP.
	expectLog(t, w, "add[192.0.2.100/24] announce send(100)->224.0.0.18 notify(BACKUP->MASTER)")
	if got := in.Status().State; got != vrrp.Master {
		t.Fatalf("state %v", got)
	}
	// Three repeats 100 ms apart, then silence (no refresh configured).
	advanceTo(in, t0.Add(3610*time.Millisecond+350*time.Millisecond))
	expectLog(t, w, "announce announce announce")
	advanceTo(in, t0.Add(4610*time.Millisecond))
	expectLog(t, w, "send(100)->224.0.0.18")
	a := w.sent[len(w.sent)-1]
	if a.VRID != 51 || a.Version != 3 || a.MaxAdvertInt != 100 || len(a.Addrs) != 1 || a.Addrs[0] != vip.Addr() {
		t.Errorf("advert %+v", a)
	}
}

func TestAnnounceRefresh(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority, cfg.GARPRepeat, cfg.GARPRefresh = 255, 0, 5*time.Second
	in, w := newTestInstance(t, cfg)
	in.Start(t0)
	expectLog(t, w, "add[192.0.2.100/24] announce send(255)->224.0.0.18 notify(INIT->MASTER)")
	advanceTo(in, t0.Add(10*time.Second))
	got := w.take()
	if n := strings.Count(got, "announce"); n != 2 {
		t.Errorf("%d refreshes in 10s with garp_refresh 5s: %s", n, got)
	}
}

func TestBackToBackRepeatsWithZeroInterval(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority, cfg.GARPRepeat, cfg.GARPInterval = 255, 4, 0
	in, w := newTestInstance(t, cfg)
	in.Start(t0)
	expectLog(t, w, "add[192.0.2.100/24] announce announce announce announce announce send(255)->224.0.0.18 notify(INIT->MASTER)")
}

func TestYieldReleasesAndStopsAnnouncing(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = 255
	in, w := newTestInstance(t, cfg)
	in.Start(t0)
	w.take()
	in.HandleAdvert(t0.Add(50*time.Millisecond), vrrp.AdvertFrom(peer, 255, time.Second))
	expectLog(t, w, "send(255)->224.0.0.18 remove[192.0.2.100/24] notify(MASTER->BACKUP)")
	advanceTo(in, t0.Add(time.Second))
	expectLog(t, w, "")
}

func TestSplitBrainReannounces(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = 200
	in, w := newTestInstance(t, cfg)
	in.Start(t0)
	advanceTo(in, t0.Add(4*time.Second))
	w.take()
	in.HandleAdvert(t0.Add(4500*time.Millisecond), vrrp.AdvertFrom(peer, 100, time.Second))
	expectLog(t, w, "send(200)->224.0.0.18 announce")
	if n := in.Stats().Reannouncements.Load(); n != 1 {
		t.Errorf("reannouncements %d", n)
	}
}

func TestLinkDownIsFaultAndUpRestarts(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = 255
	in, w := newTestInstance(t, cfg)
	in.Start(t0)
	w.take()
	w.up = false
	in.LinkChanged(t0.Add(time.Second))
	expectLog(t, w, "send(0)->224.0.0.18 remove[192.0.2.100/24] notify(MASTER->FAULT)")
	if st := in.Status(); st.State != vrrp.Fault || len(st.Faults) != 1 || st.Faults[0] != "link eth0 down" {
		t.Errorf("status %v %v", st.State, st.Faults)
	}
	advanceTo(in, t0.Add(5*time.Second))
	expectLog(t, w, "")
	w.up = true
	in.LinkChanged(t0.Add(6 * time.Second))
	expectLog(t, w, "add[192.0.2.100/24] announce send(255)->224.0.0.18 notify(FAULT->MASTER)")
}

func TestNoAddressIsFault(t *testing.T) {
	in, w := newTestInstance(t, baseConfig())
	w.srcAddr = netip.Addr{}
	in.Start(t0)
	expectLog(t, w, "notify(INIT->FAULT)")
	w.srcAddr = src
	in.LinkChanged(t0.Add(time.Second))
	expectLog(t, w, "notify(FAULT->BACKUP)")
	if st := in.Status(); st.Source != src {
		t.Errorf("source %v", st.Source)
	}
}

func TestStopResignsAndReleases(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = 255
	in, w := newTestInstance(t, cfg)
	in.Start(t0)
	w.take()
	in.Stop(t0.Add(time.Second))
	expectLog(t, w, "send(0)->224.0.0.18 remove[192.0.2.100/24] notify(MASTER->INIT)")
	if _, ok := in.NextDeadline(); ok {
		t.Error("deadlines left after stop")
	}
	in.LinkChanged(t0.Add(2 * time.Second))
	expectLog(t, w, "")
}

func TestAddFailureStillServes(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = 255
	in, w := newTestInstance(t, cfg)
	w.failAdd = true
	in.Start(t0)
	expectLog(t, w, "add[192.0.2.100/24] announce send(255)->224.0.0.18 notify(INIT->MASTER)")
	if in.Stats().AddressErrors.Load() != 1 {
		t.Error("address error not counted")
	}
}

func TestUnicastSendsToEachPeerWithItsChecksum(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = 255
	cfg.UnicastPeers = []netip.Addr{peer, netip.MustParseAddr("192.0.2.13")}
	in, w := newTestInstance(t, cfg)
	in.Start(t0)
	// world.Send decodes each advert with its destination, so a checksum
	// computed for the wrong peer would fail there.
	expectLog(t, w, "add[192.0.2.100/24] announce send(255)->192.0.2.12 send(255)->192.0.2.13 notify(INIT->MASTER)")
}

// receive runs Receive as the driving loop does.
func receive(in *Instance, now time.Time, from netip.Addr, a vrrp.Advert) {
	p := netif.Packet{Src: from, Dst: vrrp.MulticastIPv4, TTL: 255}
	in.Receive(now, &p, &a)
}

func TestReceiveChecks(t *testing.T) {
	good := vrrp.Advert{Version: 3, VRID: 51, Priority: 200, MaxAdvertInt: 100, Addrs: []netip.Addr{vip.Addr()}}
	cases := []struct {
		name  string
		edit  func(cfg *config.Instance, a *vrrp.Advert)
		from  netip.Addr
		drop  DropReason
		check func(t *testing.T, s Counters)
	}{
		{"accepted", nil, peer, "", nil},
		{"v2 advert to v3 instance", func(_ *config.Instance, a *vrrp.Advert) { a.Version, a.MaxAdvertInt = 2, 1 }, peer, DropVersionMismatch, nil},
		{"auth missing", func(c *config.Instance, a *vrrp.Advert) {
			c.Version, c.AuthPass, a.Version, a.MaxAdvertInt = 2, "secret", 2, 1
		}, peer, DropAuth, nil},
		{"auth wrong", func(c *config.Instance, a *vrrp.Advert) {
			c.Version, c.AuthPass, a.Version, a.MaxAdvertInt, a.AuthType = 2, "secret", 2, 1, vrrp.AuthSimple
			copy(a.AuthData[:], "guess")
		}, peer, DropAuth, nil},
		{"auth right", func(c *config.Instance, a *vrrp.Advert) {
			c.Version, c.AuthPass, a.Version, a.MaxAdvertInt, a.AuthType = 2, "secret", 2, 1, vrrp.AuthSimple
			copy(a.AuthData[:], "secret")
		}, peer, "", nil},
		{"unexpected auth", func(c *config.Instance, a *vrrp.Advert) {
			c.Version, a.Version, a.MaxAdvertInt, a.AuthType = 2, 2, 1, vrrp.AuthSimple
		}, peer, DropAuth, nil},
		{"unicast from a stranger", func(c *config.Instance, _ *vrrp.Advert) {
			c.UnicastPeers = []netip.Addr{netip.MustParseAddr("192.0.2.13")}
		}, peer, DropUnknownPeer, nil},
		{"v2 interval mismatch", func(c *config.Instance, a *vrrp.Advert) { c.Version, a.Version, a.MaxAdvertInt = 2, 2, 3 }, peer, DropIntervalMismatch, nil},
		{"own address", nil, src, DropOwnAddress, nil},
		{"address list differs: counted, accepted", func(_ *config.Instance, a *vrrp.Advert) {
			a.Addrs = []netip.Addr{netip.MustParseAddr("192.0.2.101")}
		}, peer, "", func(t *testing.T, s Counters) {
			if s.AddrListMismatch != 1 {
				t.Errorf("addr_list_mismatch %d", s.AddrListMismatch)
			}
		}},
		{"v2 address list differs: dropped (RFC 3768)", func(c *config.Instance, a *vrrp.Advert) {
			c.Version, a.Version, a.MaxAdvertInt = 2, 2, 1
			a.Addrs = []netip.Addr{netip.MustParseAddr("192.0.2.101")}
		}, peer, DropAddrList, nil},
		{"v2 address list differs from the owner: accepted", func(c *config.Instance, a *vrrp.Advert) {
			c.Version, a.Version, a.MaxAdvertInt, a.Priority = 2, 2, 1, 255
			a.Addrs = []netip.Addr{netip.MustParseAddr("192.0.2.101")}
		}, peer, "", nil},
		{"message-only checksum counted", func(_ *config.Instance, a *vrrp.Advert) { a.ChecksumMode = vrrp.ChecksumMessageOnly }, peer, "", func(t *testing.T, s Counters) {
			if s.ChecksumMessageOnly != 1 || s.ChecksumPseudoHeader != 0 {
				t.Errorf("checksum counters %d/%d", s.ChecksumMessageOnly, s.ChecksumPseudoHeader)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, a := baseConfig(), good
			a.Addrs = append([]netip.Addr(nil), good.Addrs...)
			if c.edit != nil {
				c.edit(&cfg, &a)
			}
			in, _ := newTestInstance(t, cfg)
			in.Start(t0)
			receive(in, t0.Add(time.Second), c.from, a)
			s := in.Stats().Snapshot()
			var dropped []string
			for r, n := range s.Drops {
				if n > 0 {
					dropped = append(dropped, string(r))
				}
			}
			if c.drop == "" && len(dropped) > 0 || c.drop != "" && (len(dropped) != 1 || dropped[0] != string(c.drop)) {
				t.Errorf("drops %v, want %q", dropped, c.drop)
			}
			if c.check != nil {
				c.check(t, s)
			}
			if c.drop == "" {
				if st := in.Status(); st.Master != c.from || len(st.Peers) != 1 {
					t.Errorf("accepted advert not applied: master %v peers %v", st.Master, st.Peers)
				}
			}
		})
	}
}

// Drain keeps the addresses until another master is heard, then releases;
// Resume restores competition; a drain requested before Start holds.
func TestDrainAndResume(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = 255
	in, w := newTestInstance(t, cfg)
	in.Start(t0)
	w.take()
	in.SetDrained(t0.Add(100*time.Millisecond), true)
	expectLog(t, w, "send(0)->224.0.0.18")
	if st := in.Status(); !st.Drained || st.State != vrrp.Master {
		t.Fatalf("drained master: %+v", st)
	}
	in.HandleAdvert(t0.Add(300*time.Millisecond), vrrp.AdvertFrom(peer, 100, time.Second))
	expectLog(t, w, "remove[192.0.2.100/24] notify(MASTER->BACKUP)")
	in.SetDrained(t0.Add(time.Second), false)
	if st := in.Status(); st.Drained {
		t.Error("still drained after resume")
	}

	in2, w2 := newTestInstance(t, cfg)
	in2.SetDrained(t0, true)
	in2.Start(t0)
	expectLog(t, w2, "notify(INIT->BACKUP)") // not straight to master
}

type fakeScript struct {
	name   string
	weight int
	ok     bool
}

func (f *fakeScript) Name() string                 { return f.name }
func (f *fakeScript) Weight() int                  { return f.weight }
func (f *fakeScript) State() (ok bool, det string) { return f.ok, "exit 1" }

type groupLog struct{ calls []string }

func (g *groupLog) OwnFaultChanged(name string, faulty bool) {
	g.calls = append(g.calls, fmt.Sprintf("%s:%v", name, faulty))
}

// A failing weight-0 check is a FAULT; a weighted one lowers the priority
// the adverts carry; both recover.
func TestTrackScripts(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = 255
	hard := &fakeScript{name: "nginx", ok: true}
	soft := &fakeScript{name: "load", weight: -60, ok: true}
	w := &world{up: true, srcAddr: src}
	grp := &groupLog{}
	in, err := New(cfg, IO{Sender: w, Addresses: w, Announcer: w, Link: w, Notifier: w, Tracks: []TrackedScript{hard, soft}, Group: grp}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in.Start(t0)
	w.take()

	soft.ok = false
	in.evaluate(t0.Add(time.Second), "tracking changed")
	if st := in.Status(); st.Priority != 195 || st.State != vrrp.Master {
		t.Errorf("weighted failure: priority %d state %v", st.Priority, st.State)
	}
	advanceTo(in, t0.Add(1500*time.Millisecond))
	expectLog(t, w, "announce announce announce send(195)->224.0.0.18") // the burst, then an advert carrying it

	hard.ok = false
	in.evaluate(t0.Add(2*time.Second), "tracking changed")
	expectLog(t, w, "send(0)->224.0.0.18 remove[192.0.2.100/24] notify(MASTER->FAULT)")
	st := in.Status()
	if st.State != vrrp.Fault || len(st.Faults) != 1 || st.Faults[0] != "check nginx failing" || len(st.Tracks) != 2 {
		t.Errorf("status %v %v %v", st.State, st.Faults, st.Tracks)
	}
	hard.ok, soft.ok = true, true
	in.evaluate(t0.Add(3*time.Second), "tracking changed")
	expectLog(t, w, "add[192.0.2.100/24] announce send(255)->224.0.0.18 notify(FAULT->MASTER)")
	if got := strings.Join(grp.calls, " "); got != "web:true web:false" {
		t.Errorf("own-fault reports %q", got)
	}
}

// A tracked interface going down is a FAULT like the instance's own link.
type linkWorld struct {
	*world
	eth1Up bool
}

func (l *linkWorld) Link(name string) netif.LinkState {
	if name == "eth1" {
		return netif.LinkState{Name: name, Exists: true, Up: l.eth1Up}
	}
	return l.world.Link(name)
}

func TestTrackInterface(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = 255
	cfg.TrackInterfaces = []string{"eth1"}
	w := &world{up: true, srcAddr: src}
	lw := &linkWorld{world: w, eth1Up: true}
	in, err := New(cfg, IO{Sender: w, Addresses: w, Announcer: w, Link: lw, Notifier: w}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in.Start(t0)
	w.take()
	lw.eth1Up = false
	in.LinkChanged(t0.Add(time.Second))
	expectLog(t, w, "send(0)->224.0.0.18 remove[192.0.2.100/24] notify(MASTER->FAULT)")
	if f := in.Status().Faults; len(f) != 1 || f[0] != "tracked interface eth1 failing" {
		t.Errorf("faults %v", f)
	}
}

// The sync group can put an instance in FAULT and hold it back; a group
// fault is not reported back as the instance's own.
func TestGroupFaultAndHold(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = 255
	w := &world{up: true, srcAddr: src}
	grp := &groupLog{}
	in, _ := New(cfg, IO{Sender: w, Addresses: w, Announcer: w, Link: w, Notifier: w, Group: grp}, nil)
	in.Start(t0)
	w.take()
	in.setGroupFault(t0.Add(time.Second), "sync group app: db in FAULT")
	expectLog(t, w, "send(0)->224.0.0.18 remove[192.0.2.100/24] notify(MASTER->FAULT)")
	in.setGroupFault(t0.Add(2*time.Second), "")
	expectLog(t, w, "add[192.0.2.100/24] announce send(255)->224.0.0.18 notify(FAULT->MASTER)")
	if len(grp.calls) != 0 {
		t.Errorf("group fault reported as own: %v", grp.calls)
	}
	in.setGroupHold(t0.Add(3*time.Second), true)
	expectLog(t, w, "send(0)->224.0.0.18")
	if st := in.Status(); !st.GroupHeld || !st.Drained {
		t.Errorf("held: %+v", st)
	}
	in.setGroupHold(t0.Add(4*time.Second), false)
	expectLog(t, w, "send(255)->224.0.0.18")
}

// nullIO does nothing, for allocation tests.
type nullIO struct{}

func (nullIO) Send([]byte, netip.Addr, netip.Addr) error { return nil }
func (nullIO) Add(string, []netip.Prefix) error          { return nil }
func (nullIO) Remove(string, []netip.Prefix) error       { return nil }
func (nullIO) Announce([]netip.Prefix) error             { return nil }
func (nullIO) Link(name string) netif.LinkState {
	return netif.LinkState{Name: name, Exists: true, Up: true}
}
func (nullIO) PrimaryAddress(string, bool) (netip.Addr, error) { return src, nil }

// The steady state allocates nothing: a master sending adverts, a backup
// hearing them.
func TestSteadyStateAllocatesNothing(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = 255
	io := IO{Sender: nullIO{}, Addresses: nullIO{}, Announcer: nullIO{}, Link: nullIO{}}
	master, _ := New(cfg, io, nil)
	now := t0
	master.Start(now)
	if n := testing.AllocsPerRun(100, func() {
		now = now.Add(time.Second)
		master.Tick(now)
	}); n != 0 {
		t.Errorf("master: %v allocations per advert", n)
	}
	cfg.Priority = 100
	backup, _ := New(cfg, io, nil)
	backup.Start(t0)
	a := vrrp.Advert{Version: 3, VRID: 51, Priority: 200, MaxAdvertInt: 100, Addrs: []netip.Addr{vip.Addr()}}
	p := netif.Packet{Src: peer, Dst: vrrp.MulticastIPv4, TTL: 255}
	now = t0
	backup.Receive(now, &p, &a) // the first advert adds the peer
	if n := testing.AllocsPerRun(100, func() {
		now = now.Add(time.Second)
		backup.Receive(now, &p, &a)
	}); n != 0 {
		t.Errorf("backup: %v allocations per advert", n)
	}
}
