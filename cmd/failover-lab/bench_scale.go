package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// procUsage is what one process cost over a scale run's window.
type procUsage struct {
	PID int `json:"pid"`
	// CPUMSPerS is CPU time (user + system, all threads) per wall-clock
	// second, from the process's CPU-time clock (nanoseconds).
	CPUMSPerS float64 `json:"cpu_ms_per_s"`
	// TicksCPUMSPerS is the same from /proc/PID/stat utime+stime, which
	// counts in 10 ms ticks: a cross-check, coarse at low load.
	TicksCPUMSPerS float64 `json:"ticks_cpu_ms_per_s"`
	RSSKiB         uint64  `json:"vm_rss_kib"` // at the end of the window
	HWMKiB         uint64  `json:"vm_hwm_kib"` // peak RSS since start
	// Parent is keepalived's parent process, which forks the VRRP child
	// measured above and otherwise idles.
	Parent *procUsage `json:"parent,omitempty"`
}

// scaleResult is one scale run, as stored in bench.json.
type scaleResult struct {
	Daemon     string  `json:"daemon"`
	VRIDs      int     `json:"vrids"`
	IntervalMS float64 `json:"interval_ms"`
	WindowS    float64 `json:"window_s"`
	// ConvergeS is from starting the master to its holding every VIP; the
	// protocol needs its Master_Down_Interval (about 3.2 intervals).
	ConvergeS float64   `json:"converge_s"`
	Master    procUsage `json:"master"`
	Backup    procUsage `json:"backup"`
	// NotConverged says why the master never held every VIP; the run is
	// measured all the same, and its figures are those of a daemon still
	// electing.
	NotConverged string `json:"not_converged,omitempty"`
	// Stable is false if, at any 1 s sample in the window, the master did
	// not hold every VIP or the backup held one (a missed advert made it
	// take over): the load was then more than the daemon could carry.
	Stable bool   `json:"stable"`
	Error  string `json:"error,omitempty"`
}

func (r scaleResult) line() string {
	head := fmt.Sprintf("scale %3d VRIDs %-6s %-10s:", r.VRIDs, fmtInterval(r.IntervalMS), r.Daemon)
	if r.Error != "" {
		return head + " FAILED: " + r.Error
	}
	st := ""
	if !r.Stable {
		st = "  UNSTABLE (backup took over VIPs during the window)"
	}
	if r.NotConverged != "" {
		st += "  NOT CONVERGED: " + r.NotConverged
	}
	conv := fmt.Sprintf("%5.2f s", r.ConvergeS)
	if r.NotConverged != "" {
		conv = "never  "
	}
	return fmt.Sprintf("%s converged in %s, CPU master %7.2f ms/s backup %7.2f ms/s (ticks %.0f/%.0f), RSS master %5.1f MiB (peak %5.1f) backup %5.1f MiB (peak %5.1f)%s",
		head, conv, r.Master.CPUMSPerS, r.Backup.CPUMSPerS, r.Master.TicksCPUMSPerS, r.Backup.TicksCPUMSPerS,
		mib(r.Master.RSSKiB), mib(r.Master.HWMKiB), mib(r.Backup.RSSKiB), mib(r.Backup.HWMKiB), st)
}

func mib(kib uint64) float64 { return float64(kib) / 1024 }

// scaleConvergeSlack is how much longer than its Master_Down_Interval a
// master may take to hold every VIP before the run counts as failed.
const scaleConvergeSlack = 20 * time.Second

// window is how long CPU is measured: long enough for tick counts to mean
// something and for at least 10 adverts per VRID.
func (b *bench) window(interval time.Duration) time.Duration {
	if b.opts.scaleWindow > 0 {
		return b.opts.scaleWindow
	}
	return max(5*time.Second, 10*interval)
}

func (b *bench) scaleRun(ctx context.Context, k *daemonKind, n int, interval time.Duration) scaleResult {
	r := scaleResult{Daemon: k.Name, VRIDs: n, IntervalMS: ms(interval)}
	master, backup, err := b.measureScale(ctx, k, n, interval, &r)
	if master != nil {
		master.stop()
	}
	if backup != nil {
		backup.stop()
	}
	if rerr := b.reset(nil); rerr != nil {
		err = errors.Join(err, fmt.Errorf("resetting the lab: %w", rerr))
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

func (b *bench) measureScale(ctx context.Context, k *daemonKind, n int, interval time.Duration, r *scaleResult) (master, backup *daemon, err error) {
	vrs := benchVRs(n)
	var converged time.Duration
	master, backup, converged, err = b.startPair(ctx, k, interval, vrs, scaleConvergeSlack, true)
	if errors.Is(err, errTimeout) {
		r.NotConverged = err.Error()
	} else if err != nil {
		return master, backup, err
	}
	r.ConvergeS = converged.Seconds()
	// Converged: the backup has started and heard the master; the
	// master's announcements after its takeover are over.
	if err := sleep(ctx, b.opts.scaleSettle); err != nil {
		return master, backup, err
	}
	type watched struct {
		d     *daemon
		u     *procUsage
		pid   int
		start cpuSample
	}
	var ws []*watched
	for _, x := range []struct {
		d *daemon
		u *procUsage
	}{{master, &r.Master}, {backup, &r.Backup}} {
		pid, err := x.d.workPID(2 * time.Second)
		if err != nil {
			return master, backup, err
		}
		ws = append(ws, &watched{d: x.d, u: x.u, pid: pid})
		if pid != x.d.proc.Pid() {
			x.u.Parent = &procUsage{}
			ws = append(ws, &watched{d: x.d, u: x.u.Parent, pid: x.d.proc.Pid()})
		}
	}
	for _, w := range ws {
		w.u.PID = w.pid
		if w.start, err = sampleCPU(w.pid); err != nil {
			return master, backup, err
		}
	}
	window := b.window(interval)
	r.WindowS = window.Seconds()
	r.Stable = true
	end := time.Now().Add(window)
	for time.Now().Before(end) {
		if err := sleep(ctx, min(time.Second, time.Until(end))); err != nil {
			return master, backup, err
		}
		if !master.proc.Running() || !backup.proc.Running() {
			return master, backup, fmt.Errorf("a daemon exited during the window:\nh2:\n%s\nh1:\n%s", master.logTail(5), backup.logTail(5))
		}
		m, err := vipsHeld(b.master, vrs)
		if err != nil {
			return master, backup, err
		}
		bk, err := vipsHeld(b.backup, vrs)
		if err != nil {
			return master, backup, err
		}
		if m != n || bk != 0 {
			r.Stable = false
		}
	}
	for _, w := range ws {
		s, err := sampleCPU(w.pid)
		if err != nil {
			return master, backup, err
		}
		clock, ticks := cpuPerSecond(w.start, s)
		w.u.CPUMSPerS, w.u.TicksCPUMSPerS = ms(clock), ms(ticks)
		m, err := sampleMem(w.pid)
		if err != nil {
			return master, backup, err
		}
		w.u.RSSKiB, w.u.HWMKiB = m.RSSKiB, m.HWMKiB
	}
	return master, backup, nil
}
