package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync/atomic"
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
// socket and drives every instance on it, on one OS thread waiting in
// epoll for three things: the socket (adverts are decoded and handed to
// their instance inline), a timerfd armed at the earliest deadline of all
// its instances, and an eventfd that other goroutines ring when they queue
// work. keepalived's single-threaded shape, for the same reasons:
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
	cmds           chan func(now time.Time)
	done           chan struct{}

	// Owned by the loop thread.
	sock      *netif.Socket
	index     int
	instances []*instance.Instance
	byVRID    [256]*instance.Instance
	adv       vrrp.Advert
	stopping  bool

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
	go p.loop()
	return p, nil
}

func (p *port) closeFDs() {
	unix.Close(p.efd)
	unix.Close(p.tfd)
	unix.Close(p.epfd)
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
		p.byVRID[in.Config().VRID] = in
		in.SetDriver(p.wake, time.Now)
		in.Start(now)
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
		if p.byVRID[in.Config().VRID] == in {
			p.byVRID[in.Config().VRID] = nil
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

// loop is the port's thread. It never returns until close.
func (p *port) loop() {
	runtime.LockOSThread()
	defer close(p.done)
	defer p.closeFDs()
	defer p.closeSocket()
	events := make([]unix.EpollEvent, 8)
	var buf [8]byte
	for !p.stopping {
		p.armTimer()
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			p.log.Error("event loop failed", "error", err)
			return
		}
		now := time.Now()
		for _, ev := range events[:n] {
			switch fd := int(ev.Fd); {
			case fd == p.efd:
				unix.Read(p.efd, buf[:])
				p.runCommands(now)
				for _, in := range p.instances {
					in.ProcessInbox(now)
				}
			case fd == p.tfd:
				unix.Read(p.tfd, buf[:])
			case p.sock != nil && fd == p.sock.Fd():
				p.readAll(now)
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
	for _, in := range p.instances {
		if at, ok := in.NextDeadline(); ok && !now.Before(at) {
			in.Tick(now)
		}
	}
}

// armTimer sets the timerfd to the earliest deadline of the instances.
func (p *port) armTimer() {
	var next time.Time
	for _, in := range p.instances {
		if at, ok := in.NextDeadline(); ok && (next.IsZero() || at.Before(next)) {
			next = at
		}
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
}

// readAll handles every queued packet: RFC 9568 §7.1's generic checks, then
// the instance of its VRID.
func (p *port) readAll(now time.Time) {
	for p.sock != nil {
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
			continue
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
			continue
		}
		if in == nil {
			p.unknownVRID.Add(1) // another cluster's VRID on the same link
			continue
		}
		if pkt.TTL != vrrp.TTL {
			in.Drop(instance.DropTTL)
			continue
		}
		in.Receive(now, &pkt, &p.adv)
	}
}
