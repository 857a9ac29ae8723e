package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/failover-ha/failover/pkg/lab"
	"github.com/failover-ha/failover/vrrp"
)

// demo is `make demo`: it tells a short story on a real cluster, printing
// what happens on the wire and in the daemons' logs as it goes.
func demo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", stderr)
	binDir := fs.String("bin", defaultBinDir(), "directory holding the failoverd binary")
	interval := fs.Duration("interval", time.Second, "VRRP advert interval (VRRPv3: 10ms steps)")
	verbose := fs.Bool("v", false, "also print every command that builds the lab")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := lab.BuildAvailable(); err != nil {
		fmt.Fprintf(stderr, "failover-lab demo: %v\nRun it as root, e.g. sudo make demo.\n", err)
		return 1
	}
	failoverd, err := findBinary(*binDir, "failoverd")
	if err != nil {
		fmt.Fprintf(stderr, "failover-lab demo: %v\n", err)
		return 1
	}
	d := &demoRun{out: stdout, failoverd: failoverd, interval: *interval, vip: lab.VIP4(0)}
	if err := d.run(ctx, *verbose); err != nil {
		fmt.Fprintf(stderr, "failover-lab demo: %v\n", err)
		return 1
	}
	return 0
}

type demoRun struct {
	out       io.Writer
	failoverd string
	interval  time.Duration
	vip       netip.Addr

	lab   *lab.Lab
	dir   string
	procs map[string]*lab.Proc
	start time.Time
	mu    sync.Mutex // serialises output from the log followers
}

func (d *demoRun) say(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "%7.3fs  %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

func (d *demoRun) section(title string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "\n== %s\n", title)
}

var priorities = map[string]int{"h1": 100, "h2": 150, "h3": 200}

func (d *demoRun) run(ctx context.Context, verbose bool) error {
	d.start = time.Now()
	d.procs = map[string]*lab.Proc{}
	var err error
	if d.dir, err = os.MkdirTemp("", "failover-demo-"); err != nil {
		return err
	}
	defer os.RemoveAll(d.dir)

	d.section("building the lab: a bridge in its own namespace, 3 hosts and a client (192.0.2.0/24)")
	opts := lab.Options{Hosts: 3, Clients: 1}
	if verbose {
		opts.Logf = func(format string, args ...any) { d.say("$ "+format, args...) }
	}
	if d.lab, err = lab.New(ctx, opts); err != nil {
		return err
	}
	defer func() {
		d.section("cleaning up")
		if err := d.lab.Close(); err != nil {
			d.say("cleanup: %v", err)
		} else {
			d.say("namespaces, links and processes removed")
		}
	}()
	for _, h := range d.lab.All() {
		d.say("%-3s %-16v %v", h.Name, h.IPv4, h.MAC)
	}
	d.say("VIP %v, VRRPv3, VRID 51, advert interval %v", d.vip, d.interval)

	d.section("starting failoverd on h1, h2, h3 (priorities 100, 150, 200)")
	for _, h := range d.lab.Hosts {
		if err := d.startHost(h); err != nil {
			return err
		}
	}
	master, err := d.waitHolder(ctx, 5*time.Second+5*d.interval)
	if err != nil {
		return err
	}
	d.printWhoHolds()

	client := d.lab.Clients[0]
	for _, h := range d.lab.Hosts {
		r, err := h.StartResponder()
		if err != nil {
			return err
		}
		defer r.Stop()
	}
	prober, err := client.StartProber(d.vip, probeEvery)
	if err != nil {
		return err
	}
	d.say("client: probing %v:%d over UDP every %v; every host answers with its name", d.vip, lab.ProbePort, probeEvery)
	if err := sleep(ctx, 3*d.interval); err != nil {
		return err
	}
	d.printClientARP(client)

	d.section(fmt.Sprintf("crash: the master, %s, dies (failoverd SIGKILLed and the host's link cut)", master.Name))
	killed := time.Now()
	d.procs[master.Name].Kill()
	if err := master.CarrierDown(); err != nil {
		return err
	}
	next, err := d.waitNewHolder(ctx, master, 5*time.Second+5*d.interval)
	if err != nil {
		return err
	}
	limit := vrrp.MasterDownInterval(3, uint8(priorities[next.Name]), d.interval)
	d.say("%s took over %v after the crash (protocol limit: Master_Down_Interval %v)",
		next.Name, time.Since(killed).Round(time.Millisecond), limit.Round(time.Millisecond))
	if err := sleep(ctx, 2*d.interval); err != nil {
		return err
	}
	d.printClientARP(client)

	d.section(fmt.Sprintf("%s comes back: failoverd removes the VIP the crash left, starts as backup and preempts", master.Name))
	if err := master.CarrierUp(); err != nil {
		return err
	}
	if err := d.startHost(master); err != nil {
		return err
	}
	if err := d.waitSoleHolder(ctx, master, 5*time.Second+5*d.interval); err != nil {
		return err
	}
	if err := sleep(ctx, 2*d.interval); err != nil {
		return err
	}
	d.printWhoHolds()

	d.section(fmt.Sprintf("graceful stop: SIGTERM to %s (priority-0 advert; the backup waits only Skew_Time)", master.Name))
	stopped := time.Now()
	d.procs[master.Name].Signal(syscall.SIGTERM)
	next, err = d.waitNewHolder(ctx, master, 5*time.Second)
	if err != nil {
		return err
	}
	skew := vrrp.SkewTime(3, uint8(priorities[next.Name]), d.interval)
	d.say("%s took over %v after SIGTERM (protocol limit: Skew_Time %v)",
		next.Name, time.Since(stopped).Round(time.Millisecond), skew.Round(time.Millisecond))
	if err := sleep(ctx, 2*d.interval); err != nil {
		return err
	}
	d.printWhoHolds()
	d.printClientARP(client)

	d.section("what the client saw")
	d.printProbeSummary(prober.Stop(200 * time.Millisecond))
	return nil
}

func (d *demoRun) startHost(h *lab.Host) error {
	cfg := filepath.Join(d.dir, h.Name+".toml")
	body := fmt.Sprintf(`[global]
control_socket = %q

[[instance]]
name = "web"
interface = "eth0"
vrid = 51
priority = %d
advert_interval = %q
virtual_ips = ["%v/24"]
`, filepath.Join(d.dir, h.Name+".sock"), priorities[h.Name], d.interval.String(), d.vip)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		return err
	}
	logPath := filepath.Join(d.dir, h.Name+".log")
	offset := fileSize(logPath)
	p, err := h.Start(d.failoverd, []string{"-config", cfg}, logPath)
	if err != nil {
		return err
	}
	d.procs[h.Name] = p
	d.say("%s: failoverd -config %s (pid %d)", h.Name, cfg, p.Pid())
	go d.follow(h.Name, logPath, offset, p.Done())
	return nil
}

var stateLine = regexp.MustCompile(`state (\S+ -> \S+):.*reason=(?:"([^"]*)"|(\S+))`)

// follow prints the daemon's state changes as they are logged.
func (d *demoRun) follow(name, path string, offset int64, done <-chan struct{}) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	f.Seek(offset, io.SeekStart)
	r := bufio.NewReader(f)
	var partial string
	exited := false
	for {
		line, err := r.ReadString('\n')
		partial += line
		if err == nil {
			if m := stateLine.FindStringSubmatch(partial); m != nil {
				d.say("%s: %s  (%s)", name, m[1], m[2]+m[3])
			} else if strings.Contains(partial, "[WARN]") || strings.Contains(partial, "[ERROR]") {
				d.say("%s: %s", name, strings.TrimSpace(partial[strings.Index(partial, "["):]))
			}
			partial = ""
			continue
		}
		if exited {
			return // read to the end after the process exited
		}
		select {
		case <-done:
			exited = true
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (d *demoRun) holders() []*lab.Host {
	var out []*lab.Host
	for _, h := range d.lab.Hosts {
		if ok, _ := h.HasAddr(d.vip); ok {
			out = append(out, h)
		}
	}
	return out
}

func (d *demoRun) waitHolder(ctx context.Context, timeout time.Duration) (*lab.Host, error) {
	var got *lab.Host
	err := poll(ctx, timeout, func() bool {
		if hs := d.holders(); len(hs) == 1 {
			got = hs[0]
		}
		return got != nil
	})
	if err != nil {
		return nil, fmt.Errorf("no single VIP holder after %v", timeout)
	}
	return got, nil
}

// waitNewHolder waits until a host other than old holds the VIP.
func (d *demoRun) waitNewHolder(ctx context.Context, old *lab.Host, timeout time.Duration) (*lab.Host, error) {
	var got *lab.Host
	err := poll(ctx, timeout, func() bool {
		for _, h := range d.holders() {
			if h != old {
				got = h
			}
		}
		return got != nil
	})
	if err != nil {
		return nil, fmt.Errorf("no host took over from %s within %v", old.Name, timeout)
	}
	return got, nil
}

func (d *demoRun) waitSoleHolder(ctx context.Context, h *lab.Host, timeout time.Duration) error {
	err := poll(ctx, timeout, func() bool {
		hs := d.holders()
		return len(hs) == 1 && hs[0] == h
	})
	if err != nil {
		return fmt.Errorf("%s did not become the only VIP holder within %v", h.Name, timeout)
	}
	return nil
}

func (d *demoRun) printWhoHolds() {
	var names []string
	for _, h := range d.holders() {
		names = append(names, h.Name)
	}
	d.say("VIP %v is on: %s", d.vip, strings.Join(names, ", "))
}

func (d *demoRun) printClientARP(client *lab.Host) {
	mac, state, err := client.Neighbor(d.vip)
	if err != nil || mac == nil {
		d.say("client: no ARP entry for %v yet", d.vip)
		return
	}
	owner := "?"
	for _, h := range d.lab.Hosts {
		if h.MAC.String() == mac.String() {
			owner = h.Name
		}
	}
	d.say("client: ARP %v -> %v (%s, %s)", d.vip, mac, owner, state)
}

// probeEvery is the client's probe rate: fine enough to see each gap to 10 ms.
const probeEvery = 10 * time.Millisecond

func (d *demoRun) printProbeSummary(r lab.ProbeResult) {
	d.say("%d probes, %d answered, %d lost", len(r.Sent), len(r.Replies), r.Lost())
	for _, o := range r.Outages() {
		if o.After == "" {
			continue // probes in flight when the demo stopped
		}
		d.say("no answer for %v (%d probes): %s -> %s", o.Gap.Round(time.Millisecond), o.Lost, orDash(o.Before), o.After)
	}
	for _, s := range r.Switches() {
		d.say("answers moved to %s at %.3fs", s.From, s.Sent.Sub(d.start).Seconds())
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func poll(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func fileSize(path string) int64 {
	if st, err := os.Stat(path); err == nil {
		return st.Size()
	}
	return 0
}
