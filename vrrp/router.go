package vrrp

import (
	"fmt"
	"net/netip"
	"time"
)

// State is a virtual router's protocol state (RFC 9568 §6.4). Fault is not in
// the RFC: it is the keepalived state for "cannot serve" (link down, failed
// check), in which the router neither advertises nor holds the addresses.
type State uint8

// Router states.
const (
	Initialize State = iota
	Backup
	Master
	Fault
)

func (s State) String() string {
	switch s {
	case Initialize:
		return "INIT"
	case Backup:
		return "BACKUP"
	case Master:
		return "MASTER"
	case Fault:
		return "FAULT"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Timer names one of the two RFC timers.
type Timer uint8

// The RFC timers: a master runs the Adver_Timer, a backup the Master_Down_Timer.
const (
	AdverTimer Timer = iota + 1
	MasterDownTimer
)

func (t Timer) String() string {
	switch t {
	case AdverTimer:
		return "adver"
	case MasterDownTimer:
		return "master-down"
	}
	return fmt.Sprintf("Timer(%d)", uint8(t))
}

// EventKind says what happened to a router.
type EventKind uint8

// Event kinds.
const (
	EventStartup EventKind = iota + 1
	EventAdvert
	EventTimer
	EventPriority
	EventShutdown
	EventFault
	EventFaultCleared
	EventDrain
	EventResume
)

// Event is an input to Router.Handle. Use the constructors (Startup,
// AdvertFrom, TimerFired, ...). It is a plain struct rather than an interface
// so that handling the steady stream of adverts allocates nothing.
type Event struct {
	Kind     EventKind
	From     netip.Addr    // EventAdvert: the sender's primary address (IP source)
	Priority uint8         // EventAdvert: advertised priority; EventPriority: new local priority
	Interval time.Duration // EventAdvert: advertised interval
	Timer    Timer         // EventTimer
	Reason   string        // EventFault, EventFaultCleared: why, for logs
}

// Startup is the RFC Startup event.
func Startup() Event { return Event{Kind: EventStartup} }

// AdvertFrom is a received, decoded advert with the sender's address.
func AdvertFrom(from netip.Addr, priority uint8, interval time.Duration) Event {
	return Event{Kind: EventAdvert, From: from, Priority: priority, Interval: interval}
}

// TimerFired says the driver's timer for t expired.
func TimerFired(t Timer) Event { return Event{Kind: EventTimer, Timer: t} }

// PriorityChanged sets the router's effective priority (1-255).
func PriorityChanged(p uint8) Event { return Event{Kind: EventPriority, Priority: p} }

// Shutdown is the RFC Shutdown event.
func Shutdown() Event { return Event{Kind: EventShutdown} }

// FaultDetected moves the router to Fault: it resigns if master and goes quiet.
func FaultDetected(reason string) Event { return Event{Kind: EventFault, Reason: reason} }

// FaultCleared leaves Fault as if starting up.
func FaultCleared(reason string) Event { return Event{Kind: EventFaultCleared, Reason: reason} }

// Drain hands mastership over for maintenance, make-before-break: a master
// advertises priority 0 (backups then wait only Skew_Time) but keeps the
// addresses until it hears the new master; meanwhile and afterwards the
// router counts as priority 1, so it never preempts and takes over only
// when nobody else can. Not in the RFC; built from its priority-0 rule.
func Drain() Event { return Event{Kind: EventDrain} }

// Resume ends a drain: the router competes with its own priority again.
func Resume() Event { return Event{Kind: EventResume} }

// ActionKind says what the driver must do.
type ActionKind uint8

// Action kinds.
const (
	// ActSendAdvert: send an advert with Priority (0 when resigning).
	ActSendAdvert ActionKind = iota + 1
	// ActStartTimer: (re)arm Timer to fire at At. A router never has both armed.
	ActStartTimer
	// ActStopTimer: disarm Timer.
	ActStopTimer
	// ActTakeVIPs: add the virtual addresses and announce them (GARP / NA).
	ActTakeVIPs
	// ActReleaseVIPs: remove the virtual addresses.
	ActReleaseVIPs
	// ActAnnounce: announce the held addresses again (another master was heard).
	ActAnnounce
	// ActStateChanged: the router moved From -> To for Reason.
	ActStateChanged
	// ActDiscard: an advert was dropped by a protocol rule (Reason says which);
	// count and log it.
	ActDiscard
)

// Action is an output of Router.Handle, executed by the driver in order.
type Action struct {
	Kind     ActionKind
	Priority uint8     // ActSendAdvert
	Timer    Timer     // ActStartTimer, ActStopTimer
	At       time.Time // ActStartTimer
	From, To State     // ActStateChanged
	Reason   string    // ActStateChanged, ActAnnounce, ActDiscard
	Discard  Discard   // ActDiscard: which rule dropped the advert
}

// Discard names the protocol rule that dropped an advert.
type Discard uint8

// Discard rules.
const (
	// DiscardIntervalMismatch: a VRRPv2 advert's interval differs from ours
	// (RFC 3768 §7.1).
	DiscardIntervalMismatch Discard = iota + 1
	// DiscardOwnAddress: an advert claims to come from our own primary address.
	DiscardOwnAddress
)

func (a Action) String() string {
	switch a.Kind {
	case ActSendAdvert:
		return fmt.Sprintf("send-advert(priority=%d)", a.Priority)
	case ActStartTimer:
		return fmt.Sprintf("start-timer(%v, %s)", a.Timer, a.At.Format("15:04:05.000000"))
	case ActStopTimer:
		return fmt.Sprintf("stop-timer(%v)", a.Timer)
	case ActTakeVIPs:
		return "take-vips"
	case ActReleaseVIPs:
		return "release-vips"
	case ActAnnounce:
		return "announce(" + a.Reason + ")"
	case ActStateChanged:
		return fmt.Sprintf("state(%v->%v: %s)", a.From, a.To, a.Reason)
	case ActDiscard:
		return "discard(" + a.Reason + ")"
	}
	return fmt.Sprintf("Action(%d)", a.Kind)
}

// Config is what a router needs of its configuration.
type Config struct {
	VRID           uint8
	Version        uint8         // 2 or 3
	Priority       uint8         // 1-255; 255 means address owner
	AdvertInterval time.Duration // Advertisement_Interval
	Preempt        bool          // Preempt_Mode
	// PreemptDelay holds off preempting a lower-priority master for this long
	// after first hearing it (keepalived's preempt_delay).
	PreemptDelay time.Duration
	// PrimaryAddr is the local primary address: the source of our adverts and
	// the tie-breaker between equal priorities.
	PrimaryAddr netip.Addr
}

// Validate checks c the way the RFC bounds each field.
func (c Config) Validate() error {
	if c.VRID == 0 {
		return fmt.Errorf("vrid 0: must be 1-255")
	}
	if c.Priority == 0 {
		return fmt.Errorf("priority 0: must be 1-255 (0 is reserved for a resigning master)")
	}
	if _, err := IntervalField(c.Version, c.AdvertInterval); err != nil {
		return err
	}
	if c.PreemptDelay < 0 {
		return fmt.Errorf("preempt delay %v: must not be negative", c.PreemptDelay)
	}
	if !c.PrimaryAddr.IsValid() {
		return fmt.Errorf("primary address unset")
	}
	return nil
}

// Router is one virtual router's RFC state machine. It does no I/O and reads
// no clock: Handle is given the time and returns what to do. The zero value
// is not usable; call New.
type Router struct {
	cfg      Config
	state    State
	priority uint8 // effective priority: configured, changed by PriorityChanged
	drained  bool  // see Drain

	masterAdverInterval time.Duration
	adverAt, downAt     time.Time // armed deadlines; zero when stopped

	// What a backup knows of the master, for status and for transition reasons.
	master         netip.Addr
	masterPriority uint8
	lastHeard      time.Time // when the last advert was accepted (or seen)
	resigned       bool      // the master's last advert had priority 0
	preempting     bool      // the master's last advert was discarded as lower priority
	preemptAt      time.Time // preempt_delay: when preempting becomes allowed
	answeredAt     time.Time // when we last answered another master's advert
	answers        int       // answers to other masters without a quiet spell

	since time.Time // time of the last state change
	out   []Action
}

// New returns a router in Initialize.
func New(cfg Config) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("vrrp: VRID %d: %w", cfg.VRID, err)
	}
	return &Router{
		cfg:                 cfg,
		priority:            cfg.Priority,
		masterAdverInterval: cfg.AdvertInterval,
		out:                 make([]Action, 0, 8),
	}, nil
}

// Status is a snapshot of a router for operators.
type Status struct {
	State               State
	Since               time.Time
	Priority            uint8 // effective
	Master              netip.Addr
	MasterPriority      uint8
	MasterAdverInterval time.Duration
	LastHeard           time.Time
	Drained             bool
}

// Status returns the router's current state and what it knows of the master.
func (r *Router) Status() Status {
	return Status{
		State:               r.state,
		Since:               r.since,
		Priority:            r.priority,
		Master:              r.master,
		MasterPriority:      r.masterPriority,
		MasterAdverInterval: r.masterAdverInterval,
		LastHeard:           r.lastHeard,
		Drained:             r.drained,
	}
}

// SetPrimaryAddr replaces the local primary address, used as the advert
// source and to break priority ties: the interface was (re)numbered.
func (r *Router) SetPrimaryAddr(a netip.Addr) {
	r.cfg.PrimaryAddr = a
	if r.state == Master {
		r.master = a
	}
}

// Reconfigure changes the settings that can change without restarting the
// protocol (a config reload): preemption and its delay. Priority changes go
// through PriorityChanged.
func (r *Router) Reconfigure(preempt bool, preemptDelay time.Duration) {
	r.cfg.Preempt, r.cfg.PreemptDelay = preempt, preemptDelay
	if preemptDelay <= 0 {
		r.preemptAt = time.Time{}
	}
}

// State returns the current state.
func (r *Router) State() State { return r.state }

// Priority returns the effective priority.
func (r *Router) Priority() uint8 { return r.priority }

// Drained reports whether the router is drained.
func (r *Router) Drained() bool { return r.drained }

// electionPriority is the priority the router competes with: its own, or
// 1 while drained.
func (r *Router) electionPriority() uint8 {
	if r.drained {
		return 1
	}
	return r.priority
}

// advertPriority is the priority the router advertises: 0 while drained.
func (r *Router) advertPriority() uint8 {
	if r.drained {
		return 0
	}
	return r.priority
}

// SkewTime is the router's current Skew_Time.
func (r *Router) SkewTime() time.Duration {
	return SkewTime(r.cfg.Version, r.electionPriority(), r.masterAdverInterval)
}

// MasterDownInterval is the router's current Master_Down_Interval.
func (r *Router) MasterDownInterval() time.Duration {
	return MasterDownInterval(r.cfg.Version, r.electionPriority(), r.masterAdverInterval)
}

// Handle applies ev at time now and returns the actions to execute, in order.
// The returned slice is reused by the next call.
func (r *Router) Handle(now time.Time, ev Event) []Action {
	r.out = r.out[:0]
	switch ev.Kind {
	case EventStartup:
		if r.state == Initialize {
			r.start(now, "startup")
		}
	case EventAdvert:
		r.advert(now, ev)
	case EventTimer:
		r.timer(now, ev.Timer)
	case EventPriority:
		if ev.Priority != 0 {
			r.priority = ev.Priority
		}
	case EventShutdown:
		r.leave(now, Initialize, "shutdown")
	case EventFault:
		if r.state != Fault {
			r.leave(now, Fault, ev.Reason)
		}
	case EventFaultCleared:
		if r.state == Fault {
			r.start(now, "fault cleared: "+ev.Reason)
		}
	case EventDrain:
		if !r.drained {
			r.drained = true
			if r.state == Master {
				// Tell the backups now rather than at the next advert.
				r.sendAdvert(now, 0)
			}
		}
	case EventResume:
		if r.drained {
			r.drained = false
			if r.state == Master {
				r.sendAdvert(now, r.priority)
			}
		}
	}
	return r.out
}

// start is the RFC Startup event (§6.4.1), also used to leave Fault.
func (r *Router) start(now time.Time, why string) {
	if r.electionPriority() == 255 {
		r.becomeMaster(now, why+": priority 255 (address owner)")
		return
	}
	r.masterAdverInterval = r.cfg.AdvertInterval
	r.master, r.masterPriority, r.lastHeard = netip.Addr{}, 0, now
	r.resigned, r.preempting = false, false
	wait := r.MasterDownInterval()
	r.armDown(now, wait)
	r.transition(now, Backup, fmt.Sprintf("%s: waiting %s for a master", why, fmtDur(wait)))
}

// leave handles Shutdown (§6.4.2, §6.4.3) and fault: a master resigns with
// a priority-0 advert and releases its addresses; timers stop.
func (r *Router) leave(now time.Time, to State, why string) {
	switch r.state {
	case Master:
		r.stopTimer(AdverTimer)
		r.emit(Action{Kind: ActSendAdvert, Priority: 0})
		r.emit(Action{Kind: ActReleaseVIPs})
	case Backup:
		r.stopTimer(MasterDownTimer)
	}
	if r.state != to {
		r.transition(now, to, why)
	}
}

func (r *Router) timer(now time.Time, t Timer) {
	switch {
	case t == AdverTimer && r.state == Master && !r.adverAt.IsZero() && !now.Before(r.adverAt):
		// §6.4.3: send an advert, reset the Adver_Timer. The next deadline
		// counts from the previous one, not from now, so a late wake-up does
		// not make the advert stream drift. After a stall longer than an
		// interval the missed slots are skipped, not sent in a burst, and
		// the stream keeps its phase.
		r.emit(Action{Kind: ActSendAdvert, Priority: r.advertPriority()})
		next := r.adverAt.Add(r.cfg.AdvertInterval)
		if !next.After(now) {
			missed := now.Sub(r.adverAt) / r.cfg.AdvertInterval
			next = r.adverAt.Add((missed + 1) * r.cfg.AdvertInterval)
		}
		r.armAdver(next)
	case t == MasterDownTimer && r.state == Backup && !r.downAt.IsZero() && !now.Before(r.downAt):
		r.downAt = time.Time{}
		r.becomeMaster(now, r.downReason(now))
	}
	// Anything else is a stale expiry of a timer since re-armed or stopped.
}

func (r *Router) downReason(now time.Time) string {
	switch {
	case r.resigned:
		return fmt.Sprintf("master %v resigned (priority 0 advert); skew time %s elapsed", r.master, fmtDur(now.Sub(r.lastHeard)))
	case r.preempting:
		return fmt.Sprintf("preempting lower-priority master %v (priority %d < our %d)", r.master, r.masterPriority, r.electionPriority())
	case r.master.IsValid():
		return fmt.Sprintf("master down timer expired: no advert from %v for %s", r.master, fmtDur(now.Sub(r.lastHeard)))
	}
	return fmt.Sprintf("master down timer expired: no advert heard for %s", fmtDur(now.Sub(r.lastHeard)))
}

func (r *Router) advert(now time.Time, ev Event) {
	if r.state != Backup && r.state != Master {
		return
	}
	if ev.From == r.cfg.PrimaryAddr {
		r.emit(Action{Kind: ActDiscard, Discard: DiscardOwnAddress, Reason: fmt.Sprintf("advert from our own address %v", ev.From)})
		return
	}
	if r.cfg.Version == 2 && ev.Interval != r.cfg.AdvertInterval {
		// RFC 3768 §7.1: the interval must match the local one; MUST discard, SHOULD log.
		r.emit(Action{Kind: ActDiscard, Discard: DiscardIntervalMismatch, Reason: fmt.Sprintf("advert interval mismatch: %v advertises %s, ours is %s",
			ev.From, fmtDur(ev.Interval), fmtDur(r.cfg.AdvertInterval))})
		return
	}
	if r.state == Backup {
		r.backupAdvert(now, ev)
	} else {
		r.masterAdvert(now, ev)
	}
}

// backupAdvert is RFC 9568 §6.4.2 "If an ADVERTISEMENT is received".
func (r *Router) backupAdvert(now time.Time, ev Event) {
	r.master, r.masterPriority, r.lastHeard = ev.From, ev.Priority, now
	r.resigned, r.preempting = false, false
	if ev.Priority == 0 {
		// The master resigned: take over after Skew_Time only.
		r.resigned = true
		r.armDown(now, r.SkewTime())
		return
	}
	prio := r.electionPriority()
	if !r.cfg.Preempt || ev.Priority >= prio || r.preemptHeldOff(now) {
		if ev.Priority >= prio {
			r.preemptAt = time.Time{}
		}
		r.followMaster(now, ev)
		return
	}
	// Preempt: discard the lower-priority advert and let the Master_Down_Timer run out.
	r.preempting = true
}

// followMaster accepts ev's sender as the master (§6.4.2, and §6.4.3 when
// a master yields): a VRRPv3 backup adopts its advert interval, then waits
// a Master_Down_Interval for its next advert.
func (r *Router) followMaster(now time.Time, ev Event) {
	if r.cfg.Version == 3 {
		r.masterAdverInterval = ev.Interval
	}
	r.armDown(now, r.MasterDownInterval())
}

// sendAdvert sends an advert at prio now and restarts the Adver_Timer.
func (r *Router) sendAdvert(now time.Time, prio uint8) {
	r.emit(Action{Kind: ActSendAdvert, Priority: prio})
	r.armAdver(now.Add(r.cfg.AdvertInterval))
}

// preemptHeldOff applies preempt_delay: the first lower-priority advert
// starts the delay; until it passes such adverts are accepted.
func (r *Router) preemptHeldOff(now time.Time) bool {
	if r.cfg.PreemptDelay <= 0 {
		return false
	}
	if r.preemptAt.IsZero() {
		r.preemptAt = now.Add(r.cfg.PreemptDelay)
	}
	return now.Before(r.preemptAt)
}

// masterAdvert is RFC 9568 §6.4.3 "If an ADVERTISEMENT is received".
func (r *Router) masterAdvert(now time.Time, ev Event) {
	if ev.Priority == 0 {
		// Another router resigned: make sure backups hear a master at once.
		// A drained master stays quiet: it wants a backup to take over, and
		// two drained masters must not answer each other's priority 0.
		if !r.drained {
			r.sendAdvert(now, r.priority)
		}
		return
	}
	if r.drained {
		// A new master took over: the make-before-break handover is done.
		r.yield(now, ev, fmt.Sprintf("drained: %v took over (priority %d)", ev.From, ev.Priority))
		return
	}
	higher := ev.Priority > r.priority
	if higher || (ev.Priority == r.priority && addrGreater(ev.From, r.cfg.PrimaryAddr)) {
		// Beyond the RFC: one last advert before yielding. When a partition
		// heals, the winner's advert may reach us before ours reaches it; then
		// it would never learn that a second master existed, and clients
		// whose caches we claimed would keep pointing here. Hearing this
		// advert, the winner re-announces (see below).
		r.emit(Action{Kind: ActSendAdvert, Priority: r.priority})
		if higher {
			r.yield(now, ev, fmt.Sprintf("higher priority advert from %v (priority %d > our %d)", ev.From, ev.Priority, r.priority))
		} else {
			r.yield(now, ev, fmt.Sprintf("advert from %v with equal priority %d and higher address", ev.From, ev.Priority))
		}
		return
	}
	// The RFC discards this advert. But its sender believes it is master too
	// (a healed partition): answer at once so it yields now rather than at its
	// next advert, and re-announce so clients whose ARP/ND caches it poisoned
	// point back at us within one advert interval. At most once an interval,
	// so a peer that never yields cannot turn this into an advert storm.
	if !r.answeredAt.IsZero() && now.Sub(r.answeredAt) < r.cfg.AdvertInterval {
		return
	}
	// A master that never yields (a misconfigured or foreign peer, say one
	// that drops our adverts) would otherwise be answered by a fresh
	// announcement burst every interval: back off to the 1st, 2nd, 4th,
	// 8th... answer, at most every 64th. A quiet spell of one
	// Master_Down_Interval starts the count again.
	if r.answeredAt.IsZero() || now.Sub(r.answeredAt) > r.MasterDownInterval() {
		r.answers = 0
	}
	r.answeredAt = now
	r.answers++
	r.sendAdvert(now, r.priority)
	if n := r.answers; n&(n-1) == 0 || n%64 == 0 {
		why := fmt.Sprintf("another master %v (priority %d) heard; we keep mastership", ev.From, ev.Priority)
		if n > 1 {
			why += fmt.Sprintf(" (it has not yielded after %d answers)", n-1)
		}
		r.emit(Action{Kind: ActAnnounce, Reason: why})
	}
}

// yield is the Master's transition to Backup on a winning advert (§6.4.3):
// cancel the Adver_Timer, adopt the interval, arm the Master_Down_Timer.
func (r *Router) yield(now time.Time, ev Event, why string) {
	r.stopTimer(AdverTimer)
	r.master, r.masterPriority, r.lastHeard = ev.From, ev.Priority, now
	r.resigned, r.preempting = false, false
	r.followMaster(now, ev)
	r.emit(Action{Kind: ActReleaseVIPs})
	r.transition(now, Backup, why)
}

// becomeMaster takes the addresses and announces them before sending the
// first advert (the RFC lists the advert first; the two leave within
// microseconds). This way whoever hears the advert, such as a drained
// master about to release the addresses, acts only after clients were told.
func (r *Router) becomeMaster(now time.Time, why string) {
	r.stopTimer(MasterDownTimer)
	r.emit(Action{Kind: ActTakeVIPs})
	r.sendAdvert(now, r.advertPriority())
	r.master, r.masterPriority = r.cfg.PrimaryAddr, r.advertPriority()
	r.masterAdverInterval = r.cfg.AdvertInterval
	r.resigned, r.preempting, r.preemptAt = false, false, time.Time{}
	r.transition(now, Master, why)
}

func (r *Router) transition(now time.Time, to State, why string) {
	r.emit(Action{Kind: ActStateChanged, From: r.state, To: to, Reason: why})
	r.state, r.since = to, now
}

func (r *Router) armAdver(at time.Time) {
	r.adverAt = at
	r.emit(Action{Kind: ActStartTimer, Timer: AdverTimer, At: at})
}

func (r *Router) armDown(now time.Time, d time.Duration) {
	r.downAt = now.Add(d)
	r.emit(Action{Kind: ActStartTimer, Timer: MasterDownTimer, At: r.downAt})
}

func (r *Router) stopTimer(t Timer) {
	at := &r.adverAt
	if t == MasterDownTimer {
		at = &r.downAt
	}
	if !at.IsZero() {
		*at = time.Time{}
		r.emit(Action{Kind: ActStopTimer, Timer: t})
	}
}

func (r *Router) emit(a Action) { r.out = append(r.out, a) }

// addrGreater compares addresses as unsigned numbers in network byte order
// (RFC 9568 §6.4.3), which netip.Addr.Compare does within one family.
func addrGreater(a, b netip.Addr) bool { return a.Compare(b) > 0 }

// fmtDur prints durations the way operators read them: 3.61s, 609ms.
func fmtDur(d time.Duration) string {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}
