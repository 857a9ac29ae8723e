package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Do runs fn with its OS thread inside h's namespace, so sockets and
// netlink handles fn creates belong to h (and keep belonging to it after Do
// returns). Goroutines fn starts do not inherit the namespace.
//
// fn runs on a fresh goroutine locked to its thread, never on the caller's:
// if switching back fails, that goroutine exits still locked and the Go
// runtime destroys the thread, so no goroutine can ever run in the wrong
// namespace. A panic in fn is re-raised in the caller; t.FailNow (Goexit)
// inside fn is not allowed and makes Do return an error.
func (h *Host) Do(fn func() error) error {
	return doInNS(h.NS, fn)
}

func doInNS(ns string, fn func() error) error {
	type result struct {
		err      error
		returned bool
		panicked bool
		value    any
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		defer func() { ch <- r }()
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			r.err = fmt.Errorf("namespace %s: current namespace: %w", ns, err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(ns)
		if err != nil {
			runtime.UnlockOSThread()
			r.err = fmt.Errorf("namespace %s: open: %w", ns, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			r.err = fmt.Errorf("namespace %s: setns: %w", ns, err)
			return
		}
		defer func() {
			if err := netns.Set(orig); err != nil {
				// Stay locked: the thread dies with this goroutine.
				r.err = errors.Join(r.err, fmt.Errorf("namespace %s: restoring thread namespace: %w", ns, err))
				return
			}
			runtime.UnlockOSThread()
		}()
		func() {
			defer func() {
				if v := recover(); v != nil {
					r.panicked, r.value = true, v
				}
			}()
			r.err = fn()
			r.returned = true
		}()
	}()
	r := <-ch
	if r.panicked {
		panic(r.value)
	}
	if !r.returned && r.err == nil {
		return fmt.Errorf("namespace %s: function called runtime.Goexit (t.FailNow?) inside Do", ns)
	}
	return r.err
}

// Command returns a command that runs name in h's namespace via
// `ip netns exec`. It is narrated through Options.Logf as a command line
// that can be pasted into a shell.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	h.lab.log("ip netns exec %s %s", h.NS, shellJoin(append([]string{name}, args...)))
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Run runs name in h's namespace to completion and returns its combined
// output; the error includes the namespace, command and output.
func (h *Host) Run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := h.Command(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("namespace %s: %s: %w: %s", h.NS, shellJoin(append([]string{name}, args...)), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// ip runs `ip -n <ns> args...`, narrated.
func (l *Lab) ip(ns string, args ...string) error {
	_, err := l.run(context.Background(), nil, "ip", append([]string{"-n", ns}, args...)...)
	return err
}

// LinkDown sets eth0 administratively down inside h; its switch port loses
// carrier. Static addresses stay (keep_addr_on_down=1 for IPv6).
func (h *Host) LinkDown() error {
	return h.lab.ip(h.NS, "link", "set", h.Iface, "down")
}

// LinkUp sets eth0 up again and waits until its link-local address is
// usable.
func (h *Host) LinkUp() error {
	if err := h.lab.ip(h.NS, "link", "set", h.Iface, "up"); err != nil {
		return err
	}
	_, err := h.waitLinkLocal(context.Background())
	return err
}

// CarrierDown pulls h's cable at the switch: the bridge port goes down, so
// h's eth0 stays administratively up but loses carrier (NO-CARRIER).
func (h *Host) CarrierDown() error {
	return h.lab.ip(h.lab.Switch, "link", "set", h.Port, "down")
}

// CarrierUp plugs h's cable back in at the switch.
func (h *Host) CarrierUp() error {
	return h.lab.ip(h.lab.Switch, "link", "set", h.Port, "up")
}

// ifaceAddrs lists the addresses of family on h's eth0, with the link;
// call it inside h.Do. An interrupted dump (addresses changing meanwhile)
// still returns what it read.
func (h *Host) ifaceAddrs(family int) (netlink.Link, []netlink.Addr, error) {
	link, err := netlink.LinkByName(h.Iface)
	if err != nil {
		return nil, nil, err
	}
	addrs, err := netlink.AddrList(link, family)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, nil, err
	}
	return link, addrs, nil
}

// Addrs returns the addresses on h's eth0 (IPv4 and IPv6, link-local
// included, without zones).
func (h *Host) Addrs() ([]netip.Prefix, error) {
	var out []netip.Prefix
	err := h.Do(func() error {
		_, addrs, err := h.ifaceAddrs(netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			ip, ok := netip.AddrFromSlice(a.IP)
			if !ok || a.IPNet == nil {
				continue
			}
			ones, _ := a.Mask.Size()
			out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("namespace %s: addresses of %s: %w", h.NS, h.Iface, err)
	}
	return out, nil
}

// RemoveExtraIPv4 removes every IPv4 address but the host's own from its
// eth0: the virtual addresses a killed daemon left behind.
func (h *Host) RemoveExtraIPv4() error {
	return h.Do(func() error {
		link, addrs, err := h.ifaceAddrs(netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() != h.IPv4.Addr() {
				if err := netlink.AddrDel(link, &a); err != nil {
					return fmt.Errorf("%s: removing %v: %w", h.Name, a.IPNet, err)
				}
			}
		}
		return nil
	})
}

// HasAddr reports whether a is configured on h's eth0 (a's zone is
// ignored).
func (h *Host) HasAddr(a netip.Addr) (bool, error) {
	addrs, err := h.Addrs()
	if err != nil {
		return false, err
	}
	a = a.WithZone("").Unmap()
	for _, p := range addrs {
		if p.Addr() == a {
			return true, nil
		}
	}
	return false, nil
}

// Neighbor returns h's ARP/ND entry for a on eth0: the MAC (nil if there is
// no entry or it has no link-layer address, e.g. INCOMPLETE or FAILED) and
// the state as `ip neigh` prints it ("REACHABLE", "STALE", ...; "" if there
// is no entry).
func (h *Host) Neighbor(a netip.Addr) (mac net.HardwareAddr, state string, err error) {
	a = a.WithZone("").Unmap()
	family := netlink.FAMILY_V4
	if a.Is6() {
		family = netlink.FAMILY_V6
	}
	err = h.Do(func() error {
		link, err := netlink.LinkByName(h.Iface)
		if err != nil {
			return err
		}
		neighs, err := netlink.NeighList(link.Attrs().Index, family)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
		for _, n := range neighs {
			ip, ok := netip.AddrFromSlice(n.IP)
			if !ok || ip.Unmap() != a {
				continue
			}
			state = neighState(n.State)
			if len(n.HardwareAddr) > 0 {
				mac = append(net.HardwareAddr(nil), n.HardwareAddr...)
			}
			return nil
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("namespace %s: neighbour %s: %w", h.NS, a, err)
	}
	return mac, state, nil
}

// neighState names NUD_* states like `ip neigh` does.
func neighState(s int) string {
	names := []struct {
		bit  int
		name string
	}{
		{netlink.NUD_INCOMPLETE, "INCOMPLETE"},
		{netlink.NUD_REACHABLE, "REACHABLE"},
		{netlink.NUD_STALE, "STALE"},
		{netlink.NUD_DELAY, "DELAY"},
		{netlink.NUD_PROBE, "PROBE"},
		{netlink.NUD_FAILED, "FAILED"},
		{netlink.NUD_NOARP, "NOARP"},
		{netlink.NUD_PERMANENT, "PERMANENT"},
	}
	var parts []string
	for _, n := range names {
		if s&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	if len(parts) == 0 {
		return "NONE"
	}
	return strings.Join(parts, "|")
}

// FlushNeighbors empties h's ARP and ND caches on eth0 (`ip neigh flush
// dev eth0`, both families; permanent entries stay), so the next packet to
// a VIP must resolve it afresh.
func (h *Host) FlushNeighbors() error {
	for _, fam := range []string{"-4", "-6"} {
		if err := h.lab.ip(h.NS, fam, "neigh", "flush", "dev", h.Iface); err != nil {
			return err
		}
	}
	return nil
}
