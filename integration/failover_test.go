package integration

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/failover-ha/failover/internal/pcapfile"
	"github.com/failover-ha/failover/pkg/lab"
	"github.com/failover-ha/failover/vrrp"
)

var (
	vip4 = netip.MustParseAddr("192.0.2.100")
	vip6 = netip.MustParseAddr("2001:db8::100")
)

const (
	interval = 100 * time.Millisecond
	// margin absorbs scheduling on a busy 2-core CI machine; the protocol
	// limit it is added to is the real expectation.
	margin = 150 * time.Millisecond
)

// startThree runs h1..h3 at priorities 100, 150, 200 and waits for h3.
func startThree(t *testing.T, c *cluster, preempt *bool) {
	for i, prio := range []int{100, 150, 200} {
		c.start(c.lab.Hosts[i], instanceOpts{priority: prio, preempt: preempt})
	}
	c.waitSoleHolder(c.host("h3"), vip4, 5*time.Second)
}

// startTwo runs h1 at priority 100 and h2 at 200 and waits for h2.
func startTwo(c *cluster) (h1, h2 *lab.Host) {
	c.t.Helper()
	h1, h2 = c.host("h1"), c.host("h2")
	c.start(h1, instanceOpts{priority: 100})
	c.start(h2, instanceOpts{priority: 200})
	c.waitSoleHolder(h2, vip4, 5*time.Second)
	return h1, h2
}

// The highest priority becomes master and is the only host holding the VIP;
// the client reaches it, and its ARP entry points at the master.
func TestHighestPriorityIsSoleMaster(t *testing.T) {
	c := newCluster(t, 3, 1)
	startThree(t, c, nil)
	// Stay a while: no flapping, still a single holder.
	time.Sleep(5 * interval)
	if hs := c.holders(vip4); len(hs) != 1 || hs[0] != "h3" {
		t.Fatalf("holders %v, want [h3]", hs)
	}
	client := c.lab.Clients[0]
	if err := c.ping(client, vip4); err != nil {
		t.Fatal(err)
	}
	if mac := c.neighborMAC(client, vip4); !bytes.Equal(mac, c.host("h3").MAC) {
		t.Errorf("client ARP entry %v, want h3 %v", mac, c.host("h3").MAC)
	}
	// Adverts on the wire: only the master advertises, v3, priority 200,
	// interval 100 ms, TTL 255, to 224.0.0.18.
	ads := c.adverts(c.host("h3").IPv4.Addr(), 0)
	if len(ads) < 5 {
		t.Fatalf("%d adverts from h3", len(ads))
	}
	last := ads[len(ads)-1]
	if last.a.Priority != 200 || last.a.Version != 3 || last.a.Interval() != interval || last.ip.TTL != 255 || last.ip.Dst != vrrp.MulticastIPv4 || last.a.Addrs[0] != vip4 {
		t.Errorf("advert %+v ip %+v", last.a, last.ip)
	}
	for _, h := range []string{"h1", "h2"} {
		mark := len(c.cap.Frames())
		time.Sleep(3 * interval)
		if n := len(c.adverts(c.host(h).IPv4.Addr(), mark)); n != 0 {
			t.Errorf("backup %s sent %d adverts", h, n)
		}
	}
}

// SIGKILL of the master: the next host takes over within
// Master_Down_Interval; the client's ARP entry follows at once (GARP); the
// restarted master preempts back.
func TestCrashTakeoverAndPreemptBack(t *testing.T) {
	c := newCluster(t, 3, 1)
	startThree(t, c, nil)
	client := c.lab.Clients[0]
	if err := c.ping(client, vip4); err != nil {
		t.Fatal(err)
	}
	h2, h3 := c.host("h2"), c.host("h3")
	mark := len(c.cap.Frames())
	killed := time.Now()
	c.stop(h3, syscall.SIGKILL)
	garp := c.waitGARP(mark, h2, vip4, 3*time.Second)
	took := garp.Time.Sub(killed)
	limit := vrrp.MasterDownInterval(3, 150, interval)
	t.Logf("crash takeover: first GARP from h2 %s after SIGKILL (Master_Down_Interval %s)", ms(took), ms(limit))
	if took > limit+margin {
		t.Errorf("takeover took %s, limit %s + margin %s", ms(took), ms(limit), ms(margin))
	}
	// Right after the takeover the client's ARP entry points at the new
	// master, without the client sending anything.
	c.waitFor("client ARP entry to point at h2", 100*time.Millisecond, func() bool {
		return bytes.Equal(c.neighborMAC(client, vip4), h2.MAC)
	})
	if ok, _ := h2.HasAddr(vip4); !ok {
		t.Fatal("h2 sent GARP but does not hold the VIP")
	}

	// Restart h3: it removes the VIP its killed predecessor left, enters
	// Backup, and preempts h2 after Master_Down_Interval.
	c.start(h3, instanceOpts{priority: 200})
	c.waitSoleHolder(h3, vip4, 3*time.Second)
	if !strings.Contains(c.log(h3), "removing stale virtual address") {
		t.Error("restarted h3 did not report removing the stale VIP")
	}
	c.waitLog(h3, "preempting lower-priority master 192.0.2.12 (priority 150 < our 200)", time.Second)
	c.waitFor("client ARP entry back on h3", time.Second, func() bool {
		return bytes.Equal(c.neighborMAC(client, vip4), h3.MAC)
	})
}

// With preempt = false a returning higher-priority host stays backup.
func TestNoPreemptKeepsCurrentMaster(t *testing.T) {
	c := newCluster(t, 2, 0)
	h1, h2 := c.host("h1"), c.host("h2")
	c.start(h2, instanceOpts{priority: 200, preempt: boolp(false)})
	c.start(h1, instanceOpts{priority: 100, preempt: boolp(false)})
	c.waitSoleHolder(h2, vip4, 5*time.Second)
	// The VIP is added before the transition is logged: wait for the line
	// this test counts before killing the daemon.
	c.waitFor("h2 to log its takeover", time.Second, func() bool { return strings.Contains(c.log(h2), "BACKUP -> MASTER") })
	c.stop(h2, syscall.SIGKILL)
	c.waitFor("h1 to take over", 2*time.Second, func() bool { ok, _ := h1.HasAddr(vip4); return ok })
	c.start(h2, instanceOpts{priority: 200, preempt: boolp(false)})
	// Several Master_Down_Intervals: h2 must accept h1's adverts and wait.
	time.Sleep(4 * vrrp.MasterDownInterval(3, 200, interval))
	if hs := c.holders(vip4); len(hs) != 1 || hs[0] != "h1" {
		t.Fatalf("holders %v, want [h1] (no preemption)", hs)
	}
	// The log is appended across restarts: one takeover, from the first run.
	if n := strings.Count(c.log(h2), "BACKUP -> MASTER"); n != 1 {
		t.Errorf("h2 became master %d times, want once (before the restart)", n)
	}
}

// SIGTERM: the master sends a priority-0 advert, removes its VIP and exits
// 0; the backup takes over after Skew_Time.
func TestGracefulStopTakeoverWithinSkewTime(t *testing.T) {
	c := newCluster(t, 2, 0)
	h1, h2 := startTwo(c)
	mark := len(c.cap.Frames())
	stopped := time.Now()
	if code := c.stop(h2, syscall.SIGTERM); code != 0 {
		t.Errorf("failoverd exited %d on SIGTERM, want 0", code)
	}
	garp := c.waitGARP(mark, h1, vip4, 2*time.Second)
	// Measure from the priority-0 advert on the wire, the protocol's start.
	var resign time.Time
	for _, a := range c.adverts(h2.IPv4.Addr(), mark) {
		if a.a.Priority == 0 {
			resign = a.at
			break
		}
	}
	if resign.IsZero() {
		t.Fatal("no priority-0 advert from the stopping master")
	}
	took := garp.Time.Sub(resign)
	skew := vrrp.SkewTime(3, 100, interval)
	t.Logf("graceful takeover: %s from priority-0 advert to GARP (Skew_Time %s); %s from SIGTERM", ms(took), ms(skew), ms(garp.Time.Sub(stopped)))
	if took > skew+margin {
		t.Errorf("takeover took %s, Skew_Time %s + margin %s", ms(took), ms(skew), ms(margin))
	}
	if hs := c.holders(vip4); len(hs) != 1 || hs[0] != "h1" {
		t.Errorf("holders %v after graceful stop, want [h1]", hs)
	}
}

// Two masters of equal priority meet when a partition heals: the higher
// primary address stays master, the other yields at once.
func TestEqualPriorityHigherAddressWinsAfterHeal(t *testing.T) {
	c := newCluster(t, 2, 0)
	h1, h2 := c.host("h1"), c.host("h2")
	c.lab.Partition([]*lab.Host{h1}, []*lab.Host{h2})
	c.start(h1, instanceOpts{priority: 100})
	c.start(h2, instanceOpts{priority: 100})
	c.waitFor("both partitions to elect a master", 3*time.Second, func() bool { return len(c.holders(vip4)) == 2 })
	healed := time.Now()
	if err := c.lab.Heal(); err != nil {
		t.Fatal(err)
	}
	c.waitSoleHolder(h2, vip4, 2*time.Second) // 192.0.2.12 > 192.0.2.11
	t.Logf("split brain resolved %s after heal", ms(time.Since(healed)))
	c.waitLog(h1, "advert from 192.0.2.12 with equal priority 100 and higher address", time.Second)
}

// Split brain must heal completely: while the link between the hosts is
// cut, the backup side becomes master and its GARPs poison the client's ARP
// cache; once healed, the surviving master re-announces at once, so within
// an advert interval the client points at it again.
func TestSplitBrainHealReannouncesToPoisonedClient(t *testing.T) {
	c := newCluster(t, 2, 1)
	h1, h2, client := c.host("h1"), c.host("h2"), c.lab.Clients[0]
	c.start(h1, instanceOpts{priority: 200})
	c.start(h2, instanceOpts{priority: 100})
	c.waitSoleHolder(h1, vip4, 5*time.Second)
	if err := c.ping(client, vip4); err != nil {
		t.Fatal(err)
	}
	// Cut h1 from h2 only: the client still hears both.
	if err := c.lab.Partition([]*lab.Host{h1}, []*lab.Host{h2}); err != nil {
		t.Fatal(err)
	}
	c.waitFor("h2 to become master in the partition", 2*time.Second, func() bool { ok, _ := h2.HasAddr(vip4); return ok })
	c.waitFor("the client's ARP entry to be poisoned by h2", time.Second, func() bool {
		return bytes.Equal(c.neighborMAC(client, vip4), h2.MAC)
	})
	mark := len(c.cap.Frames())
	healed := time.Now()
	if err := c.lab.Heal(); err != nil {
		t.Fatal(err)
	}
	c.waitFor("client ARP entry back on h1", interval+margin, func() bool {
		return bytes.Equal(c.neighborMAC(client, vip4), h1.MAC)
	})
	garp := c.waitGARP(mark, h1, vip4, time.Second)
	t.Logf("client ARP repaired %s after heal (re-announcement on the wire at +%s)", ms(time.Since(healed)), ms(garp.Time.Sub(healed)))
	c.waitSoleHolder(h1, vip4, time.Second)
	c.waitLog(h1, "re-announcing addresses", time.Second)
	if err := c.ping(client, vip4); err != nil {
		t.Errorf("client cannot reach the VIP after heal: %v", err)
	}
}

// The master's link goes down: it cannot advertise, so the peers take over
// after Master_Down_Interval; the master enters FAULT and drops the VIP, and
// comes back (and preempts) when the link returns.
func TestMasterLinkDown(t *testing.T) {
	c := newCluster(t, 3, 0)
	startThree(t, c, nil)
	h2, h3 := c.host("h2"), c.host("h3")
	mark := len(c.cap.Frames())
	down := time.Now()
	if err := h3.LinkDown(); err != nil {
		t.Fatal(err)
	}
	garp := c.waitGARP(mark, h2, vip4, 3*time.Second)
	took := garp.Time.Sub(down)
	limit := vrrp.MasterDownInterval(3, 150, interval)
	t.Logf("link-down takeover: %s (Master_Down_Interval %s)", ms(took), ms(limit))
	if took > limit+margin {
		t.Errorf("takeover took %s, limit %s + margin %s", ms(took), ms(limit), ms(margin))
	}
	c.waitFor("h3 to enter FAULT and release the VIP", time.Second, func() bool {
		ok, _ := h3.HasAddr(vip4)
		return !ok && strings.Contains(c.log(h3), "MASTER -> FAULT")
	})
	if err := h3.LinkUp(); err != nil {
		t.Fatal(err)
	}
	c.waitSoleHolder(h3, vip4, 3*time.Second)
	if !strings.Contains(c.log(h3), "FAULT -> BACKUP") {
		t.Error("h3 did not return through BACKUP")
	}
}

// With a 10 ms interval the master's advert stream stays at 100/s: each
// deadline counts from the previous one, so wake-up latency does not
// accumulate (see gridFit for how drift is told from single late adverts).
func TestAdvertRateDoesNotDrift(t *testing.T) {
	c := newCluster(t, 1, 0)
	h1 := c.host("h1")
	c.start(h1, instanceOpts{priority: 255, interval: "10ms"})
	c.waitSoleHolder(h1, vip4, 2*time.Second)
	mark := len(c.cap.Frames())
	const window, step = 4 * time.Second, 10 * time.Millisecond
	time.Sleep(window + 200*time.Millisecond)
	var at []time.Time
	for _, a := range c.adverts(h1.IPv4.Addr(), mark) {
		at = append(at, a.at)
	}
	if len(at) < 2 {
		t.Fatalf("%d adverts", len(at))
	}
	g := fitGrid(at, window, step)
	t.Log(g)
	for _, p := range g.problems() {
		t.Error(p)
	}
}

// IPv6: a VRRPv3 IPv6 instance elects, holds the VIP, sends unsolicited
// neighbour advertisements, and hands over on SIGTERM.
func TestIPv6Failover(t *testing.T) {
	c := newCluster(t, 2, 1)
	h1, h2 := c.host("h1"), c.host("h2")
	v6 := instanceOpts{vips: []string{"2001:db8::100/64"}}
	o1, o2 := v6, v6
	o1.priority, o2.priority = 100, 200
	c.start(h1, o1)
	c.start(h2, o2)
	c.waitSoleHolder(h2, vip6, 5*time.Second)
	ads := c.waitAdverts(h2.LinkLocal, 0, 1, time.Second)
	if ads[0].ip.TTL != 255 || ads[0].ip.Dst != vrrp.MulticastIPv6 || ads[0].a.Addrs[0] != vip6 {
		t.Fatalf("IPv6 adverts from h2's link-local %v: %+v", h2.LinkLocal, ads)
	}
	if err := c.ping(c.lab.Clients[0], vip6); err != nil {
		t.Fatal(err)
	}
	mark := len(c.cap.Frames())
	c.stop(h2, syscall.SIGTERM)
	c.waitSoleHolder(h1, vip6, 2*time.Second)
	// The NA follows the address by microseconds; the capture may lag more.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := c.cap.WaitFrom(ctx, mark, func(f pcapfile.Frame) bool {
		target, ok := lab.IsUnsolicitedNA(f.Data)
		return ok && target == vip6 && bytes.Equal(f.Data[6:12], h1.MAC)
	}); err != nil {
		t.Errorf("no unsolicited NA for the VIP from the new master: %v", err)
	}
	if err := c.ping(c.lab.Clients[0], vip6); err != nil {
		t.Errorf("client cannot reach the IPv6 VIP after failover: %v", err)
	}
}

// VRRPv2 and unicast peers: the same election over v2, with adverts sent
// only to the configured peer.
func TestVRRPv2Unicast(t *testing.T) {
	c := newCluster(t, 2, 0)
	h1, h2 := c.host("h1"), c.host("h2")
	c.start(h1, instanceOpts{priority: 100, version: 2, interval: "1s", extra: `unicast_peers = ["192.0.2.12"]` + "\n"})
	c.start(h2, instanceOpts{priority: 200, version: 2, interval: "1s", extra: `unicast_peers = ["192.0.2.11"]` + "\n"})
	c.waitSoleHolder(h2, vip4, 6*time.Second)
	time.Sleep(1500 * time.Millisecond)
	ads := c.waitAdverts(h2.IPv4.Addr(), 0, 1, time.Second)
	for _, a := range ads {
		if a.a.Version != 2 || a.ip.Dst != h1.IPv4.Addr() {
			t.Fatalf("advert v%d to %v, want v2 to h1", a.a.Version, a.ip.Dst)
		}
	}
	c.stop(h2, syscall.SIGTERM)
	c.waitSoleHolder(h1, vip4, 2*time.Second)
}
