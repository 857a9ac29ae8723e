package integration

// Reference VRRP implementations next to failoverd on the lab's bridge:
// keepalived and FRR's vrrpd (with the zebra it needs), started inside lab
// hosts from the templates in testdata/keepalived and testdata/frr. Every
// process is started through lab.Host.Start, so lab.Close kills it even when
// a test fails halfway; pid files, sockets and configs live in per-test
// directories that are removed afterwards.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/failover-ha/failover/internal/pcapfile"
	"github.com/failover-ha/failover/pkg/lab"
)

// impl names a VRRP implementation a lab host can run.
type impl string

const (
	implFailoverd  impl = "failoverd"
	implKeepalived impl = "keepalived"
	implFRR        impl = "frr"
)

// FRR installs its daemons outside PATH.
const frrDir = "/usr/lib/frr"

// peer is one router of an interop scenario: the implementation and the few
// settings scenarios vary. Everything else is each implementation's default.
type peer struct {
	impl      impl
	priority  int
	version   int           // 2 or 3
	interval  time.Duration // advert interval
	noPreempt bool
	// kaYieldAdvert sets keepalived's higher_prio_send_advert: one last
	// advert when yielding to a higher-priority (or equal, higher-address)
	// master, as failoverd always sends.
	kaYieldAdvert bool
	// vips are failoverd's or keepalived's virtual addresses if not just
	// vip4/24.
	vips []string
}

// interop is a cluster whose hosts may run keepalived or FRR instead of
// failoverd.
type interop struct {
	*cluster
	impls   map[string]impl // by host name
	zebra   map[string]*lab.Proc
	frrDirs map[string]string
}

// newInterop builds a lab of the given number of hosts and no clients.
// Every peer serves vip4 as VRID interopVRID.
func newInterop(t *testing.T, hosts int) *interop {
	t.Helper()
	ix := &interop{cluster: newCluster(t, hosts, 0), impls: map[string]impl{},
		zebra: map[string]*lab.Proc{}, frrDirs: map[string]string{}}
	// Before the lab closes: a keepalived given SIGTERM would take its
	// second (see waitExit) for nothing, the test being over.
	t.Cleanup(func() {
		for name, p := range ix.procs {
			if ix.impls[name] == implKeepalived && p.Running() {
				_ = p.Kill()
			}
		}
	})
	return ix
}

// interopVRID is the virtual router of every interop test.
const interopVRID = 51

// start runs p on h and returns once it has entered Backup, its
// Master_Down_Timer running: scenarios start the intended master first, and
// its shorter timer must not be overtaken by a backup whose implementation
// happens to start faster.
func (ix *interop) start(h *lab.Host, p peer) {
	ix.t.Helper()
	ix.impls[h.Name] = p.impl
	if p.impl != implFRR { // startFRR waits itself
		marker := "state INIT -> BACKUP"
		if p.impl == implKeepalived {
			marker = "Entering BACKUP STATE (init)"
		}
		before := strings.Count(ix.log(h), marker)
		defer ix.waitFor(fmt.Sprintf("%s to enter Backup", ix.nameOf(h)), 5*time.Second, func() bool {
			return strings.Count(ix.log(h), marker) > before
		})
	}
	switch p.impl {
	case implFailoverd:
		o := instanceOpts{priority: p.priority, version: p.version, interval: p.interval.String(), vrid: interopVRID}
		if p.noPreempt {
			o.preempt = boolp(false)
		}
		o.vips = p.vips
		ix.cluster.start(h, o)
	case implKeepalived:
		ix.startKeepalived(h, p)
	case implFRR:
		ix.startFRR(h, p)
	default:
		ix.t.Fatalf("unknown implementation %q", p.impl)
	}
}

// render fills in the template file tmpl (relative to the repository) and
// writes it to dst.
func render(t *testing.T, tmpl, dst string, data any) {
	t.Helper()
	tp, err := template.ParseFiles(filepath.Join("..", tmpl))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tp.Execute(&b, data); err != nil {
		t.Fatalf("%s: %v", tmpl, err)
	}
	if err := os.WriteFile(dst, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// skipShort skips the interop tests under go test -short (make test-unit):
// they take a minute and depend on other programs.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("interoperability test: not in -short mode")
	}
}

// requireKeepalived skips the test when keepalived is not installed.
func requireKeepalived(t *testing.T) {
	t.Helper()
	skipShort(t)
	if _, err := exec.LookPath("keepalived"); err != nil {
		t.Skip("keepalived is not installed (apt-get install keepalived; .ci/run installs it)")
	}
	t.Logf("peer: %s", peerVersion("keepalived", "--version"))
}

// peerVersion returns the first line a peer program prints for its version,
// once per run.
func peerVersion(prog string, args ...string) string {
	versionsMu.Lock()
	defer versionsMu.Unlock()
	if v, ok := versions[prog]; ok {
		return v
	}
	out, _ := exec.Command(prog, args...).CombinedOutput()
	v := "unknown version"
	for _, line := range strings.Split(string(out), "\n") {
		// tshark warns about running as root first.
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "Running as user") {
			v = line
			break
		}
	}
	versions[prog] = v
	return v
}

var (
	versionsMu sync.Mutex
	versions   = map[string]string{}
)

// startKeepalived runs keepalived's VRRP process in the foreground on h,
// logging to the same file failoverd would (so failures dump it), with its
// config and pid files in the test's directory rather than /etc and /run.
func (ix *interop) startKeepalived(h *lab.Host, p peer) {
	ix.t.Helper()
	dir := filepath.Join(ix.dir, h.Name+"-keepalived")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		ix.t.Fatal(err)
	}
	vips := p.vips
	if len(vips) == 0 {
		vips = []string{vip4.String() + "/24"}
	}
	conf := filepath.Join(dir, "keepalived.conf")
	render(ix.t, "testdata/keepalived/keepalived.conf.tmpl", conf, map[string]any{
		"RouterID":  h.Name,
		"Version":   p.version,
		"Name":      "web",
		"Interface": h.Iface,
		"VRID":      interopVRID,
		"Priority":  p.priority,
		"AdvertInt": strconv.FormatFloat(p.interval.Seconds(), 'f', -1, 64),
		"NoPreempt": p.noPreempt,
		"YieldAdv":  p.kaYieldAdvert,
		"VIPs":      vips,
	})
	// keepalived ignores what it cannot parse; a broken template must fail.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.Run(ctx, "keepalived", "--config-test", "--use-file="+conf); err != nil {
		ix.t.Fatalf("keepalived rejects %s: %v", conf, err)
	}
	args := []string{
		"--dont-fork", "--log-console", "--log-detail", "--no-syslog",
		"--vrrp", // no checker or BFD process
		"--use-file=" + conf,
		"--pid=" + filepath.Join(dir, "keepalived.pid"),
		"--vrrp_pid=" + filepath.Join(dir, "vrrp.pid"),
		"--checkers_pid=" + filepath.Join(dir, "checkers.pid"),
		"--bfd_pid=" + filepath.Join(dir, "bfd.pid"),
	}
	proc, err := h.Start("keepalived", args, filepath.Join(ix.dir, h.Name+".log"))
	if err != nil {
		ix.t.Fatal(err)
	}
	ix.procs[h.Name] = proc
}

// requireFRR skips the test when FRR's zebra or vrrpd, or its frr user, is
// missing.
func requireFRR(t *testing.T) {
	t.Helper()
	skipShort(t)
	for _, d := range []string{"zebra", "vrrpd"} {
		if _, err := os.Stat(filepath.Join(frrDir, d)); err != nil {
			t.Skipf("FRR is not installed: no %s (apt-get install frr; .ci/run installs it)", filepath.Join(frrDir, d))
		}
	}
	if _, err := user.Lookup("frr"); err != nil {
		t.Skipf("FRR is not installed: %v", err)
	}
	t.Logf("peer: FRRouting %s", peerVersion(filepath.Join(frrDir, "vrrpd"), "--version"))
}

// frrMacvlan is the device carrying the virtual MAC and address on an FRR
// host. vrrpd finds it by its parent and MAC; the name is ours.
func frrMacvlan() string { return fmt.Sprintf("vrrp4-%d", interopVRID) }

// virtualMAC is the IPv4 virtual router MAC of vrid (RFC 9568 §7.3).
func virtualMAC(vrid int) net.HardwareAddr { return net.HardwareAddr{0, 0, 0x5e, 0, 1, byte(vrid)} }

// startFRR creates the macvlan device vrrpd needs and runs zebra and vrrpd
// on h. FRR daemons drop privileges to the frr user (vrrpd refuses to run as
// root outside the frrvty group), so their directory is a fresh one owned by
// frr; the test's own directory is not readable by other users.
func (ix *interop) startFRR(h *lab.Host, p peer) {
	t := ix.t
	t.Helper()
	dir, restart := ix.frrDirs[h.Name]
	if !restart {
		dir = ix.setupFRR(h)
	}
	render(t, "testdata/frr/vrrpd.conf.tmpl", filepath.Join(dir, "vrrpd.conf"), map[string]any{
		"Interface":  h.Iface,
		"VRID":       interopVRID,
		"Version":    p.version,
		"Priority":   p.priority,
		"IntervalMS": p.interval.Milliseconds(),
		"NoPreempt":  p.noPreempt,
		"VIPs":       []string{vip4.String()},
	})
	if err := chownTree(dir, "frr"); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(ix.dir, h.Name+".log") // both daemons, like failoverd's
	if !restart {
		z, err := h.Start(filepath.Join(frrDir, "zebra"), frrArgs(dir, "zebra"), logPath)
		if err != nil {
			t.Fatal(err)
		}
		ix.zebra[h.Name] = z
		zserv := filepath.Join(dir, "zserv.api")
		ix.waitFor("zebra's zserv socket", 5*time.Second, func() bool {
			_, err := os.Stat(zserv)
			return err == nil || !z.Running()
		})
		if !z.Running() {
			t.Fatal("zebra exited at startup")
		}
	}
	entered := strings.Count(ix.log(h), frrBackup)
	v, err := h.Start(filepath.Join(frrDir, "vrrpd"), frrArgs(dir, "vrrpd"), logPath)
	if err != nil {
		t.Fatal(err)
	}
	ix.procs[h.Name] = v
	// The macvlan is up (serving the address) until vrrpd, as Backup, has
	// zebra put it in protodown: return only then.
	ix.waitFor("vrrpd to enter Backup and its macvlan protodown", 5*time.Second, func() bool {
		return strings.Count(ix.log(h), frrBackup) > entered && !ix.serving(h)
	})
}

// frrBackup is what vrrpd logs when it starts the virtual router.
const frrBackup = "Initialize -> Backup"

// setupFRR creates h's macvlan device and FRR's directory, once per host.
func (ix *interop) setupFRR(h *lab.Host) string {
	t := ix.t
	t.Helper()
	mvl := frrMacvlan()
	ipBatch(t, h, []string{
		// addrgenmode cannot be given to "link add" here (EAFNOSUPPORT).
		fmt.Sprintf("link add %s link %s type macvlan mode bridge", mvl, h.Iface),
		fmt.Sprintf("link set dev %s addrgenmode random", mvl),
		fmt.Sprintf("link set dev %s address %s", mvl, virtualMAC(interopVRID)),
		fmt.Sprintf("addr add %s/24 dev %s", vip4, mvl),
		fmt.Sprintf("link set dev %s up", mvl),
	})
	dir, err := os.MkdirTemp("", "failover-frr-"+h.Name+"-")
	if err != nil {
		t.Fatal(err)
	}
	ix.frrDirs[h.Name] = dir
	// Runs before the lab closes (cleanups run last-in first-out): stop
	// the daemons before removing the directory they write to.
	t.Cleanup(func() {
		for _, pr := range []*lab.Proc{ix.procs[h.Name], ix.zebra[h.Name]} {
			if pr != nil && pr.Running() {
				_ = pr.Signal(syscall.SIGTERM)
				if _, err := pr.Wait(2 * time.Second); err != nil {
					_ = pr.Kill()
				}
			}
		}
		os.RemoveAll(dir)
	})
	zconf, err := os.ReadFile("../testdata/frr/zebra.conf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "zebra.conf"), zconf, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// frrArgs are the options that keep an FRR daemon's files in dir.
func frrArgs(dir, daemon string) []string {
	return []string{
		"--config_file", filepath.Join(dir, daemon+".conf"),
		"--pid_file", filepath.Join(dir, daemon+".pid"),
		"--socket", filepath.Join(dir, "zserv.api"),
		"--vty_socket", dir,
		"--vty_port", "0", // no TCP vty
		"--log", "stdout", "--log-level", "info",
	}
}

// chownTree gives dir and what is in it to the named user and its group.
func chownTree(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// ipBatch runs iproute2 commands in h's namespace.
func ipBatch(t *testing.T, h *lab.Host, cmds []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "-n", h.NS, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s -batch: %v: %s\n%s", h.NS, err, out, strings.Join(cmds, "\n"))
	}
}

// serving reports whether h serves vip4: failoverd and keepalived add it to
// eth0; FRR keeps it on its macvlan device and lifts protodown as master.
func (ix *interop) serving(h *lab.Host) bool {
	ix.t.Helper()
	if ix.impls[h.Name] != implFRR {
		ok, err := h.HasAddr(vip4)
		if err != nil {
			ix.t.Fatal(err)
		}
		return ok
	}
	up := false
	err := h.Do(func() error {
		l, err := netlink.LinkByName(frrMacvlan())
		if err != nil {
			return err
		}
		up = l.Attrs().OperState == netlink.OperUp
		return nil
	})
	if err != nil {
		ix.t.Fatal(err)
	}
	return up
}

// servers lists the hosts serving vip4.
func (ix *interop) servers() []string {
	var out []string
	for _, h := range ix.lab.Hosts {
		if ix.serving(h) {
			out = append(out, h.Name)
		}
	}
	return out
}

// waitSoleServer waits until h is the only host serving vip4.
func (ix *interop) waitSoleServer(h *lab.Host, timeout time.Duration) {
	ix.t.Helper()
	ix.waitFor(fmt.Sprintf("%s (%s) to be the only host serving %v", h.Name, ix.impls[h.Name], vip4), timeout, func() bool {
		s := ix.servers()
		return len(s) == 1 && s[0] == h.Name
	})
}

// announceMAC is the sender hardware address of h's gratuitous ARPs: its own
// MAC, or the virtual MAC for FRR, which announces from its macvlan.
func (ix *interop) announceMAC(h *lab.Host) net.HardwareAddr {
	if ix.impls[h.Name] == implFRR {
		return virtualMAC(interopVRID)
	}
	return h.MAC
}

// waitAnnounce waits for h's first gratuitous ARP for vip4 after mark.
func (ix *interop) waitAnnounce(mark int, h *lab.Host, timeout time.Duration) pcapfile.Frame {
	ix.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	mac := ix.announceMAC(h)
	f, err := ix.cap.WaitFrom(ctx, mark, func(f pcapfile.Frame) bool {
		ip, sha, ok := lab.IsGratuitousARP(f.Data)
		return ok && ip == vip4 && bytes.Equal(sha, mac)
	})
	if err != nil {
		ix.t.Fatalf("no gratuitous ARP for %v from %s (%s) within %v: %v", vip4, h.Name, ix.impls[h.Name], timeout, err)
	}
	return f
}

// announcesSince counts h's gratuitous ARPs for vip4 after mark.
func (ix *interop) announcesSince(mark int, h *lab.Host) int {
	mac := ix.announceMAC(h)
	n := 0
	for _, f := range ix.cap.Frames()[mark:] {
		if ip, sha, ok := lab.IsGratuitousARP(f.Data); ok && ip == vip4 && bytes.Equal(sha, mac) {
			n++
		}
	}
	return n
}

// advertsOf returns h's adverts since mark (all implementations send from
// eth0's primary IPv4 address).
func (ix *interop) advertsOf(h *lab.Host, since int) []timedAdvert {
	return ix.adverts(h.IPv4.Addr(), since)
}

// crash kills h's VRRP daemon with SIGKILL (its whole process group, so
// keepalived's VRRP child dies too) and cuts h off the bridge, so nothing a
// straggler might send reaches the peers. Like a crashed failoverd, a killed
// keepalived leaves its address behind and FRR's macvlan stays up; the cut
// keeps that stale state off the wire.
func (ix *interop) crash(h *lab.Host) {
	ix.t.Helper()
	if err := ix.procs[h.Name].Kill(); err != nil {
		ix.t.Fatal(err)
	}
	if err := ix.lab.Isolate(h); err != nil {
		ix.t.Fatal(err)
	}
}

// lastAdvertBefore returns h's last advert captured before at.
func (ix *interop) lastAdvertBefore(h *lab.Host, at time.Time) timedAdvert {
	ix.t.Helper()
	ads := ix.advertsOf(h, 0)
	for i := len(ads) - 1; i >= 0; i-- {
		if ads[i].at.Before(at) {
			return ads[i]
		}
	}
	ix.t.Fatalf("no advert from %s before %v", h.Name, at.Format("15:04:05.000"))
	return timedAdvert{}
}

// becameMaster reports whether h's log, from byte offset since on, shows it
// entering master state (logs are appended across restarts).
func (ix *interop) becameMaster(h *lab.Host, since int) bool {
	log := ix.log(h)[since:]
	switch ix.impls[h.Name] {
	case implKeepalived:
		return strings.Contains(log, "Entering MASTER STATE")
	case implFRR:
		return strings.Contains(log, "Backup -> Master")
	}
	return strings.Contains(log, "-> MASTER")
}

// terminate sends SIGTERM to h's VRRP daemon (vrrpd for FRR): a master
// resigns with a priority-0 advert.
func (ix *interop) terminate(h *lab.Host) {
	ix.t.Helper()
	if err := ix.procs[h.Name].Signal(syscall.SIGTERM); err != nil {
		ix.t.Fatal(err)
	}
}

// waitExit waits for h's VRRP daemon to exit and returns its exit code.
// keepalived takes a second: after its priority-0 advert it waits 1 s
// before exiting (vrrp_terminate_phase1, for IGMP leaves to go out).
func (ix *interop) waitExit(h *lab.Host) int {
	ix.t.Helper()
	code, err := ix.procs[h.Name].Wait(5 * time.Second)
	if err != nil {
		ix.t.Fatalf("%s did not exit after SIGTERM: %v", ix.nameOf(h), err)
	}
	return code
}

// nameOf is "keepalived on h1 (192.0.2.11)".
func (ix *interop) nameOf(h *lab.Host) string {
	return fmt.Sprintf("%s on %s (%v)", ix.impls[h.Name], h.Name, h.IPv4.Addr())
}
