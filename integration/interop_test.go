package integration

// Interoperability on the wire: failoverd and a reference implementation
// (keepalived, FRR's vrrpd) share the lab's bridge and must elect the master
// the RFC says, whichever of them plays which role. Each scenario runs as a
// matrix of cells: implementation, VRRP version, and which implementation
// plays the scenario's first role (the master, the winner, the returning
// peer). Times are measured between frames on the wire (kernel timestamps)
// and compared with the protocol's limit plus margin; every figure is
// logged (go test -v) for docs/interop.md.

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/failover-ha/failover/pkg/lab"
	"github.com/failover-ha/failover/vrrp"
)

// cell is one entry of the matrix: the VRRP version and which
// implementation plays the scenario's first role (first) and second.
type cell struct {
	version       int
	first, second impl
}

// peerOf is the reference implementation of the cell.
func (c cell) peerOf() impl {
	if c.first == implFailoverd {
		return c.second
	}
	return c.first
}

// advertInterval is the interval the matrix uses for version v: 100 ms for
// VRRPv3, and for VRRPv2 the smallest it can express, 1 s.
func advertInterval(v int) time.Duration {
	if v == 2 {
		return time.Second
	}
	return interval
}

// matrix is every cell of a scenario: keepalived with VRRPv3 and VRRPv2,
// and FRR with VRRPv3 (FRR's v2 is left out), each with failoverd in the
// first role and in the second.
func matrix() []cell {
	var cells []cell
	for _, v := range []int{3, 2} {
		cells = append(cells, cell{v, implFailoverd, implKeepalived}, cell{v, implKeepalived, implFailoverd})
	}
	return append(cells, cell{3, implFailoverd, implFRR}, cell{3, implFRR, implFailoverd})
}

// runMatrix runs fn for each cell as the subtest <peer>/v<n>/<first>-<role>.
// VRRPv2 cells are mostly waiting for whole-second timers, so they run in
// parallel with each other (after the v3 and FRR cells, which run one at a
// time so that their 100 ms timings see an idle machine).
func runMatrix(t *testing.T, role string, cells []cell, fn func(t *testing.T, c cell)) {
	for _, c := range cells {
		t.Run(fmt.Sprintf("%s/v%d/%s-%s", c.peerOf(), c.version, c.first, role), func(t *testing.T) {
			if c.peerOf() == implKeepalived {
				requireKeepalived(t)
			} else {
				requireFRR(t)
			}
			if c.version == 2 {
				t.Parallel()
			}
			fn(t, c)
		})
	}
}

// electionTimeout bounds the first election: Master_Down_Interval of the
// lowest priority used, plus time to start the daemons.
func electionTimeout(v int) time.Duration {
	return vrrp.MasterDownInterval(uint8(v), 1, advertInterval(v)) + 2*time.Second
}

// checkAdverts checks what the matrix expects of every advert h sent:
// version, VRID, priority, interval, the address list, TTL 255 and the
// multicast group.
func (ix *interop) checkAdverts(h *lab.Host, ads []timedAdvert, version, priority int, iv time.Duration) {
	ix.t.Helper()
	for _, a := range ads {
		if int(a.a.Version) != version || a.a.VRID != interopVRID || int(a.a.Priority) != priority || a.a.Interval() != iv ||
			!slices.Equal(a.a.Addrs, []netip.Addr{vip4}) || a.ip.TTL != 255 || a.ip.Dst != vrrp.MulticastIPv4 {
			ix.t.Errorf("advert from %s: v%d vrid %d priority %d interval %v addrs %v ttl %d to %v; want v%d vrid %d priority %d interval %v addrs [%v] ttl 255 to %v",
				ix.nameOf(h), a.a.Version, a.a.VRID, a.a.Priority, a.a.Interval(), a.a.Addrs, a.ip.TTL, a.ip.Dst,
				version, interopVRID, priority, iv, vip4, vrrp.MulticastIPv4)
			return
		}
	}
}

// advertMAC describes the Ethernet source of h's first advert after mark.
func (ix *interop) advertMAC(h *lab.Host, mark int) string {
	for _, f := range ix.cap.Frames()[mark:] {
		if ip, ok := lab.IsVRRP(f.Data); ok && ip.Src == h.IPv4.Addr() {
			mac := net.HardwareAddr(f.Data[6:12])
			switch {
			case bytes.Equal(mac, h.MAC):
				return fmt.Sprintf("its own MAC %v", mac)
			case bytes.Equal(mac, virtualMAC(interopVRID)):
				return fmt.Sprintf("the virtual router MAC %v", mac)
			}
			return mac.String()
		}
	}
	return "nowhere"
}

// checksumNote gives the IP TOS of adverts and, for VRRPv3 over IPv4, the
// checksum form.
func checksumNote(ads []timedAdvert) string {
	if len(ads) == 0 {
		return ""
	}
	note := fmt.Sprintf(", TOS %#02x", ads[0].ip.TOS)
	if ads[0].a.Version == 3 {
		note += fmt.Sprintf(", %s checksum", ads[0].a.ChecksumMode)
	}
	return note
}

// Higher priority wins (RFC 9568 §6.4.2-§6.4.3): the priority-200 router on
// h1 becomes master and is the only one serving the VIP; the priority-100
// router on h2 never becomes master and stays silent.
func TestInteropHigherPriorityWins(t *testing.T) {
	runMatrix(t, "master", matrix(), func(t *testing.T, c cell) {
		ix := newInterop(t, 2)
		h1, h2 := ix.host("h1"), ix.host("h2")
		iv := advertInterval(c.version)
		// The master first: its Master_Down_Interval is also the shorter,
		// so the backup never sees an empty link.
		start := time.Now()
		ix.start(h1, peer{impl: c.first, priority: 200, version: c.version, interval: iv})
		ix.start(h2, peer{impl: c.second, priority: 100, version: c.version, interval: iv})
		ix.waitSoleServer(h1, electionTimeout(c.version))
		elected := time.Since(start)
		mark := ix.cap.Mark()
		window := 5 * iv
		if c.version == 2 {
			window = 3 * iv / 2
		}
		time.Sleep(window)
		if s := ix.servers(); !slices.Equal(s, []string{"h1"}) {
			t.Fatalf("hosts serving %v: %v, want [h1]", vip4, s)
		}
		ads := ix.advertsOf(h1, mark)
		if want := int(window/iv) - 1; len(ads) < want {
			t.Errorf("%d adverts from the master in %v, want at least %d", len(ads), window, want)
		}
		ix.checkAdverts(h1, ads, c.version, 200, iv)
		t.Logf("%s advertises from %s%s", ix.nameOf(h1), ix.advertMAC(h1, mark), checksumNote(ads))
		if n := len(ix.advertsOf(h2, mark)); n != 0 {
			t.Errorf("backup %s sent %d adverts", ix.nameOf(h2), n)
		}
		if ix.becameMaster(h2, 0) {
			t.Errorf("backup %s became master at some point", ix.nameOf(h2))
		}
		t.Logf("%s master after %s, %s backup; %d adverts (v%d, priority 200, %v) in %v, none from the backup",
			ix.nameOf(h1), ms(elected), ix.nameOf(h2), len(ads), c.version, iv, window)
	})
}

// Two masters of equal priority meet when a partition heals (RFC 9568
// §6.4.3): the one with the higher primary address (h2, 192.0.2.12) stays
// master, the other yields within one advert interval. first is the
// implementation on h2, the winner.
func TestInteropEqualPriorityHeal(t *testing.T) {
	runMatrix(t, "higher-address", matrix(), func(t *testing.T, c cell) {
		iv := advertInterval(c.version)
		ix, mark, _ := healSplitBrain(t,
			peer{impl: c.first, priority: 100, version: c.version, interval: iv},
			peer{impl: c.second, priority: 100, version: c.version, interval: iv})
		// The winner re-announces when it hears the other master: failoverd
		// (once an interval) and keepalived (garp_lower_prio_repeat) do, FRR
		// does not. Whether it hears one depends on who speaks first after
		// the heal, except that a yielding failoverd always sends one last
		// advert.
		garps := ix.announcesSince(mark, ix.host("h2"))
		t.Logf("winner %s sent %d gratuitous ARPs after the heal", c.first, garps)
		if c.second == implFailoverd && c.first == implKeepalived && garps == 0 {
			t.Errorf("keepalived did not re-announce after failoverd's yield advert")
		}
	})
}

// keepalived yields silently by default, so a failoverd winner that heard
// the keepalived master's adverts too late never learns of the split brain
// and cannot re-announce to clients keepalived took over. With
// higher_prio_send_advert keepalived sends one last advert as it yields, as
// failoverd always does, and failoverd re-announces every time.
func TestInteropKeepalivedYieldAdvert(t *testing.T) {
	requireKeepalived(t)
	ix, mark, healed := healSplitBrain(t,
		peer{impl: implFailoverd, priority: 100, version: 3, interval: interval},
		peer{impl: implKeepalived, priority: 100, version: 3, interval: interval, kaYieldAdvert: true})
	h2 := ix.host("h2")
	garp := ix.waitAnnounce(mark, h2, time.Second)
	t.Logf("failoverd re-announced %s after the heal", ms(garp.Time.Sub(healed)))
	ix.waitLog(h2, "re-announcing addresses", time.Second)
}

// healSplitBrain runs winner on h2 and loser on h1 (same priority, so h2's
// higher address wins) on either side of a partition until both are master,
// heals it, and checks that h2 alone serves the VIP within one advert
// interval and h1 falls silent. It returns the capture mark and time of the
// heal.
func healSplitBrain(t *testing.T, winner, loser peer) (*interop, int, time.Time) {
	t.Helper()
	ix := newInterop(t, 2)
	h1, h2 := ix.host("h1"), ix.host("h2")
	iv := winner.interval
	if err := ix.lab.Partition([]*lab.Host{h1}, []*lab.Host{h2}); err != nil {
		t.Fatal(err)
	}
	ix.start(h2, winner)
	ix.start(h1, loser)
	ix.waitFor("both sides of the partition to elect a master", electionTimeout(winner.version), func() bool {
		return len(ix.servers()) == 2
	})
	// Both were elected together and advertise in step: heal between two
	// of their adverts, not just before the next ones.
	time.Sleep(iv / 2)
	mark := ix.cap.Mark()
	healed := time.Now()
	if err := ix.lab.Heal(); err != nil {
		t.Fatal(err)
	}
	ix.waitSoleServer(h2, 2*iv+time.Second)
	took := time.Since(healed)
	// The first advert to cross is what resolves it.
	var crossed time.Time
	for _, f := range ix.cap.Frames()[mark:] {
		if _, ok := lab.IsVRRP(f.Data); ok {
			crossed = f.Time
			break
		}
	}
	t.Logf("split brain between %s and %s resolved %s after heal (one advert interval: %v), %s after the first advert after it",
		ix.nameOf(h2), ix.nameOf(h1), ms(took), iv, ms(healed.Add(took).Sub(crossed)))
	if took > iv+margin {
		t.Errorf("resolution took %s, want at most one advert interval %v + margin %s", ms(took), iv, ms(margin))
	}
	// Judge by the kernel's timestamps: a yielding failoverd's last advert
	// leaves before its VIP goes, but the capture may append it after we
	// saw the VIP go.
	quietAt := time.Now()
	time.Sleep(iv + iv/2)
	n := 0
	for _, a := range ix.advertsOf(h1, mark) {
		if a.at.After(quietAt) {
			n++
		}
	}
	if n != 0 {
		t.Errorf("loser %s still sent %d adverts after yielding", ix.nameOf(h1), n)
	}
	return ix, mark, healed
}

// masterAndBackup starts c.first on h1 at priority 200 and c.second on h2 at
// 100, and waits for h1 to serve the VIP and to have sent its first advert
// (failoverd announces the VIP before it): a master lost before that was
// never heard by the backup, whose takeover would then not be measured from
// an advert.
func masterAndBackup(t *testing.T, c cell) (ix *interop, h1, h2 *lab.Host, iv time.Duration) {
	t.Helper()
	ix = newInterop(t, 2)
	h1, h2 = ix.host("h1"), ix.host("h2")
	iv = advertInterval(c.version)
	ix.start(h1, peer{impl: c.first, priority: 200, version: c.version, interval: iv})
	ix.start(h2, peer{impl: c.second, priority: 100, version: c.version, interval: iv})
	ix.waitSoleServer(h1, electionTimeout(c.version))
	ix.waitAdverts(h1.IPv4.Addr(), 0, 1, 2*iv)
	return ix, h1, h2, iv
}

// SIGTERM makes the master resign with a priority-0 advert; the backup takes
// over after Skew_Time (RFC 9568 §6.4.2), measured from that advert to the
// new master's first gratuitous ARP.
func TestInteropGracefulStop(t *testing.T) {
	runMatrix(t, "master", matrix(), func(t *testing.T, c cell) {
		ix, h1, h2, iv := masterAndBackup(t, c)
		mark := ix.cap.Mark()
		ix.terminate(h1)
		garp := ix.waitAnnounce(mark, h2, 3*time.Second)
		code := ix.waitExit(h1)
		var resign timedAdvert
		for _, a := range ix.advertsOf(h1, mark) {
			if a.a.Priority == 0 {
				resign = a
				break
			}
		}
		if resign.at.IsZero() {
			t.Fatalf("no priority-0 advert from %s on SIGTERM", ix.nameOf(h1))
		}
		took := garp.Time.Sub(resign.at)
		skew := vrrp.SkewTime(uint8(c.version), 100, iv)
		t.Logf("%s exited %d; %s took over %s after its priority-0 advert (Skew_Time %s)", ix.nameOf(h1), code, ix.nameOf(h2), ms(took), ms(skew))
		if took > skew+margin {
			t.Errorf("takeover took %s, Skew_Time %s + margin %s", ms(took), ms(skew), ms(margin))
		}
		if c.first == implFailoverd && code != 0 {
			t.Errorf("failoverd exited %d on SIGTERM, want 0", code)
		}
		ix.waitSoleServer(h2, time.Second)
	})
}

// SIGKILL of the master (and its cable cut, so that nothing stale reaches
// the wire): the backup takes over after Master_Down_Interval, measured from
// the dead master's last advert to the new master's first gratuitous ARP.
func TestInteropCrash(t *testing.T) {
	runMatrix(t, "master", matrix(), func(t *testing.T, c cell) {
		ix, h1, h2, iv := masterAndBackup(t, c)
		mark := ix.cap.Mark()
		killed := time.Now()
		ix.crash(h1)
		limit := vrrp.MasterDownInterval(uint8(c.version), 100, iv)
		garp := ix.waitAnnounce(mark, h2, limit+2*time.Second)
		last := ix.lastAdvertBefore(h1, garp.Time)
		took := garp.Time.Sub(last.at)
		t.Logf("%s took over %s after the last advert of %s (Master_Down_Interval %s), %s after SIGKILL",
			ix.nameOf(h2), ms(took), ix.nameOf(h1), ms(limit), ms(garp.Time.Sub(killed)))
		if took > limit+margin {
			t.Errorf("takeover took %s, Master_Down_Interval %s + margin %s", ms(took), ms(limit), ms(margin))
		}
		// FRR rounds Skew_Time down to centiseconds.
		if took < limit-20*time.Millisecond {
			t.Errorf("takeover after %s, before Master_Down_Interval %s", ms(took), ms(limit))
		}
		if n := len(ix.advertsOf(h1, mark)); n > 1 {
			t.Errorf("killed %s sent %d adverts", ix.nameOf(h1), n)
		}
		if !ix.serving(h2) {
			t.Errorf("%s announced %v but does not serve it", ix.nameOf(h2), vip4)
		}
		if ix.serving(h1) {
			t.Logf("as expected, the killed %s left %v behind (isolated)", c.first, vip4)
		}
	})
}

// Preempt_Mode false (failoverd preempt = false, keepalived nopreempt, FRR
// no vrrp preempt): the higher-priority router (first, on h1) stops
// gracefully, the other takes over, and when the first comes back it stays
// backup and silent for well over a Master_Down_Interval.
func TestInteropNoPreempt(t *testing.T) {
	runMatrix(t, "returns", matrix(), func(t *testing.T, c cell) {
		ix := newInterop(t, 2)
		h1, h2 := ix.host("h1"), ix.host("h2")
		iv := advertInterval(c.version)
		high := peer{impl: c.first, priority: 200, version: c.version, interval: iv, noPreempt: true}
		ix.start(h1, high)
		ix.start(h2, peer{impl: c.second, priority: 100, version: c.version, interval: iv, noPreempt: true})
		ix.waitSoleServer(h1, electionTimeout(c.version))
		ix.terminate(h1)
		ix.waitSoleServer(h2, time.Second+iv)
		ix.waitExit(h1)
		logFrom := len(ix.log(h1))
		mark := ix.cap.Mark()
		ix.start(h1, high)
		hold := 3 * vrrp.MasterDownInterval(uint8(c.version), 200, iv) / 2
		time.Sleep(hold + margin)
		if s := ix.servers(); !slices.Equal(s, []string{"h2"}) {
			t.Fatalf("hosts serving %v: %v, want [h2] (no preemption)", vip4, s)
		}
		if n := len(ix.advertsOf(h1, mark)); n != 0 {
			t.Errorf("returning %s sent %d adverts", ix.nameOf(h1), n)
		}
		if ix.becameMaster(h1, logFrom) {
			t.Errorf("returning %s became master", ix.nameOf(h1))
		}
		t.Logf("returning %s (priority 200) stayed backup for %s behind %s (priority 100)", ix.nameOf(h1), ms(hold+margin), ix.nameOf(h2))
	})
}

// VRRPv3 backups adopt the master's interval (RFC 9568 §6.4.2): a master at
// 100 ms (first, h1) and a backup configured for 1 s (h2). When the master
// dies the backup takes over after 3 x 100 ms + Skew_Time, not the 3.6 s its
// own interval would give; as master it then advertises its own interval.
func TestInteropV3AdoptsMasterInterval(t *testing.T) {
	var cells []cell
	for _, c := range matrix() {
		if c.version == 3 {
			cells = append(cells, c)
		}
	}
	runMatrix(t, "master-100ms", cells, func(t *testing.T, c cell) {
		ix := newInterop(t, 2)
		h1, h2 := ix.host("h1"), ix.host("h2")
		fast, slow := 100*time.Millisecond, time.Second
		ix.start(h1, peer{impl: c.first, priority: 200, version: 3, interval: fast})
		ix.waitSoleServer(h1, electionTimeout(3))
		ix.start(h2, peer{impl: c.second, priority: 100, version: 3, interval: slow})
		time.Sleep(5 * fast) // the backup hears a few adverts
		if s := ix.servers(); !slices.Equal(s, []string{"h1"}) {
			t.Fatalf("hosts serving %v: %v, want [h1]", vip4, s)
		}
		mark := ix.cap.Mark()
		ix.crash(h1)
		limit := vrrp.MasterDownInterval(3, 100, fast)
		own := vrrp.MasterDownInterval(3, 100, slow)
		garp := ix.waitAnnounce(mark, h2, own+2*time.Second)
		took := garp.Time.Sub(ix.lastAdvertBefore(h1, garp.Time).at)
		t.Logf("%s (configured %v) took over %s after the last 100 ms advert: Master_Down_Interval %s with the master's interval, %s with its own",
			ix.nameOf(h2), slow, ms(took), ms(limit), ms(own))
		if took > limit+margin {
			t.Errorf("takeover took %s, want Master_Down_Interval with the master's interval %s + margin %s", ms(took), ms(limit), ms(margin))
		}
		// failoverd announces before its first advert: wait for the advert.
		ads := ix.waitAdverts(h2.IPv4.Addr(), mark, 1, time.Second)
		if got := ads[0].a.Interval(); got != slow {
			t.Errorf("new master advertises %v, want its own %v", got, slow)
		}
		if c.second == implKeepalived && !strings.Contains(ix.log(h2), "advertisement interval updated from 1000ms to 100ms by master") {
			t.Errorf("keepalived did not log adopting the master's interval")
		}
	})
}

// VRRPv2 interval mismatch (RFC 3768 §7.1: the receiver MUST discard an
// advert whose interval differs from its own, SHOULD log it). failoverd at
// 1 s (priority 100) and keepalived at 2 s (priority 200): each discards the
// other's adverts, so both become master, and both log the mismatch. Had
// failoverd accepted keepalived's adverts it would have stayed backup; had
// keepalived accepted failoverd's it would log a lower-priority advert,
// "forcing new election".
func TestInteropV2IntervalMismatch(t *testing.T) {
	requireKeepalived(t)
	ix := newInterop(t, 2)
	h1, h2 := ix.host("h1"), ix.host("h2")
	ix.start(h2, peer{impl: implKeepalived, priority: 200, version: 2, interval: 2 * time.Second})
	ix.start(h1, peer{impl: implFailoverd, priority: 100, version: 2, interval: time.Second})
	const ours = `advert discarded: instance=web reason="advert interval mismatch: 192.0.2.12 advertises 2s, ours is 1s"`
	const theirs = "(web) advertisement interval mismatch mine=2 sec rcv'd=1 sec"
	// keepalived, at 2 s, is master after 3 x 2 s + Skew_Time.
	limit := vrrp.MasterDownInterval(2, 200, 2*time.Second)
	ix.waitFor("both to become master and log the mismatch", limit+2*time.Second, func() bool {
		return len(ix.servers()) == 2 && strings.Contains(ix.log(h1), ours) && strings.Contains(ix.log(h2), theirs)
	})
	if strings.Contains(ix.log(h2), "forcing new election") || strings.Contains(ix.log(h1), "another master") {
		t.Errorf("an advert with a mismatched interval was accepted")
	}
	t.Logf("both master, as RFC 3768 §7.1 makes them; failoverd logged %q; keepalived logged %q", ours, theirs)
}

// RFC 9568 §7.1 lets a receiver check the advert's address list and log a
// mismatch; failoverd counts it and carries on. keepalived 2.2.7 drops such
// adverts (vrrp_check_packet, unless vrrp_skip_check_adv_addr and the same
// master as before). A keepalived master at priority 100 with one address
// and failoverd at 200 with two: failoverd preempts, keepalived never hears
// it and stays master too. Documented as a configuration that must be
// avoided; the test pins the behaviour down.
func TestInteropKeepalivedAddressListMismatch(t *testing.T) {
	requireKeepalived(t)
	ix := newInterop(t, 2)
	h1, h2 := ix.host("h1"), ix.host("h2")
	ix.start(h1, peer{impl: implKeepalived, priority: 100, version: 3, interval: interval})
	ix.waitSoleServer(h1, electionTimeout(3))
	ix.start(h2, peer{impl: implFailoverd, priority: 200, version: 3, interval: interval,
		vips: []string{"192.0.2.100/24", "192.0.2.101/24"}})
	const dropped = "(web) received an unexpected ip number count 2, expected 1!"
	ix.waitFor("both to serve the VIP", 2*time.Second, func() bool {
		return len(ix.servers()) == 2 && strings.Contains(ix.log(h1), dropped)
	})
	mark := ix.cap.Mark()
	time.Sleep(5 * interval)
	if s := ix.servers(); len(s) != 2 {
		t.Errorf("hosts serving %v: %v, want both (keepalived ignores failoverd)", vip4, s)
	}
	garps := ix.announcesSince(mark, h2)
	t.Logf("keepalived logs %q and stays master; failoverd, hearing a lower-priority master, sent %d gratuitous ARPs for %v in %v (re-announcements back off)",
		dropped, garps, vip4, 5*interval)
}
