package lab

import (
	"context"
	"fmt"
	"net/netip"
)

// SecondLink is a second, separate link: its own bridge in the switch
// namespace and an interface in every host and client, for tests of
// instances on two interfaces (sync groups, tracked interfaces).
type SecondLink struct {
	Iface  string // interface name in every host, e.g. "eth1"
	Bridge string
	// Addr is each host's or client's IPv4 address on the link, by name.
	Addr map[string]netip.Prefix
}

// SecondLinkIPv4 is host i's address on the second link: 198.51.100.(10+i)/24
// (clients: 198.51.100.(200+j)/24). 198.51.100.100-199 are free for VIPs.
func SecondLinkIPv4(n int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(n)}), 24)
}

// AddLink adds a second link named iface (at most 5 bytes, e.g. "eth1") to
// every host and client. Frames on it never reach the first bridge. Its
// bridge ports are named "<host>-<iface>" in the switch namespace.
func (l *Lab) AddLink(ctx context.Context, iface string) (*SecondLink, error) {
	if len(iface) == 0 || len(iface) > 5 || iface == "eth0" {
		return nil, fmt.Errorf("lab %s: link name %q: want 1-5 bytes, not eth0", l.ID, iface)
	}
	br := "br-" + iface
	link := &SecondLink{Iface: iface, Bridge: br, Addr: map[string]netip.Prefix{}}
	sw := []string{
		"link add " + br + " type bridge stp_state 0 mcast_snooping 0 forward_delay 0",
		"link set " + br + " up",
	}
	for _, h := range l.All() {
		port := h.Name + "-" + iface
		sw = append(sw,
			fmt.Sprintf("link add %s type veth peer name %s netns %s", port, iface, h.NS),
			fmt.Sprintf("link set %s master %s up", port, br))
	}
	if err := l.ipBatch(ctx, l.Switch, sw); err != nil {
		return nil, fmt.Errorf("lab %s: add link %s: %w", l.ID, iface, err)
	}
	for _, h := range l.All() {
		n := int(h.IPv4.Addr().As4()[3]) // 10+i for hosts, 200+j for clients
		addr := SecondLinkIPv4(n)
		link.Addr[h.Name] = addr
		if err := l.sysctl(h.NS, "net.ipv6.conf."+iface+".accept_dad=0"); err != nil {
			return nil, err
		}
		if err := l.ipBatch(ctx, h.NS, []string{
			fmt.Sprintf("addr add %s broadcast + dev %s", addr, iface),
			fmt.Sprintf("link set %s up", iface),
		}); err != nil {
			return nil, fmt.Errorf("lab %s: add link %s: %w", l.ID, iface, err)
		}
	}
	return link, nil
}

// SetLink sets h's interface iface down or up (inside the host).
func (h *Host) SetLink(iface string, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return h.lab.ip(h.NS, "link", "set", iface, state)
}
