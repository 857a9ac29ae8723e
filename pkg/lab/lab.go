package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
)

const (
	// BridgeName is the bridge in the switch namespace.
	BridgeName = "br0"
	// IfaceName is the interface of every host and client, so that their
	// configurations are identical.
	IfaceName = "eth0"

	// MaxHosts and MaxClients keep host addresses (192.0.2.11-99) and
	// client addresses (192.0.2.201-254) out of the VIP range.
	MaxHosts   = 89
	MaxClients = 54

	netnsDir     = "/run/netns"
	nsPrefix     = "fo"
	hostOffset   = 10
	clientOffset = 200
	vipOffset4   = 100
	vipCount4    = 100
	vipOffset6   = 0x100
	vipCount6    = 0x100

	// killGrace is how long Close lets processes react to SIGTERM (a VRRP
	// daemon gives up its addresses then) before it sends SIGKILL.
	killGrace = time.Second
)

// Options says what lab to build.
type Options struct {
	Hosts   int                              // VRRP hosts h1..hN (>=1)
	Clients int                              // client namespaces c1..cM (default 0)
	Logf    func(format string, args ...any) // optional: narrate commands (the demo prints them); nil = silent
}

// Lab is a switch namespace with hosts and clients cabled to its bridge.
// Its methods are safe for concurrent use.
type Lab struct {
	ID      string
	Switch  string // switch namespace name
	Hosts   []*Host
	Clients []*Host

	logf func(format string, args ...any)

	mu         sync.Mutex
	closed     bool
	closeDone  chan struct{} // closed when the first Close has finished
	closeErr   error
	namespaces []string // created so far, switch first
	procs      []*Proc
	captures   []*Capture
	faults     faults
}

// Host is a host or client namespace with its single interface eth0.
type Host struct {
	Name      string           // "h1", "c1"
	NS        string           // namespace name
	Iface     string           // "eth0"
	Port      string           // its bridge port name in the switch namespace
	MAC       net.HardwareAddr // of eth0
	IPv4      netip.Prefix     // e.g. 192.0.2.11/24
	IPv6      netip.Prefix     // e.g. 2001:db8::b/64
	LinkLocal netip.Addr       // eth0's fe80:: address

	lab *Lab
}

func (h *Host) String() string { return h.Name }

// Lab returns the lab h belongs to.
func (h *Host) Lab() *Lab { return h.lab }

// HostIPv4 is host i's (1-based) address: 192.0.2.(10+i)/24.
func HostIPv4(i int) netip.Prefix { return prefix4(hostOffset + i) }

// HostIPv6 is host i's (1-based) address: 2001:db8::(10+i)/64.
func HostIPv6(i int) netip.Prefix { return prefix6(hostOffset + i) }

// ClientIPv4 is client j's (1-based) address: 192.0.2.(200+j)/24.
func ClientIPv4(j int) netip.Prefix { return prefix4(clientOffset + j) }

// ClientIPv6 is client j's (1-based) address: 2001:db8::(200+j)/64.
func ClientIPv6(j int) netip.Prefix { return prefix6(clientOffset + j) }

// VIP4 returns the n-th free IPv4 address for virtual addresses,
// 192.0.2.(100+n), n in [0, 100). It panics outside that range.
func VIP4(n int) netip.Addr {
	if n < 0 || n >= vipCount4 {
		panic(fmt.Sprintf("lab: VIP4(%d) out of range [0,%d)", n, vipCount4))
	}
	return prefix4(vipOffset4 + n).Addr()
}

// VIP6 returns the n-th free IPv6 address for virtual addresses,
// 2001:db8::100 + n, n in [0, 256). It panics outside that range.
func VIP6(n int) netip.Addr {
	if n < 0 || n >= vipCount6 {
		panic(fmt.Sprintf("lab: VIP6(%d) out of range [0,%d)", n, vipCount6))
	}
	return prefix6(vipOffset6 + n).Addr()
}

func prefix4(n int) netip.Prefix {
	return netip.PrefixFrom(addAddr(netip.AddrFrom4([4]byte{192, 0, 2, 0}), n), 24)
}

func prefix6(n int) netip.Prefix {
	return netip.PrefixFrom(addAddr(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8}), n), 64)
}

// addAddr adds n (>= 0) to a, carrying across bytes.
func addAddr(a netip.Addr, n int) netip.Addr {
	b := a.AsSlice()
	carry := n
	for i := len(b) - 1; i >= 0 && carry > 0; i-- {
		s := int(b[i]) + carry
		b[i] = byte(s)
		carry = s >> 8
	}
	r, _ := netip.AddrFromSlice(b)
	return r
}

// macFor gives the fixed MAC of the host whose address number is n; kind 0
// is its eth0, 1 its switch port.
func macFor(n, kind int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0xfa, 0, 0, byte(kind), byte(n)}
}

// Available says whether labs can be built here: nil if we are root and
// `ip` and `nft` exist, otherwise an error naming what is missing. Tests
// call t.Skip with it. The demo, which cuts no links, needs only BuildAvailable.
func Available() error {
	return available("ip", "nft")
}

// BuildAvailable is Available without nftables: enough to build a lab and run
// processes in it, but not to partition it or drop packets.
func BuildAvailable() error {
	return available("ip")
}

func available(tools ...string) error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, fmt.Sprintf("%q (iproute2/nftables) in PATH", tool))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("lab: network namespace lab unavailable: need %s", strings.Join(missing, " and "))
	}
	return nil
}

// New builds a lab. If it fails halfway it removes what it created. It
// first calls Sweep so that a crashed run never breaks the next one.
func New(ctx context.Context, opt Options) (*Lab, error) {
	if err := BuildAvailable(); err != nil {
		return nil, err
	}
	if opt.Hosts < 1 || opt.Hosts > MaxHosts {
		return nil, fmt.Errorf("lab: Hosts = %d, want 1..%d", opt.Hosts, MaxHosts)
	}
	if opt.Clients < 0 || opt.Clients > MaxClients {
		return nil, fmt.Errorf("lab: Clients = %d, want 0..%d", opt.Clients, MaxClients)
	}
	l := &Lab{logf: opt.Logf, closeDone: make(chan struct{})}
	if err := Sweep(); err != nil {
		l.log("# sweeping old labs: %v", err)
	}
	var rnd [2]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("lab: random ID: %w", err)
	}
	l.ID = fmt.Sprintf("%s%dx%s", nsPrefix, os.Getpid(), hex.EncodeToString(rnd[:]))
	l.Switch = l.ID + "-sw"
	for i := 1; i <= opt.Hosts; i++ {
		l.Hosts = append(l.Hosts, l.newHost(fmt.Sprintf("h%d", i), HostIPv4(i), HostIPv6(i), hostOffset+i))
	}
	for j := 1; j <= opt.Clients; j++ {
		l.Clients = append(l.Clients, l.newHost(fmt.Sprintf("c%d", j), ClientIPv4(j), ClientIPv6(j), clientOffset+j))
	}
	if err := l.build(ctx); err != nil {
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up after failed build: %w", cerr))
		}
		return nil, fmt.Errorf("lab %s: %w", l.ID, err)
	}
	return l, nil
}

func (l *Lab) newHost(name string, v4, v6 netip.Prefix, n int) *Host {
	return &Host{
		Name:  name,
		NS:    l.ID + "-" + name,
		Iface: IfaceName,
		Port:  name,
		MAC:   macFor(n, 0),
		IPv4:  v4,
		IPv6:  v6,
		lab:   l,
	}
}

// build creates the namespaces and cables. Everything created is recorded
// in l.namespaces first so that Close can undo a partial build.
func (l *Lab) build(ctx context.Context) error {
	all := l.All()
	if err := l.addNS(ctx, l.Switch); err != nil {
		return err
	}
	// The switch must stay silent: no IPv6 on br0 or its ports.
	if err := l.sysctl(l.Switch, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
		return err
	}
	for _, h := range all {
		if err := l.addNS(ctx, h.NS); err != nil {
			return err
		}
		// Set before eth0 is created so it inherits them.
		if err := l.sysctl(h.NS,
			"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
			"net.ipv6.conf.all.router_solicitations=0", "net.ipv6.conf.default.router_solicitations=0",
			"net.ipv6.conf.all.keep_addr_on_down=1", "net.ipv6.conf.default.keep_addr_on_down=1",
		); err != nil {
			return err
		}
	}
	sw := []string{
		"link set lo up",
		"link add " + BridgeName + " type bridge stp_state 0 mcast_snooping 0 forward_delay 0",
		"link set " + BridgeName + " up",
	}
	for _, h := range all {
		n := int(h.MAC[5])
		sw = append(sw,
			fmt.Sprintf("link add %s address %s type veth peer name %s address %s netns %s", h.Port, macFor(n, 1), h.Iface, h.MAC, h.NS),
			fmt.Sprintf("link set %s master %s up", h.Port, BridgeName))
	}
	if err := l.ipBatch(ctx, l.Switch, sw); err != nil {
		return err
	}
	for _, h := range all {
		if err := l.sysctl(h.NS, "net.ipv6.conf."+h.Iface+".accept_dad=0"); err != nil {
			return err
		}
		if err := l.ipBatch(ctx, h.NS, []string{
			"link set lo up",
			fmt.Sprintf("addr add %s broadcast + dev %s", h.IPv4, h.Iface),
			fmt.Sprintf("addr add %s dev %s nodad", h.IPv6, h.Iface),
			fmt.Sprintf("link set %s up", h.Iface),
		}); err != nil {
			return err
		}
	}
	for _, h := range all {
		ll, err := h.waitLinkLocal(ctx)
		if err != nil {
			return err
		}
		h.LinkLocal = ll
	}
	return nil
}

// All returns the hosts followed by the clients.
func (l *Lab) All() []*Host {
	all := make([]*Host, 0, len(l.Hosts)+len(l.Clients))
	all = append(all, l.Hosts...)
	return append(all, l.Clients...)
}

// Host returns the host or client called name ("h1", "c2"), or nil.
func (l *Lab) Host(name string) *Host {
	for _, h := range l.All() {
		if h.Name == name {
			return h
		}
	}
	return nil
}

func (l *Lab) log(format string, args ...any) {
	if l.logf != nil {
		l.logf(format, args...)
	}
}

// addNS creates a named namespace. It records it for Close first, so that
// a half-done `ip netns add` (killed by ctx) is cleaned up too.
func (l *Lab) addNS(ctx context.Context, name string) error {
	l.mu.Lock()
	l.namespaces = append(l.namespaces, name)
	l.mu.Unlock()
	_, err := l.run(ctx, nil, "ip", "netns", "add", name)
	return err
}

// sysctl writes key=value settings in namespace ns. It writes /proc/sys
// from a thread inside ns rather than forking `ip netns exec ns sysctl`,
// which is what it narrates, to keep New fast.
func (l *Lab) sysctl(ns string, settings ...string) error {
	l.log("ip netns exec %s sysctl -w %s", ns, strings.Join(settings, " "))
	return doInNS(ns, func() error {
		for _, s := range settings {
			key, val, ok := strings.Cut(s, "=")
			if !ok {
				return fmt.Errorf("sysctl %q: want key=value", s)
			}
			path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
			if err := os.WriteFile(path, []byte(val), 0o644); err != nil {
				return fmt.Errorf("namespace %s: sysctl %s: %w", ns, s, err)
			}
		}
		return nil
	})
}

// ipBatch runs `ip -n ns -batch -` with the given commands, one process for
// many commands. It narrates them as the equivalent `ip -n ns ...` lines.
func (l *Lab) ipBatch(ctx context.Context, ns string, cmds []string) error {
	for _, c := range cmds {
		l.log("ip -n %s %s", ns, c)
	}
	_, err := runCmd(ctx, strings.NewReader(strings.Join(cmds, "\n")+"\n"), "ip", "-n", ns, "-batch", "-")
	if err != nil {
		return fmt.Errorf("%w\nbatch:\n%s", err, strings.Join(cmds, "\n"))
	}
	return nil
}

// run narrates and runs a command in the root namespace.
func (l *Lab) run(ctx context.Context, stdin *strings.Reader, name string, args ...string) (string, error) {
	l.log("%s", shellJoin(append([]string{name}, args...)))
	return runCmd(ctx, stdin, name, args...)
}

// runCmd runs a command to completion; its error holds the command line and
// its output.
func runCmd(ctx context.Context, stdin *strings.Reader, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", shellJoin(cmd.Args), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// shellJoin quotes arguments only where a shell would need it, for
// readable narration and errors.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`*?[]{}()<>|&;#~!") {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		} else {
			q[i] = a
		}
	}
	return strings.Join(q, " ")
}

// Close stops captures, kills every process the lab started (SIGTERM, then
// SIGKILL to the process group after a short grace period), kills anything
// else still running in the lab's namespaces, and deletes the namespaces,
// which removes the veths and nftables rules with them. It is idempotent:
// later (or concurrent) calls wait for the first and return its result.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.closeDone
		return l.closeErr
	}
	l.closed = true
	procs := l.procs
	captures := l.captures
	namespaces := l.namespaces
	l.mu.Unlock()

	var errs []error
	for _, c := range captures {
		c.Stop()
	}
	errs = append(errs, stopProcs(procs, killGrace))
	for i := len(namespaces) - 1; i >= 0; i-- {
		ns := namespaces[i]
		if err := killNSPids(ns); err != nil {
			errs = append(errs, err)
		}
		l.log("ip netns del %s", ns)
		if err := deleteNS(ns); err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		err = fmt.Errorf("lab %s: close: %w", l.ID, err)
	}
	l.closeErr = err
	close(l.closeDone)
	return err
}

// stopProcs sends SIGTERM to the process group of each running process,
// waits up to grace for all of them, then SIGKILLs the stragglers' groups
// and reaps them.
func stopProcs(procs []*Proc, grace time.Duration) error {
	var running []*Proc
	for _, p := range procs {
		if p.Running() {
			_ = p.signalGroup(syscall.SIGTERM)
			running = append(running, p)
		}
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	expired := false
	var errs []error
	for _, p := range running {
		if !expired {
			select {
			case <-p.done:
				continue
			case <-deadline.C:
				expired = true
			}
		}
		if err := p.Kill(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killNSPids SIGKILLs every process whose network namespace is ns, like
// `kill -9 $(ip netns pids ns)`, except this process: a goroutine inside Do
// may have this process's main thread in ns.
func killNSPids(ns string) error {
	var target syscall.Stat_t
	if err := syscall.Stat(netnsDir+"/"+ns, &target); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil
		}
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("namespace %s: listing processes: %w", ns, err)
	}
	self := os.Getpid()
	var errs []error
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid <= 1 {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name()+"/ns/net", &st) != nil || st.Dev != target.Dev || st.Ino != target.Ino {
			continue // gone, a kernel thread, or elsewhere
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("namespace %s: kill %d: %w", ns, pid, err))
		}
	}
	return errors.Join(errs...)
}

// deleteNS removes a named namespace like `ip netns del`, tolerating one
// that is already gone. The kernel frees it once nothing uses it.
func deleteNS(ns string) error {
	path := netnsDir + "/" + ns
	if err := syscall.Unmount(path, syscall.MNT_DETACH); err != nil &&
		!errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("namespace %s: unmount %s: %w", ns, path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	return nil
}

// Sweep deletes leftover lab namespaces (fo<pid>x<hex>-*) whose creating
// process is no longer alive, killing any process still inside them. New
// calls it so that a crashed run never breaks the next one.
func Sweep() error {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("lab: sweep: %w", err)
	}
	var errs []error
	for _, e := range entries {
		pid, ok := parseNSName(e.Name())
		if !ok || pid == os.Getpid() || pidAlive(pid) {
			continue
		}
		if err := killNSPids(e.Name()); err != nil {
			errs = append(errs, err)
		}
		if err := deleteNS(e.Name()); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lab: sweep: %w", err)
	}
	return nil
}

// parseNSName recognises fo<pid>x<4 hex>-<sw|h<n>|c<n>> and returns pid.
func parseNSName(name string) (pid int, ok bool) {
	rest, found := strings.CutPrefix(name, nsPrefix)
	if !found {
		return 0, false
	}
	digits, rest, found := strings.Cut(rest, "x")
	if !found || digits == "" || len(digits) > 10 {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 || strconv.Itoa(pid) != digits {
		return 0, false
	}
	rnd, role, found := strings.Cut(rest, "-")
	if !found || len(rnd) != 4 {
		return 0, false
	}
	if _, err := hex.DecodeString(rnd); err != nil || strings.ToLower(rnd) != rnd {
		return 0, false
	}
	if role == "sw" {
		return pid, true
	}
	if len(role) < 2 || (role[0] != 'h' && role[0] != 'c') {
		return 0, false
	}
	if n, err := strconv.Atoi(role[1:]); err != nil || n < 1 || strconv.Itoa(n) != role[1:] {
		return 0, false
	}
	return pid, true
}

// pidAlive reports whether a process with this PID exists (EPERM means it
// does but belongs to someone else).
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// waitLinkLocal polls until eth0 has a usable (non-tentative) fe80::
// address; with accept_dad=0 that is right after the link comes up.
func (h *Host) waitLinkLocal(ctx context.Context) (netip.Addr, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ll netip.Addr
		err := h.Do(func() error {
			_, addrs, err := h.ifaceAddrs(netlink.FAMILY_V6)
			if err != nil {
				return err
			}
			for _, a := range addrs {
				ip, ok := netip.AddrFromSlice(a.IP)
				if ok && ip.IsLinkLocalUnicast() && a.Flags&syscall.IFA_F_TENTATIVE == 0 {
					ll = ip
				}
			}
			return nil
		})
		if err != nil {
			return netip.Addr{}, fmt.Errorf("namespace %s: %s: link-local address: %w", h.NS, h.Iface, err)
		}
		if ll.IsValid() {
			return ll, nil
		}
		if time.Now().After(deadline) {
			return netip.Addr{}, fmt.Errorf("namespace %s: %s has no link-local address after 5s", h.NS, h.Iface)
		}
		select {
		case <-ctx.Done():
			return netip.Addr{}, fmt.Errorf("namespace %s: waiting for link-local address: %w", h.NS, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}
