package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/failover-ha/failover/pkg/lab"
)

// vr is one virtual router of a bench cluster.
type vr struct {
	VRID int
	VIP  netip.Prefix
}

// benchVRs returns n virtual routers, VRIDs 1..n. The first 100 take their
// VIP from 192.0.2.100-199 (on the hosts' subnet, so the client can reach
// VRID 1), the rest from 198.51.100.1-155 as /32s: 255 VIPs do not fit in
// the lab's 192.0.2.0/24 range alone.
func benchVRs(n int) []vr {
	out := make([]vr, n)
	for i := range out {
		id := i + 1
		var p netip.Prefix
		if id <= 100 {
			p = netip.PrefixFrom(lab.VIP4(id-1), 24)
		} else {
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(id - 100)}), 32)
		}
		out[i] = vr{VRID: id, VIP: p}
	}
	return out
}

// daemonKind is an implementation under test: failoverd or keepalived. Both
// get the same virtual routers, priorities and interval (VRRPv3).
type daemonKind struct {
	Name string // "failover" or "keepalived", as in the tables
	Bin  string
	// config writes the configuration of host h into dir and returns the
	// command-line arguments.
	config func(dir string, h *lab.Host, priority int, interval time.Duration, vrs []vr) ([]string, error)
	// keepalived forks a VRRP child that does all the protocol work; its
	// PID is read from this pid file (-r). "" means the started process is
	// the one to measure.
	workPIDFile func(dir string, h *lab.Host) string
}

// daemon is one running daemon of a bench cluster.
type daemon struct {
	kind *daemonKind
	host *lab.Host
	proc *lab.Proc
	dir  string
}

func failoverdKind(bin string) *daemonKind {
	return &daemonKind{Name: "failover", Bin: bin, config: failoverdConfig}
}

// failoverdSocket is the control socket of failoverd on h.
func failoverdSocket(dir string, h *lab.Host) string { return filepath.Join(dir, h.Name+".sock") }

// socketPath is the daemon's control socket (failoverd only).
func (d *daemon) socketPath() string { return failoverdSocket(d.dir, d.host) }

func failoverdConfig(dir string, h *lab.Host, priority int, interval time.Duration, vrs []vr) ([]string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "[global]\ncontrol_socket = %q\n", failoverdSocket(dir, h))
	for _, v := range vrs {
		fmt.Fprintf(&b, "\n[[instance]]\nname = \"vr%d\"\ninterface = %q\nvrid = %d\npriority = %d\nversion = 3\nadvert_interval = %q\nvirtual_ips = [%q]\n",
			v.VRID, h.Iface, v.VRID, priority, interval.String(), v.VIP.String())
	}
	cfg := filepath.Join(dir, h.Name+".toml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return []string{"-config", cfg}, nil
}

func keepalivedKind(bin string) *daemonKind {
	return &daemonKind{Name: "keepalived", Bin: bin, config: keepalivedConfig,
		workPIDFile: func(dir string, h *lab.Host) string { return filepath.Join(dir, h.Name+".vrrp.pid") }}
}

// keepalivedConfig is the keepalived equivalent of failoverdConfig: both
// peers start as BACKUP (as failoverd does), preempt (keepalived's default),
// VRRPv3 with keepalived's default IPv4 checksum. Everything else is
// keepalived's default, including its GARP burst on becoming master.
func keepalivedConfig(dir string, h *lab.Host, priority int, interval time.Duration, vrs []vr) ([]string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n\trouter_id %s\n\tvrrp_version 3\n}\n", h.Name)
	advert := strconv.FormatFloat(interval.Seconds(), 'f', -1, 64)
	for _, v := range vrs {
		fmt.Fprintf(&b, "\nvrrp_instance vr%d {\n\tstate BACKUP\n\tinterface %s\n\tvirtual_router_id %d\n\tpriority %d\n\tadvert_int %s\n\tvirtual_ipaddress {\n\t\t%s\n\t}\n}\n",
			v.VRID, h.Iface, v.VRID, priority, advert, v.VIP)
	}
	cfg := filepath.Join(dir, h.Name+".keepalived.conf")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	pid := filepath.Join(dir, h.Name+".keepalived.pid")
	vrrpPid := filepath.Join(dir, h.Name+".vrrp.pid")
	for _, p := range []string{pid, vrrpPid} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	// Foreground (-n), log to the console (-l, -D) and not to syslog (-G),
	// VRRP only, with pid files of its own: each namespace runs its own
	// keepalived, and they must not find each other's.
	return []string{"-n", "-l", "-D", "-G", "--vrrp", "-f", cfg, "-p", pid, "-r", vrrpPid}, nil
}

// start runs the daemon on h with the given priority and virtual routers.
func (k *daemonKind) start(dir string, h *lab.Host, priority int, interval time.Duration, vrs []vr) (*daemon, error) {
	args, err := k.config(dir, h, priority, interval, vrs)
	if err != nil {
		return nil, fmt.Errorf("%s on %s: config: %w", k.Name, h.Name, err)
	}
	p, err := h.Start(k.Bin, args, filepath.Join(dir, h.Name+"."+k.Name+".log"))
	if err != nil {
		return nil, err
	}
	return &daemon{kind: k, host: h, proc: p, dir: dir}, nil
}

// workPID is the process doing the VRRP work: failoverd itself, or
// keepalived's VRRP child (waiting up to timeout for its pid file).
func (d *daemon) workPID(timeout time.Duration) (int, error) {
	if d.kind.workPIDFile == nil {
		return d.proc.Pid(), nil
	}
	path := d.kind.workPIDFile(d.dir, d.host)
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				return pid, nil
			}
		}
		if !d.proc.Running() {
			return 0, fmt.Errorf("%v exited before writing %s", d.proc, path)
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%v: no VRRP child pid in %s after %v", d.proc, path, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// kill SIGKILLs the daemon's process group (keepalived's VRRP child
// included) without waiting, so the caller can cut the host's cable in the
// same instant; wait reaps it.
func (d *daemon) kill() error {
	if err := syscall.Kill(-d.proc.Pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%v: SIGKILL: %w", d.proc, err)
	}
	return nil
}

// terminate is a graceful stop: SIGTERM to the daemon (keepalived's parent
// passes it on to its VRRP child).
func (d *daemon) terminate() error { return d.proc.Signal(syscall.SIGTERM) }

// stop ends the daemon for good: SIGKILL to its group, then reap.
func (d *daemon) stop() error {
	if !d.proc.Running() {
		return nil
	}
	return d.proc.Kill()
}

func (d *daemon) logTail(n int) string {
	b, _ := os.ReadFile(d.proc.LogPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// binaryInfo is the Go toolchain that built a binary and the commit it was
// built from ("" if not stamped; "+dirty" for uncommitted changes).
func binaryInfo(path string) (goVersion, revision string) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "?", ""
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if revision != "" && dirty {
		revision += "+dirty"
	}
	return bi.GoVersion, revision
}

// keepalivedVersion is the first line of `keepalived -v` ("Keepalived v2.2.7 (01/16,2022)").
func keepalivedVersion(ctx context.Context, bin string) string {
	out, _ := exec.CommandContext(ctx, bin, "-v").CombinedOutput()
	line, _, _ := bytes.Cut(bytes.TrimSpace(out), []byte("\n"))
	if len(line) == 0 {
		return "?"
	}
	return string(line)
}
