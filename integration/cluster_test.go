// Package integration runs real failoverd binaries (and reference peers) in
// network namespaces built by pkg/lab, and checks their behaviour from the
// outside: addresses on hosts, frames on the wire, clients' ARP caches.
// The tests need root; without it they skip with a message.
package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/failover-ha/failover/internal/pcapfile"
	"github.com/failover-ha/failover/pkg/lab"
	"github.com/failover-ha/failover/vrrp"
)

// binDir holds the binaries built once by TestMain.
var binDir string

func TestMain(m *testing.M) {
	if err := lab.Available(); err != nil {
		fmt.Fprintf(os.Stderr, "integration tests skipped: %v (they need root, ip and nft)\n", err)
		os.Exit(m.Run()) // every test skips itself
	}
	dir, err := os.MkdirTemp("", "failover-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	os.Chmod(dir, 0o755) // tests run failoverctl as an unprivileged user too
	out, err := exec.Command("go", "build", "-o", dir+"/", "../cmd/...").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building binaries: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cluster is one test's lab with failoverd processes and a capture.
type cluster struct {
	t     *testing.T
	lab   *lab.Lab
	dir   string
	procs map[string]*lab.Proc
	cap   *lab.Capture
}

func newCluster(t *testing.T, hosts, clients int) *cluster {
	t.Helper()
	if err := lab.Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := lab.New(ctx, lab.Options{Hosts: hosts, Clients: clients})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, lab: l, dir: t.TempDir(), procs: map[string]*lab.Proc{}}
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
		if c.cap != nil {
			if t.Failed() {
				p := filepath.Join(os.TempDir(), fmt.Sprintf("%s-%s.pcap", t.Name(), l.ID))
				p = strings.ReplaceAll(p, "/", "_")
				p = filepath.Join(os.TempDir(), filepath.Base(p))
				if err := c.cap.WritePcap(p); err == nil {
					t.Logf("capture kept at %s", p)
				}
			}
			c.cap.Stop()
		}
		if err := l.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	if c.cap, err = l.Capture(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *cluster) host(name string) *lab.Host { return c.lab.Host(name) }

// instanceOpts are the knobs tests turn; the rest of the config is fixed.
type instanceOpts struct {
	name     string
	vrid     int
	priority int
	version  int
	interval string
	preempt  *bool
	vips     []string
	extra    string
}

func (o instanceOpts) toml() string {
	if o.name == "" {
		o.name = "web"
	}
	if o.vrid == 0 {
		o.vrid = 51
	}
	if o.version == 0 {
		o.version = 3
	}
	if o.interval == "" {
		o.interval = "100ms"
	}
	if len(o.vips) == 0 {
		o.vips = []string{"192.0.2.100/24"}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[[instance]]\nname = %q\ninterface = \"eth0\"\nvrid = %d\npriority = %d\nversion = %d\nadvert_interval = %q\n",
		o.name, o.vrid, o.priority, o.version, o.interval)
	if o.preempt != nil {
		fmt.Fprintf(&b, "preempt = %v\n", *o.preempt)
	}
	fmt.Fprintf(&b, "virtual_ips = [")
	for i, v := range o.vips {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", v)
	}
	b.WriteString("]\n")
	b.WriteString(o.extra)
	return b.String()
}

// globalTOML gives each daemon its own runtime paths: namespaces share the
// filesystem.
func (c *cluster) globalTOML(h *lab.Host) string {
	return fmt.Sprintf("[global]\nlog_level = \"debug\"\ncontrol_socket = %q\n\n", c.socketPath(h))
}

func (c *cluster) socketPath(h *lab.Host) string {
	return filepath.Join(c.dir, h.Name+".sock")
}

// start runs failoverd on h with the given instances.
func (c *cluster) start(h *lab.Host, instances ...instanceOpts) *lab.Proc {
	c.t.Helper()
	var body strings.Builder
	body.WriteString(c.globalTOML(h))
	for _, in := range instances {
		body.WriteString(in.toml())
		body.WriteString("\n")
	}
	return c.startConfig(h, body.String())
}

func (c *cluster) startConfig(h *lab.Host, body string) *lab.Proc {
	c.t.Helper()
	cfg := filepath.Join(c.dir, h.Name+".toml")
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		c.t.Fatal(err)
	}
	logPath := filepath.Join(c.dir, h.Name+".log")
	p, err := h.Start(filepath.Join(binDir, "failoverd"), []string{"-config", cfg}, logPath)
	if err != nil {
		c.t.Fatal(err)
	}
	c.procs[h.Name] = p
	return p
}

func (c *cluster) dumpLogs() {
	for _, h := range c.lab.Hosts {
		b, err := os.ReadFile(filepath.Join(c.dir, h.Name+".log"))
		if err != nil {
			continue
		}
		if len(b) > 12000 {
			b = append([]byte("...\n"), b[len(b)-12000:]...)
		}
		c.t.Logf("---- %s log ----\n%s", h.Name, b)
	}
}

func (c *cluster) log(h *lab.Host) string {
	b, _ := os.ReadFile(filepath.Join(c.dir, h.Name+".log"))
	return string(b)
}

// waitLog waits until h's log contains text. failoverd changes addresses
// and sends before it logs what it did, so a test that saw the effect must
// wait for the line.
func (c *cluster) waitLog(h *lab.Host, text string, timeout time.Duration) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("%s to log %q", h.Name, text), timeout, func() bool { return strings.Contains(c.log(h), text) })
}

// holders returns the hosts that have addr.
func (c *cluster) holders(addr netip.Addr) []string {
	c.t.Helper()
	var out []string
	for _, h := range c.lab.Hosts {
		ok, err := h.HasAddr(addr)
		if err != nil {
			c.t.Fatal(err)
		}
		if ok {
			out = append(out, h.Name)
		}
	}
	return out
}

// waitFor polls cond every 5 ms until it holds or timeout passes.
func (c *cluster) waitFor(what string, timeout time.Duration, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitSoleHolder waits until exactly h holds addr.
func (c *cluster) waitSoleHolder(h *lab.Host, addr netip.Addr, timeout time.Duration) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("%s to be the only holder of %v", h.Name, addr), timeout, func() bool {
		hs := c.holders(addr)
		return len(hs) == 1 && hs[0] == h.Name
	})
}

// waitGARP waits for a gratuitous ARP for addr from h captured after mark.
func (c *cluster) waitGARP(mark int, h *lab.Host, addr netip.Addr, timeout time.Duration) pcapfile.Frame {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	f, err := c.cap.WaitFrom(ctx, mark, func(f pcapfile.Frame) bool {
		ip, mac, ok := lab.IsGratuitousARP(f.Data)
		return ok && ip == addr && bytes.Equal(mac, h.MAC)
	})
	if err != nil {
		c.t.Fatalf("no gratuitous ARP for %v from %s within %v: %v", addr, h.Name, timeout, err)
	}
	return f
}

// waitAdverts waits until the capture holds at least n adverts from src
// after mark and returns them. The capture lags the wire by a few
// milliseconds, so a test that has just seen a VIP appear must wait for the
// advert that went out with it rather than read the capture at once.
func (c *cluster) waitAdverts(from netip.Addr, mark, n int, timeout time.Duration) []timedAdvert {
	c.t.Helper()
	var ads []timedAdvert
	c.waitFor(fmt.Sprintf("%d adverts from %v", n, from), timeout, func() bool {
		ads = c.adverts(from, mark)
		return len(ads) >= n
	})
	return ads
}

// adverts returns the VRRP adverts captured from src, decoded.
func (c *cluster) adverts(from netip.Addr, since int) []timedAdvert {
	var out []timedAdvert
	for _, f := range c.cap.Frames()[since:] {
		ip, ok := lab.IsVRRP(f.Data)
		if !ok || ip.Src != from {
			continue
		}
		var a vrrp.Advert
		if err := a.Decode(ip.Payload, ip.Src, ip.Dst); err != nil {
			c.t.Errorf("undecodable advert from %v: %v", from, err)
			continue
		}
		a.Addrs = append([]netip.Addr(nil), a.Addrs...)
		out = append(out, timedAdvert{f.Time, a, ip})
	}
	return out
}

type timedAdvert struct {
	at time.Time
	a  vrrp.Advert
	ip pcapfile.IPPacket
}

// neighborMAC reads h's ARP/ND entry for addr.
func (c *cluster) neighborMAC(h *lab.Host, addr netip.Addr) net.HardwareAddr {
	c.t.Helper()
	mac, _, err := h.Neighbor(addr)
	if err != nil {
		c.t.Fatal(err)
	}
	return mac
}

// ping sends one echo from h to addr, waiting up to 2 s.
func (c *cluster) ping(h *lab.Host, addr netip.Addr) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	args := []string{"-c1", "-W2", addr.String()}
	if addr.Is6() {
		args = append([]string{"-6"}, args...)
	}
	_, err := h.Run(ctx, "ping", args...)
	return err
}

// stop sends sig to h's failoverd and waits for it to exit.
func (c *cluster) stop(h *lab.Host, sig syscall.Signal) int {
	c.t.Helper()
	p := c.procs[h.Name]
	if err := p.Signal(sig); err != nil {
		c.t.Fatal(err)
	}
	code, err := p.Wait(5 * time.Second)
	if err != nil {
		c.t.Fatalf("%s did not exit after %v: %v", h.Name, sig, err)
	}
	return code
}

func boolp(b bool) *bool { return &b }

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }
