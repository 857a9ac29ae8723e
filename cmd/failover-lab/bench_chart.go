package main

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// The chart is plain SVG written by hand: two panels, takeover overhead
// (bars: median, whiskers: min–max) and CPU per second against the number of
// VRIDs (log scale). No plotting dependency for one picture.

const (
	chartW      = 960
	panelH      = 400
	marginL     = 70
	marginR     = 20
	marginT     = 50
	marginB     = 80
	colFailover = "#1f77b4"
	colKeep     = "#ff7f0e"
)

var intervalColors = []string{"#2ca02c", "#1f77b4", "#d62728", "#9467bd", "#8c564b"}

type svg struct{ b strings.Builder }

func (s *svg) f(format string, args ...any) { fmt.Fprintf(&s.b, format+"\n", args...) }

func (s *svg) text(x, y float64, anchor, size, body string) {
	s.f(`<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%s">%s</text>`, x, y, anchor, size, html.EscapeString(body))
}

func (s *svg) line(x1, y1, x2, y2 float64, style string) {
	s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" %s/>`, x1, y1, x2, y2, style)
}

// chart renders the report's SVG. Panels without data are left out.
func (r *benchReport) chart() string {
	var s svg
	panels := 0
	hasTake, hasScale := len(r.groups()) > 0, r.scaleHasData()
	if hasTake {
		panels++
	}
	if hasScale {
		panels++
	}
	h := max(panels, 1)*panelH + 30
	s.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`, chartW, h, chartW, h)
	s.f(`<rect width="100%%" height="100%%" fill="white"/>`)
	y0 := 0.0
	if hasTake {
		r.overheadPanel(&s, y0)
		y0 += panelH
	}
	if hasScale {
		r.cpuPanel(&s, y0)
		y0 += panelH
	}
	if panels == 0 {
		s.text(chartW/2, 60, "middle", "14", "no data")
	}
	s.text(chartW-marginR, y0+20, "end", "11", fmt.Sprintf("%s · %s, %d cores · %s · load %s", r.Date, r.Machine.CPU, r.Machine.Cores, r.Machine.Kernel, r.LoadStart))
	s.f(`</svg>`)
	return s.b.String()
}

func (r *benchReport) scaleHasData() bool {
	for _, x := range r.Scale {
		if x.Error == "" {
			return true
		}
	}
	return false
}

// overheadPanel: one group of bars per scenario and interval.
func (r *benchReport) overheadPanel(s *svg, y0 float64) {
	type cat struct {
		scenario, interval string
		bars               []*takeoverGroup // failover, keepalived (nil if absent)
	}
	var cats []cat
	for _, g := range r.groups() {
		if g.Daemon != "failover" {
			continue
		}
		cats = append(cats, cat{scenario: g.Scenario, interval: fmtInterval(g.IntervalMS), bars: []*takeoverGroup{g, r.group(g.Scenario, g.IntervalMS, "keepalived")}})
	}
	lo, hi := 0.0, 0.0
	for _, c := range cats {
		for _, g := range c.bars {
			if g != nil && g.Overhead.N > 0 {
				lo, hi = math.Min(lo, g.Overhead.Min), math.Max(hi, g.Overhead.Max)
			}
		}
	}
	if hi <= lo {
		hi = lo + 1
	}
	ticks := niceTicks(lo, hi, 6)
	lo, hi = math.Min(lo, ticks[0]), math.Max(hi, ticks[len(ticks)-1])
	top, bottom := y0+marginT, y0+panelH-marginB
	left, right := float64(marginL), float64(chartW-marginR)
	y := func(v float64) float64 { return bottom - (v-lo)/(hi-lo)*(bottom-top) }
	s.text(left, y0+25, "start", "15", "Takeover overhead above the protocol limit (ms): detection − limit, median and min–max")
	for _, t := range ticks {
		s.line(left, y(t), right, y(t), `stroke="#ddd"`)
		s.text(left-6, y(t)+4, "end", "11", trimFloat(t))
	}
	s.line(left, y(0), right, y(0), `stroke="#333"`)
	s.f(`<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle" font-size="12">ms above limit</text>`, left-50, (top+bottom)/2)
	if len(cats) == 0 {
		return
	}
	slot := (right - left) / float64(len(cats))
	barW := math.Min(28, slot/3)
	for i, c := range cats {
		cx := left + slot*(float64(i)+0.5)
		for j, g := range c.bars {
			if g == nil || g.Overhead.N == 0 {
				continue
			}
			col := colFailover
			if j == 1 {
				col = colKeep
			}
			x := cx + (float64(j)-1)*barW
			ym, yz := y(g.Overhead.Med), y(0)
			s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: median %.2f ms (min %.2f, max %.2f, %d runs)</title></rect>`,
				x, math.Min(ym, yz), barW-2, math.Max(math.Abs(yz-ym), 0.5), col, g.Daemon, c.scenario+" "+c.interval, g.Overhead.Med, g.Overhead.Min, g.Overhead.Max, g.Overhead.N)
			mid := x + (barW-2)/2
			s.line(mid, y(g.Overhead.Min), mid, y(g.Overhead.Max), `stroke="#222" stroke-width="1.2"`)
			s.line(mid-4, y(g.Overhead.Min), mid+4, y(g.Overhead.Min), `stroke="#222"`)
			s.line(mid-4, y(g.Overhead.Max), mid+4, y(g.Overhead.Max), `stroke="#222"`)
		}
		// Two lines: twelve "linkdown 100ms" side by side would overlap.
		s.text(cx, bottom+16, "middle", "11", c.scenario)
		s.text(cx, bottom+30, "middle", "11", c.interval)
	}
	lx := left + 10
	for _, it := range []struct{ name, col string }{{"failover", colFailover}, {"keepalived", colKeep}} {
		s.f(`<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/>`, lx, bottom+46, it.col)
		s.text(lx+16, bottom+57, "start", "12", it.name)
		lx += 110
	}
}

// cpuPanel: CPU ms/s of master + backup against VRIDs, one line per daemon
// and interval, log scale.
func (r *benchReport) cpuPanel(s *svg, y0 float64) {
	var counts []int
	var intervals []float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range r.Scale {
		if x.Error != "" {
			continue
		}
		if !slices.Contains(counts, x.VRIDs) {
			counts = append(counts, x.VRIDs)
		}
		if !slices.Contains(intervals, x.IntervalMS) {
			intervals = append(intervals, x.IntervalMS)
		}
		v := x.Master.CPUMSPerS + x.Backup.CPUMSPerS
		if v > 0 {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	slices.Sort(counts)
	slices.Sort(intervals)
	slices.Reverse(intervals)
	if math.IsInf(lo, 0) {
		lo, hi = 0.01, 1
	}
	dlo, dhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dhi <= dlo {
		dhi = dlo + 1
	}
	top, bottom := y0+marginT, y0+panelH-marginB
	left, right := float64(marginL), float64(chartW-marginR-170)
	y := func(v float64) float64 { return bottom - (math.Log10(v)-dlo)/(dhi-dlo)*(bottom-top) }
	s.text(float64(marginL), y0+25, "start", "15", "CPU time per second of master + backup (ms/s, log scale) against the number of VRIDs")
	for d := dlo; d <= dhi; d++ {
		v := math.Pow(10, d)
		s.line(left, y(v), right, y(v), `stroke="#ddd"`)
		s.text(left-6, y(v)+4, "end", "11", trimFloat(v))
	}
	s.f(`<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle" font-size="12">CPU ms/s</text>`, left-50, (top+bottom)/2)
	x := func(i int) float64 {
		if len(counts) == 1 {
			return (left + right) / 2
		}
		return left + 30 + float64(i)*(right-left-60)/float64(len(counts)-1)
	}
	for i, n := range counts {
		s.text(x(i), bottom+18, "middle", "11", fmt.Sprintf("%d", n))
	}
	s.text((left+right)/2, bottom+38, "middle", "12", "VRIDs on one interface")
	ly := top + 10
	unsteady := false
	defer func() {
		if unsteady {
			s.f(`<circle cx="%.1f" cy="%.1f" r="4" fill="white" stroke="#333" stroke-width="1.5"/>`, right+35, ly)
			s.text(right+56, ly+4, "start", "12", "no steady state")
		}
	}()
	for ii, iv := range intervals {
		col := intervalColors[ii%len(intervalColors)]
		for _, d := range []string{"failover", "keepalived"} {
			var pts []string
			for i, n := range counts {
				if sr := r.scaleFind(d, n, iv); sr != nil && sr.Error == "" {
					v := sr.Master.CPUMSPerS + sr.Backup.CPUMSPerS
					if v > 0 {
						pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
						fill, note := col, ""
						if sr.NotConverged != "" || !sr.Stable {
							fill, note = "white", " (no steady state)"
							unsteady = true
						}
						s.f(`<circle cx="%.1f" cy="%.1f" r="4" fill="%s" stroke="%s" stroke-width="1.5"><title>%s %d VRIDs %s: %.3f ms/s%s</title></circle>`, x(i), y(v), fill, col, d, n, fmtInterval(iv), v, note)
					}
				}
			}
			if len(pts) == 0 {
				continue
			}
			dash := ""
			if d == "keepalived" {
				dash = ` stroke-dasharray="6 4"`
			}
			s.f(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`, strings.Join(pts, " "), col, dash)
			s.line(right+20, ly, right+50, ly, fmt.Sprintf(`stroke="%s" stroke-width="2"%s`, col, dash))
			s.text(right+56, ly+4, "start", "12", d+" "+fmtInterval(iv))
			ly += 18
		}
	}
}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	span := hi - lo
	step := math.Pow(10, math.Floor(math.Log10(span/float64(n))))
	for _, m := range []float64{1, 2, 5, 10} {
		if span/(step*m) <= float64(n) {
			step *= m
			break
		}
	}
	var out []float64
	for t := math.Floor(lo/step) * step; t <= hi+step*0.999; t += step {
		out = append(out, math.Round(t/step)*step)
	}
	return out
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}
