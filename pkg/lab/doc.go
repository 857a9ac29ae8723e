// Package lab builds a throw-away network of Linux network namespaces for
// integration tests, `make demo` and `make bench`: one switch namespace
// holding a bridge, N VRRP hosts and M clients, each cabled to the bridge by
// a veth pair. It starts and tracks processes inside the namespaces, cuts
// links and drops frames with nftables (the kernel has no netem), and
// captures every frame entering the bridge with kernel timestamps.
//
// # Topology
//
//	<id>-sw   switch namespace: bridge br0 (STP off, multicast snooping
//	          off, forward delay 0), one port per host named after it
//	          (h1, h2, ..., c1, ...). IPv6 is disabled there so the switch
//	          itself never sends a frame.
//	<id>-h<i> host i, interface eth0, 192.0.2.(10+i)/24, 2001:db8::(10+i)/64
//	<id>-c<j> client j, interface eth0, 192.0.2.(200+j)/24, 2001:db8::(200+j)/64
//
// The IPv6 host part is the same number as the IPv4 last octet, added with
// netip arithmetic, so it prints in hex: host 1 is 2001:db8::b, client 1 is
// 2001:db8::c9. MACs are fixed too: eth0 of the host whose IPv4 address ends
// in x is 02:fa:00:00:00:x (hex), its switch port 02:fa:00:00:01:x, so
// link-local addresses and pcaps are the same on every run.
//
// Free for virtual addresses: 192.0.2.100-192.0.2.199 (VIP4), 2001:db8::100
// to 2001:db8::1ff (VIP6), and all of 198.51.100.0/24 (off-subnet VIPs).
// Nothing in the lab ever has a default route.
//
// The lab ID is fo<pid>x<4 hex digits>; Sweep uses the PID to delete the
// namespaces of crashed runs.
//
// # Namespace settings
//
// Before eth0 exists in a host namespace, all/default accept_dad=0 (so the
// link-local and static IPv6 addresses are usable at once),
// router_solicitations=0 (quiet wire) and keep_addr_on_down=1 (so LinkDown
// and LinkUp keep the static IPv6 address, as IPv4 does) are set; eth0's own
// accept_dad is then set to 0 as well.
//
// # Capture
//
// Capture opens an AF_PACKET socket on br0 in promiscuous mode. A bridge in
// promiscuous mode passes every frame it receives on any port up to br0
// once, so the socket sees each frame exactly once as it enters the bridge:
// unicast, broadcast (ARP) and multicast (VRRP, NS, MLD) alike; frames
// flooded out of several ports are not duplicated. This was checked by the
// tests in this package. The frames are seen before the lab's nftables rules
// (forward hook) drop them, so a capture shows what hosts sent, not what
// was delivered; that is what failover timing needs, and a test can still
// see that an isolated master keeps advertising.
package lab
