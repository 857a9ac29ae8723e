package integration

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/failover-ha/failover/pkg/lab"
	"github.com/failover-ha/failover/vrrp"
)

// hookScript writes an executable that appends one line per call to
// c.dir/<name>.calls: its name, arguments, the FAILOVER_* state and whether
// the VIP was already on the host when it ran. Scripts live in a root-owned
// 0755 directory, as script security requires.
func (c *cluster) hookScript(name, extra string) string {
	c.t.Helper()
	dir := filepath.Join(c.dir, "hooks")
	os.MkdirAll(dir, 0o755)
	os.Chmod(c.dir, 0o755)
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, name)
	body := fmt.Sprintf(`#!/bin/sh
vip=no
ip -4 addr show dev eth0 | grep -q ' 192.0.2.100/' && vip=yes
echo "$(basename "$0") args=[$*] state=$FAILOVER_STATE prev=$FAILOVER_PREVIOUS_STATE instance=$FAILOVER_INSTANCE vip=$vip" >> %s/$FAILOVER_HOST.calls
%s
`, c.dir, extra)
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		c.t.Fatal(err)
	}
	return path
}

func (c *cluster) calls(h *lab.Host) []string {
	b, _ := os.ReadFile(filepath.Join(c.dir, h.Name+".calls"))
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// hookOpts returns instance keys for hooks; FAILOVER_HOST lets one script
// serve every host (the daemons share the filesystem).
func hooksTOML(keys map[string]string) string {
	var b strings.Builder
	for k, v := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, v)
	}
	return b.String()
}

// A hook records its invocations; across a failover the order and arguments
// are right on both hosts, and the VIP is up before notify_master runs and
// gone before notify_backup / notify_stop run.
func TestHooksAcrossFailover(t *testing.T) {
	c := newCluster(t, 2, 0)
	h1, h2 := c.host("h1"), c.host("h2")
	master := c.hookScript("master.sh", "")
	backup := c.hookScript("backup.sh", "")
	stop := c.hookScript("stop.sh", "")
	generic := c.hookScript("notify.sh", "")
	extra := hooksTOML(map[string]string{
		"notify_master": fmt.Sprintf("[%q, \"--fast\"]", master),
		"notify_backup": fmt.Sprintf("%q", backup),
		"notify_stop":   fmt.Sprintf("%q", stop),
		"notify":        fmt.Sprintf("%q", generic),
	})
	for _, h := range []*lab.Host{h1, h2} {
		prio := map[string]int{"h1": 100, "h2": 200}[h.Name]
		body := c.globalTOML(h) + instanceOpts{priority: prio, extra: extra}.toml()
		c.startConfigEnv(h, body, "FAILOVER_HOST="+h.Name)
	}
	c.waitSoleHolder(h2, vip4, 5*time.Second)
	c.waitFor("h2's master hooks", 3*time.Second, func() bool { return len(c.calls(h2)) >= 4 })
	c.stop(h2, syscall.SIGTERM)
	c.waitSoleHolder(h1, vip4, 2*time.Second)
	c.waitFor("h1's master hooks", 3*time.Second, func() bool { return len(c.calls(h1)) >= 4 })

	wantH2 := []string{
		"backup.sh args=[] state=BACKUP prev=INIT instance=web vip=no",
		"notify.sh args=[INSTANCE web BACKUP 200] state=BACKUP",
		"master.sh args=[--fast] state=MASTER prev=BACKUP instance=web vip=yes",
		"notify.sh args=[INSTANCE web MASTER 200] state=MASTER",
		"stop.sh args=[] state=STOP prev=MASTER instance=web vip=no",
		"notify.sh args=[INSTANCE web STOP 200] state=STOP",
	}
	wantH1 := []string{
		"backup.sh args=[] state=BACKUP prev=INIT",
		"notify.sh args=[INSTANCE web BACKUP 100]",
		"master.sh args=[--fast] state=MASTER prev=BACKUP instance=web vip=yes",
		"notify.sh args=[INSTANCE web MASTER 100]",
	}
	for _, w := range []struct {
		h    *lab.Host
		want []string
	}{{h2, wantH2}, {h1, wantH1}} {
		got := c.calls(w.h)
		if len(got) != len(w.want) {
			t.Errorf("%s hook calls:\n%s", w.h.Name, strings.Join(got, "\n"))
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], w.want[i]) {
				t.Errorf("%s call %d = %q, want prefix %q", w.h.Name, i, got[i], w.want[i])
			}
		}
	}
	c.waitFor("hook results in the log", time.Second, func() bool {
		return strings.Contains(c.log(h2), `hook output: instance=web hook=notify_stop`) || strings.Contains(c.log(h2), "hook finished")
	})
}

// startConfigEnv is startConfig with extra environment for the daemon.
func (c *cluster) startConfigEnv(h *lab.Host, body string, env ...string) {
	c.t.Helper()
	cfg := filepath.Join(c.dir, h.Name+".toml")
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		c.t.Fatal(err)
	}
	args := append([]string{"env"}, env...)
	args = append(args, filepath.Join(binDir, "failoverd"), "-config", cfg)
	p, err := h.Start("/usr/bin/env", args[1:], filepath.Join(c.dir, h.Name+".log"))
	if err != nil {
		c.t.Fatal(err)
	}
	c.procs[h.Name] = p
}

// A hook that never finishes delays nothing: the backup's notify_backup
// sleeps forever, yet it takes over within Master_Down_Interval when the
// master dies, and keeps advertising while its notify_master hangs too.
func TestHangingHookDoesNotDelayTakeover(t *testing.T) {
	c := newCluster(t, 2, 0)
	h1, h2 := c.host("h1"), c.host("h2")
	hang := c.hookScript("hang.sh", "sleep 1000")
	extra := fmt.Sprintf("notify_backup = %q\nnotify_master = %q\nhook_timeout = \"1h\"\n", hang, hang)
	c.startConfigEnv(h2, c.globalTOML(h2)+instanceOpts{priority: 200}.toml(), "FAILOVER_HOST=h2")
	c.startConfigEnv(h1, c.globalTOML(h1)+instanceOpts{priority: 100, extra: extra}.toml(), "FAILOVER_HOST=h1")
	c.waitSoleHolder(h2, vip4, 5*time.Second)
	c.waitFor("h1's notify_backup to be hanging", 3*time.Second, func() bool { return len(c.calls(h1)) == 1 })
	mark := len(c.cap.Frames())
	killed := time.Now()
	c.stop(h2, syscall.SIGKILL)
	if err := h2.CarrierDown(); err != nil {
		t.Fatal(err)
	}
	garp := c.waitGARP(mark, h1, vip4, 3*time.Second)
	took := garp.Time.Sub(killed)
	limit := vrrp.MasterDownInterval(3, 100, interval)
	t.Logf("takeover with a hanging hook: %s (Master_Down_Interval %s)", ms(took), ms(limit))
	if took > limit+margin {
		t.Errorf("takeover took %s with a hook hanging", ms(took))
	}
	// notify_master queues behind the hanging notify_backup; adverts go on.
	mark = len(c.cap.Frames())
	time.Sleep(10 * interval)
	if n := len(c.adverts(h1.IPv4.Addr(), mark)); n < 8 {
		t.Errorf("only %d adverts in 10 intervals while hooks hang", n)
	}
	st := c.status(h1)[0]
	if len(st.Hooks) == 0 || st.Hooks[0].Result != "running" {
		t.Errorf("status does not show the hanging hook: %+v", st.Hooks)
	}
}

// A failing check on the master moves the VIP to the peer (its weight drops
// the priority below the peer's) and back when it recovers.
func TestFailingCheckMovesVIPAndBack(t *testing.T) {
	c := newCluster(t, 2, 0)
	h1, h2 := c.host("h1"), c.host("h2")
	healthy := filepath.Join(c.dir, "h2-healthy")
	os.WriteFile(healthy, nil, 0o644)
	check := fmt.Sprintf(`
[[track_script]]
name = "app"
command = ["/usr/bin/test", "-e", %q]
interval = "50ms"
fall = 2
rise = 2
weight = -150
`, healthy)
	c.startConfig(h1, c.globalTOML(h1)+instanceOpts{priority: 100}.toml())
	c.startConfig(h2, c.globalTOML(h2)+instanceOpts{priority: 200, extra: `track_scripts = ["app"]` + "\n"}.toml()+check)
	c.waitSoleHolder(h2, vip4, 5*time.Second)
	failed := time.Now()
	os.Remove(healthy)
	c.waitSoleHolder(h1, vip4, 3*time.Second)
	t.Logf("VIP moved %s after the check started failing (fall 2 x 50ms + Master_Down_Interval)", ms(time.Since(failed)))
	st := c.status(h2)[0]
	if st.Priority != 50 || st.ConfiguredPriority != 200 || len(st.Tracks) != 1 || st.Tracks[0].OK {
		t.Errorf("h2 status: priority %d/%d tracks %+v", st.Priority, st.ConfiguredPriority, st.Tracks)
	}
	os.WriteFile(healthy, nil, 0o644)
	c.waitSoleHolder(h2, vip4, 3*time.Second)
	if !strings.Contains(c.log(h2), "priority changed by tracking: instance=web from=200 to=50") {
		t.Error("h2 did not log the priority change")
	}
}

// A tracked interface going down is FAULT: the peer takes over; back up,
// the instance returns and preempts.
func TestTrackedInterfaceDownIsFault(t *testing.T) {
	c := newCluster(t, 2, 0)
	h1, h2 := c.host("h1"), c.host("h2")
	if _, err := c.lab.AddLink(context.Background(), "eth1"); err != nil {
		t.Fatal(err)
	}
	c.startConfig(h1, c.globalTOML(h1)+instanceOpts{priority: 100}.toml())
	c.startConfig(h2, c.globalTOML(h2)+instanceOpts{priority: 200, extra: `track_interfaces = ["eth1"]` + "\n"}.toml())
	c.waitSoleHolder(h2, vip4, 5*time.Second)
	if err := h2.SetLink("eth1", false); err != nil {
		t.Fatal(err)
	}
	c.waitSoleHolder(h1, vip4, 2*time.Second)
	st := c.status(h2)[0]
	if st.State != "FAULT" || len(st.Faults) != 1 || st.Faults[0] != "tracked interface eth1 failing" {
		t.Errorf("h2: %s %v", st.State, st.Faults)
	}
	if table := c.mustCtl(h2, "status"); !strings.Contains(table, "FAULT (tracked interface eth1 failing)") {
		t.Errorf("status table does not show the fault:\n%s", table)
	}
	if err := h2.SetLink("eth1", true); err != nil {
		t.Fatal(err)
	}
	c.waitSoleHolder(h2, vip4, 3*time.Second)
}

// A two-VRID sync group on two interfaces moves as one: when the master's
// second link fails, both VIPs move to the peer; when it returns, both come
// back; and when one member loses its election, the other follows.
func TestSyncGroupMovesAsOne(t *testing.T) {
	c := newCluster(t, 2, 0)
	h1, h2 := c.host("h1"), c.host("h2")
	if _, err := c.lab.AddLink(context.Background(), "eth1"); err != nil {
		t.Fatal(err)
	}
	vip2 := lab.SecondLinkIPv4(100).Addr() // 198.51.100.100
	groupHook := c.hookScript("group.sh", "")
	cfg := func(h *lab.Host, prio int) string {
		front := instanceOpts{name: "front", vrid: 51, priority: prio}.toml()
		back := instanceOpts{name: "back", vrid: 52, priority: prio, vips: []string{"198.51.100.100/24"}}.toml()
		back = strings.Replace(back, `interface = "eth0"`, `interface = "eth1"`, 1)
		group := fmt.Sprintf("[[sync_group]]\nname = \"app\"\ninstances = [\"front\", \"back\"]\nnotify = %q\n", groupHook)
		return c.globalTOML(h) + front + "\n" + back + "\n" + group
	}
	c.startConfigEnv(h1, cfg(h1, 100), "FAILOVER_HOST=h1")
	c.startConfigEnv(h2, cfg(h2, 200), "FAILOVER_HOST=h2")
	has := func(h *lab.Host, a netip.Addr) bool {
		out, _ := h.Run(context.Background(), "ip", "-o", "addr", "show", "to", a.String())
		return strings.Contains(out, a.String()+"/")
	}
	both := func(h *lab.Host) func() bool {
		return func() bool {
			other := c.host(map[string]string{"h1": "h2", "h2": "h1"}[h.Name])
			return has(h, vip4) && has(h, vip2) && !has(other, vip4) && !has(other, vip2)
		}
	}
	c.waitFor("h2 to hold both VIPs", 5*time.Second, both(h2))

	// h2's eth1 fails: "back" faults, the group faults "front" too.
	if err := h2.SetLink("eth1", false); err != nil {
		t.Fatal(err)
	}
	c.waitFor("both VIPs to move to h1", 3*time.Second, both(h1))
	st := c.status(h2)
	if st[0].Name != "front" || st[0].State != "FAULT" || !strings.Contains(strings.Join(st[0].Faults, ";"), "sync group app: back in FAULT") {
		t.Errorf("h2 front: %s %v", st[0].State, st[0].Faults)
	}
	if err := h2.SetLink("eth1", true); err != nil {
		t.Fatal(err)
	}
	c.waitFor("both VIPs back on h2", 3*time.Second, both(h2))

	// One member loses its election: h1's "front" gets a higher priority
	// by reload and preempts; "back", where h2 still has the higher
	// priority, must follow it to h1 and stay there.
	os.WriteFile(filepath.Join(c.dir, "h1.toml"), []byte(strings.Replace(cfg(h1, 100), "priority = 100", "priority = 250", 1)), 0o644)
	c.mustCtl(h1, "reload")
	c.waitFor("the whole group to follow front to h1", 3*time.Second, both(h1))
	st = c.status(h2)
	if st[1].Name != "back" || st[1].State != "BACKUP" || !st[1].Drained {
		t.Errorf("h2 back should be held back: %s drained=%v", st[1].State, st[1].Drained)
	}
	time.Sleep(2 * vrrp.MasterDownInterval(3, 200, interval))
	if !both(h1)() {
		t.Error("the held member preempted back on its own")
	}
	// And back again when h1's front returns to its old priority: h2's
	// front, which lost and kept competing, preempts and the group follows.
	os.WriteFile(filepath.Join(c.dir, "h1.toml"), []byte(cfg(h1, 100)), 0o644)
	c.mustCtl(h1, "reload")
	c.waitFor("the group back on h2", 3*time.Second, both(h2))
	calls := strings.Join(c.calls(h2), "\n")
	if !strings.Contains(calls, "args=[GROUP app MASTER 0]") || !strings.Contains(calls, "args=[GROUP app FAULT 0]") {
		t.Errorf("group hooks on h2:\n%s", calls)
	}
}
