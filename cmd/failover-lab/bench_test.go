package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failover-ha/failover/internal/pcapfile"
	"github.com/failover-ha/failover/pkg/lab"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in            []float64
		med, min, max float64
	}{
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4},
		{[]float64{-0.5}, -0.5, -0.5, -0.5},
	} {
		s := summarize(tc.in)
		if s.N != len(tc.in) || s.Med != tc.med || s.Min != tc.min || s.Max != tc.max {
			t.Errorf("summarize(%v) = %+v, want med %v min %v max %v", tc.in, s, tc.med, tc.min, tc.max)
		}
	}
	if s := summarize(nil); s.N != 0 || !math.IsNaN(s.Med) || s.fmt(1) != "–" {
		t.Errorf("summarize(nil) = %+v (%q)", s, s.fmt(1))
	}
	if got := summarize([]float64{0.4, 0.123, 2}).fmt(2); got != "0.40 (0.12–2.00)" {
		t.Errorf("fmt = %q", got)
	}
}

func TestParseProc(t *testing.T) {
	stat := []byte("4242 (fail over) S 1 4242 4242 0 -1 4194560 812 0 0 0 37 12 0 0 20 0 9 0 1234 1000 500 18446744073709551615\n")
	ut, st, err := parseStatTimes(stat)
	if err != nil || ut != 37 || st != 12 {
		t.Errorf("parseStatTimes = %d, %d, %v; want 37, 12", ut, st, err)
	}
	status := []byte("Name:\tfailoverd\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t7\n")
	m, err := parseStatusMem(status)
	if err != nil || m.RSSKiB != 10240 || m.HWMKiB != 20480 {
		t.Errorf("parseStatusMem = %+v, %v", m, err)
	}
	if _, err := parseStatusMem([]byte("Name:\tkthreadd\n")); err == nil {
		t.Error("parseStatusMem accepted a status without VmRSS (a kernel thread)")
	}
}

// The CPU-time clock of another process must agree with that process's
// own view; here the other process is this one.
func TestSampleCPUOwnProcess(t *testing.T) {
	a, err := sampleCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for x, deadline := 0, time.Now().Add(50*time.Millisecond); time.Now().Before(deadline); x++ {
		_ = x * x
	}
	b, err := sampleCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	clock, _ := cpuPerSecond(a, b)
	if b.Clock <= a.Clock || clock < 500*time.Millisecond || clock > 2100*time.Millisecond {
		t.Errorf("spinning for 50 ms: CPU clock %v -> %v, %v per second", a.Clock, b.Clock, clock)
	}
}

var (
	mac1 = net.HardwareAddr{0x02, 0xfa, 0, 0, 0, 0x0b}
	mac2 = net.HardwareAddr{0x02, 0xfa, 0, 0, 0, 0x0c}
	ip1  = netip.MustParseAddr("192.0.2.11")
	ip2  = netip.MustParseAddr("192.0.2.12")
	vip  = netip.MustParseAddr("192.0.2.100")
)

// vrrpFrame is an Ethernet/IPv4 VRRPv3 advert from src with vrid and prio.
func vrrpFrame(src net.HardwareAddr, from netip.Addr, vrid, prio byte) []byte {
	payload := []byte{0x31, vrid, prio, 1, 0, 10, 0, 0, 192, 0, 2, 100}
	ip := make([]byte, 20)
	ip[0], ip[8], ip[9] = 0x45, 255, 112
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(payload)))
	f4 := from.As4()
	copy(ip[12:], f4[:])
	copy(ip[16:], []byte{224, 0, 0, 18})
	eth := append([]byte{0x01, 0x00, 0x5e, 0, 0, 0x12}, src...)
	eth = append(eth, 0x08, 0x00)
	return append(append(eth, ip...), payload...)
}

// garpFrame is a gratuitous ARP request for ip from mac.
func garpFrame(mac net.HardwareAddr, ip netip.Addr) []byte {
	f := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mac...)
	f = append(f, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1)
	a := ip.As4()
	f = append(append(f, mac...), a[:]...)
	f = append(append(f, 0, 0, 0, 0, 0, 0), a[:]...)
	return f
}

func TestTakeoverStart(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(msec float64) time.Time { return t0.Add(time.Duration(msec * float64(time.Millisecond))) }
	frames := []pcapfile.Frame{
		{Time: at(0), Data: vrrpFrame(mac2, ip2, 1, 200)},
		{Time: at(50), Data: vrrpFrame(mac2, ip2, 7, 200)}, // another VRID
		{Time: at(100), Data: vrrpFrame(mac2, ip2, 1, 200)},
		// mark = 3: the fault
		{Time: at(120), Data: vrrpFrame(mac2, ip2, 1, 0)},
		{Time: at(181), Data: vrrpFrame(mac1, ip1, 1, 100)},
		{Time: at(181.5), Data: garpFrame(mac1, vip)},
		{Time: at(200), Data: vrrpFrame(mac2, ip2, 1, 200)}, // after the GARP: ignored
	}
	garp := at(181.5)
	got, err := takeoverStart(frames, 3, garp, ip2, 1, true)
	if err != nil || !got.Equal(at(120)) {
		t.Errorf("resign: start %v, %v; want the priority-0 advert at +120ms", got.Sub(t0), err)
	}
	got, err = takeoverStart(frames, 3, garp, ip2, 1, false)
	if err != nil || !got.Equal(at(100)) {
		t.Errorf("crash: start %v, %v; want the last advert at +100ms", got.Sub(t0), err)
	}
	if _, err := takeoverStart(frames[:3], 3, garp, ip2, 1, true); err == nil {
		t.Error("resign without a priority-0 advert: no error")
	}
	adv, ok := firstAdvert(frames, 3, ip1, 1)
	if !ok || !adv.Equal(at(181)) {
		t.Errorf("firstAdvert = %v, %v", adv.Sub(t0), ok)
	}
	if ip, mac, ok := lab.IsGratuitousARP(garpFrame(mac1, vip)); !ok || ip != vip || !bytes.Equal(mac, mac1) {
		t.Errorf("test GARP frame not recognised: %v %v %v", ip, mac, ok)
	}
}

func TestClientGap(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var r lab.ProbeResult
	for i := range 20 {
		r.Sent = append(r.Sent, t0.Add(time.Duration(i)*time.Millisecond))
		switch {
		case i < 5:
			r.Replies = append(r.Replies, lab.Reply{Seq: uint64(i), Sent: r.Sent[i], From: "h2"})
		case i >= 12:
			r.Replies = append(r.Replies, lab.Reply{Seq: uint64(i), Sent: r.Sent[i], From: "h1"})
		}
	}
	gap, lost, err := clientGap(r, "h2", "h1")
	if err != nil || gap != 8*time.Millisecond || lost != 7 {
		t.Errorf("clientGap = %v, %d, %v; want 8ms, 7", gap, lost, err)
	}
	if _, _, err := clientGap(r, "h1", "h2"); err == nil {
		t.Error("no outage from h1 to h2, but no error")
	}
	// A drain hands over without a lost probe: no gap.
	var d lab.ProbeResult
	for i := range 10 {
		d.Sent = append(d.Sent, t0.Add(time.Duration(i)*time.Millisecond))
		from := "h2"
		if i >= 6 {
			from = "h1"
		}
		d.Replies = append(d.Replies, lab.Reply{Seq: uint64(i), Sent: d.Sent[i], From: from})
	}
	if gap, lost, err := clientGap(d, "h2", "h1"); err != nil || gap != 0 || lost != 0 {
		t.Errorf("lossless handover: clientGap = %v, %d, %v; want 0, 0", gap, lost, err)
	}
}

func sampleReport() *benchReport {
	r := &benchReport{Date: "2026-01-02T03:04:05Z", Command: "bin/failover-lab bench -out docs",
		Machine:   machineInfo{CPU: "Test CPU", Cores: 2, Kernel: "Linux 6.1", GoVersion: "go1.26", Keepalived: "Keepalived v2.2.7"},
		LoadStart: "0.10 0.20 0.30", LoadEnd: "0.40 0.50 0.60", Reps: 3, ProbeMS: 1, BackupPrio: 100, MasterPrio: 200}
	add := func(sc, d string, interval, limit float64, over ...float64) {
		for i, o := range over {
			r.Takeovers = append(r.Takeovers, takeoverResult{Scenario: sc, Daemon: d, IntervalMS: interval, Rep: i + 1,
				LimitMS: limit, DetectionMS: limit + o, OverheadMS: o, GapMS: limit + o - 20, Lost: int(limit) - 20, FaultToGARPMS: limit})
		}
	}
	add("kill", "failover", 100, 360.94, 0.4, 0.5, 0.6)
	add("kill", "keepalived", 100, 360.94, 1.0, 1.2, 1.1)
	add("term", "failover", 100, 60.94, 0.3, 0.2, 0.4)
	add("term", "keepalived", 100, 60.94, 0.5, 0.6, -0.1)
	r.Takeovers = append(r.Takeovers, takeoverResult{Scenario: "term", Daemon: "keepalived", IntervalMS: 100, Rep: 4, Error: "no gratuitous ARP from h1"})
	r.Scale = []scaleResult{
		{Daemon: "failover", VRIDs: 255, IntervalMS: 100, WindowS: 5, ConvergeS: 0.4, Stable: true,
			Master: procUsage{CPUMSPerS: 20, RSSKiB: 10 << 10, HWMKiB: 12 << 10}, Backup: procUsage{CPUMSPerS: 10, RSSKiB: 9 << 10, HWMKiB: 9 << 10}},
		{Daemon: "keepalived", VRIDs: 255, IntervalMS: 100, WindowS: 5, ConvergeS: 0.35, Stable: true,
			Master: procUsage{CPUMSPerS: 30, RSSKiB: 3 << 10, HWMKiB: 3 << 10}, Backup: procUsage{CPUMSPerS: 10, RSSKiB: 3 << 10, HWMKiB: 3 << 10}},
		{Daemon: "failover", VRIDs: 1, IntervalMS: 100, WindowS: 5, ConvergeS: 0.33, Stable: true,
			Master: procUsage{CPUMSPerS: 2, RSSKiB: 7 << 10, HWMKiB: 7 << 10}, Backup: procUsage{CPUMSPerS: 1, RSSKiB: 7 << 10, HWMKiB: 7 << 10}},
		{Daemon: "failover", VRIDs: 1, IntervalMS: 10, WindowS: 5, NotConverged: "timed out", Stable: false,
			Master: procUsage{CPUMSPerS: 9}, Backup: procUsage{CPUMSPerS: 8}},
	}
	return r
}

func TestReportTables(t *testing.T) {
	r := sampleReport()
	md := r.markdown()
	for _, want := range []string{
		"| crash (SIGKILL + cable pulled) | 100ms | 360.9 | 0.50 (0.40–0.60) | 1.10 (1.00–1.20) | 0.45 |",
		"| graceful stop (SIGTERM) | 100ms | 60.9 | 0.30 (0.20–0.40) | 0.50 (-0.10–0.60) | 0.60 |",
		"| 255 | 100ms | 20.0 / 10.0 | 30.0 / 10.0 | 0.75 | 10.0 / 9.0 (peak 12.0) | 3.0 / 3.0 (peak 3.0) | 0.40 / 0.35 |",
		"| 1 | 10ms | 9.00 / 8.00 † ⚠ |",
		"overhead median 0.50 ms ≤ 1 ms: met; not worse than keepalived's 1.10 ms: met",
		"failoverd peak RSS 12.0 MiB ≤ 20 MiB: met; CPU master 20.00 ≤ keepalived 30.00 ms/s: met",
		"- graceful stop (SIGTERM), 100ms: takeover median 61.24 ms ≤ Skew_Time 60.94 ms + 1 ms: met (client gap median 41.2 ms, 40 probes lost)",
		"- term 100ms keepalived: no gratuitous ARP from h1",
	} {
		if !strings.Contains(md.tables, want) {
			t.Errorf("tables lack %q:\n%s", want, md.tables)
		}
	}
	for _, want := range []string{"Test CPU (2 cores)", "Keepalived v2.2.7", "Load average (1, 5, 15 min) 0.10 0.20 0.30", "`bin/failover-lab bench -out docs`", "| term | 100ms | keepalived | 60.94 |", "3/4 |", "(bench.svg)"} {
		if !strings.Contains(md.section, want) {
			t.Errorf("bench.md section lacks %q:\n%s", want, md.section)
		}
	}
	// Intervals run longest first within a scenario.
	r.Takeovers = append(r.Takeovers, takeoverResult{Scenario: "kill", Daemon: "failover", IntervalMS: 1000, LimitMS: 3609.38, OverheadMS: 1})
	g := r.groups()
	if g[0].Scenario != "kill" || g[0].IntervalMS != 1000 || g[1].IntervalMS != 100 || g[1].Daemon != "failover" || g[2].Daemon != "keepalived" {
		t.Errorf("group order: %+v %+v %+v", g[0], g[1], g[2])
	}
}

func TestChartIsWellFormedSVG(t *testing.T) {
	for name, r := range map[string]*benchReport{"full": sampleReport(), "empty": {}} {
		svg := r.chart()
		d := xml.NewDecoder(strings.NewReader(svg))
		elems := map[string]int{}
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: invalid SVG: %v\n%s", name, err, svg)
			}
			if se, ok := tok.(xml.StartElement); ok {
				elems[se.Name.Local]++
			}
		}
		if elems["svg"] != 1 {
			t.Errorf("%s: %d svg elements", name, elems["svg"])
		}
		if name == "full" && (elems["rect"] < 5 || elems["polyline"] < 2) {
			t.Errorf("%s: bars or lines missing: %v", name, elems)
		}
		if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
			t.Errorf("%s: chart has NaN/Inf coordinates", name)
		}
	}
}

func TestSpliceResults(t *testing.T) {
	doc := spliceResults("", "results v1\n")
	if !strings.HasPrefix(doc, "# Failover benchmark") || !strings.Contains(doc, "results v1") {
		t.Fatalf("new doc:\n%s", doc)
	}
	doc = "# Title\n\nmethod notes\n\n" + beginMarker + "\nold\n" + endMarker + "\n\nfindings\n"
	got := spliceResults(doc, "new\n")
	want := "# Title\n\nmethod notes\n\n" + beginMarker + "\nnew\n" + endMarker + "\n\nfindings\n"
	if got != want {
		t.Errorf("splice:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseFlags(t *testing.T) {
	if _, err := parseDurations("1s,15ms"); err == nil {
		t.Error("15ms accepted")
	}
	if c, err := parseCounts("1,255"); err != nil || len(c) != 2 {
		t.Errorf("parseCounts: %v %v", c, err)
	}
	if _, err := parseCounts("256"); err == nil {
		t.Error("256 VRIDs accepted")
	}
	if s, err := parseScenarios("kill,term"); err != nil || len(s) != 2 || s[1].Name != "term" || !s[1].Resign {
		t.Errorf("parseScenarios: %v %v", s, err)
	}
	if d := findScenario("drain"); d == nil || !d.Resign || d.supports("keepalived") || !d.supports("failover") {
		t.Errorf("drain scenario: %+v", d)
	}
	if _, err := parseScenarios("reboot"); err == nil {
		t.Error("unknown scenario accepted")
	}
	if vrs := benchVRs(255); vrs[0].VIP.String() != "192.0.2.100/24" || vrs[99].VIP.String() != "192.0.2.199/24" ||
		vrs[100].VIP.String() != "198.51.100.1/32" || vrs[254].VIP.String() != "198.51.100.155/32" {
		t.Errorf("VIPs: %v %v %v %v", vrs[0], vrs[99], vrs[100], vrs[254])
	}
}

// TestBenchSmoke runs the real thing, briefly: one crash takeover at 100 ms
// and a 2-VRID scale run, against keepalived if it is installed. It checks
// that the numbers are plausible and every output is written.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("network-namespace bench skipped in -short mode")
	}
	if err := lab.BuildAvailable(); err != nil {
		t.Skip(err)
	}
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", bin+"/", "../failoverd").CombinedOutput(); err != nil {
		t.Fatalf("build failoverd: %v\n%s", err, out)
	}
	keepalived := "none"
	if _, err := exec.LookPath("keepalived"); err == nil {
		keepalived = "keepalived"
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := benchCmd(context.Background(), []string{"-bin", bin, "-keepalived", keepalived, "-scenarios", "kill", "-intervals", "100ms", "-reps", "1",
		"-scale", "2", "-scale-intervals", "100ms", "-window", "1s", "-settle", "200ms", "-out", out}, &stdout, &stderr)
	t.Logf("bench output:\n%s", stdout.String())
	if code != 0 {
		t.Fatalf("bench exited %d: %s", code, stderr.String())
	}
	var r benchReport
	js, err := os.ReadFile(filepath.Join(out, "bench.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &r); err != nil {
		t.Fatal(err)
	}
	wantDaemons := 1
	if keepalived != "none" {
		wantDaemons = 2
	}
	if len(r.Takeovers) != wantDaemons || len(r.Scale) != wantDaemons {
		t.Fatalf("%d takeovers, %d scale runs; want %d each", len(r.Takeovers), len(r.Scale), wantDaemons)
	}
	for _, tk := range r.Takeovers {
		// The protocol forbids taking over before the limit; a busy CI
		// machine may be late, but not by seconds.
		if tk.Error != "" || tk.OverheadMS < -0.5 || tk.OverheadMS > 100 || tk.Lost < 1 || tk.GapMS <= 0 {
			t.Errorf("implausible takeover: %+v", tk)
		}
	}
	for _, s := range r.Scale {
		if s.Error != "" || s.NotConverged != "" || s.Master.CPUMSPerS <= 0 || s.Master.RSSKiB == 0 || s.Backup.HWMKiB == 0 {
			t.Errorf("implausible scale run: %+v", s)
		}
	}
	for _, f := range []string{"bench.md", "bench.svg"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	if out, _ := exec.Command("pgrep", "-x", "keepalived").Output(); len(out) > 0 {
		t.Logf("note: keepalived processes running after the bench (other tests?): %s", out)
	}
}
