// Package instance drives one virtual router: it feeds a vrrp.Router with
// adverts, timer expiries and link changes, and carries out the actions the
// router returns (send adverts, add and announce or remove the virtual
// addresses, report transitions). All I/O goes through small interfaces so
// the driver is tested with fakes and explicit times; the daemon's port loop
// drives it in real time (see SetDriver).
package instance

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/failover-ha/failover/pkg/config"
	"github.com/failover-ha/failover/pkg/netif"
	"github.com/failover-ha/failover/vrrp"
)

// Sender transmits an encoded advert (netif.Socket).
type Sender interface {
	Send(payload []byte, src, dst netip.Addr) error
}

// Addresses adds and removes virtual addresses (netif.Addresses).
type Addresses interface {
	Add(ifname string, vips []netip.Prefix) error
	Remove(ifname string, vips []netip.Prefix) error
}

// Announcer announces addresses on the link (netif.Announcer).
type Announcer interface {
	Announce(vips []netip.Prefix) error
}

// LinkProbe reads the state of the instance's interface.
type LinkProbe interface {
	Link(ifname string) netif.LinkState
	// PrimaryAddress is the address adverts go out from, never one of the
	// virtual addresses.
	PrimaryAddress(ifname string, v6 bool) (netip.Addr, error)
}

// Notifier hears of every transition after its actions were carried out (for
// a new master: after the addresses were added and first announced). It must
// not block: the protocol does not wait for it.
type Notifier interface {
	Notify(t Transition)
}

// Transition is one state change as logged, reported and passed to hooks.
type Transition struct {
	Time     time.Time
	Instance string
	From, To vrrp.State
	Reason   string
	Priority uint8
	VIPs     []netip.Prefix
}

// IO bundles the driver's outside world.
type IO struct {
	Sender    Sender
	Addresses Addresses
	Announcer Announcer
	Link      LinkProbe
	Notifier  Notifier        // optional
	Tracks    []TrackedScript // optional: the instance's track_scripts
	Group     GroupMember     // optional: the instance's sync group
}

// deadline slots of the single loop timer.
const (
	slotAdver = iota
	slotDown
	slotAnnounce
	numSlots
)

const maxHistory = 20

// inboxSize bounds requests from other goroutines (operator commands,
// link and check changes) waiting for the loop; they are rare, and a full
// inbox drops level-triggered hints only.
const inboxSize = 16

type inputKind uint8

const (
	inLinkChanged inputKind = iota + 1
	inDrain
	inResume
	inTrackChanged
	inGroupFault
	inGroupHold
	inUpdate
	inPing
)

type input struct {
	kind   inputKind
	reason string // inGroupFault: "" clears
	on     bool   // inGroupHold
	update *update
	pong   chan struct{}
}

// Instance is one virtual router and its driver.
type Instance struct {
	cfg config.Instance
	log hclog.Logger
	io  IO

	// Owned by the loop (or by the caller of the step methods in tests).
	router        *vrrp.Router
	started       bool
	deadlines     [numSlots]time.Time
	annLeft       int
	src           netip.Addr
	dsts          []netip.Addr
	faults        map[string]string
	template      vrrp.Advert
	buf           []byte
	holdsVIPs     bool
	drained       bool   // drained by the operator; survives a restart of the machine
	groupHeld     bool   // held back by the sync group (drained while it is)
	groupFault    string // the sync group's fault; "" when none
	ownFaulty     bool   // faults of our own (not the group's), as last reported
	discardLogged map[vrrp.Discard]time.Time

	clock func() time.Time // the driving loop's clock; nil when tests drive the steps
	wake  func()           // tells the driving loop a request is queued
	inbox chan input
	stats *Stats
	rx    rxSettings

	mu      sync.Mutex // guards the fields below, read by status readers
	status  Status
	history []Transition
	peers   map[netip.Addr]*Peer
}

// New builds an instance; it does nothing until Start.
func New(cfg config.Instance, io IO, log hclog.Logger) (*Instance, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	interval, err := vrrp.IntervalField(cfg.Version, cfg.AdvertInterval)
	if err != nil {
		return nil, fmt.Errorf("instance %q: %w", cfg.Name, err)
	}
	in := &Instance{
		cfg:    cfg,
		log:    log.With("instance", cfg.Name),
		io:     io,
		faults: map[string]string{},
		inbox:  make(chan input, inboxSize),
		stats:  newStats(),
		buf:    make([]byte, 0, 64),
	}
	in.template = vrrp.Advert{Version: cfg.Version, VRID: cfg.VRID, MaxAdvertInt: interval}
	for _, p := range cfg.VirtualIPs {
		in.template.Addrs = append(in.template.Addrs, p.Addr())
	}
	if cfg.AuthPass != "" {
		in.template.AuthType = vrrp.AuthSimple
		copy(in.template.AuthData[:], cfg.AuthPass)
	}
	in.rx = rxSettings{version: cfg.Version, authType: in.template.AuthType, authData: in.template.AuthData, peers: cfg.UnicastPeers}
	in.dsts = cfg.UnicastPeers
	if len(in.dsts) == 0 {
		in.dsts = []netip.Addr{vrrp.MulticastIPv4}
		if cfg.IPv6() {
			in.dsts = []netip.Addr{vrrp.MulticastIPv6}
		}
	}
	in.status = Status{Name: cfg.Name, Interface: cfg.Interface, VRID: cfg.VRID, Version: cfg.Version,
		ConfiguredPriority: cfg.Priority, Priority: cfg.Priority, VIPs: cfg.VirtualIPs, State: vrrp.Initialize}
	return in, nil
}

// Name returns the instance name.
func (in *Instance) Name() string { return in.cfg.Name }

// Config returns the instance's configuration; safe from any goroutine.
func (in *Instance) Config() config.Instance {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cfg
}

// Stats returns the instance's counters.
func (in *Instance) Stats() *Stats { return in.stats }

// SetDriver connects the instance to the event loop that drives it: wake is
// called after every request queued from another goroutine (the loop then
// calls ProcessInbox), clock gives the loop's notion of now. Without a
// driver (tests) requests wait until ProcessInbox is called.
func (in *Instance) SetDriver(wake func(), clock func() time.Time) {
	in.wake, in.clock = wake, clock
}

// ProcessInbox handles every request queued so far and reports whether
// there was any. Only the driving loop may call it.
func (in *Instance) ProcessInbox(now time.Time) bool {
	handled := false
	for {
		select {
		case msg := <-in.inbox:
			in.handleInput(now, msg)
			handled = true
		default:
			return handled
		}
	}
}

// VRID is the instance's virtual router ID, which never changes.
func (in *Instance) VRID() uint8 { return in.template.VRID }

func (in *Instance) handleInput(now time.Time, msg input) {
	switch msg.kind {
	case inLinkChanged:
		in.LinkChanged(now)
	case inDrain:
		in.SetDrained(now, true)
	case inResume:
		in.SetDrained(now, false)
	case inTrackChanged:
		in.evaluate(now, "tracking changed")
	case inGroupFault:
		in.setGroupFault(now, msg.reason)
	case inGroupHold:
		in.setGroupHold(now, msg.on)
	case inUpdate:
		in.applyUpdate(now, msg.update)
	case inPing:
		close(msg.pong)
	}
}

// freshen returns the current time under a driving loop, or now when a test drives
// the instance with explicit times.
func (in *Instance) freshen(now time.Time) time.Time {
	if in.clock != nil {
		return in.clock()
	}
	return now
}

// post queues msg for the loop without ever blocking the caller.
func (in *Instance) post(msg input) bool {
	select {
	case in.inbox <- msg:
	default:
		return false
	}
	if in.wake != nil {
		in.wake()
	}
	return true
}

// NotifyLinkChanged tells the loop to re-read its interface state.
func (in *Instance) NotifyLinkChanged() { in.post(input{kind: inLinkChanged}) }

// Alive reports whether the loop answers within timeout: the watchdog's
// evidence that the instance is not stuck.
func (in *Instance) Alive(timeout time.Duration) bool {
	pong := make(chan struct{})
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case in.inbox <- input{kind: inPing, pong: pong}:
		if in.wake != nil {
			in.wake()
		}
	case <-t.C:
		return false
	}
	select {
	case <-pong:
		return true
	case <-t.C:
		return false
	}
}

// Drain asks the loop to hand mastership over (see vrrp.Drain). It returns
// false if the loop's queue is full.
func (in *Instance) Drain() bool { return in.post(input{kind: inDrain}) }

// Resume asks the loop to end a drain.
func (in *Instance) Resume() bool { return in.post(input{kind: inResume}) }

// SetDrained drains or resumes the instance now. A drain given before Start
// applies from the start.
func (in *Instance) SetDrained(now time.Time, drained bool) {
	in.drained = drained
	in.applyDrain(now, "operator")
}

// applyDrain drains the machine while the operator or the sync group wants it.
func (in *Instance) applyDrain(now time.Time, by string) {
	want := in.drained || in.groupHeld
	if in.router == nil {
		in.mu.Lock()
		in.status.Drained = want
		in.mu.Unlock()
		return
	}
	if want && !in.router.Drained() {
		in.log.Info("draining: advertising priority 0 until another router takes over", "by", by, "state", in.router.State())
		in.apply(now, in.router.Handle(now, vrrp.Drain()))
	} else if !want && in.router.Drained() {
		in.log.Info("resuming: competing with priority again", "by", by, "priority", in.router.Priority())
		in.apply(now, in.router.Handle(now, vrrp.Resume()))
	}
}

// Start evaluates the interface and starts the protocol (or enters Fault).
func (in *Instance) Start(now time.Time) {
	r, err := vrrp.New(vrrp.Config{
		VRID: in.cfg.VRID, Version: in.cfg.Version, Priority: in.cfg.Priority,
		AdvertInterval: in.cfg.AdvertInterval, Preempt: in.cfg.Preempt, PreemptDelay: in.cfg.PreemptDelay,
		// A placeholder until the interface's address is known; the
		// machine needs one to validate, and it is replaced before use.
		PrimaryAddr: in.placeholderAddr(),
	})
	if err != nil {
		in.log.Error("cannot start", "error", err)
		return
	}
	in.router = r
	in.started = true
	if in.drained || in.groupHeld {
		r.Handle(now, vrrp.Drain())
	}
	in.LinkChanged(now)
}

func (in *Instance) placeholderAddr() netip.Addr {
	if in.cfg.IPv6() {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// HandleAdvert feeds a validated advert to the machine.
func (in *Instance) HandleAdvert(now time.Time, ev vrrp.Event) {
	if in.router == nil {
		return
	}
	in.apply(now, in.router.Handle(now, ev))
}

// Tick fires every deadline that is due at now.
func (in *Instance) Tick(now time.Time) {
	for slot := range in.deadlines {
		at := in.deadlines[slot]
		if at.IsZero() || now.Before(at) {
			continue
		}
		in.deadlines[slot] = time.Time{}
		switch slot {
		case slotAdver:
			in.apply(now, in.router.Handle(now, vrrp.TimerFired(vrrp.AdverTimer)))
		case slotDown:
			in.apply(now, in.router.Handle(now, vrrp.TimerFired(vrrp.MasterDownTimer)))
		case slotAnnounce:
			in.announceDue(now)
		}
	}
}

// NextDeadline is when Tick must next be called.
func (in *Instance) NextDeadline() (time.Time, bool) {
	var best time.Time
	for _, at := range in.deadlines {
		if !at.IsZero() && (best.IsZero() || at.Before(best)) {
			best = at
		}
	}
	return best, !best.IsZero()
}

// Stop shuts the instance down: a master resigns and releases its addresses.
func (in *Instance) Stop(now time.Time) {
	if in.router == nil {
		return
	}
	in.started = false
	in.apply(now, in.router.Handle(now, vrrp.Shutdown()))
	in.deadlines = [numSlots]time.Time{}
}

// apply carries out the machine's actions in order.
func (in *Instance) apply(now time.Time, actions []vrrp.Action) {
	for _, a := range actions {
		switch a.Kind {
		case vrrp.ActSendAdvert:
			in.sendAdvert(a.Priority)
		case vrrp.ActStartTimer:
			in.deadlines[timerSlot(a.Timer)] = a.At
		case vrrp.ActStopTimer:
			in.deadlines[timerSlot(a.Timer)] = time.Time{}
		case vrrp.ActTakeVIPs:
			in.takeVIPs(now)
		case vrrp.ActReleaseVIPs:
			in.releaseVIPs()
		case vrrp.ActAnnounce:
			in.log.Info("re-announcing addresses", "reason", a.Reason)
			in.stats.Reannouncements.Add(1)
			in.startAnnouncing(now)
		case vrrp.ActDiscard:
			if a.Discard == vrrp.DiscardOwnAddress {
				in.stats.drop(DropOwnAddress)
			} else {
				in.stats.drop(DropIntervalMismatch)
			}
			in.logDiscard(now, a)
		case vrrp.ActStateChanged:
			in.stateChanged(now, a)
		}
	}
	in.mu.Lock()
	st := in.router.Status()
	in.status.State, in.status.Priority = st.State, st.Priority
	in.status.Master, in.status.MasterPriority = st.Master, st.MasterPriority
	in.status.MasterAdverInterval = st.MasterAdverInterval
	in.status.Drained = st.Drained
	in.mu.Unlock()
}

func timerSlot(t vrrp.Timer) int {
	if t == vrrp.AdverTimer {
		return slotAdver
	}
	return slotDown
}

func (in *Instance) sendAdvert(priority uint8) {
	if !in.src.IsValid() {
		return
	}
	in.template.Priority = priority
	// A VRRPv3 checksum with a pseudo-header covers the destination, so
	// unicast peers each need their own encoding.
	perDst := in.cfg.Version == 3 && (in.cfg.IPv6() || in.cfg.ChecksumMode == vrrp.ChecksumPseudoHeader)
	for i, dst := range in.dsts {
		if i == 0 || perDst {
			var err error
			if in.buf, err = in.template.Append(in.buf[:0], in.src, dst, in.cfg.ChecksumMode); err != nil {
				in.log.Error("cannot encode advert", "error", err)
				return
			}
		}
		if err := in.io.Sender.Send(in.buf, in.src, dst); err != nil {
			in.stats.SendErrors.Add(1)
			in.log.Warn("cannot send advert", "to", dst, "error", err)
			continue
		}
		in.stats.AdvertsSent.Add(1)
		if priority == 0 {
			in.stats.PriorityZeroSent.Add(1)
		}
	}
}

func (in *Instance) takeVIPs(now time.Time) {
	if err := in.io.Addresses.Add(in.cfg.Interface, in.cfg.VirtualIPs); err != nil {
		in.stats.AddressErrors.Add(1)
		in.log.Error("cannot add virtual addresses", "error", err)
	}
	in.holdsVIPs = true
	in.startAnnouncing(now)
}

func (in *Instance) releaseVIPs() {
	in.deadlines[slotAnnounce] = time.Time{}
	in.annLeft = 0
	if err := in.io.Addresses.Remove(in.cfg.Interface, in.cfg.VirtualIPs); err != nil {
		in.stats.AddressErrors.Add(1)
		in.log.Error("cannot remove virtual addresses", "error", err)
	}
	in.holdsVIPs = false
}

// startAnnouncing announces at once, then garp_repeat more times every
// garp_interval, then every garp_refresh if set.
func (in *Instance) startAnnouncing(now time.Time) {
	in.announce()
	in.annLeft = in.cfg.GARPRepeat
	if in.cfg.GARPInterval == 0 {
		for ; in.annLeft > 0; in.annLeft-- {
			in.announce()
		}
	}
	in.scheduleAnnounce(now)
}

func (in *Instance) announceDue(now time.Time) {
	if !in.holdsVIPs {
		return
	}
	in.announce()
	if in.annLeft > 0 {
		in.annLeft--
	}
	in.scheduleAnnounce(now)
}

func (in *Instance) scheduleAnnounce(now time.Time) {
	switch {
	case in.annLeft > 0:
		in.deadlines[slotAnnounce] = now.Add(in.cfg.GARPInterval)
	case in.cfg.GARPRefresh > 0:
		in.deadlines[slotAnnounce] = now.Add(in.cfg.GARPRefresh)
	default:
		in.deadlines[slotAnnounce] = time.Time{}
	}
}

func (in *Instance) announce() {
	if err := in.io.Announcer.Announce(in.cfg.VirtualIPs); err != nil {
		in.stats.AnnounceErrors.Add(1)
		in.log.Warn("cannot announce addresses", "error", err)
		return
	}
	in.stats.Announcements.Add(1)
}

func (in *Instance) stateChanged(now time.Time, a vrrp.Action) {
	t := Transition{Time: now, Instance: in.cfg.Name, From: a.From, To: a.To, Reason: a.Reason,
		Priority: in.router.Priority(), VIPs: in.cfg.VirtualIPs}
	in.stats.Transitions.Add(1)
	in.log.Info(fmt.Sprintf("state %v -> %v", a.From, a.To), "from", a.From, "to", a.To, "reason", a.Reason)
	in.mu.Lock()
	in.status.Since = now
	in.history = append(in.history, t)
	if len(in.history) > maxHistory {
		in.history = in.history[len(in.history)-maxHistory:]
	}
	in.mu.Unlock()
	if in.io.Notifier != nil {
		in.io.Notifier.Notify(t)
	}
}

// logDiscard logs a discarded advert at most once per rule every 10 s: a
// misconfigured peer sends one every interval.
func (in *Instance) logDiscard(now time.Time, a vrrp.Action) {
	if last := in.discardLogged[a.Discard]; !last.IsZero() && now.Sub(last) < 10*time.Second {
		return
	}
	if in.discardLogged == nil {
		in.discardLogged = map[vrrp.Discard]time.Time{}
	}
	in.discardLogged[a.Discard] = now
	in.log.Warn("advert discarded", "reason", a.Reason)
}
