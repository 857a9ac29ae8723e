package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/failover-ha/failover/pkg/instance"
	"github.com/failover-ha/failover/pkg/netif"
	"github.com/failover-ha/failover/vrrp"
)

// portKey names one VRRP socket: an interface and an address family.
type portKey struct {
	ifname string
	v6     bool
}

func (k portKey) String() string {
	if k.v6 {
		return k.ifname + "/ipv6"
	}
	return k.ifname + "/ipv4"
}

// port is the event loop of one interface and family: it owns the VRRP
// socket and drives every instance on it from one goroutine, waiting on its
// own epoll set of three things: the socket (adverts are decoded and handed
// to their instance inline), a timerfd armed at the earliest deadline of
// all its instances, and an eventfd that other goroutines ring when they
// queue work. The epoll fd itself is registered with Go's netpoller (an
// epoll set is readable while it has events), so the goroutine parks like
// any network reader instead of blocking a thread in epoll_wait, which
// would hand its P off and back on every advert. keepalived's
// single-threaded shape, for the same reasons:
//
//   - a timerfd wakes within microseconds of the deadline, where Go's
//     runtime timers wait in epoll with millisecond timeouts and fire up to a
//     millisecond late, which would be all of a takeover's overhead;
//   - a received advert costs no goroutine hand-off, and instances whose
//     deadlines coincide (the same interval, started together) share one
//     wake-up.
type port struct {
	key portKey
	log hclog.Logger

	epfd, tfd, efd int
	ep             *os.File // epfd, registered with the netpoller
	cmds           chan func(now time.Time)
	done           chan struct{}

	// Owned by the loop thread.
	sock      *netif.Socket
	index     int
	instances []*instance.Instance
	byVRID    [256]*instance.Instance
	adv       vrrp.Advert
	stopping  bool
	// deadlines orders instances by their next deadline, so a wake-up costs
	// O(log n), not a scan of every instance. Entries go stale when an
	// instance re-arms (every advert a backup hears); a stale entry is
	// dropped when it reaches the top.
	deadlines deadlineHeap
	touched   []*instance.Instance // instances handled since deadlines were last updated
	armed     time.Time            // what the timerfd is set to; zero: disarmed
	fired     bool                 // the timerfd expired and must be set again

	// Drops not attributable to an instance.
	unknownVRID atomic.Uint64
	wrongIface  atomic.Uint64
	malformed   atomic.Uint64
}

func newPort(key portKey, log hclog.Logger) (*port, error) {
	p := &port{key: key, log: log.With("port", key.String()), cmds: make(chan func(time.Time), 64), done: make(chan struct{})}
	p.adv.Addrs = make([]netip.Addr, 0, 255)
	var err error
	if p.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("port %s: epoll: %w", key, err)
	}
	if p.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		unix.Close(p.epfd)
		return nil, fmt.Errorf("port %s: timerfd: %w", key, err)
	}
	if p.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		unix.Close(p.epfd)
		unix.Close(p.tfd)
		return nil, fmt.Errorf("port %s: eventfd: %w", key, err)
	}
	for _, fd := range []int{p.tfd, p.efd} {
		if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			p.closeFDs()
			return nil, fmt.Errorf("port %s: epoll add: %w", key, err)
		}
	}
	if err := unix.SetNonblock(p.epfd, true); err != nil {
		p.closeFDs()
		return nil, fmt.Errorf("port %s: epoll: %w", key, err)
	}
	p.ep = os.NewFile(uintptr(p.epfd), "epoll "+key.String())
	rc, err := p.ep.SyscallConn()
	if err != nil {
		p.closeFDs()
		return nil, fmt.Errorf("port %s: epoll: %w", key, err)
	}
	go p.loop(rc)
	return p, nil
}

func (p *port) closeFDs() {
	unix.Close(p.efd)
	unix.Close(p.tfd)
	if p.ep != nil {
		p.ep.Close()
	} else {
		unix.Close(p.epfd)
	}
}

// wake rings the loop; safe from any goroutine.
func (p *port) wake() {
	one := [8]byte{1}
	unix.Write(p.efd, one[:]) // EAGAIN: the counter is already non-zero, the loop will wake
}

// do runs fn on the loop thread and waits for it.
func (p *port) do(fn func(now time.Time)) {
	ran := make(chan struct{})
	select {
	case p.cmds <- func(now time.Time) { fn(now); close(ran) }:
	case <-p.done:
		return
	}
	p.wake()
	select {
	case <-ran:
	case <-p.done:
	}
}

// attach starts in on this port: from now on the loop drives it.
func (p *port) attach(in *instance.Instance) {
	p.do(func(now time.Time) {
		p.instances = append(p.instances, in)
		p.byVRID[in.VRID()] = in
		in.SetDriver(p.wake, time.Now)
		in.Start(now)
		p.touched = append(p.touched, in)
	})
}

// detach shuts in down (a master resigns and releases its addresses) and
// stops driving it.
func (p *port) detach(in *instance.Instance) {
	p.do(func(now time.Time) {
		in.Stop(now)
		for i, x := range p.instances {
			if x == in {
				p.instances = append(p.instances[:i], p.instances[i+1:]...)
				break
			}
		}
		if p.byVRID[in.VRID()] == in {
			p.byVRID[in.VRID()] = nil
		}
	})
}

// refresh opens the socket if the interface exists and the socket is missing
// or bound to a previous incarnation of the interface.
func (p *port) refresh(st netif.LinkState) {
	p.do(func(time.Time) {
		if p.sock != nil && (!st.Exists || st.Index != p.index) {
			p.closeSocket()
		}
		if p.sock != nil || !st.Exists {
			return
		}
		s, err := netif.Listen(p.key.ifname, p.key.v6)
		if err != nil {
			p.log.Warn("cannot open VRRP socket; will retry when the interface changes", "error", err)
			return
		}
		if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, s.Fd(), &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(s.Fd())}); err != nil {
			p.log.Error("cannot watch VRRP socket", "error", err)
			s.Close()
			return
		}
		p.sock, p.index = s, st.Index
	})
}

func (p *port) closeSocket() {
	if p.sock == nil {
		return
	}
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, p.sock.Fd(), nil)
	p.sock.Close()
	p.sock = nil
}

// close ends the loop; its instances must have been detached.
func (p *port) close() {
	p.do(func(time.Time) { p.stopping = true })
	<-p.done
}

var errNoSocket = errors.New("no VRRP socket: interface missing")

// Send implements instance.Sender. It runs on the loop thread.
func (p *port) Send(payload []byte, src, dst netip.Addr) error {
	if p.sock == nil {
		return fmt.Errorf("%s: %w", p.key, errNoSocket)
	}
	return p.sock.Send(payload, src, dst)
}

// loop is the port's goroutine. It never returns until close.
func (p *port) loop(rc syscall.RawConn) {
	defer close(p.done)
	defer p.closeFDs()
	defer p.closeSocket()
	events := make([]unix.EpollEvent, 8)
	var buf [8]byte
	var n int
	var werr error
	// poll collects ready events without blocking; RawConn.Read parks the
	// goroutine in the netpoller until the epoll set is readable when it
	// returns false. Made once: a closure per wake-up would allocate.
	poll := func(uintptr) bool {
		n, werr = unix.EpollWait(p.epfd, events, 0)
		return n > 0 || (werr != nil && !errors.Is(werr, unix.EINTR))
	}
	for !p.stopping {
		p.armTimer()
		if err := rc.Read(poll); err != nil {
			p.log.Error("event loop failed", "error", err)
			return
		}
		if werr != nil {
			p.log.Error("event loop failed", "error", werr)
			return
		}
		now := time.Now()
		for _, ev := range events[:n] {
			switch fd := int(ev.Fd); {
			case fd == p.efd:
				unix.Read(p.efd, buf[:])
				p.runCommands(now)
				for _, in := range p.instances {
					if in.ProcessInbox(now) {
						p.touched = append(p.touched, in)
					}
				}
			case fd == p.tfd:
				// Setting the timer again clears its expiry count, so
				// armTimer makes the fd quiet without a read.
				p.fired = true
			case p.sock != nil && fd == p.sock.Fd():
				p.readOne(now)
			}
		}
		p.tick(time.Now())
	}
}

func (p *port) runCommands(now time.Time) {
	for {
		select {
		case fn := <-p.cmds:
			fn(now)
		default:
			return
		}
	}
}

// tick fires every instance deadline that is due.
func (p *port) tick(now time.Time) {
	p.updateDeadlines()
	for p.deadlines.Len() > 0 {
		top := p.deadlines[0]
		if now.Before(top.at) {
			break
		}
		p.deadlines.pop()
		if p.current(top) {
			top.in.Tick(now)
			p.touched = append(p.touched, top.in)
		}
	}
	// The loop's armTimer queues the deadlines of what just ticked.
}

// updateDeadlines queues the current deadline of every touched instance.
func (p *port) updateDeadlines() {
	for _, in := range p.touched {
		if at, ok := in.NextDeadline(); ok {
			p.deadlines.push(deadline{at, in})
		}
	}
	p.touched = p.touched[:0]
}

// current reports whether d is still its instance's deadline and the
// instance still runs on this port; otherwise the entry is stale.
func (p *port) current(d deadline) bool {
	at, ok := d.in.NextDeadline()
	return ok && at.Equal(d.at) && p.byVRID[d.in.VRID()] == d.in
}

// armTimer sets the timerfd to the earliest current deadline. It leaves the
// timer alone when it is already set no later than that: a backup's
// deadline moves later with every advert it hears, and waking early once
// (to find nothing due and set the timer again) is cheaper than a system
// call per advert.
func (p *port) armTimer() {
	p.updateDeadlines()
	var next time.Time
	for p.deadlines.Len() > 0 {
		if top := p.deadlines[0]; p.current(top) {
			next = top.at
			break
		}
		p.deadlines.pop() // stale
	}
	if !p.fired && !p.armed.IsZero() && !next.IsZero() && !next.Before(p.armed) {
		return
	}
	if !p.fired && p.armed.IsZero() && next.IsZero() {
		return
	}
	var spec unix.ItimerSpec
	if !next.IsZero() {
		d := time.Until(next)
		if d <= 0 {
			d = 1 // zero would disarm it
		}
		spec.Value = unix.NsecToTimespec(int64(d))
	}
	unix.TimerfdSettime(p.tfd, 0, &spec, nil)
	p.armed, p.fired = next, false
}

// readOne handles one queued packet: RFC 9568 §7.1's generic checks, then
// the instance of its VRID. One per readiness event: when more are queued
// epoll reports the socket again at once, and adverts mostly come one at a
// time, so reading until the queue is empty would cost a fruitless
// recvmsg per advert.
func (p *port) readOne(now time.Time) {
	if p.sock == nil {
		return
	}
	pkt, ok, err := p.sock.TryRead()
	if err != nil {
		p.log.Error("VRRP socket failed", "error", err)
		return
	}
	if !ok {
		return
	}
	if pkt.IfIndex != 0 && pkt.IfIndex != p.index {
		p.wrongIface.Add(1)
		return
	}
	var in *instance.Instance
	if len(pkt.Payload) >= 2 {
		in = p.byVRID[pkt.Payload[1]]
	}
	if err := p.adv.Decode(pkt.Payload, pkt.Src, pkt.Dst); err != nil {
		if in != nil {
			in.Drop(instance.DropReason(vrrp.ReasonOf(err).String()))
		} else {
			p.malformed.Add(1)
		}
		return
	}
	if in == nil {
		p.unknownVRID.Add(1) // another cluster's VRID on the same link
		return
	}
	if pkt.TTL != vrrp.TTL {
		in.Drop(instance.DropTTL)
		return
	}
	in.Receive(arrival(now, pkt.Received), &pkt, &p.adv)
	p.touched = append(p.touched, in)
}

// arrival is when the kernel received a packet, on now's monotonic clock:
// the Master_Down_Timer counts from the advert's arrival, not from when the
// loop got round to it.
func arrival(now time.Time, kernel time.Time) time.Time {
	if kernel.IsZero() {
		return now
	}
	age := time.Since(kernel) // both wall clock readings
	if age < 0 || age > time.Second {
		return now // the wall clock moved; trust the loop's time
	}
	return now.Add(-age)
}

// deadline is one instance's next deadline as the heap knows it.
type deadline struct {
	at time.Time
	in *instance.Instance
}

// deadlineHeap is a binary min-heap of deadlines by time. It is typed
// rather than built on container/heap, whose interface boxes every element:
// two allocations per advert a backup hears or a master sends.
type deadlineHeap []deadline

func (h deadlineHeap) Len() int { return len(h) }

func (h *deadlineHeap) push(d deadline) {
	s := append(*h, d)
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s[i].at.Before(s[parent].at) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
	*h = s
}

// pop removes and returns the earliest deadline; h must not be empty.
func (h *deadlineHeap) pop() deadline {
	s := *h
	top, last := s[0], len(s)-1
	s[0] = s[last]
	s[last] = deadline{} // do not keep a detached instance alive
	s = s[:last]
	for i := 0; ; {
		m, l, r := i, 2*i+1, 2*i+2
		if l < len(s) && s[l].at.Before(s[m].at) {
			m = l
		}
		if r < len(s) && s[r].at.Before(s[m].at) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
