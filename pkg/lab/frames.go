package lab

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/failover-ha/failover/internal/pcapfile"
)

const (
	etherTypeARP  = 0x0806
	protoVRRP     = 112
	protoICMPv6   = 58
	icmpv6NA      = 136
	naFlagSolicit = 0x40
	naFlagOverr   = 0x20
)

// IsVRRP reports whether frame (a whole Ethernet frame, as in
// pcapfile.Frame.Data) carries VRRP: IPv4 protocol 112 or IPv6 next header
// 112. The returned packet's Payload is the VRRP message.
func IsVRRP(frame []byte) (pcapfile.IPPacket, bool) {
	p, ok := pcapfile.ParseEthernetIP(frame)
	if !ok || p.Protocol != protoVRRP {
		return pcapfile.IPPacket{}, false
	}
	return p, true
}

// IsGratuitousARP reports whether frame is an Ethernet/IPv4 ARP request or
// reply whose sender IP equals its target IP, as a new VRRP master sends
// for each IPv4 VIP. It returns that IP and the sender hardware address.
func IsGratuitousARP(frame []byte) (ip netip.Addr, senderMAC net.HardwareAddr, ok bool) {
	const hdr = 14
	if len(frame) < hdr+28 || binary.BigEndian.Uint16(frame[12:14]) != etherTypeARP {
		return netip.Addr{}, nil, false
	}
	a := frame[hdr:]
	htype, ptype := binary.BigEndian.Uint16(a[0:2]), binary.BigEndian.Uint16(a[2:4])
	hlen, plen, op := a[4], a[5], binary.BigEndian.Uint16(a[6:8])
	if htype != 1 || ptype != 0x0800 || hlen != 6 || plen != 4 || (op != 1 && op != 2) {
		return netip.Addr{}, nil, false
	}
	sha := net.HardwareAddr(append([]byte(nil), a[8:14]...))
	spa := netip.AddrFrom4([4]byte(a[14:18]))
	tpa := netip.AddrFrom4([4]byte(a[24:28]))
	if spa != tpa {
		return netip.Addr{}, nil, false
	}
	return spa, sha, true
}

// IsUnsolicitedNA reports whether frame is an ICMPv6 Neighbor
// Advertisement (type 136) with the Override flag set and the Solicited
// flag clear, as a new VRRP master sends for each IPv6 VIP; it returns the
// target address. Solicited NAs (answers to a Neighbor Solicitation) are
// not unsolicited even with Override set, so they do not match.
func IsUnsolicitedNA(frame []byte) (target netip.Addr, ok bool) {
	p, ok := pcapfile.ParseEthernetIP(frame)
	if !ok || !p.Dst.Is6() || p.Protocol != protoICMPv6 || len(p.Payload) < 24 {
		return netip.Addr{}, false
	}
	icmp := p.Payload
	if icmp[0] != icmpv6NA || icmp[1] != 0 || icmp[4]&naFlagOverr == 0 || icmp[4]&naFlagSolicit != 0 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16([16]byte(icmp[8:24])), true
}
