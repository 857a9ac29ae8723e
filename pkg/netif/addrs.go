package netif

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// labelSuffix marks IPv4 virtual addresses as failoverd's: `ip addr` shows
// them as eth0:fo. Linux wants an IPv4 label to start with the interface
// name and fit in 15 bytes, so interfaces with names over 12 bytes get no
// label. IPv6 has no labels; those VIPs carry IFA_F_NODAD instead (they must
// not wait for duplicate address detection while taking over).
const labelSuffix = ":fo"

// infiniteLifetime is the kernel's "forever" for address lifetimes.
const infiniteLifetime = 0xffffffff

// dumpRetries bounds how often a dump the kernel interrupted (addresses
// changed while it was read: NLM_F_DUMP_INTR) is tried again.
const dumpRetries = 10

// Addresses is failoverd's netlink connection for addresses and links: one
// socket kept open (a fresh socket and link lookup per call cost hundreds of
// microseconds on the takeover path), calls serialised because a
// netlink.Handle is not safe for concurrent use, and dumps retried when the
// kernel interrupts them, which it does whenever addresses change during
// the dump (every VIP a neighbouring instance adds). All address changes
// are idempotent: adding a present address or removing an absent one
// succeeds.
type Addresses struct {
	mu    sync.Mutex
	h     *netlink.Handle
	links map[string]netlink.Link // by name; refreshed on error and by Interface
}

// NewAddresses opens the netlink connection in the current network namespace.
func NewAddresses() (*Addresses, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	return &Addresses{h: h, links: map[string]netlink.Link{}}, nil
}

// Close closes the connection.
func (a *Addresses) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.h.Close()
}

// VIPState is what the kernel has of one virtual address.
type VIPState struct {
	Prefix  netip.Prefix
	Present bool
	Ours    bool // carries failoverd's mark (IPv4 label or IPv6 NODAD)
}

// link returns the cached link, looking it up when missing or fresh.
func (a *Addresses) link(ifname string, fresh bool) (netlink.Link, error) {
	if l, ok := a.links[ifname]; ok && !fresh {
		return l, nil
	}
	l, err := a.h.LinkByName(ifname)
	if err != nil {
		delete(a.links, ifname)
		return nil, err
	}
	a.links[ifname] = l
	return l, nil
}

// withLink runs fn on ifname's link, looking the link up again once if fn
// fails because the cached one is gone (the interface was recreated).
func (a *Addresses) withLink(ifname string, fn func(netlink.Link) error) error {
	l, err := a.link(ifname, false)
	if err != nil {
		return err
	}
	if err := fn(l); !errors.Is(err, unix.ENODEV) {
		return err
	}
	if l, err = a.link(ifname, true); err != nil {
		return err
	}
	return fn(l)
}

// Add adds vips to ifname.
func (a *Addresses) Add(ifname string, vips []netip.Prefix) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for _, p := range vips {
		err := a.withLink(ifname, func(l netlink.Link) error { return a.h.AddrReplace(l, vipAddr(ifname, p)) })
		if err != nil {
			errs = append(errs, fmt.Errorf("add %v on %s: %w", p, ifname, err))
		}
	}
	return errors.Join(errs...)
}

// Remove removes vips from ifname; absent ones, or a vanished interface,
// are not an error.
func (a *Addresses) Remove(ifname string, vips []netip.Prefix) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for _, p := range vips {
		err := a.withLink(ifname, func(l netlink.Link) error { return a.h.AddrDel(l, vipAddr(ifname, p)) })
		var nf netlink.LinkNotFoundError
		switch {
		case err == nil, errors.As(err, &nf), errors.Is(err, unix.EADDRNOTAVAIL), errors.Is(err, unix.ENOENT),
			errors.Is(err, unix.ESRCH), errors.Is(err, unix.ENODEV):
		default:
			errs = append(errs, fmt.Errorf("remove %v from %s: %w", p, ifname, err))
		}
	}
	return errors.Join(errs...)
}

// addrList dumps ifname's addresses of family, retrying interrupted dumps.
func (a *Addresses) addrList(l netlink.Link, family int) ([]netlink.Addr, error) {
	for i := 0; ; i++ {
		addrs, err := a.h.AddrList(l, family)
		if !errors.Is(err, netlink.ErrDumpInterrupted) || i == dumpRetries {
			return addrs, err
		}
	}
}

// State reports, for each of vips, whether ifname has it and whether it is
// marked as failoverd's.
func (a *Addresses) State(ifname string, vips []netip.Prefix) ([]VIPState, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var have []netlink.Addr
	err := a.withLink(ifname, func(l netlink.Link) (err error) {
		have, err = a.addrList(l, netlink.FAMILY_ALL)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", ifname, err)
	}
	out := make([]VIPState, len(vips))
	for i, p := range vips {
		out[i].Prefix = p
		for _, ad := range have {
			if addr, ok := netip.AddrFromSlice(ad.IP); ok && addr.Unmap() == p.Addr() {
				out[i].Present = true
				out[i].Ours = ad.Label == label(ifname) && label(ifname) != "" ||
					p.Addr().Is6() && ad.Flags&unix.IFA_F_NODAD != 0
			}
		}
	}
	return out, nil
}

// Interface is an interface's state as virtual routers need it: the link
// and, per family, the address adverts are sent from.
type Interface struct {
	Link     LinkState
	Primary4 netip.Addr
	Err4     error // why there is no Primary4
	Primary6 netip.Addr
	Err6     error
}

// Primary returns the source address of the family, or why there is none.
func (s Interface) Primary(v6 bool) (netip.Addr, error) {
	if v6 {
		return s.Primary6, s.Err6
	}
	return s.Primary4, s.Err4
}

// Same reports whether nothing a virtual router cares about differs.
func (s Interface) Same(o Interface) bool {
	return s.Link.Exists == o.Link.Exists && s.Link.Up == o.Link.Up && s.Link.Index == o.Link.Index &&
		s.Primary4 == o.Primary4 && s.Primary6 == o.Primary6 && errString(s.Err4) == errString(o.Err4) &&
		errString(s.Err6) == errString(o.Err6)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Interface reads ifname with one link lookup and one address dump. vips
// (every virtual address configured on it) are never taken as the primary.
func (a *Addresses) Interface(ifname string, vips []netip.Prefix) Interface {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := Interface{Link: LinkState{Name: ifname}}
	l, err := a.link(ifname, true)
	if err != nil {
		st.Err4 = fmt.Errorf("%s: %w", ifname, err)
		st.Err6 = st.Err4
		return st
	}
	st.Link = linkState(l)
	addrs, err := a.addrList(l, netlink.FAMILY_ALL)
	if err != nil {
		st.Err4 = fmt.Errorf("list addresses of %s: %w", ifname, err)
		st.Err6 = st.Err4
		return st
	}
	st.Primary4, st.Err4 = primary(ifname, false, addrs, vips)
	st.Primary6, st.Err6 = primary(ifname, true, addrs, vips)
	return st
}

func label(ifname string) string {
	if len(ifname)+len(labelSuffix) > unix.IFNAMSIZ-1 {
		return ""
	}
	return ifname + labelSuffix
}

func vipAddr(ifname string, p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is4() {
		a.Label = label(ifname)
	} else {
		// Deprecated (preferred lifetime 0) so the host never picks a
		// floating address as the source of its own connections.
		a.Flags = unix.IFA_F_NODAD
		a.ValidLft, a.PreferedLft = infiniteLifetime, 0
	}
	return a
}

// PrimaryAddress returns the address failoverd sends adverts from on ifname
// (see primary). It opens its own netlink socket: for tests and tools; the
// daemon uses Addresses.Interface.
func PrimaryAddress(ifname string, v6 bool, vips []netip.Prefix) (netip.Addr, error) {
	a, err := NewAddresses()
	if err != nil {
		return netip.Addr{}, err
	}
	defer a.Close()
	return a.Interface(ifname, vips).Primary(v6)
}

// primary picks the source address: for IPv4 the first primary
// (non-secondary) address that is not one of vips; for IPv6 the link-local
// address, as RFC 9568 §5.1.2.1 requires.
func primary(ifname string, v6 bool, addrs []netlink.Addr, vips []netip.Prefix) (netip.Addr, error) {
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.Is4() == v6 || isVIP(ip, vips) {
			continue
		}
		if v6 {
			if ip.IsLinkLocalUnicast() && a.Flags&unix.IFA_F_TENTATIVE == 0 {
				return ip, nil
			}
			continue
		}
		if a.Flags&unix.IFA_F_SECONDARY == 0 {
			return ip, nil
		}
	}
	if v6 {
		return netip.Addr{}, fmt.Errorf("%s has no usable IPv6 link-local address", ifname)
	}
	return netip.Addr{}, fmt.Errorf("%s has no IPv4 address", ifname)
}

func isVIP(ip netip.Addr, vips []netip.Prefix) bool {
	for _, v := range vips {
		if v.Addr() == ip {
			return true
		}
	}
	return false
}
