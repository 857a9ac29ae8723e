package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/failover-ha/failover/pkg/lab"
)

// maxAdvertGap is the longest silence in from's adverts after mark.
func (c *cluster) maxAdvertGap(from *lab.Host, mark int) (time.Duration, int) {
	ads := c.adverts(from.IPv4.Addr(), mark)
	var worst time.Duration
	for i := 1; i < len(ads); i++ {
		worst = max(worst, ads[i].at.Sub(ads[i-1].at))
	}
	return worst, len(ads)
}

// Reloading changes nothing on the wire for instances it keeps: no
// transition on either host, no gap in the master's adverts that its backup
// could notice, even as priority, VIPs and hooks change in place. Added and
// removed instances start and stop cleanly, and an invalid configuration is
// rejected with the running one untouched.
func TestReloadWithoutTransition(t *testing.T) {
	c := newCluster(t, 2, 0)
	h1, h2 := startTwo(c)
	time.Sleep(3 * interval)
	before := [2]string{c.log(h1), c.log(h2)}
	transitions := func(h *lab.Host) int { return strings.Count(c.log(h), "state ") }
	t1, t2 := transitions(h1), transitions(h2)
	cfgPath := filepath.Join(c.dir, "h2.toml")
	write := func(body string) {
		if err := os.WriteFile(cfgPath, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mark := len(c.cap.Frames())

	// 1. Same file, by SIGHUP.
	if err := c.procs["h2"].Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	c.waitFor("the SIGHUP reload", 2*time.Second, func() bool { return strings.Count(c.log(h2), "configuration reloaded") == 1 })
	if !strings.Contains(c.log(h2), `unchanged=["web"]`) {
		t.Errorf("unchanged instance not reported as unchanged")
	}
	time.Sleep(2 * interval)

	// 2. Priority, a second VIP and a hook change in place.
	hook := c.hookScript("m.sh", "")
	write(c.globalTOML(h2) + instanceOpts{priority: 190, vips: []string{"192.0.2.100/24", "192.0.2.101/24"},
		extra: "notify_master = \"" + hook + "\"\n"}.toml())
	out := c.mustCtl(h2, "reload")
	if !strings.Contains(out, "changed web") {
		t.Errorf("reload output %q", out)
	}
	c.waitFor("the added VIP", time.Second, func() bool { ok, _ := h2.HasAddr(vip4.Next()); return ok })
	st := c.status(h2)[0]
	if st.Priority != 190 || st.ConfiguredPriority != 190 || len(st.VIPs) != 2 || st.State != "MASTER" {
		t.Errorf("after reload: %+v", st)
	}
	time.Sleep(3 * interval)
	ads := c.waitAdverts(h2.IPv4.Addr(), mark, 1, time.Second)
	last := ads[len(ads)-1]
	if last.a.Priority != 190 || len(last.a.Addrs) != 2 {
		t.Errorf("adverts after reload carry priority %d and %d addresses", last.a.Priority, len(last.a.Addrs))
	}

	// 3. Invalid configuration: rejected, reported, nothing changes.
	write(c.globalTOML(h2) + instanceOpts{priority: 300}.toml())
	out, err := c.ctl(h2, "reload")
	if exitCode(err) != 1 || !strings.Contains(out, "reload rejected") || !strings.Contains(out, `instance "web": priority = 300`) {
		t.Errorf("invalid reload: exit %d, %q", exitCode(err), out)
	}
	if st := c.status(h2)[0]; st.Priority != 190 || st.State != "MASTER" {
		t.Errorf("after a rejected reload: %+v", st)
	}

	// The wire never noticed: adverts kept their rhythm, nobody moved.
	gap, n := c.maxAdvertGap(h2, mark)
	t.Logf("%d adverts across three reloads; longest gap %s (interval %s)", n, ms(gap), ms(interval))
	if gap > interval+20*time.Millisecond {
		t.Errorf("advert gap of %s during reload", ms(gap))
	}
	if transitions(h1) != t1 || transitions(h2) != t2 {
		t.Errorf("reload caused transitions:\nh1: %s\nh2: %s", strings.TrimPrefix(c.log(h1), before[0]), strings.TrimPrefix(c.log(h2), before[1]))
	}

	// 4. Add an instance and remove it again.
	db := instanceOpts{name: "db", vrid: 52, priority: 200, vips: []string{"192.0.2.110/24"}}
	write(c.globalTOML(h2) + instanceOpts{priority: 190, vips: []string{"192.0.2.100/24", "192.0.2.101/24"}}.toml() + "\n" + db.toml())
	if out := c.mustCtl(h2, "reload"); !strings.Contains(out, "added db") {
		t.Errorf("reload output %q", out)
	}
	dbVIP := vip4.Next().Next().Next().Next().Next().Next().Next().Next().Next().Next() // .110
	c.waitFor("db to take its VIP", 2*time.Second, func() bool { ok, _ := h2.HasAddr(dbVIP); return ok })
	write(c.globalTOML(h2) + instanceOpts{priority: 190, vips: []string{"192.0.2.100/24", "192.0.2.101/24"}}.toml())
	if out := c.mustCtl(h2, "reload"); !strings.Contains(out, "removed db") {
		t.Errorf("reload output %q", out)
	}
	c.waitFor("db to release its VIP", time.Second, func() bool { ok, _ := h2.HasAddr(dbVIP); return !ok })
	if names := c.status(h2); len(names) != 1 {
		t.Errorf("%d instances after removing db", len(names))
	}
}

// A drain survives a reload.
func TestDrainPersistsAcrossReload(t *testing.T) {
	c := newCluster(t, 2, 0)
	h1, h2 := startTwo(c)
	c.mustCtl(h2, "drain")
	c.waitSoleHolder(h1, vip4, 2*time.Second)
	// A reload that restarts the instance (new interval) must keep it drained.
	os.WriteFile(filepath.Join(c.dir, "h2.toml"), []byte(c.globalTOML(h2)+instanceOpts{priority: 200, interval: "200ms"}.toml()), 0o644)
	c.mustCtl(h2, "reload")
	time.Sleep(3 * time.Second / 2)
	if st := c.status(h2)[0]; !st.Drained {
		t.Errorf("drain lost across reload: %+v", st)
	}
	if hs := c.holders(vip4); len(hs) != 1 || hs[0] != "h1" {
		t.Errorf("holders %v after reload of a drained host", hs)
	}
	if table := c.mustCtl(h2, "status"); !strings.Contains(table, "(drained)") {
		t.Errorf("status does not show the drain:\n%s", table)
	}
}
