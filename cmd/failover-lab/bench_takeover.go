package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/failover-ha/failover/internal/pcapfile"
	"github.com/failover-ha/failover/pkg/lab"
)

// trial is one takeover: a fresh pair of daemons, a fault, a measurement.
type trial struct {
	b              *bench
	master, backup *daemon
	cut            bool // the master's cable was pulled
	linkDown       bool // the master's eth0 was set down
}

// takeoverResult is one trial, as stored in bench.json.
type takeoverResult struct {
	Scenario   string  `json:"scenario"`
	Daemon     string  `json:"daemon"`
	IntervalMS float64 `json:"interval_ms"`
	Rep        int     `json:"rep"`
	// LimitMS is the protocol's bound: Master_Down_Interval, or Skew_Time
	// after a priority-0 advert, for the backup's priority.
	LimitMS float64 `json:"limit_ms"`
	// DetectionMS is from the old master's last advert (or its priority-0
	// advert) to the new master's first gratuitous ARP, both as captured
	// on the bridge with kernel timestamps.
	DetectionMS float64 `json:"detection_ms"`
	OverheadMS  float64 `json:"overhead_ms"` // detection - limit
	// AdvertOverheadMS is when the new master's first advert left, against
	// the limit; AnnounceMS is from that advert to its first GARP, negative
	// when the GARP leaves first (failoverd adds and announces the VIP before
	// its first advert; keepalived sends the advert first).
	AdvertOverheadMS float64 `json:"advert_overhead_ms"`
	AnnounceMS       float64 `json:"announce_ms"`
	// FaultToGARPMS is from the fault (taken just before it was caused) to
	// the first GARP: noisy by up to one interval, as the fault lands at a
	// random phase of the advert cycle.
	FaultToGARPMS float64 `json:"fault_to_garp_ms"`
	// GapMS is how long the client got no answer: from the send time of its
	// last probe the old master answered to that of the first probe the new
	// master answered.
	GapMS float64 `json:"client_gap_ms"`
	Lost  int     `json:"lost_probes"`
	Error string  `json:"error,omitempty"`
}

func (r takeoverResult) line() string {
	head := fmt.Sprintf("%-8s %-6s %-10s rep %d:", r.Scenario, fmtInterval(r.IntervalMS), r.Daemon, r.Rep)
	if r.Error != "" {
		return head + " FAILED: " + r.Error
	}
	return fmt.Sprintf("%s detection %8.2f ms (limit %8.2f, overhead %+6.2f = advert %+6.2f + announce %5.2f), client gap %7.1f ms, %4d lost, fault->GARP %8.2f ms",
		head, r.DetectionMS, r.LimitMS, r.OverheadMS, r.AdvertOverheadMS, r.AnnounceMS, r.GapMS, r.Lost, r.FaultToGARPMS)
}

// takeover runs one trial and always leaves the lab clean behind it.
func (b *bench) takeover(ctx context.Context, k *daemonKind, sc *scenario, interval time.Duration, rep int) takeoverResult {
	r := takeoverResult{Scenario: sc.Name, Daemon: k.Name, IntervalMS: ms(interval), Rep: rep, LimitMS: ms(sc.limit(interval))}
	t := &trial{b: b}
	err := t.run(ctx, k, sc, interval, &r)
	if t.master != nil {
		t.master.stop()
	}
	if t.backup != nil {
		t.backup.stop()
	}
	var down *lab.Host
	if t.linkDown {
		down = t.master.host
	}
	if rerr := b.reset(down); rerr != nil {
		err = errors.Join(err, fmt.Errorf("resetting the lab: %w", rerr))
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

func (t *trial) run(ctx context.Context, k *daemonKind, sc *scenario, interval time.Duration, r *takeoverResult) error {
	b := t.b
	vrs := benchVRs(1)
	vip := vrs[0].VIP.Addr()
	var err error
	if t.master, t.backup, _, err = b.startPair(ctx, k, interval, vrs, 5*time.Second, false); err != nil {
		return err
	}
	c, err := b.lab.Capture()
	if err != nil {
		return err
	}
	defer c.Stop()
	prober, err := b.client.StartPreciseProber(vip, b.opts.probeEvery)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			prober.Stop(0)
		}
	}()
	// Let the backup hear a few adverts and the client resolve the VIP,
	// then fault at a random phase of the advert cycle.
	settle := max(2*interval, 300*time.Millisecond) + rand.N(interval)
	if err := sleep(ctx, settle); err != nil {
		return err
	}
	if !t.backup.proc.Running() {
		return fmt.Errorf("%s on h1 exited:\n%s", k.Name, t.backup.logTail(10))
	}
	if n, err := vipsHeld(b.backup, vrs); err != nil || n != 0 {
		return fmt.Errorf("before the fault the backup holds the VIP (%d, %v)", n, err)
	}
	mark := c.Mark()
	faultAt := time.Now()
	if err := sc.fault(t); err != nil {
		return fmt.Errorf("fault: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, sc.limit(interval)+interval+3*time.Second)
	garp, err := c.WaitFrom(wctx, mark, func(f pcapfile.Frame) bool {
		ip, mac, ok := lab.IsGratuitousARP(f.Data)
		return ok && ip == vip && bytes.Equal(mac, b.backup.MAC)
	})
	cancel()
	if err != nil {
		return fmt.Errorf("no gratuitous ARP from h1: %w\nh1 log:\n%s", err, t.backup.logTail(10))
	}
	// Wait for the client to be answered by the new master, then stop.
	if err := waitUntil(ctx, time.Second, "the client to reach the new master", func() (bool, error) {
		res := prober.Result()
		for i := len(res.Replies) - 1; i >= 0 && res.Replies[i].Sent.After(garp.Time); i-- {
			if res.Replies[i].From == b.backup.Name {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return err
	}
	// A few more answers after the first, so a single lucky reply is not
	// mistaken for the end of the gap.
	if err := sleep(ctx, 20*b.opts.probeEvery); err != nil {
		return err
	}
	probes := prober.Stop(20 * time.Millisecond)
	stopped = true
	frames := c.Stop()
	if d := c.Drops(); d > 0 {
		return fmt.Errorf("capture dropped %d frames", d)
	}
	from, err := takeoverStart(frames, mark, garp.Time, b.master.IPv4.Addr(), uint8(vrs[0].VRID), sc.Resign)
	if err != nil {
		return err
	}
	r.DetectionMS = ms(garp.Time.Sub(from))
	if adv, ok := firstAdvert(frames, mark, b.backup.IPv4.Addr(), uint8(vrs[0].VRID)); ok {
		r.AdvertOverheadMS = ms(adv.Sub(from)) - r.LimitMS
		r.AnnounceMS = ms(garp.Time.Sub(adv))
	}
	r.OverheadMS = r.DetectionMS - r.LimitMS
	r.FaultToGARPMS = ms(garp.Time.Sub(faultAt))
	gap, lost, err := clientGap(probes, b.master.Name, b.backup.Name)
	if err != nil {
		return err
	}
	r.GapMS, r.Lost = ms(gap), lost
	return nil
}

// takeoverStart finds where detection starts in a capture: the old master's
// first priority-0 advert at or after frame mark (resign), or otherwise
// its last advert before the new master's GARP at garpAt.
func takeoverStart(frames []pcapfile.Frame, mark int, garpAt time.Time, oldMaster netip.Addr, vrid uint8, resign bool) (time.Time, error) {
	var last time.Time
	for i, f := range frames {
		if f.Time.After(garpAt) {
			break
		}
		p, ok := lab.IsVRRP(f.Data)
		if !ok || p.Src != oldMaster || len(p.Payload) < 3 || p.Payload[1] != vrid {
			continue
		}
		prio := p.Payload[2]
		if resign {
			if i >= mark && prio == 0 {
				return f.Time, nil
			}
			continue
		}
		if prio != 0 {
			last = f.Time
		}
	}
	if resign {
		return time.Time{}, fmt.Errorf("no priority-0 advert from %v before the takeover", oldMaster)
	}
	if last.IsZero() {
		return time.Time{}, fmt.Errorf("no advert from %v before the takeover", oldMaster)
	}
	return last, nil
}

// firstAdvert is the time of the first advert from src at or after frame
// mark.
func firstAdvert(frames []pcapfile.Frame, mark int, src netip.Addr, vrid uint8) (time.Time, bool) {
	for _, f := range frames[min(mark, len(frames)):] {
		if p, ok := lab.IsVRRP(f.Data); ok && p.Src == src && len(p.Payload) >= 3 && p.Payload[1] == vrid {
			return f.Time, true
		}
	}
	return time.Time{}, false
}

// clientGap is the outage in which answers moved from oldHost to newHost.
// A handover in which the very next probe is answered by newHost (a drain,
// make-before-break) is no outage: 0 and 0.
func clientGap(r lab.ProbeResult, oldHost, newHost string) (time.Duration, int, error) {
	for _, o := range r.Outages() {
		if o.Before == oldHost && o.After == newHost {
			return o.Gap, o.Lost, nil
		}
	}
	for i := 1; i < len(r.Replies); i++ {
		if r.Replies[i-1].From == oldHost && r.Replies[i].From == newHost && r.Replies[i].Seq == r.Replies[i-1].Seq+1 {
			return 0, 0, nil
		}
	}
	var seen []string
	for _, s := range r.Switches() {
		seen = append(seen, s.From)
	}
	return 0, 0, fmt.Errorf("the client saw no outage from %s to %s (%d probes, %d answered, answers from %v)",
		oldHost, newHost, len(r.Sent), len(r.Replies), seen)
}

// ms converts a duration to float milliseconds for reports.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fmtInterval prints an interval given in ms as "1s", "100ms", "10ms".
func fmtInterval(msec float64) string {
	return time.Duration(msec * float64(time.Millisecond)).String()
}
