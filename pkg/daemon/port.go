package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

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

// port owns the VRRP socket of one interface and family, shared by every
// instance there: it reads packets, drops what fails the generic checks and
// hands each advert to the instance with its VRID. The socket is (re)opened
// when the interface appears or is recreated.
type port struct {
	key portKey
	log hclog.Logger

	// byVRID is replaced wholesale (copy on write) so the reader needs no lock.
	byVRID atomic.Pointer[[256]*instance.Instance]

	mu    sync.Mutex
	sock  *netif.Socket
	index int
	done  chan struct{} // closed when the current reader exits

	// Drops not attributable to an instance.
	unknownVRID atomic.Uint64
	wrongIface  atomic.Uint64
	malformed   atomic.Uint64
}

func newPort(key portKey, log hclog.Logger) *port {
	p := &port{key: key, log: log.With("port", key.String())}
	p.byVRID.Store(new([256]*instance.Instance))
	return p
}

func (p *port) attach(in *instance.Instance) {
	t := *p.byVRID.Load()
	t[in.Config().VRID] = in
	p.byVRID.Store(&t)
}

func (p *port) detach(in *instance.Instance) {
	t := *p.byVRID.Load()
	if t[in.Config().VRID] == in {
		t[in.Config().VRID] = nil
	}
	p.byVRID.Store(&t)
}

// refresh opens the socket if the interface exists and the socket is missing
// or bound to a previous incarnation of the interface.
func (p *port) refresh() {
	st := netif.Link(p.key.ifname)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sock != nil && (!st.Exists || st.Index != p.index) {
		p.closeLocked()
	}
	if p.sock != nil || !st.Exists {
		return
	}
	s, err := netif.Listen(p.key.ifname, p.key.v6)
	if err != nil {
		p.log.Warn("cannot open VRRP socket; will retry when the interface changes", "error", err)
		return
	}
	p.sock, p.index, p.done = s, st.Index, make(chan struct{})
	go p.read(s, st.Index, p.done)
}

func (p *port) closeLocked() {
	if p.sock == nil {
		return
	}
	p.sock.Close()
	<-p.done
	p.sock = nil
}

func (p *port) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeLocked()
}

var errNoSocket = errors.New("no VRRP socket: interface missing")

// Send implements instance.Sender.
func (p *port) Send(payload []byte, src, dst netip.Addr) error {
	p.mu.Lock()
	s := p.sock
	p.mu.Unlock()
	if s == nil {
		return fmt.Errorf("%s: %w", p.key, errNoSocket)
	}
	return s.Send(payload, src, dst)
}

// read is the receive loop: RFC 9568 §7.1's generic checks, then dispatch.
func (p *port) read(s *netif.Socket, ifindex int, done chan struct{}) {
	defer close(done)
	var adv vrrp.Advert
	adv.Addrs = make([]netip.Addr, 0, 255)
	for {
		pkt, err := s.Read()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Error("VRRP socket failed", "error", err)
			}
			return
		}
		now := time.Now()
		if pkt.IfIndex != 0 && pkt.IfIndex != ifindex {
			p.wrongIface.Add(1)
			continue
		}
		var in *instance.Instance
		if len(pkt.Payload) >= 2 {
			in = p.byVRID.Load()[pkt.Payload[1]]
		}
		if err := adv.Decode(pkt.Payload, pkt.Src, pkt.Dst); err != nil {
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
		in.Receive(now, &pkt, &adv)
	}
}
