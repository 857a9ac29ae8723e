package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/failover-ha/failover/pkg/lab"
	"github.com/failover-ha/failover/vrrp"
)

// The bench cluster: h2 is the master, h1 the backup that takes over, c1
// the client probing VRID 1's VIP. Their priorities are fixed so that the
// protocol limits are the same for both daemons.
const (
	masterPriority = 200
	backupPriority = 100
)

// scenario is one way of losing the master. Adding one (e.g. `failoverctl
// drain`, once it exists) is one entry in scenarios.
type scenario struct {
	Name  string // -scenarios value and table key
	Title string // for the tables
	// Resign means the old master gives up with a priority-0 advert: the
	// backup may take over after Skew_Time, measured from that advert.
	// Otherwise the backup must wait Master_Down_Interval from the last
	// advert it received.
	Resign bool
	// Only lists the daemons that can do it ("" = all).
	Only []string
	// fault happens to the master (t.master) at one instant.
	fault func(t *trial) error
}

var scenarios = []scenario{
	{Name: "kill", Title: "crash (SIGKILL + cable pulled)", fault: faultKill},
	{Name: "term", Title: "graceful stop (SIGTERM)", Resign: true, fault: faultTerm},
	{Name: "linkdown", Title: "master's link down", fault: faultLinkDown},
	{Name: "drain", Title: "failoverctl drain", Resign: true, Only: []string{"failover"}, fault: faultDrain},
}

// limit is the protocol's lower bound on detection for this scenario.
func (s *scenario) limit(interval time.Duration) time.Duration {
	if s.Resign {
		return vrrp.SkewTime(3, backupPriority, interval)
	}
	return vrrp.MasterDownInterval(3, backupPriority, interval)
}

func (s *scenario) supports(daemon string) bool {
	return len(s.Only) == 0 || slices.Contains(s.Only, daemon)
}

func findScenario(name string) *scenario {
	for i := range scenarios {
		if scenarios[i].Name == name {
			return &scenarios[i]
		}
	}
	return nil
}

// faultKill crashes the master's host: the daemon is SIGKILLed and the
// host's cable pulled at the switch in the same instant (one netlink
// request on a handle opened beforehand). Without the cut the host's kernel
// would keep answering the client on the VIP the dead daemon left
// configured, and the client-seen gap would mean nothing.
func faultKill(t *trial) error {
	if err := t.master.kill(); err != nil {
		return err
	}
	t.cut = true
	return t.b.setCarrier(t.master.host, false)
}

// faultTerm is a graceful stop: the master resigns with a priority-0 advert.
func faultTerm(t *trial) error { return t.master.terminate() }

// faultLinkDown sets the master's eth0 down inside its host; the daemon
// keeps running and must notice (FAULT).
func faultLinkDown(t *trial) error {
	t.linkDown = true
	return t.master.host.LinkDown()
}

// faultDrain is a planned handover: `failoverctl drain` on the master, which
// advertises priority 0 but keeps answering for the VIP until it hears the
// new master (make-before-break). keepalived has no equivalent.
func faultDrain(t *trial) error {
	ctl, err := findBinary(t.b.opts.binDir, "failoverctl")
	if err != nil {
		return err
	}
	out, err := exec.Command(ctl, "-socket", t.master.socketPath(), "drain").CombinedOutput()
	if err != nil {
		return fmt.Errorf("failoverctl drain: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// benchOpts are the command-line settings.
type benchOpts struct {
	binDir         string
	scenarios      []*scenario
	intervals      []time.Duration
	reps           int
	probeEvery     time.Duration
	scaleCounts    []int
	scaleIntervals []time.Duration
	scaleWindow    time.Duration // 0 = automatic
	scaleSettle    time.Duration
	outDir         string
	verbose        bool
	keep           bool
}

// bench is `failover-lab bench`: takeover trials and scale runs for failoverd
// and keepalived on one lab, then tables, chart and raw JSON.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", stderr)
	binDir := fs.String("bin", defaultBinDir(), "directory holding the failoverd binary")
	keepalived := fs.String("keepalived", "keepalived", `keepalived binary to compare with ("none" to measure failoverd only)`)
	scen := fs.String("scenarios", "kill,term,linkdown,drain", "takeover scenarios ("+scenarioNames()+`; "none" for none)`)
	intervals := fs.String("intervals", "1s,100ms,10ms", "advert intervals of the takeover trials")
	reps := fs.Int("reps", 5, "repetitions per scenario, interval and daemon")
	probe := fs.Duration("probe", time.Millisecond, "client probe period")
	scale := fs.String("scale", "1,16,64,255", `numbers of VRIDs for the scale runs ("none" to skip)`)
	scaleIntervals := fs.String("scale-intervals", "1s,100ms,10ms", "advert intervals of the scale runs")
	window := fs.Duration("window", 0, "CPU measuring window of a scale run (0: 10 s at 1 s intervals, 5 s otherwise)")
	settle := fs.Duration("settle", 6*time.Second, "wait after both peers run before measuring a scale run (keepalived's second GARP burst comes 5 s after it becomes master)")
	out := fs.String("out", "", "directory to write bench.md, bench.svg and bench.json into (default: print the tables only)")
	verbose := fs.Bool("v", false, "print every command that builds the lab")
	keep := fs.Bool("keep", false, "keep the daemons' configs and logs (the directory is printed at the end)")
	from := fs.String("from", "", "measure nothing: render the tables, chart and bench.md of this bench.json (with -out)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o := benchOpts{binDir: *binDir, reps: *reps, probeEvery: *probe, scaleWindow: *window, scaleSettle: *settle, outDir: *out, verbose: *verbose, keep: *keep}
	var err error
	if o.scenarios, err = parseScenarios(*scen); err == nil {
		if o.intervals, err = parseDurations(*intervals); err == nil {
			if o.scaleCounts, err = parseCounts(*scale); err == nil {
				o.scaleIntervals, err = parseDurations(*scaleIntervals)
			}
		}
	}
	if err == nil && o.reps < 1 {
		err = fmt.Errorf("-reps %d: want at least 1", o.reps)
	}
	if err != nil {
		fmt.Fprintf(stderr, "failover-lab bench: %v\n", err)
		return 2
	}
	if *from != "" {
		return renderFrom(*from, o.outDir, stdout, stderr)
	}
	if err := lab.BuildAvailable(); err != nil {
		fmt.Fprintf(stderr, "failover-lab bench: %v\nRun it as root, e.g. sudo make bench.\n", err)
		return 1
	}
	failoverd, err := findBinary(o.binDir, "failoverd")
	if err != nil {
		fmt.Fprintf(stderr, "failover-lab bench: %v\n", err)
		return 1
	}
	kinds := []*daemonKind{failoverdKind(failoverd)}
	if *keepalived != "none" {
		path, err := exec.LookPath(*keepalived)
		if err != nil {
			fmt.Fprintf(stderr, "failover-lab bench: keepalived not found (%v).\nInstall it (apt-get install -y keepalived; make bench does) or pass -keepalived none.\n", err)
			return 1
		}
		kinds = append(kinds, keepalivedKind(path))
	}
	b := &bench{out: stdout, opts: o, kinds: kinds}
	b.report = &benchReport{
		Date:       time.Now().UTC().Format(time.RFC3339),
		Command:    commandLine(),
		Machine:    readMachine(failoverd),
		LoadStart:  loadAvg(),
		ProbeMS:    ms(o.probeEvery),
		Reps:       o.reps,
		BackupPrio: backupPriority,
		MasterPrio: masterPriority,
	}
	if len(kinds) > 1 {
		b.report.Machine.Keepalived = keepalivedVersion(ctx, kinds[1].Bin)
	}
	start := time.Now()
	runErr := b.run(ctx)
	b.report.LoadEnd = loadAvg()
	b.report.DurationS = time.Since(start).Seconds()
	if runErr != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "failover-lab bench: interrupted after %d takeovers and %d scale runs; the lab and its daemons are removed\n", len(b.report.Takeovers), len(b.report.Scale))
			return 130
		}
		fmt.Fprintf(stderr, "failover-lab bench: %v\n", runErr)
		return 1
	}
	md := b.report.markdown()
	fmt.Fprintf(stdout, "\n%s", md.tables)
	if o.outDir != "" {
		if err := b.report.write(o.outDir, md); err != nil {
			fmt.Fprintf(stderr, "failover-lab bench: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "\nwrote %s, %s and %s\n", filepath.Join(o.outDir, "bench.md"), filepath.Join(o.outDir, "bench.svg"), filepath.Join(o.outDir, "bench.json"))
	}
	return 0
}

// renderFrom re-renders the outputs of an earlier run from its JSON.
func renderFrom(path, outDir string, stdout, stderr io.Writer) int {
	js, err := os.ReadFile(path)
	if err == nil {
		var r benchReport
		if err = json.Unmarshal(js, &r); err == nil {
			md := r.markdown()
			fmt.Fprint(stdout, md.tables)
			if outDir != "" {
				err = r.write(outDir, md)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "failover-lab bench: %v\n", err)
		return 1
	}
	return 0
}

func scenarioNames() string {
	var n []string
	for _, s := range scenarios {
		n = append(n, s.Name)
	}
	return strings.Join(n, ", ")
}

func parseScenarios(s string) ([]*scenario, error) {
	if s == "none" || s == "" {
		return nil, nil
	}
	var out []*scenario
	for name := range strings.SplitSeq(s, ",") {
		sc := findScenario(strings.TrimSpace(name))
		if sc == nil {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", name, scenarioNames())
		}
		out = append(out, sc)
	}
	return out, nil
}

func parseDurations(s string) ([]time.Duration, error) {
	var out []time.Duration
	for f := range strings.SplitSeq(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		if d < 10*time.Millisecond || d%(10*time.Millisecond) != 0 {
			return nil, fmt.Errorf("interval %v: VRRPv3 wants 10 ms steps from 10ms", d)
		}
		out = append(out, d)
	}
	return out, nil
}

func parseCounts(s string) ([]int, error) {
	if s == "none" || s == "" {
		return nil, nil
	}
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 255 {
			return nil, fmt.Errorf("VRID count %q: want 1..255", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// commandLine is how this run was started, for the report.
func commandLine() string {
	args := slices.Clone(os.Args)
	if len(args) > 0 {
		if wd, err := os.Getwd(); err == nil {
			if rel, err := filepath.Rel(wd, args[0]); err == nil && !strings.HasPrefix(rel, "..") {
				args[0] = rel
			}
		}
	}
	return shellQuote(args)
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'\\$`*?[]{}()<>|&;#~!") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

type bench struct {
	out    io.Writer
	opts   benchOpts
	kinds  []*daemonKind
	report *benchReport

	lab                    *lab.Lab
	dir                    string
	master, backup, client *lab.Host
	sw                     *netlink.Handle         // in the switch namespace
	ports                  map[string]netlink.Link // bridge port per host
	responders             []*lab.Responder
}

func (b *bench) say(format string, args ...any) {
	fmt.Fprintf(b.out, format+"\n", args...)
}

func (b *bench) run(ctx context.Context) (err error) {
	if b.dir, err = os.MkdirTemp("", "failover-bench-"); err != nil {
		return err
	}
	if b.opts.keep {
		defer b.say("configs and logs kept in %s", b.dir)
	} else {
		defer os.RemoveAll(b.dir)
	}
	opts := lab.Options{Hosts: 2, Clients: 1}
	if b.opts.verbose {
		opts.Logf = func(format string, args ...any) { b.say("$ "+format, args...) }
	}
	if b.lab, err = lab.New(ctx, opts); err != nil {
		return err
	}
	defer func() {
		for _, r := range b.responders {
			r.Stop()
		}
		if b.sw != nil {
			b.sw.Close()
		}
		if cerr := b.lab.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	b.backup, b.master, b.client = b.lab.Hosts[0], b.lab.Hosts[1], b.lab.Clients[0]
	if err := b.lab.DoSwitch(func() error {
		h, err := netlink.NewHandle()
		b.sw = h
		return err
	}); err != nil {
		return fmt.Errorf("netlink handle in the switch namespace: %w", err)
	}
	b.ports = map[string]netlink.Link{}
	for _, h := range b.lab.Hosts {
		l, err := b.sw.LinkByName(h.Port)
		if err != nil {
			return fmt.Errorf("bridge port %s: %w", h.Port, err)
		}
		b.ports[h.Name] = l
		r, err := h.StartResponder()
		if err != nil {
			return err
		}
		b.responders = append(b.responders, r)
	}
	b.say("lab %s: master h2 (priority %d), backup h1 (priority %d), client c1; daemons: %s; load %s",
		b.lab.ID, masterPriority, backupPriority, b.daemonNames(), b.report.LoadStart)

	// Takeovers: for each interval, repetitions outermost and daemons
	// innermost, so that a change of machine load hits both alike.
	for _, interval := range b.opts.intervals {
		for rep := 1; rep <= b.opts.reps; rep++ {
			for _, sc := range b.opts.scenarios {
				for _, k := range b.kinds {
					if !sc.supports(k.Name) {
						continue
					}
					r := b.takeover(ctx, k, sc, interval, rep)
					if ctx.Err() != nil {
						return ctx.Err()
					}
					b.report.Takeovers = append(b.report.Takeovers, r)
					b.say("%s", r.line())
				}
			}
		}
	}
	for _, interval := range b.opts.scaleIntervals {
		for _, n := range b.opts.scaleCounts {
			for _, k := range b.kinds {
				r := b.scaleRun(ctx, k, n, interval)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				b.report.Scale = append(b.report.Scale, r)
				b.say("%s", r.line())
			}
		}
	}
	return nil
}

func (b *bench) daemonNames() string {
	var n []string
	for _, k := range b.kinds {
		n = append(n, k.Name)
	}
	return strings.Join(n, ", ")
}

// setCarrier brings h's bridge port down (cable pulled) or up.
func (b *bench) setCarrier(h *lab.Host, up bool) error {
	l := b.ports[h.Name]
	if up {
		return b.sw.LinkSetUp(l)
	}
	return b.sw.LinkSetDown(l)
}

// reset puts the lab back as built: cables in, links up, no virtual
// addresses left by a killed daemon, an empty client ARP cache.
func (b *bench) reset(linkDown *lab.Host) error {
	var errs []error
	for _, h := range b.lab.Hosts {
		errs = append(errs, b.setCarrier(h, true))
		if h == linkDown {
			errs = append(errs, h.LinkUp())
		}
		errs = append(errs, h.RemoveExtraIPv4())
	}
	errs = append(errs, b.client.FlushNeighbors())
	return errors.Join(errs...)
}

// vipsHeld counts the addresses of vrs configured on h.
func vipsHeld(h *lab.Host, vrs []vr) (int, error) {
	addrs, err := h.Addrs()
	if err != nil {
		return 0, err
	}
	want := make(map[netip.Addr]bool, len(vrs))
	for _, v := range vrs {
		want[v.VIP.Addr()] = true
	}
	n := 0
	for _, p := range addrs {
		if want[p.Addr()] {
			n++
		}
	}
	return n, nil
}

var errTimeout = errors.New("timed out")

// waitUntil polls cond every 5 ms until it is true, ctx ends or timeout.
func waitUntil(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %v waiting for %s", errTimeout, timeout, what)
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
}

// startPair starts the master with vrs and waits until it holds every VIP,
// then starts the backup: the backup then joins a cluster that already has
// a master, as after any failover, instead of racing it for the first
// election (at 10 ms the two Master_Down_Intervals differ by 0.4 ms).
//
// It waits up to the master's Master_Down_Interval plus slack, and returns
// how long the master took from its start to holding every VIP. If it never
// did, converged is 0 and err wraps errTimeout; with keepGoing the backup is
// started all the same (a scale run measures what such a daemon costs).
func (b *bench) startPair(ctx context.Context, k *daemonKind, interval time.Duration, vrs []vr, slack time.Duration, keepGoing bool) (master, backup *daemon, converged time.Duration, err error) {
	started := time.Now()
	master, err = k.start(b.dir, b.master, masterPriority, interval, vrs)
	if err != nil {
		return nil, nil, 0, err
	}
	held := 0
	timeout := vrrp.MasterDownInterval(3, masterPriority, interval) + slack
	err = waitUntil(ctx, timeout, fmt.Sprintf("%s on h2 to take all %d VIPs", k.Name, len(vrs)), func() (bool, error) {
		if !master.proc.Running() {
			return false, fmt.Errorf("%s on h2 exited:\n%s", k.Name, master.logTail(10))
		}
		var err error
		held, err = vipsHeld(b.master, vrs)
		return held == len(vrs), err
	})
	switch {
	case err == nil:
		converged = time.Since(started)
	case errors.Is(err, errTimeout) && keepGoing:
		err = fmt.Errorf("%w (it held %d)", err, held)
	default:
		master.stop()
		return nil, nil, 0, err
	}
	backup, berr := k.start(b.dir, b.backup, backupPriority, interval, vrs)
	if berr != nil {
		master.stop()
		return nil, nil, 0, berr
	}
	return master, backup, converged, err
}
