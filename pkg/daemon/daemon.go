// Package daemon wires failoverd together: one port (VRRP socket) per
// interface and family, one unit (instance, hook runner) per configured
// virtual router, the track_script checkers, the sync groups, the link
// watcher and the control API; and it applies configuration reloads.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/failover-ha/failover/pkg/config"
	"github.com/failover-ha/failover/pkg/control"
	"github.com/failover-ha/failover/pkg/instance"
	"github.com/failover-ha/failover/pkg/metrics"
	"github.com/failover-ha/failover/pkg/netif"
	"github.com/failover-ha/failover/pkg/notify"
	"github.com/failover-ha/failover/pkg/track"
	"github.com/failover-ha/failover/vrrp"
)

// Daemon runs every configured virtual router.
type Daemon struct {
	log    hclog.Logger
	nl     *netif.Addresses // the daemon's one netlink connection
	ifaces *ifaceCache
	events bus
	// Loader reads the configuration for a reload; failoverd sets it to
	// load and check the file it started with.
	Loader func() (*config.Config, error)
	// OnChange, if set, is called (on its own goroutine, never inside an
	// instance) after state changes and reloads: systemd's STATUS line.
	OnChange func()
	changes  changeSignal
	// OnReady, if set, is called once the sockets are open and every
	// instance has started (systemd's READY=1).
	OnReady func()

	reloadMu sync.Mutex // one reload at a time

	mu         sync.Mutex // guards everything below
	ctx        context.Context
	cfg        *config.Config
	ports      map[portKey]*port
	announcers map[string]*netif.Announcer
	units      map[string]*unit // by instance name
	order      []string         // instance names in config order
	checkers   map[string]*checker
	groups     map[string]*syncGroup
	drained    map[string]bool // instances drained by the operator; kept across reloads
}

// unit is one running instance with its hook runner.
type unit struct {
	cfg    config.Instance
	in     *instance.Instance
	runner *notify.Runner
	port   *port
}

// checker is one running track_script.
type checker struct {
	cfg    config.TrackScript
	c      *track.Checker
	cancel context.CancelFunc
}

// New prepares a daemon for cfg; Run starts it.
func New(cfg *config.Config, log hclog.Logger) (*Daemon, error) {
	for _, ic := range cfg.Instances {
		// config.Parse checks this too; a hand-built config must not get
		// further than instance.New would let it.
		if _, err := vrrp.IntervalField(ic.Version, ic.AdvertInterval); err != nil {
			return nil, fmt.Errorf("instance %q: %w", ic.Name, err)
		}
	}
	nl, err := netif.NewAddresses()
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		log:        log,
		nl:         nl,
		cfg:        cfg,
		ports:      map[portKey]*port{},
		announcers: map[string]*netif.Announcer{},
		units:      map[string]*unit{},
		checkers:   map[string]*checker{},
		groups:     map[string]*syncGroup{},
		drained:    map[string]bool{},
	}
	d.ifaces = newIfaceCache(nl, d.interfaceChanged)
	return d, nil
}

// current returns the running instances in config order.
func (d *Daemon) current() []*instance.Instance {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*instance.Instance, 0, len(d.order))
	for _, name := range d.order {
		out = append(out, d.units[name].in)
	}
	return out
}

// Run removes stale addresses, opens the sockets and the control socket,
// runs every instance until ctx ends, then shuts them down (masters resign
// and release their addresses), waits for the stop hooks and returns.
func (d *Daemon) Run(ctx context.Context) error {
	api, err := control.Listen(d.cfg.Global.ControlSocket, d.cfg.Global.ControlSocketGroup, d)
	if err != nil {
		return err
	}
	go func() {
		if err := api.Serve(); err != nil {
			d.log.Error("control API failed", "error", err)
		}
	}()
	defer api.Close()
	if addr := d.cfg.Global.MetricsListen; addr != "" {
		m, err := metrics.Listen(addr, d.Status)
		if err != nil {
			return err
		}
		go func() {
			if err := m.Serve(); err != nil {
				d.log.Error("metrics endpoint failed", "error", err)
			}
		}()
		defer m.Close()
	}

	runCtx, stopAll := context.WithCancel(context.Background())
	defer stopAll()
	// Starting hundreds of instances is a burst of short-lived allocations:
	// collect eagerly meanwhile so the peak resident size stays near what
	// is live; back to the default once running.
	gcPercent := debug.SetGCPercent(20)
	if d.OnChange != nil {
		d.changes.ch = make(chan struct{}, 1)
		go func() {
			for {
				select {
				case <-runCtx.Done():
					return
				case <-d.changes.ch:
					d.OnChange()
				}
			}
		}()
	}
	d.mu.Lock()
	d.ctx = runCtx
	for _, ic := range d.cfg.Instances {
		d.removeStaleVIPs(ic)
	}
	d.applyLocked(d.cfg)
	d.mu.Unlock()

	watchCtx, stopWatch := context.WithCancel(runCtx)
	defer stopWatch()
	go d.ifaces.run(watchCtx)
	watchErr := make(chan error, 1)
	go func() { watchErr <- netif.WatchLinks(watchCtx, d.ifaces.changed) }()

	// Ready means every instance has started: each loop answers only after
	// its Start.
	for _, in := range d.current() {
		in.Alive(5 * time.Second)
	}
	// Starting hundreds of instances leaves garbage the runtime would hand
	// back to the kernel only over minutes: return it now, so the resident
	// size reflects what the daemon keeps (a few MiB of live heap).
	debug.SetGCPercent(gcPercent)
	debug.FreeOSMemory()
	d.log.Info("failoverd running", "instances", len(d.cfg.Instances), "control_socket", d.cfg.Global.ControlSocket)
	if d.OnReady != nil {
		d.OnReady()
	}
	select {
	case <-ctx.Done():
	case err := <-watchErr:
		if err != nil {
			d.log.Error("link watcher failed; interface changes will go unnoticed", "error", err)
		}
		<-ctx.Done()
	}
	d.shutdown()
	d.log.Info("failoverd stopped")
	return nil
}

// shutdown stops every instance (masters resign), then waits for hooks.
func (d *Daemon) shutdown() {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.mu.Lock()
	units := make([]*unit, 0, len(d.units))
	for _, u := range d.units {
		units = append(units, u)
	}
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, u := range units {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.stopUnit(u)
		}()
	}
	wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, g := range d.groups {
		g.runner.Close()
	}
	for _, c := range d.checkers {
		c.cancel()
	}
	for _, p := range d.ports {
		p.close()
	}
	for _, a := range d.announcers {
		a.Close()
	}
	d.nl.Close()
}

// applyLocked makes the running set match cfg: it starts, stops, restarts
// or updates checkers, groups and instances. It returns what happened to
// each instance. d.mu is held.
func (d *Daemon) applyLocked(cfg *config.Config) control.ReloadResponse {
	var res control.ReloadResponse
	old := d.cfg
	d.cfg = cfg
	d.configureInterfaces(cfg)

	// Checkers: restart changed ones, stop removed, start new.
	redefined := map[string]bool{}
	for name, c := range d.checkers {
		if nc := cfg.TrackScript(name); nc == nil || !equalTrack(*nc, c.cfg) {
			c.cancel()
			delete(d.checkers, name)
			redefined[name] = true
		}
	}
	for _, ts := range cfg.TrackScripts {
		if _, ok := d.checkers[ts.Name]; !ok {
			d.startChecker(ts)
		}
	}
	// Groups are cheap: rebuild them, keeping the hook runner of one whose
	// hooks did not change.
	oldGroups := d.groups
	d.groups = map[string]*syncGroup{}
	for _, gc := range cfg.SyncGroups {
		if g, ok := oldGroups[gc.Name]; ok && slices.Equal(g.cfg.Instances, gc.Instances) && equalHooks(g.cfg.Hooks, gc.Hooks) {
			d.groups[gc.Name] = g
			delete(oldGroups, gc.Name)
			continue
		}
		d.groups[gc.Name] = newSyncGroup(gc, d.log)
	}
	for _, g := range oldGroups {
		go g.runner.Close()
	}

	// Instances.
	d.order = d.order[:0]
	for _, ic := range cfg.Instances {
		d.order = append(d.order, ic.Name)
		u, ok := d.units[ic.Name]
		var why string // why a running instance must restart; "" if it need not
		if ok {
			why = instance.RestartReason(u.cfg, ic)
		}
		switch {
		case !ok:
			if old != cfg {
				d.removeStaleVIPs(ic)
			}
			d.units[ic.Name] = d.startUnit(ic)
			res.Added = append(res.Added, ic.Name)
		case why != "":
			d.log.Info("restarting instance for the new configuration", "instance", ic.Name, "why", why)
			d.mu.Unlock()
			d.stopUnit(u)
			d.mu.Lock()
			d.units[ic.Name] = d.startUnit(ic)
			res.Changed = append(res.Changed, ic.Name)
		default:
			changed := !equalInstance(u.cfg, ic) || slices.ContainsFunc(ic.TrackScripts, func(n string) bool { return redefined[n] })
			u.cfg = ic
			u.runner.SetHooks(ic.Hooks)
			if err := u.in.Update(context.Background(), ic, d.instanceIO(ic, u.runner)); err != nil {
				d.log.Error("cannot update instance", "instance", ic.Name, "error", err)
			}
			if changed {
				res.Changed = append(res.Changed, ic.Name)
			} else {
				res.Unchanged = append(res.Unchanged, ic.Name)
			}
		}
	}
	for name, u := range d.units {
		if cfg.Instance(name) == nil {
			d.log.Info("stopping removed instance", "instance", name)
			delete(d.units, name)
			delete(d.drained, name)
			d.mu.Unlock()
			d.stopUnit(u)
			d.mu.Lock()
			res.Removed = append(res.Removed, name)
		}
	}
	// Groups learn their members and recompute their faults.
	for _, g := range d.groups {
		members := map[string]*instance.Instance{}
		for _, name := range g.cfg.Instances {
			if u := d.units[name]; u != nil {
				members[name] = u.in
			}
		}
		g.setMembers(members, old != cfg)
	}
	return res
}

func (d *Daemon) startChecker(ts config.TrackScript) {
	ctx, cancel := context.WithCancel(d.ctx)
	c := track.NewChecker(ts, d.log)
	name := ts.Name
	c.Subscribe(func() { d.trackChanged(name) })
	d.checkers[name] = &checker{cfg: ts, c: c, cancel: cancel}
	go c.Run(ctx)
}

// trackChanged tells every instance using the check to re-evaluate.
func (d *Daemon) trackChanged(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range d.units {
		if slices.Contains(u.cfg.TrackScripts, name) {
			u.in.NotifyTrackChanged()
		}
	}
}

// instanceIO builds what an instance's loop may change on reload.
func (d *Daemon) instanceIO(ic config.Instance, runner *notify.Runner) instance.IO {
	io := instance.IO{Addresses: d.nl, Link: d.ifaces}
	ns := notifiers{&d.events, runner}
	if g := d.groupOf(ic.Name); g != nil {
		ns = append(ns, g)
		io.Group = g
	}
	ns = append(ns, &d.changes)
	io.Notifier = ns
	for _, name := range ic.TrackScripts {
		if c := d.checkers[name]; c != nil {
			io.Tracks = append(io.Tracks, c.c)
		}
	}
	return io
}

func (d *Daemon) groupOf(instance string) *syncGroup {
	for _, g := range d.groups {
		if slices.Contains(g.cfg.Instances, instance) {
			return g
		}
	}
	return nil
}

// startUnit creates and runs an instance. d.mu is held.
func (d *Daemon) startUnit(ic config.Instance) *unit {
	key := portKey{ic.Interface, ic.IPv6()}
	p := d.ports[key]
	if p == nil {
		var err error
		if p, err = newPort(key, d.log); err != nil {
			panic(err) // epoll, timerfd and eventfd exist on every supported kernel
		}
		d.ports[key] = p
		p.refresh(d.ifaces.Link(ic.Interface))
	}
	ann := d.announcers[ic.Interface]
	if ann == nil {
		ann = netif.NewAnnouncer(ic.Interface)
		d.announcers[ic.Interface] = ann
	}
	// Open the announcement sockets now, not on the takeover path.
	ann.Prepare(!ic.IPv6(), ic.IPv6())
	env := []string{"FAILOVER_INTERFACE=" + ic.Interface, fmt.Sprintf("FAILOVER_VRID=%d", ic.VRID)}
	runner := notify.NewRunner(notify.Instance, ic.Name, ic.Hooks, env, d.log.With("instance", ic.Name))
	io := d.instanceIO(ic, runner)
	io.Sender, io.Announcer = p, ann
	in, err := instance.New(ic, io, d.log)
	if err != nil {
		panic(fmt.Sprintf("instance %q passed validation but cannot start: %v", ic.Name, err))
	}
	if d.drained[ic.Name] {
		in.SetDrained(time.Now(), true)
	}
	p.attach(in)
	return &unit{cfg: ic, in: in, runner: runner, port: p}
}

// stopUnit shuts an instance down (a master resigns and releases its
// addresses) and waits for its hooks, notify_stop included.
func (d *Daemon) stopUnit(u *unit) {
	u.port.detach(u.in)
	u.runner.Close()
}

// interfaceChanged reopens the sockets of a recreated interface and tells
// the instances on it, or tracking it, to re-read it. The interface cache
// calls it only when something they care about changed.
func (d *Daemon) interfaceChanged(ifname string, st netif.Interface) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for key, p := range d.ports {
		if key.ifname == ifname {
			p.refresh(st.Link)
		}
	}
	for _, u := range d.units {
		if u.cfg.Interface == ifname || slices.Contains(u.cfg.TrackInterfaces, ifname) {
			u.in.NotifyLinkChanged()
		}
	}
}

// configureInterfaces gives the interface cache the configuration's
// interfaces and virtual addresses (none of which is ever a primary
// address). d.mu is held.
func (d *Daemon) configureInterfaces(cfg *config.Config) {
	var names []string
	vips := map[string][]netip.Prefix{}
	for _, ic := range cfg.Instances {
		vips[ic.Interface] = append(vips[ic.Interface], ic.VirtualIPs...)
		for _, name := range append([]string{ic.Interface}, ic.TrackInterfaces...) {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	d.ifaces.configure(names, vips)
}

// removeStaleVIPs removes the instance's configured virtual addresses found
// on its interface before it starts: a crashed failoverd (or an operator)
// may have left them there, and a backup must not hold them.
func (d *Daemon) removeStaleVIPs(ic config.Instance) {
	states, err := d.nl.State(ic.Interface, ic.VirtualIPs)
	if err != nil {
		return // interface missing: nothing to remove
	}
	var stale []netip.Prefix
	for _, s := range states {
		if !s.Present {
			continue
		}
		stale = append(stale, s.Prefix)
		if s.Ours {
			d.log.Warn("removing stale virtual address left by a previous run", "instance", ic.Name, "address", s.Prefix)
		} else {
			d.log.Warn("removing configured virtual address found on the interface (not added by failoverd)", "instance", ic.Name, "address", s.Prefix)
		}
	}
	if len(stale) > 0 {
		if err := d.nl.Remove(ic.Interface, stale); err != nil {
			d.log.Error("cannot remove stale virtual addresses", "instance", ic.Name, "error", err)
		}
	}
}

// Reload implements control.Backend and SIGHUP: it loads the configuration
// again and applies it. An invalid configuration is rejected and the running
// one keeps going.
func (d *Daemon) Reload() (control.ReloadResponse, error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if d.Loader == nil {
		return control.ReloadResponse{}, errors.New("reload is not available")
	}
	cfg, err := d.Loader()
	if err != nil {
		d.log.Error("reload rejected; the running configuration stays", "error", err)
		return control.ReloadResponse{}, fmt.Errorf("reload rejected, the running configuration stays:\n%w", err)
	}
	d.mu.Lock()
	if d.ctx == nil {
		d.mu.Unlock()
		return control.ReloadResponse{}, errors.New("not running")
	}
	old := d.cfg.Global
	if cfg.Global.ControlSocket != old.ControlSocket || cfg.Global.ControlSocketGroup != old.ControlSocketGroup ||
		cfg.Global.LogFormat != old.LogFormat || cfg.Global.MetricsListen != old.MetricsListen {
		d.log.Warn("control_socket, control_socket_group, log_format and metrics_listen take effect at the next restart")
		cfg.Global.ControlSocket, cfg.Global.ControlSocketGroup = old.ControlSocket, old.ControlSocketGroup
		cfg.Global.LogFormat, cfg.Global.MetricsListen = old.LogFormat, old.MetricsListen
	}
	d.log.SetLevel(hclog.LevelFromString(cfg.Global.LogLevel))
	res := d.applyLocked(cfg)
	d.mu.Unlock()
	debug.FreeOSMemory()
	d.log.Info("configuration reloaded", "added", res.Added, "removed", res.Removed, "changed", res.Changed, "unchanged", res.Unchanged)
	d.changes.signal()
	return res, nil
}

// Alive reports whether every instance loop answers within timeout.
func (d *Daemon) Alive(timeout time.Duration) bool {
	for _, in := range d.current() {
		if !in.Alive(timeout) {
			return false
		}
	}
	return true
}

// Summary is a one-line state summary, e.g. "2 master, 1 backup".
func (d *Daemon) Summary() string {
	counts := map[string]int{}
	drained := 0
	for _, st := range d.Status() {
		counts[st.State]++
		if st.Drained {
			drained++
		}
	}
	var parts []string
	for _, s := range []string{"MASTER", "BACKUP", "FAULT", "INIT"} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], strings.ToLower(s)))
		}
	}
	if drained > 0 {
		parts = append(parts, fmt.Sprintf("%d drained", drained))
	}
	if len(parts) == 0 {
		return "no instances"
	}
	return strings.Join(parts, ", ")
}

// changeSignal coalesces "something changed" notifications for OnChange.
type changeSignal struct{ ch chan struct{} }

func (c *changeSignal) Notify(instance.Transition) { c.signal() }

func (c *changeSignal) signal() {
	if c.ch == nil {
		return
	}
	select {
	case c.ch <- struct{}{}:
	default:
	}
}

// notifiers calls each notifier in turn.
type notifiers []instance.Notifier

func (ns notifiers) Notify(t instance.Transition) {
	for _, n := range ns {
		n.Notify(t)
	}
}

func equalTrack(a, b config.TrackScript) bool {
	return a.Name == b.Name && slices.Equal(a.Command, b.Command) && a.Interval == b.Interval && a.Timeout == b.Timeout &&
		a.Rise == b.Rise && a.Fall == b.Fall && a.Weight == b.Weight
}

func equalHooks(a, b config.Hooks) bool {
	return slices.Equal(a.Master, b.Master) && slices.Equal(a.Backup, b.Backup) && slices.Equal(a.Fault, b.Fault) &&
		slices.Equal(a.Stop, b.Stop) && slices.Equal(a.Notify, b.Notify) && a.Timeout == b.Timeout
}

func equalInstance(a, b config.Instance) bool {
	return instance.RestartReason(a, b) == "" && a.Priority == b.Priority && a.Preempt == b.Preempt &&
		a.PreemptDelay == b.PreemptDelay && slices.Equal(a.VirtualIPs, b.VirtualIPs) &&
		a.GARPRepeat == b.GARPRepeat && a.GARPInterval == b.GARPInterval && a.GARPRefresh == b.GARPRefresh &&
		equalHooks(a.Hooks, b.Hooks) && slices.Equal(a.TrackScripts, b.TrackScripts) &&
		slices.Equal(a.TrackInterfaces, b.TrackInterfaces)
}
