package netif

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

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

// Addresses adds and removes virtual addresses with netlink. All methods are
// idempotent: adding a present address or removing an absent one succeeds.
type Addresses struct{}

// VIPState is what the kernel has of one virtual address.
type VIPState struct {
	Prefix  netip.Prefix
	Present bool
	Ours    bool // carries failoverd's mark (IPv4 label or IPv6 NODAD)
}

// Add adds vips to ifname.
func (Addresses) Add(ifname string, vips []netip.Prefix) error {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("add VIPs on %s: %w", ifname, err)
	}
	var errs []error
	for _, p := range vips {
		if err := netlink.AddrReplace(link, vipAddr(ifname, p)); err != nil {
			errs = append(errs, fmt.Errorf("add %v on %s: %w", p, ifname, err))
		}
	}
	return errors.Join(errs...)
}

// Remove removes vips from ifname; absent ones are not an error.
func (Addresses) Remove(ifname string, vips []netip.Prefix) error {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil // the interface is gone, and its addresses with it
		}
		return fmt.Errorf("remove VIPs on %s: %w", ifname, err)
	}
	var errs []error
	for _, p := range vips {
		err := netlink.AddrDel(link, vipAddr(ifname, p))
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("remove %v from %s: %w", p, ifname, err))
		}
	}
	return errors.Join(errs...)
}

// State reports, for each of vips, whether ifname has it and whether it is
// marked as failoverd's.
func (Addresses) State(ifname string, vips []netip.Prefix) ([]VIPState, error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", ifname, err)
	}
	have, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", ifname, err)
	}
	out := make([]VIPState, len(vips))
	for i, p := range vips {
		out[i].Prefix = p
		for _, a := range have {
			if addr, ok := netip.AddrFromSlice(a.IP); ok && addr.Unmap() == p.Addr() {
				out[i].Present = true
				out[i].Ours = a.Label == label(ifname) && label(ifname) != "" ||
					p.Addr().Is6() && a.Flags&unix.IFA_F_NODAD != 0
			}
		}
	}
	return out, nil
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

// PrimaryAddress returns the address failoverd sends adverts from on ifname:
// for IPv4 the first primary (non-secondary) address that is not one of
// vips; for IPv6 the link-local address, as RFC 9568 §5.1.2.1 requires.
func PrimaryAddress(ifname string, v6 bool, vips []netip.Prefix) (netip.Addr, error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return netip.Addr{}, err
	}
	family := netlink.FAMILY_V4
	if v6 {
		family = netlink.FAMILY_V6
	}
	addrs, err := netlink.AddrList(link, family)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list addresses of %s: %w", ifname, err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if isVIP(ip, vips) {
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
