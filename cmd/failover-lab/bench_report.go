package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// benchReport is everything a run measured; bench.json is this, verbatim.
type benchReport struct {
	Date       string           `json:"date"`
	Command    string           `json:"command"`
	Machine    machineInfo      `json:"machine"`
	LoadStart  string           `json:"load_start"` // /proc/loadavg 1, 5, 15 min
	LoadEnd    string           `json:"load_end"`
	DurationS  float64          `json:"duration_s"`
	ProbeMS    float64          `json:"probe_ms"`
	Reps       int              `json:"reps"`
	MasterPrio int              `json:"master_priority"`
	BackupPrio int              `json:"backup_priority"`
	Takeovers  []takeoverResult `json:"takeovers"`
	Scale      []scaleResult    `json:"scale"`
}

// stat is the median, minimum and maximum of the successful runs.
type stat struct {
	N             int
	Med, Min, Max float64
}

func summarize(xs []float64) stat {
	if len(xs) == 0 {
		return stat{Med: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{N: len(s), Med: med, Min: s[0], Max: s[len(s)-1]}
}

// fmt prints "median (min–max)" with the given decimals, "–" for no data.
func (s stat) fmt(decimals int) string {
	if s.N == 0 {
		return "–"
	}
	f := func(x float64) string { return fmt.Sprintf("%.*f", decimals, x) }
	if s.N == 1 {
		return f(s.Med)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.Med), f(s.Min), f(s.Max))
}

// takeoverGroup is every trial of one scenario, interval and daemon.
type takeoverGroup struct {
	Scenario   string
	Daemon     string
	IntervalMS float64
	LimitMS    float64
	Runs       int
	Failed     int
	Errors     []string
	Detection  stat
	Overhead   stat
	Gap        stat
	Lost       stat
	FaultGARP  stat
}

type groupKey struct {
	scenario, daemon string
	interval         float64
}

// groups aggregates the trials in the order scenarios, then intervals (as
// run), then daemons.
func (r *benchReport) groups() []*takeoverGroup {
	byKey := map[groupKey][]takeoverResult{}
	var keys []groupKey
	for _, t := range r.Takeovers {
		k := groupKey{t.Scenario, t.Daemon, t.IntervalMS}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], t)
	}
	order := func(k groupKey) (int, float64, string) {
		si := slices.IndexFunc(scenarios, func(s scenario) bool { return s.Name == k.scenario })
		return si, -k.interval, k.daemon
	}
	slices.SortStableFunc(keys, func(a, b groupKey) int {
		as, ai, ad := order(a)
		bs, bi, bd := order(b)
		switch {
		case as != bs:
			return as - bs
		case ai != bi:
			if ai < bi {
				return -1
			}
			return 1
		}
		return daemonRank(ad) - daemonRank(bd)
	})
	var out []*takeoverGroup
	for _, k := range keys {
		ts := byKey[k]
		g := &takeoverGroup{Scenario: k.scenario, Daemon: k.daemon, IntervalMS: k.interval, Runs: len(ts), LimitMS: ts[0].LimitMS}
		var det, over, gap, lost, fg []float64
		for _, t := range ts {
			if t.Error != "" {
				g.Failed++
				g.Errors = append(g.Errors, t.Error)
				continue
			}
			det = append(det, t.DetectionMS)
			over = append(over, t.OverheadMS)
			gap = append(gap, t.GapMS)
			lost = append(lost, float64(t.Lost))
			fg = append(fg, t.FaultToGARPMS)
		}
		g.Detection, g.Overhead, g.Gap, g.Lost, g.FaultGARP = summarize(det), summarize(over), summarize(gap), summarize(lost), summarize(fg)
		out = append(out, g)
	}
	return out
}

// daemonRank puts failover before keepalived.
func daemonRank(d string) int {
	if d == "failover" {
		return 0
	}
	return 1
}

func scenarioTitle(name string) string {
	if s := findScenario(name); s != nil {
		return s.Title
	}
	return name
}

func (r *benchReport) group(scenario string, interval float64, daemon string) *takeoverGroup {
	for _, g := range r.groups() {
		if g.Scenario == scenario && g.IntervalMS == interval && g.Daemon == daemon {
			return g
		}
	}
	return nil
}

// ratio is a/b as "0.42", or "–" when it means nothing (b at or below
// zero: keepalived beating the limit cannot be divided by).
func ratio(a, b stat) string {
	if a.N == 0 || b.N == 0 || b.Med <= 0.005 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a.Med/b.Med)
}

// comparisonTable is the takeover summary the README shows: overhead
// above the protocol limit and client-seen gap, failover against
// keepalived.
func (r *benchReport) comparisonTable() string {
	var b strings.Builder
	b.WriteString("| scenario | interval | limit | overhead failover | overhead keepalived | failover ÷ keepalived | client gap failover | client gap keepalived |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, g := range r.groups() {
		if g.Daemon != "failover" {
			continue
		}
		ka := r.group(g.Scenario, g.IntervalMS, "keepalived")
		kaOver, kaGap := "–", "–"
		var kaStat stat
		if ka != nil {
			kaOver, kaGap, kaStat = ka.Overhead.fmt(2), ka.Gap.fmt(1), ka.Overhead
		}
		fmt.Fprintf(&b, "| %s | %s | %.1f | %s | %s | %s | %s | %s |\n",
			scenarioTitle(g.Scenario), fmtInterval(g.IntervalMS), g.LimitMS,
			g.Overhead.fmt(2), kaOver, ratio(g.Overhead, kaStat), g.Gap.fmt(1), kaGap)
	}
	return b.String()
}

// detailTable has every figure of every group.
func (r *benchReport) detailTable() string {
	var b strings.Builder
	b.WriteString("| scenario | interval | daemon | limit | detection | overhead | client gap | lost probes | fault → GARP | runs ok |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, g := range r.groups() {
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %s | %s | %s | %s | %s | %d/%d |\n",
			g.Scenario, fmtInterval(g.IntervalMS), g.Daemon, g.LimitMS, g.Detection.fmt(2), g.Overhead.fmt(2),
			g.Gap.fmt(1), g.Lost.fmt(0), g.FaultGARP.fmt(1), g.Runs-g.Failed, g.Runs)
	}
	return b.String()
}

func (r *benchReport) scaleFind(daemon string, n int, interval float64) *scaleResult {
	for i := range r.Scale {
		s := &r.Scale[i]
		if s.Daemon == daemon && s.VRIDs == n && s.IntervalMS == interval {
			return s
		}
	}
	return nil
}

// scaleKeys lists (VRIDs, interval) in run order, intervals longest first.
func (r *benchReport) scaleKeys() (keys []struct {
	n        int
	interval float64
}) {
	for _, s := range r.Scale {
		k := struct {
			n        int
			interval float64
		}{s.VRIDs, s.IntervalMS}
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	slices.SortStableFunc(keys, func(a, b struct {
		n        int
		interval float64
	}) int {
		if a.interval != b.interval {
			if a.interval > b.interval {
				return -1
			}
			return 1
		}
		return a.n - b.n
	})
	return keys
}

func fmtCPU(s *scaleResult) string {
	if s == nil {
		return "–"
	}
	if s.Error != "" {
		return "failed"
	}
	mark := ""
	if s.NotConverged != "" {
		mark += " †"
	}
	if !s.Stable {
		mark += " ⚠"
	}
	return fmt.Sprintf("%s / %s%s", cpuNum(s.Master.CPUMSPerS), cpuNum(s.Backup.CPUMSPerS), mark)
}

func cpuNum(x float64) string {
	if x < 10 {
		return fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprintf("%.1f", x)
}

func fmtRSS(s *scaleResult) string {
	if s == nil {
		return "–"
	}
	if s.Error != "" {
		return "failed"
	}
	return fmt.Sprintf("%.1f / %.1f (peak %.1f)", mib(s.Master.RSSKiB), mib(s.Backup.RSSKiB), mib(max(s.Master.HWMKiB, s.Backup.HWMKiB)))
}

func fmtConverge(s *scaleResult) string {
	switch {
	case s == nil:
		return "–"
	case s.Error != "":
		return "failed"
	case s.NotConverged != "":
		return "never †"
	}
	return fmt.Sprintf("%.2f", s.ConvergeS)
}

// scaleLegend explains the marks of the scale table.
const scaleLegend = "†: the master never held every VIP (measured all the same, while it was still electing); ⚠: the backup took over VIPs during the window."

func (r *benchReport) scaleTable() string {
	var b strings.Builder
	b.WriteString("| VRIDs | interval | CPU failover master / backup | CPU keepalived master / backup | failover ÷ keepalived CPU | RSS failover master / backup | RSS keepalived master / backup | master holds all VIPs after, failover / keepalived (s) |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range r.scaleKeys() {
		fo, ka := r.scaleFind("failover", k.n, k.interval), r.scaleFind("keepalived", k.n, k.interval)
		rat := "–"
		if fo != nil && ka != nil && fo.Error == "" && ka.Error == "" {
			if den := ka.Master.CPUMSPerS + ka.Backup.CPUMSPerS; den > 0 {
				rat = fmt.Sprintf("%.2f", (fo.Master.CPUMSPerS+fo.Backup.CPUMSPerS)/den)
			}
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s / %s |\n", k.n, fmtInterval(k.interval), fmtCPU(fo), fmtCPU(ka), rat, fmtRSS(fo), fmtRSS(ka), fmtConverge(fo), fmtConverge(ka))
	}
	return b.String()
}

// goals checks the targets against the medians measured.
func (r *benchReport) goals() string {
	var b strings.Builder
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	for _, sc := range []string{"kill", "linkdown"} {
		for _, g := range r.groups() {
			if g.Scenario != sc || g.Daemon != "failover" || g.Overhead.N == 0 {
				continue
			}
			line := fmt.Sprintf("- %s, %s: overhead median %.2f ms ≤ 1 ms: %s", scenarioTitle(sc), fmtInterval(g.IntervalMS), g.Overhead.Med, verdict(g.Overhead.Med <= 1))
			if ka := r.group(sc, g.IntervalMS, "keepalived"); ka != nil && ka.Overhead.N > 0 {
				line += fmt.Sprintf("; not worse than keepalived's %.2f ms: %s", ka.Overhead.Med, verdict(g.Overhead.Med <= ka.Overhead.Med))
			}
			b.WriteString(line + "\n")
		}
	}
	for _, g := range r.groups() {
		if (g.Scenario != "term" && g.Scenario != "drain") || g.Daemon != "failover" || g.Overhead.N == 0 {
			continue
		}
		fmt.Fprintf(&b, "- %s, %s: takeover median %.2f ms ≤ Skew_Time %.2f ms + 1 ms: %s (client gap median %.1f ms, %g probes lost)\n",
			scenarioTitle(g.Scenario), fmtInterval(g.IntervalMS), g.Detection.Med, g.LimitMS, verdict(g.Overhead.Med <= 1), g.Gap.Med, g.Lost.Med)
	}
	if fo := r.scaleFind("failover", 255, 100); fo != nil && fo.Error == "" {
		hwm := mib(max(fo.Master.HWMKiB, fo.Backup.HWMKiB))
		line := fmt.Sprintf("- 255 VRIDs at 100 ms: failoverd peak RSS %.1f MiB ≤ 20 MiB: %s", hwm, verdict(hwm <= 20))
		if fo.NotConverged != "" || !fo.Stable {
			line = "- 255 VRIDs at 100 ms: failoverd never reached a steady state (see †/⚠ above): **missed**; " + line[len("- 255 VRIDs at 100 ms: "):]
		}
		if ka := r.scaleFind("keepalived", 255, 100); ka != nil && ka.Error == "" {
			line += fmt.Sprintf("; CPU master %.2f ≤ keepalived %.2f ms/s: %s; backup %.2f ≤ %.2f ms/s: %s",
				fo.Master.CPUMSPerS, ka.Master.CPUMSPerS, verdict(fo.Master.CPUMSPerS <= ka.Master.CPUMSPerS),
				fo.Backup.CPUMSPerS, ka.Backup.CPUMSPerS, verdict(fo.Backup.CPUMSPerS <= ka.Backup.CPUMSPerS))
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func (r *benchReport) failures() string {
	var b strings.Builder
	for _, g := range r.groups() {
		for _, e := range g.Errors {
			fmt.Fprintf(&b, "- %s %s %s: %s\n", g.Scenario, fmtInterval(g.IntervalMS), g.Daemon, firstLine(e))
		}
	}
	for _, s := range r.Scale {
		if s.Error != "" {
			fmt.Fprintf(&b, "- scale %d VRIDs %s %s: %s\n", s.VRIDs, fmtInterval(s.IntervalMS), s.Daemon, firstLine(s.Error))
		}
	}
	return b.String()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// benchMarkdown is the generated text: tables alone (printed) and the
// results section of docs/bench.md.
type benchMarkdown struct {
	tables  string
	section string
}

func (r *benchReport) markdown() benchMarkdown {
	// The same tables go into both texts.
	var comparison, scale string
	if len(r.Takeovers) > 0 {
		comparison = r.comparisonTable()
	}
	if len(r.Scale) > 0 {
		scale = r.scaleTable()
	}
	goals, failures := r.goals(), r.failures()

	var t strings.Builder
	if len(r.Takeovers) > 0 {
		fmt.Fprintf(&t, "Takeover, milliseconds, median (min–max) of %d runs; overhead = detection − limit:\n\n%s\n", r.Reps, comparison)
	}
	if len(r.Scale) > 0 {
		fmt.Fprintf(&t, "Scale, CPU ms per second and RSS MiB. %s\n\n%s\n", scaleLegend, scale)
	}
	if goals != "" {
		fmt.Fprintf(&t, "Goals:\n\n%s\n", goals)
	}
	if failures != "" {
		fmt.Fprintf(&t, "Failed runs:\n\n%s\n", failures)
	}

	var s strings.Builder
	fmt.Fprintf(&s, "Measured %s on %s (%d cores), %s, failoverd built with %s",
		r.Date, r.Machine.CPU, r.Machine.Cores, r.Machine.Kernel, r.Machine.GoVersion)
	if r.Machine.Revision != "" {
		fmt.Fprintf(&s, " from %s", r.Machine.Revision)
	}
	if r.Machine.Keepalived != "" {
		fmt.Fprintf(&s, ", %s", r.Machine.Keepalived)
	}
	fmt.Fprintf(&s, ". Load average (1, 5, 15 min) %s at the start, %s at the end; the run took %.0f s.\n\n", r.LoadStart, r.LoadEnd, r.DurationS)
	fmt.Fprintf(&s, "Command: `%s` (as root). Raw data: [bench.json](bench.json).\n\n", r.Command)
	s.WriteString("![takeover overhead and CPU per second, failover vs keepalived](bench.svg)\n\n")
	if len(r.Takeovers) > 0 {
		fmt.Fprintf(&s, "### Takeover\n\nMilliseconds, median (min–max) of %d runs each. Limit: Master_Down_Interval, or Skew_Time after a priority-0 advert, for the backup's priority %d. Overhead = detection − limit. Client gap: probes every %g ms.\n\n%s\nEvery figure:\n\n%s\n",
			r.Reps, r.BackupPrio, r.ProbeMS, comparison, r.detailTable())
	}
	if len(r.Scale) > 0 {
		fmt.Fprintf(&s, "### Scale\n\nCPU time per second (ms/s) of the process doing the VRRP work (failoverd; keepalived's VRRP child), master / backup, over the measuring window; RSS (VmRSS) at its end and the peak (VmHWM) of both, MiB; and how long the master took from its start to holding every VIP (the protocol needs its Master_Down_Interval, 3.2 intervals). %s\n\n%s\n", scaleLegend, scale)
	}
	if goals != "" {
		fmt.Fprintf(&s, "### Goals (issue 7)\n\n%s\n", goals)
	}
	if failures != "" {
		fmt.Fprintf(&s, "### Failed runs\n\n%s\n", failures)
	}
	return benchMarkdown{tables: t.String(), section: s.String()}
}

// Markers around the generated part of docs/bench.md: a re-run replaces
// only what is between them, so the hand-written method and findings stay.
const (
	beginMarker = "<!-- bench results: generated by failover-lab bench, do not edit -->"
	endMarker   = "<!-- end of bench results -->"
)

// write stores bench.json, bench.svg and the results section of bench.md
// in dir.
func (r *benchReport) write(dir string, md benchMarkdown) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.svg"), []byte(r.chart()), 0o644); err != nil {
		return err
	}
	path := filepath.Join(dir, "bench.md")
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.WriteFile(path, []byte(spliceResults(string(old), md.section)), 0o644)
}

// spliceResults puts section between the markers of doc, or makes a new
// document if doc has none.
func spliceResults(doc, section string) string {
	block := beginMarker + "\n" + section + endMarker + "\n"
	i := strings.Index(doc, beginMarker)
	j := strings.Index(doc, endMarker)
	if i < 0 || j < i {
		if strings.TrimSpace(doc) == "" {
			doc = "# Failover benchmark\n\n"
		}
		return strings.TrimRight(doc, "\n") + "\n\n" + block
	}
	return doc[:i] + block + strings.TrimPrefix(doc[j+len(endMarker):], "\n")
}
