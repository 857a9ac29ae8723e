package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/failover-ha/failover/pkg/control"
	"github.com/failover-ha/failover/pkg/lab"
	"github.com/failover-ha/failover/vrrp"
)

// ctl runs failoverctl against h's daemon.
func (c *cluster) ctl(h *lab.Host, args ...string) (string, error) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "failoverctl"), append([]string{"-socket", c.socketPath(h)}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *cluster) mustCtl(h *lab.Host, args ...string) string {
	c.t.Helper()
	out, err := c.ctl(h, args...)
	if err != nil {
		c.t.Fatalf("failoverctl %v: %v\n%s", args, err, out)
	}
	return out
}

// status reads h's instances over the control socket.
func (c *cluster) status(h *lab.Host) []control.InstanceStatus {
	c.t.Helper()
	var r control.StatusResponse
	if err := json.Unmarshal([]byte(c.mustCtl(h, "status", "-json")), &r); err != nil {
		c.t.Fatal(err)
	}
	return r.Instances
}

func TestStatusAndEvents(t *testing.T) {
	c := newCluster(t, 2, 0)
	h1, h2 := c.host("h1"), c.host("h2")
	c.start(h1, instanceOpts{priority: 100}, instanceOpts{name: "db", vrid: 52, priority: 200, vips: []string{"192.0.2.101/24"}})
	c.start(h2, instanceOpts{priority: 200}, instanceOpts{name: "db", vrid: 52, priority: 100, vips: []string{"192.0.2.101/24"}})
	c.waitSoleHolder(h2, vip4, 5*time.Second)
	c.waitFor("h1 to master db", 2*time.Second, func() bool { ok, _ := h1.HasAddr(vip4.Next()); return ok })

	// The socket is 0660: only root and the socket's group may use it.
	fi, err := os.Stat(c.socketPath(h1))
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("control socket mode %v, %v; want a 0660 socket", fi.Mode(), err)
	}

	table := c.mustCtl(h1, "status")
	t.Logf("failoverctl status on h1:\n%s", table)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("table:\n%s", table)
	}
	if f := strings.Fields(lines[1]); f[0] != "web" || f[3] != "BACKUP" || !strings.Contains(lines[1], "192.0.2.12 (200)") {
		t.Errorf("web row: %q", lines[1])
	}
	if f := strings.Fields(lines[2]); f[0] != "db" || f[3] != "MASTER" || !strings.Contains(lines[2], "this host") {
		t.Errorf("db row: %q", lines[2])
	}

	detail := c.mustCtl(h2, "status", "web")
	t.Logf("failoverctl status web on h2:\n%s", detail)
	for _, want := range []string{"state:", "MASTER since", "this host (192.0.2.12)", "drops:", "checksum 0", "ttl 0", "interval_mismatch 0", "BACKUP -> MASTER"} {
		if !strings.Contains(detail, want) {
			t.Errorf("detail lacks %q", want)
		}
	}
	st := c.status(h1)
	if st[0].Name != "web" || st[0].Master != "192.0.2.12" || st[0].Counters.AdvertsReceived == 0 || len(st[0].Peers) != 1 {
		t.Errorf("JSON status of web on h1: %+v", st[0])
	}
	if out, err := c.ctl(h1, "status", "nope"); err == nil || !strings.Contains(out, `no such instance "nope"`) {
		t.Errorf("unknown instance: %v %q", err, out)
	}

	// events follows transitions live.
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "failoverctl"), "-socket", c.socketPath(h1), "events")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel() // the stream runs until interrupted
		cmd.Wait()
	}()
	lines2 := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines2 <- sc.Text()
		}
		close(lines2)
	}()
	time.Sleep(200 * time.Millisecond) // let the stream open
	c.stop(h2, syscall.SIGTERM)
	select {
	case l := <-lines2:
		if !strings.Contains(l, "web BACKUP -> MASTER") || !strings.Contains(l, "resigned (priority 0 advert)") {
			t.Errorf("event line %q", l)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no event within 3s")
	}
}

func TestCtlWithoutDaemon(t *testing.T) {
	if binDir == "" {
		t.Skip("binaries not built (not root)")
	}
	sock := filepath.Join(t.TempDir(), "none.sock")
	out, err := exec.Command(filepath.Join(binDir, "failoverctl"), "-socket", sock, "status").CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "cannot reach failoverd: no socket at "+sock) {
		t.Errorf("exit %d, output %q", code, out)
	}
	cmd := exec.Command(filepath.Join(binDir, "failoverctl"), "status")
	cmd.Env = append(os.Environ(), control.SocketEnv+"="+sock)
	out, err = cmd.CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), sock) {
		t.Errorf("with $%s: exit %d, output %q", control.SocketEnv, code, out)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// probeHandover measures one handover of the VIP from h2 to h1 as the
// client sees it, probing every millisecond: how many probes were lost and
// how long the handover took from the trigger.
func probeHandover(t *testing.T, c *cluster, trigger func(), from, to *lab.Host) (lost int, took time.Duration) {
	t.Helper()
	client := c.lab.Clients[0]
	p, err := client.StartProber(vip4, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	trigger()
	c.waitSoleHolder(to, vip4, 3*time.Second)
	took = time.Since(start)
	time.Sleep(200 * time.Millisecond)
	r := p.Stop(100 * time.Millisecond)
	for _, o := range r.Outages() {
		if o.After == "" {
			continue // probes still in flight when the prober stopped
		}
		lost += o.Lost
		t.Logf("outage: %d probes over %v, %s -> %s", o.Lost, o.Gap, o.Before, o.After)
	}
	sw := r.Switches()
	if len(sw) != 1 || sw[0].From != to.Name {
		t.Errorf("answers switched %v times (want once, to %s)", len(sw), to.Name)
	}
	return lost, took
}

// Drain is make-before-break: the client, probing every millisecond, loses
// nothing, and the handover completes within Skew_Time plus one interval.
// A plain SIGTERM handover, for comparison, loses about Skew_Time of probes.
func TestDrainLosesNoProbes(t *testing.T) {
	c := newCluster(t, 2, 1)
	h1, h2 := c.host("h1"), c.host("h2")
	for _, h := range []*lab.Host{h1, h2} {
		r, err := h.StartResponder()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Stop)
	}
	startTwo(c)
	limit := vrrp.SkewTime(3, 100, interval) + interval
	var results []string
	for run := 1; run <= 3; run++ {
		lost, took := probeHandover(t, c, func() { c.mustCtl(h2, "drain", "web") }, h2, h1)
		results = append(results, fmt.Sprintf("drain %d: %d lost, %s", run, lost, ms(took)))
		if lost != 0 {
			t.Errorf("drain run %d lost %d probes", run, lost)
		}
		if took > limit+margin {
			t.Errorf("drain run %d took %s, want within Skew_Time + interval %s (+ margin)", run, ms(took), ms(limit))
		}
		if st := c.status(h2)[0]; !st.Drained || st.State != "BACKUP" {
			t.Errorf("after drain h2 is %s drained=%v", st.State, st.Drained)
		}
		// A drained host never preempts back.
		time.Sleep(2 * vrrp.MasterDownInterval(3, 200, interval))
		if hs := c.holders(vip4); len(hs) != 1 || hs[0] != "h1" {
			t.Fatalf("drained h2 took the VIP back: %v", hs)
		}
		// Resume: h2 preempts, itself make-before-break (the new master
		// takes the VIP before the old one hears it and releases).
		c.mustCtl(h2, "resume")
		c.waitSoleHolder(h2, vip4, 3*time.Second)
	}
	lost, took := probeHandover(t, c, func() { c.stop(h2, syscall.SIGTERM) }, h2, h1)
	results = append(results, fmt.Sprintf("SIGTERM: %d lost, %s", lost, ms(took)))
	t.Logf("handovers seen by a client probing every 1ms: %s", strings.Join(results, "; "))
}

// Only root and the socket's group may use the control socket (0660).
func TestSocketPermissions(t *testing.T) {
	if _, err := exec.LookPath("runuser"); err != nil {
		t.Skip("runuser (util-linux) not installed")
	}
	c := newCluster(t, 1, 0)
	h1 := c.host("h1")
	// A directory others can traverse, so only the socket's mode decides.
	dir, err := os.MkdirTemp("", "failover-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "h1.sock")
	cfg := fmt.Sprintf("[global]\ncontrol_socket = %q\ncontrol_socket_group = \"nogroup\"\n\n", sock) + instanceOpts{priority: 100}.toml()
	c.startConfig(h1, cfg)
	c.waitFor("the control socket", 3*time.Second, func() bool { _, err := os.Stat(sock); return err == nil })
	ctl := filepath.Join(binDir, "failoverctl")
	out, err := exec.Command("runuser", "-u", "nobody", "-g", "daemon", "--", ctl, "-socket", sock, "status").CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "permission denied") {
		t.Errorf("user outside the group: exit %d, %q", exitCode(err), out)
	}
	out, err = exec.Command("runuser", "-u", "nobody", "-g", "nogroup", "--", ctl, "-socket", sock, "status").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "web") {
		t.Errorf("member of the socket's group: %v, %q", err, out)
	}
}
