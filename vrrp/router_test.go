package vrrp

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	self  = netip.MustParseAddr("192.0.2.10")
	lower = netip.MustParseAddr("192.0.2.9")
	upper = netip.MustParseAddr("192.0.2.11")
)

func v3cfg(prio uint8) Config {
	return Config{VRID: 51, Version: 3, Priority: prio, AdvertInterval: time.Second, Preempt: true, PrimaryAddr: self}
}

func v2cfg(prio uint8) Config {
	c := v3cfg(prio)
	c.Version = 2
	return c
}

// harness drives one Router with a fake clock: time only moves when a test
// says so, and every action is rendered relative to t0 so expectations read
// like the RFC text.
type harness struct {
	t   *testing.T
	r   *Router
	now time.Time
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, r: r, now: t0}
}

// at moves the clock to t0+d and handles ev there.
func (h *harness) at(d time.Duration, ev Event) []string {
	h.t.Helper()
	if t := t0.Add(d); t.Before(h.now) {
		h.t.Fatalf("clock cannot go back from %v to %v", h.now.Sub(t0), d)
	} else {
		h.now = t
	}
	return render(h.r.Handle(h.now, ev))
}

func render(actions []Action) []string {
	var out []string
	for _, a := range actions {
		switch a.Kind {
		case ActSendAdvert:
			out = append(out, fmt.Sprintf("send(%d)", a.Priority))
		case ActStartTimer:
			out = append(out, fmt.Sprintf("start(%v,%v)", a.Timer, a.At.Sub(t0)))
		case ActStopTimer:
			out = append(out, fmt.Sprintf("stop(%v)", a.Timer))
		case ActTakeVIPs:
			out = append(out, "take")
		case ActReleaseVIPs:
			out = append(out, "release")
		case ActAnnounce:
			out = append(out, "announce")
		case ActStateChanged:
			out = append(out, fmt.Sprintf("%v->%v", a.From, a.To))
		case ActDiscard:
			out = append(out, "discard")
		}
	}
	return out
}

// reasons returns the reasons of the state changes among actions.
func reasons(actions []Action) []string {
	var out []string
	for _, a := range actions {
		if a.Kind == ActStateChanged || a.Kind == ActDiscard || a.Kind == ActAnnounce {
			out = append(out, a.Reason)
		}
	}
	return out
}

func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("actions\n got: %s\nwant: %s", strings.Join(got, " "), strings.Join(want, " "))
	}
}

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

// §6.1: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256.
func TestRFC9568_6_1_SkewTimeMultipliesBeforeDividing(t *testing.T) {
	cases := []struct {
		version  uint8
		priority uint8
		interval time.Duration
		want     time.Duration
	}{
		{3, 100, time.Second, ms(609.375)},
		{3, 100, 100 * time.Millisecond, ms(60.9375)},
		{3, 254, 10 * time.Millisecond, ms(0.078125)},
		{3, 1, time.Second, ms(996.09375)},
		{2, 100, 5 * time.Second, ms(609.375)}, // v2: seconds, independent of the interval
		{2, 150, time.Second, ms(414.0625)},
	}
	for _, c := range cases {
		if got := SkewTime(c.version, c.priority, c.interval); got != c.want {
			t.Errorf("v%d priority %d interval %v: Skew_Time %v, want %v", c.version, c.priority, c.interval, got, c.want)
		}
	}
}

// §6.1: Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time (v3);
// RFC 3768 §6.1: 3 * Advertisement_Interval + Skew_Time (v2).
func TestRFC9568_6_1_MasterDownInterval(t *testing.T) {
	if got, want := MasterDownInterval(3, 100, time.Second), ms(3609.375); got != want {
		t.Errorf("v3: %v, want %v", got, want)
	}
	if got, want := MasterDownInterval(3, 100, 100*time.Millisecond), ms(360.9375); got != want {
		t.Errorf("v3 100ms: %v, want %v", got, want)
	}
	if got, want := MasterDownInterval(2, 100, 3*time.Second), ms(9609.375); got != want {
		t.Errorf("v2 3s: %v, want %v", got, want)
	}
}

// §6.4.1: an address owner (priority 255) goes straight to Master, sending an
// advert, announcing, and arming the Adver_Timer. (The addresses are taken
// and announced just before the advert leaves; see becomeMaster.)
func TestRFC9568_6_4_1_OwnerGoesStraightToMaster(t *testing.T) {
	h := newHarness(t, v3cfg(255))
	expect(t, h.at(0, Startup()), "take", "send(255)", "start(adver,1s)", "INIT->MASTER")
}

// §6.4.1: anyone else goes to Backup with the Master_Down_Timer armed.
func TestRFC9568_6_4_1_StartupEntersBackup(t *testing.T) {
	h := newHarness(t, v3cfg(100))
	expect(t, h.at(0, Startup()), "start(master-down,3.609375s)", "INIT->BACKUP")
	if s := h.r.State(); s != Backup {
		t.Fatalf("state %v", s)
	}
}

// §6.4.2: Master_Down_Timer fires -> send advert, announce, arm Adver_Timer, Master.
func TestRFC9568_6_4_2_MasterDownTimerExpiryTakesOver(t *testing.T) {
	h := newHarness(t, v3cfg(100))
	h.at(0, Startup())
	h.at(ms(500), AdvertFrom(upper, 200, time.Second))
	got := h.r.Handle(t0.Add(ms(4109.375)), TimerFired(MasterDownTimer))
	expect(t, render(got), "take", "send(100)", "start(adver,5.109375s)", "BACKUP->MASTER")
	if r := reasons(got); len(r) != 1 || r[0] != "master down timer expired: no advert from 192.0.2.11 for 3.61s" {
		t.Errorf("reason %q", r)
	}
}

// A timer event that arrives after the timer was re-armed (the driver's old
// expiry raced with an advert) must not act.
func TestStaleTimerExpiryIsIgnored(t *testing.T) {
	h := newHarness(t, v3cfg(100))
	h.at(0, Startup())
	h.at(ms(3000), AdvertFrom(upper, 200, time.Second)) // re-arms to 6.609375s
	expect(t, h.at(ms(3609.375), TimerFired(MasterDownTimer)))
	expect(t, h.at(ms(3700), TimerFired(AdverTimer)))
	if h.r.State() != Backup {
		t.Fatalf("state %v", h.r.State())
	}
}

// §6.4.2: "If the Priority in the ADVERTISEMENT is zero, then: Set the
// Master_Down_Timer to Skew_Time".
func TestRFC9568_6_4_2_PriorityZeroWaitsOnlySkewTime(t *testing.T) {
	h := newHarness(t, v3cfg(100))
	h.at(0, Startup())
	h.at(ms(100), AdvertFrom(upper, 200, time.Second))
	expect(t, h.at(ms(200), AdvertFrom(upper, 0, time.Second)), "start(master-down,809.375ms)")
	got := h.r.Handle(t0.Add(ms(809.375)), TimerFired(MasterDownTimer))
	expect(t, render(got), "take", "send(100)", "start(adver,1.809375s)", "BACKUP->MASTER")
	if r := reasons(got); !strings.Contains(r[0], "resigned (priority 0 advert)") {
		t.Errorf("reason %q", r)
	}
}

// §6.4.2: an advert of higher or equal priority resets the Master_Down_Timer,
// whatever the sender's address.
func TestRFC9568_6_4_2_AcceptedAdvertResetsMasterDownTimer(t *testing.T) {
	for _, from := range []netip.Addr{lower, upper} {
		for _, prio := range []uint8{100, 200} {
			h := newHarness(t, v3cfg(100))
			h.at(0, Startup())
			expect(t, h.at(ms(2000), AdvertFrom(from, prio, time.Second)), "start(master-down,5.609375s)")
		}
	}
}

// §6.4.2: v3 Backup sets Master_Adver_Interval to the advert's interval and
// recomputes Master_Down_Interval from it.
func TestRFC9568_6_4_2_BackupAdoptsMasterAdverInterval(t *testing.T) {
	h := newHarness(t, v3cfg(100))
	h.at(0, Startup())
	expect(t, h.at(ms(1000), AdvertFrom(upper, 200, 100*time.Millisecond)), "start(master-down,1.3609375s)")
	if got := h.r.MasterDownInterval(); got != ms(360.9375) {
		t.Errorf("Master_Down_Interval %v", got)
	}
	if got := h.r.Status().MasterAdverInterval; got != 100*time.Millisecond {
		t.Errorf("Master_Adver_Interval %v", got)
	}
}

// §6.4.2: with Preempt_Mode, a lower-priority advert is discarded, so the
// Master_Down_Timer runs out and this router takes over.
func TestRFC9568_6_4_2_PreemptDiscardsLowerPriority(t *testing.T) {
	h := newHarness(t, v3cfg(100))
	h.at(0, Startup())
	expect(t, h.at(ms(1000), AdvertFrom(upper, 50, time.Second)))
	expect(t, h.at(ms(2000), AdvertFrom(upper, 50, time.Second)))
	got := h.r.Handle(t0.Add(ms(3609.375)), TimerFired(MasterDownTimer))
	expect(t, render(got), "take", "send(100)", "start(adver,4.609375s)", "BACKUP->MASTER")
	if r := reasons(got); !strings.Contains(r[0], "preempting lower-priority master 192.0.2.11 (priority 50 < our 100)") {
		t.Errorf("reason %q", r)
	}
}

// §6.4.2: without Preempt_Mode, any advert resets the Master_Down_Timer.
func TestRFC9568_6_4_2_NoPreemptAcceptsLowerPriority(t *testing.T) {
	cfg := v3cfg(100)
	cfg.Preempt = false
	h := newHarness(t, cfg)
	h.at(0, Startup())
	expect(t, h.at(ms(1000), AdvertFrom(upper, 50, time.Second)), "start(master-down,4.609375s)")
}

// keepalived's preempt_delay: a lower-priority master is accepted for the
// delay after it was first heard, then preempted as usual.
func TestPreemptDelay(t *testing.T) {
	cfg := v3cfg(100)
	cfg.PreemptDelay = 5 * time.Second
	h := newHarness(t, cfg)
	h.at(0, Startup())
	expect(t, h.at(ms(1000), AdvertFrom(upper, 50, time.Second)), "start(master-down,4.609375s)")
	expect(t, h.at(ms(5000), AdvertFrom(upper, 50, time.Second)), "start(master-down,8.609375s)")
	expect(t, h.at(ms(6000), AdvertFrom(upper, 50, time.Second))) // delay over: discarded
	expect(t, h.at(ms(8609.375), TimerFired(MasterDownTimer)), "take", "send(100)", "start(adver,9.609375s)", "BACKUP->MASTER")
}

// §6.4.3: Adver_Timer fires -> send advert, reset the timer. The next
// deadline counts from the previous one so a late wake-up does not drift.
func TestRFC9568_6_4_3_AdverTimerSendsAndRearmsWithoutDrift(t *testing.T) {
	h := newHarness(t, v3cfg(255))
	h.at(0, Startup())
	expect(t, h.at(ms(1000), TimerFired(AdverTimer)), "send(255)", "start(adver,2s)")
	expect(t, h.at(ms(2003), TimerFired(AdverTimer)), "send(255)", "start(adver,3s)")
	// A stall longer than an interval skips the missed slots instead of
	// bursting, and keeps the phase (6s, not 6.5s).
	expect(t, h.at(ms(5500), TimerFired(AdverTimer)), "send(255)", "start(adver,6s)")
	expect(t, h.at(ms(6000), TimerFired(AdverTimer)), "send(255)", "start(adver,7s)")
}

// §6.4.3: "If the Priority in the ADVERTISEMENT is zero, then: Send an
// ADVERTISEMENT; Reset the Adver_Timer".
func TestRFC9568_6_4_3_MasterAnswersPriorityZeroAtOnce(t *testing.T) {
	h := newHarness(t, v3cfg(255))
	h.at(0, Startup())
	expect(t, h.at(ms(300), AdvertFrom(upper, 0, time.Second)), "send(255)", "start(adver,1.3s)")
	if h.r.State() != Master {
		t.Fatal("master left on a priority-0 advert")
	}
}

// §6.4.3: a higher-priority advert makes the Master yield: cancel the
// Adver_Timer, adopt the interval, arm the Master_Down_Timer, Backup. Beyond
// the RFC it first sends one last advert so the winner learns that two
// masters met and re-announces (see the split-brain tests).
func TestRFC9568_6_4_3_MasterYieldsToHigherPriority(t *testing.T) {
	h := newHarness(t, v3cfg(100))
	h.at(0, Startup())
	h.at(ms(3609.375), TimerFired(MasterDownTimer))
	got := h.r.Handle(t0.Add(ms(4000)), AdvertFrom(lower, 101, 200*time.Millisecond))
	// Master_Down_Interval with the advertised 200 ms: 600 + 121.875 ms.
	expect(t, render(got), "send(100)", "stop(adver)", "start(master-down,4.721875s)", "release", "MASTER->BACKUP")
	if r := reasons(got); r[0] != "higher priority advert from 192.0.2.9 (priority 101 > our 100)" {
		t.Errorf("reason %q", r)
	}
}

// §6.4.3: equal priority is broken by the primary address, compared as an
// unsigned number: the higher address wins.
func TestRFC9568_6_4_3_EqualPriorityHigherAddressWins(t *testing.T) {
	cases := []struct {
		name       string
		self, from string
		yield      bool
	}{
		{"higher sender", "192.0.2.10", "192.0.2.11", true},
		{"lower sender", "192.0.2.10", "192.0.2.9", false},
		{"unsigned compare, not signed", "192.0.2.10", "198.51.100.200", true},
		{"last octet 200 > 20", "192.0.2.20", "192.0.2.200", true},
		{"ipv6 high bit", "fe80::7fff", "fe80::8000", true},
		{"ipv6 lower", "fe80::8000", "fe80::7fff", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := v3cfg(100)
			cfg.PrimaryAddr = netip.MustParseAddr(c.self)
			h := newHarness(t, cfg)
			h.at(0, Startup())
			h.at(ms(3609.375), TimerFired(MasterDownTimer))
			got := render(h.r.Handle(t0.Add(ms(4000)), AdvertFrom(netip.MustParseAddr(c.from), 100, time.Second)))
			if yielded := h.r.State() == Backup; yielded != c.yield {
				t.Errorf("yielded=%v, want %v (actions %v)", yielded, c.yield, got)
			}
		})
	}
}

// §6.4.3 discards a lower advert; as the sender is a master too (a healed
// partition), we answer at once and re-announce our addresses.
func TestRFC9568_6_4_3_MasterKeepsMastershipAndReannounces(t *testing.T) {
	h := newHarness(t, v3cfg(100))
	h.at(0, Startup())
	h.at(ms(3609.375), TimerFired(MasterDownTimer))
	got := h.r.Handle(t0.Add(ms(4000)), AdvertFrom(lower, 100, time.Second))
	expect(t, render(got), "send(100)", "start(adver,5s)", "announce")
	if r := reasons(got); !strings.Contains(r[0], "another master 192.0.2.9 (priority 100) heard") {
		t.Errorf("reason %q", r)
	}
}

// §6.4.3 Shutdown: cancel Adver_Timer, send an advert with priority 0,
// transition to Initialize (and release the addresses).
func TestRFC9568_6_4_3_ShutdownSendsPriorityZeroAndReleases(t *testing.T) {
	h := newHarness(t, v3cfg(255))
	h.at(0, Startup())
	expect(t, h.at(ms(500), Shutdown()), "stop(adver)", "send(0)", "release", "MASTER->INIT")
	expect(t, h.at(ms(600), AdvertFrom(upper, 100, time.Second)))
}

// §6.4.2 Shutdown: cancel the Master_Down_Timer, transition to Initialize.
func TestRFC9568_6_4_2_ShutdownInBackupStopsTimer(t *testing.T) {
	h := newHarness(t, v3cfg(100))
	h.at(0, Startup())
	expect(t, h.at(ms(500), Shutdown()), "stop(master-down)", "BACKUP->INIT")
}

// RFC 3768 §7.1: a VRRPv2 advert whose interval differs from ours MUST be
// discarded (and SHOULD be logged): it neither resets the timer nor preempts.
func TestRFC3768_7_1_IntervalMismatchDiscarded(t *testing.T) {
	h := newHarness(t, v2cfg(100))
	h.at(0, Startup())
	got := h.r.Handle(t0.Add(ms(1000)), AdvertFrom(upper, 200, 2*time.Second))
	expect(t, render(got), "discard")
	if r := reasons(got); !strings.Contains(r[0], "interval mismatch: 192.0.2.11 advertises 2s, ours is 1s") {
		t.Errorf("reason %q", r)
	}
	h.at(ms(3609.375), TimerFired(MasterDownTimer))
	expect(t, h.at(ms(4000), AdvertFrom(upper, 200, 2*time.Second)), "discard")
	if h.r.State() != Master {
		t.Fatal("a mismatched v2 advert made the master yield")
	}
}

// RFC 3768 §6.1: v2 never learns the master's interval; Skew_Time is in seconds.
func TestRFC3768_6_1_V2UsesLocalIntervalInSeconds(t *testing.T) {
	cfg := v2cfg(100)
	cfg.AdvertInterval = 2 * time.Second
	h := newHarness(t, cfg)
	expect(t, h.at(0, Startup()), "start(master-down,6.609375s)", "INIT->BACKUP")
	expect(t, h.at(ms(1000), AdvertFrom(upper, 200, 2*time.Second)), "start(master-down,7.609375s)")
}

func TestAdvertFromOwnAddressIgnored(t *testing.T) {
	h := newHarness(t, v3cfg(100))
	h.at(0, Startup())
	expect(t, h.at(ms(1000), AdvertFrom(self, 200, time.Second)), "discard")
}

// A priority change alters what the next advert carries and the Skew_Time.
func TestPriorityChange(t *testing.T) {
	h := newHarness(t, v3cfg(255))
	h.at(0, Startup())
	expect(t, h.at(ms(100), PriorityChanged(90)))
	expect(t, h.at(ms(1000), TimerFired(AdverTimer)), "send(90)", "start(adver,2s)")
	if got := h.r.SkewTime(); got != ms(648.4375) {
		t.Errorf("skew %v", got)
	}
	expect(t, h.at(ms(1100), PriorityChanged(0))) // ignored: 0 is not a priority
	if h.r.Priority() != 90 {
		t.Errorf("priority %d", h.r.Priority())
	}
}

// Fault: a master resigns (priority 0 advert) and releases; nothing is sent
// or accepted until the fault clears, which restarts like Startup.
func TestFaultAndRecovery(t *testing.T) {
	h := newHarness(t, v3cfg(255))
	h.at(0, Startup())
	expect(t, h.at(ms(100), FaultDetected("link eth0 down")), "stop(adver)", "send(0)", "release", "MASTER->FAULT")
	expect(t, h.at(ms(200), AdvertFrom(upper, 100, time.Second)))
	expect(t, h.at(ms(1000), TimerFired(AdverTimer)))
	expect(t, h.at(ms(1100), FaultDetected("again")))
	got := h.r.Handle(t0.Add(ms(2000)), FaultCleared("link eth0 up"))
	expect(t, render(got), "take", "send(255)", "start(adver,3s)", "FAULT->MASTER")
	if r := reasons(got); !strings.HasPrefix(r[0], "fault cleared: link eth0 up") {
		t.Errorf("reason %q", r)
	}

	h2 := newHarness(t, v3cfg(100))
	expect(t, h2.at(0, FaultDetected("link down at start")), "INIT->FAULT")
	expect(t, h2.at(ms(10), Startup()))
	expect(t, h2.at(ms(20), FaultCleared("link up")), "start(master-down,3.629375s)", "FAULT->BACKUP")
}

func TestConfigValidate(t *testing.T) {
	bad := []func(c *Config){
		func(c *Config) { c.VRID = 0 },
		func(c *Config) { c.Priority = 0 },
		func(c *Config) { c.Version = 4 },
		func(c *Config) { c.AdvertInterval = 15 * time.Millisecond },
		func(c *Config) { c.Version = 2; c.AdvertInterval = 100 * time.Millisecond },
		func(c *Config) { c.PreemptDelay = -time.Second },
		func(c *Config) { c.PrimaryAddr = netip.Addr{} },
	}
	for i, edit := range bad {
		c := v3cfg(100)
		edit(&c)
		if _, err := New(c); err == nil {
			t.Errorf("case %d: %+v accepted", i, c)
		}
	}
}

// Handling the steady stream of adverts in Backup must not allocate.
func TestBackupAdvertAllocatesNothing(t *testing.T) {
	r, _ := New(v3cfg(100))
	now := t0
	r.Handle(now, Startup())
	ev := AdvertFrom(upper, 200, time.Second)
	if n := testing.AllocsPerRun(100, func() {
		now = now.Add(time.Second)
		r.Handle(now, ev)
	}); n != 0 {
		t.Errorf("%v allocations per advert", n)
	}
}

// The immediate answer to another master is rate-limited to one an interval,
// so two routers that both believe they win cannot start an advert storm.
func TestAnswerToAnotherMasterIsRateLimited(t *testing.T) {
	h := newHarness(t, v3cfg(255))
	h.at(0, Startup())
	expect(t, h.at(ms(100), AdvertFrom(lower, 100, time.Second)), "send(255)", "start(adver,1.1s)", "announce")
	expect(t, h.at(ms(150), AdvertFrom(lower, 100, time.Second)))
	expect(t, h.at(ms(1100), TimerFired(AdverTimer)), "send(255)", "start(adver,2.1s)")
	expect(t, h.at(ms(1101), AdvertFrom(lower, 100, time.Second)), "send(255)", "start(adver,2.101s)", "announce")
	// A master that never yields: answered every interval, re-announced
	// only at the 4th, 8th, 16th... answer.
	var announced []int
	for n := 3; n <= 40; n++ {
		at := ms(float64(1101 + (n-2)*1000))
		got := h.at(at, AdvertFrom(lower, 100, time.Second))
		if got[0] != "send(255)" {
			t.Fatalf("answer %d: %v", n, got)
		}
		if got[len(got)-1] == "announce" {
			announced = append(announced, n)
		}
	}
	if fmt.Sprint(announced) != "[4 8 16 32]" {
		t.Errorf("re-announced at answers %v, want [4 8 16 32]", announced)
	}
	// After a quiet Master_Down_Interval, a new split brain announces at once.
	expect(t, h.at(ms(50000), AdvertFrom(lower, 100, time.Second)), "send(255)", "start(adver,51s)", "announce")
}

// Drain (beyond the RFC, built on its priority-0 rule): a master advertises
// priority 0 at once and at every interval, keeps its addresses, and yields
// to whichever master answers, however low its priority.
func TestDrainMasterHandsOverMakeBeforeBreak(t *testing.T) {
	h := newHarness(t, v3cfg(200))
	h.at(0, Startup())
	h.at(ms(3300), TimerFired(MasterDownTimer))
	expect(t, h.at(ms(3500), Drain()), "send(0)", "start(adver,4.5s)")
	if h.r.State() != Master || !h.r.Drained() {
		t.Fatalf("state %v drained %v", h.r.State(), h.r.Drained())
	}
	expect(t, h.at(ms(3600), Drain())) // idempotent
	expect(t, h.at(ms(4500), TimerFired(AdverTimer)), "send(0)", "start(adver,5.5s)")
	// Another drained master's priority 0 is not answered (no ping-pong).
	expect(t, h.at(ms(4600), AdvertFrom(upper, 0, time.Second)))
	got := h.r.Handle(t0.Add(ms(4700)), AdvertFrom(lower, 50, time.Second))
	// Master_Down_Interval at election priority 1: 3s + 255/256 s.
	expect(t, render(got), "stop(adver)", "start(master-down,8.69609375s)", "release", "MASTER->BACKUP")
	if r := reasons(got); r[0] != "drained: 192.0.2.9 took over (priority 50)" {
		t.Errorf("reason %q", r)
	}
}

// A drained backup competes at priority 1: it accepts any master and never
// preempts; Resume restores its priority and preemption.
func TestDrainedBackupDoesNotPreemptUntilResumed(t *testing.T) {
	h := newHarness(t, v3cfg(200))
	h.at(0, Startup())
	expect(t, h.at(ms(100), Drain()))
	expect(t, h.at(ms(1000), AdvertFrom(upper, 50, time.Second)), "start(master-down,4.99609375s)")
	expect(t, h.at(ms(1500), Resume()))
	expect(t, h.at(ms(2000), AdvertFrom(upper, 50, time.Second))) // discarded: preempt
	got := h.r.Handle(t0.Add(ms(4996.09375)), TimerFired(MasterDownTimer))
	expect(t, render(got), "take", "send(200)", "start(adver,5.99609375s)", "BACKUP->MASTER")
}

// A drained router that is the only one left still takes over (last
// resort) and keeps advertising priority 0 so anyone returning takes over.
func TestDrainedRouterIsLastResort(t *testing.T) {
	cfg := v3cfg(255)
	h := newHarness(t, cfg)
	h.at(0, Drain())
	// The owner does not go straight to master while drained.
	expect(t, h.at(ms(10), Startup()), "start(master-down,4.00609375s)", "INIT->BACKUP")
	expect(t, h.at(ms(4006.09375), TimerFired(MasterDownTimer)), "take", "send(0)", "start(adver,5.00609375s)", "BACKUP->MASTER")
	expect(t, h.at(ms(5100), Resume()), "send(255)", "start(adver,6.1s)")
}
