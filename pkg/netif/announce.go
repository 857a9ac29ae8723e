package netif

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
)

const etherTypeARP = 0x0806

// allNodes is where unsolicited neighbour advertisements go (RFC 4861 §7.2.6).
var allNodes = netip.MustParseAddr("ff02::1")

// Announcer tells the link that this host now answers for addresses:
// gratuitous ARP for IPv4, unsolicited neighbour advertisements for IPv6.
// Sockets are opened on first use and reopened after an error, since the
// interface may be recreated under us.
type Announcer struct {
	ifname string

	mu  sync.Mutex
	ifi *net.Interface
	arp *arp.Client
	ndp *ndp.Conn
}

// NewAnnouncer returns an announcer for ifname. It opens nothing yet.
func NewAnnouncer(ifname string) *Announcer { return &Announcer{ifname: ifname} }

// Prepare opens the sockets ahead of the first announcement (for IPv4
// and/or IPv6), so a takeover only has to send: opening them looks up the
// interface and its addresses. A failure is not fatal; Announce tries again.
func (a *Announcer) Prepare(v4, v6 bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	if v4 && a.arp == nil {
		errs = append(errs, a.openARP())
	}
	if v6 && a.ndp == nil {
		errs = append(errs, a.openNDP())
	}
	return errors.Join(errs...)
}

// Announce sends one announcement for each address, IPv4 first.
func (a *Announcer) Announce(vips []netip.Prefix) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for _, p := range vips {
		var err error
		if p.Addr().Is4() {
			err = a.garp(p.Addr())
		} else {
			err = a.unsolicitedNA(p.Addr())
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// openARP opens the send-only socket for gratuitous ARPs.
func (a *Announcer) openARP() error {
	ifi, err := a.iface()
	if err != nil {
		return err
	}
	// A socket only for sending: the filter drops every frame, so ARP
	// traffic on a busy segment never queues up in it.
	drop, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err != nil {
		return err
	}
	pc, err := packet.Listen(ifi, packet.Raw, etherTypeARP, &packet.Config{Filter: drop})
	if err != nil {
		return fmt.Errorf("gratuitous ARP on %s: %w", a.ifname, err)
	}
	c, err := arp.New(ifi, pc)
	if err != nil {
		pc.Close()
		return fmt.Errorf("gratuitous ARP on %s: %w", a.ifname, err)
	}
	a.arp = c
	return nil
}

// garp sends a gratuitous ARP request (sender = target = vip, target MAC
// broadcast), the form keepalived sends and every ARP cache accepts as an
// override, including Linux within its locktime.
func (a *Announcer) garp(vip netip.Addr) error {
	if a.arp == nil {
		if err := a.openARP(); err != nil {
			return err
		}
	}
	p, err := arp.NewPacket(arp.OperationRequest, a.ifi.HardwareAddr, vip, ethernet.Broadcast, vip)
	if err != nil {
		return fmt.Errorf("gratuitous ARP for %v: %w", vip, err)
	}
	if err := a.arp.WriteTo(p, ethernet.Broadcast); err != nil {
		a.closeLocked()
		return fmt.Errorf("gratuitous ARP for %v on %s: %w", vip, a.ifname, err)
	}
	return nil
}

// openNDP opens the send-only ICMPv6 socket for unsolicited NAs.
func (a *Announcer) openNDP() error {
	ifi, err := a.iface()
	if err != nil {
		return err
	}
	c, _, err := ndp.Listen(ifi, ndp.LinkLocal)
	if err != nil {
		return fmt.Errorf("neighbour advertisement on %s: %w", a.ifname, err)
	}
	var f ipv6.ICMPFilter
	f.SetAll(true) // send-only: receive nothing
	if err := c.SetICMPFilter(&f); err != nil {
		c.Close()
		return fmt.Errorf("neighbour advertisement on %s: %w", a.ifname, err)
	}
	a.ndp = c
	return nil
}

// unsolicitedNA sends a neighbour advertisement with the Override flag for
// vip to all nodes (RFC 4861 §7.2.6).
func (a *Announcer) unsolicitedNA(vip netip.Addr) error {
	if a.ndp == nil {
		if err := a.openNDP(); err != nil {
			return err
		}
	}
	na := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: vip,
		Options: []ndp.Option{&ndp.LinkLayerAddress{
			Direction: ndp.Target,
			Addr:      a.ifi.HardwareAddr,
		}},
	}
	if err := a.ndp.WriteTo(na, nil, allNodes); err != nil {
		a.closeLocked()
		return fmt.Errorf("neighbour advertisement for %v on %s: %w", vip, a.ifname, err)
	}
	return nil
}

func (a *Announcer) iface() (*net.Interface, error) {
	ifi, err := net.InterfaceByName(a.ifname)
	if err != nil {
		return nil, fmt.Errorf("announce on %s: %w", a.ifname, err)
	}
	a.ifi = ifi
	return ifi, nil
}

// Close releases the announcer's sockets.
func (a *Announcer) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closeLocked()
	return nil
}

func (a *Announcer) closeLocked() {
	if a.arp != nil {
		a.arp.Close()
		a.arp = nil
	}
	if a.ndp != nil {
		a.ndp.Close()
		a.ndp = nil
	}
}
