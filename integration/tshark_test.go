package integration

// failoverd's advert encoder checked against an independent decoder:
// Wireshark's VRRP dissector (tshark) must read failoverd's adverts, as
// captured on the wire, the way failoverd meant them.

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/failover-ha/failover/pkg/lab"
	"github.com/failover-ha/failover/vrrp"
)

// dissected is one advert as tshark reads it.
type dissected struct {
	src      string
	version  string
	vrid     string
	priority string
	interval string // v2: seconds; v3: centiseconds
	count    string
	addrs    []string
	authType string
	auth     string
	checksum string // vrrp.checksum.status: 1 good, 0 bad, 2 not checked
}

// tsharkFields are the dissector fields read, in dissected's order (ip.src
// and ipv6.src both, one of them empty).
var tsharkFields = []string{
	"ip.src", "ipv6.src", "vrrp.version", "vrrp.virt_rtr_id", "vrrp.prio",
	"vrrp.adver_int", "vrrp.short_adver_int", "vrrp.addr_count", "vrrp.ip_addr", "vrrp.ipv6_addr",
	"vrrp.auth_type", "vrrp.auth_string", "vrrp.checksum.status",
}

// dissect runs tshark over a pcap file with extra options and returns every
// VRRP packet it finds.
func dissect(t *testing.T, pcap string, opts ...string) []dissected {
	t.Helper()
	args := append([]string{"-r", pcap, "-Y", "vrrp", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"}, opts...)
	for _, f := range tsharkFields {
		args = append(args, "-e", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "tshark", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var ds []dissected
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != len(tsharkFields) {
			t.Fatalf("tshark line %q: %d fields, want %d", line, len(f), len(tsharkFields))
		}
		d := dissected{src: f[0] + f[1], version: f[2], vrid: f[3], priority: f[4], interval: f[5] + f[6],
			count: f[7], authType: f[10], auth: f[11], checksum: f[12]}
		for _, a := range strings.Split(f[8]+f[9], ",") {
			if a != "" {
				d.addrs = append(d.addrs, a)
			}
		}
		ds = append(ds, d)
	}
	return ds
}

// TestTsharkDissectsAdverts runs four instances on one failoverd, chosen so
// that every field differs: VRRPv3 IPv4 with the default pseudo-header
// checksum and two addresses, VRRPv3 IPv4 with a message-only checksum,
// VRRPv2 with a password and two addresses, and VRRPv3 IPv6. It captures
// their adverts, then the priority-0 adverts of SIGTERM, and checks every
// one as tshark dissects it.
func TestTsharkDissectsAdverts(t *testing.T) {
	skipShort(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed (apt-get install tshark; .ci/run installs it)")
	}
	t.Logf("dissector: %s", peerVersion("tshark", "--version"))
	c := newCluster(t, 1, 0)
	h1 := c.host("h1")
	src4, src6 := h1.IPv4.Addr().String(), h1.LinkLocal.String()
	type want struct {
		opts     instanceOpts
		src      string
		interval string
		addrs    []string
		authType string
		auth     string
	}
	wants := []want{
		{instanceOpts{name: "v3", vrid: 51, priority: 200, version: 3, interval: "100ms",
			vips: []string{"192.0.2.100/24", "192.0.2.101/24"}},
			src4, "10", []string{"192.0.2.100", "192.0.2.101"}, "", ""},
		{instanceOpts{name: "v3-message-only", vrid: 54, priority: 201, version: 3, interval: "150ms",
			vips: []string{"192.0.2.104/24"}, extra: "checksum_mode = \"message-only\"\n"},
			src4, "15", []string{"192.0.2.104"}, "", ""},
		// Priority 255 (address owner) is master at once: no 3 s wait.
		{instanceOpts{name: "v2", vrid: 52, priority: 255, version: 2, interval: "1s",
			vips: []string{"192.0.2.102/24", "192.0.2.103/24"}, extra: "auth_pass = \"s3cret\"\n"},
			src4, "1", []string{"192.0.2.102", "192.0.2.103"}, "1", "s3cret"},
		{instanceOpts{name: "v6", vrid: 53, priority: 202, version: 3, interval: "200ms",
			vips: []string{"2001:db8::100/64", "2001:db8::101/64"}},
			src6, "20", []string{"2001:db8::100", "2001:db8::101"}, "", ""},
	}
	var opts []instanceOpts
	for _, w := range wants {
		opts = append(opts, w.opts)
	}
	c.start(h1, opts...)
	// Two adverts of each, the v2 one a second apart.
	c.waitFor("two adverts from every instance", 5*time.Second, func() bool {
		n := map[uint8]int{}
		for _, f := range c.cap.Frames() {
			if ip, ok := lab.IsVRRP(f.Data); ok && len(ip.Payload) > 1 {
				n[ip.Payload[1]]++
			}
		}
		for _, w := range wants {
			if n[uint8(w.opts.vrid)] < 2 {
				return false
			}
		}
		return true
	})
	c.stop(h1, syscall.SIGTERM) // priority-0 adverts
	time.Sleep(50 * time.Millisecond)
	frames := 0
	for _, f := range c.cap.Frames() {
		if ip, ok := lab.IsVRRP(f.Data); ok {
			var a vrrp.Advert
			if err := a.Decode(ip.Payload, ip.Src, ip.Dst); err != nil {
				t.Fatalf("failoverd's own decoder rejects a captured advert: %v", err)
			}
			frames++
		}
	}
	pcap := filepath.Join(c.dir, "adverts.pcap")
	if err := c.cap.WritePcap(pcap); err != nil {
		t.Fatal(err)
	}

	// Default preferences: VRRPv3 IPv4 checksums include the pseudo-header.
	def := dissect(t, pcap)
	if len(def) != frames {
		t.Fatalf("tshark dissected %d VRRP packets, the capture holds %d", len(def), frames)
	}
	// With vrrp.v3_checksum_as_in_v2 tshark checks the message-only form.
	asV2 := dissect(t, pcap, "-o", "vrrp.v3_checksum_as_in_v2:TRUE")
	for _, w := range wants {
		vrid := fmt.Sprint(w.opts.vrid)
		var seen, zero int
		for i, d := range def {
			if d.vrid != vrid {
				continue
			}
			seen++
			prio := fmt.Sprint(w.opts.priority)
			if d.priority == "0" {
				zero++
				prio = "0"
			}
			got := fmt.Sprintf("src %s v%s priority %s interval %s count %s addrs %v auth %q %q",
				d.src, d.version, d.priority, d.interval, d.count, d.addrs, d.authType, d.auth)
			exp := fmt.Sprintf("src %s v%d priority %s interval %s count %d addrs %v auth %q %q",
				w.src, w.opts.version, prio, w.interval, len(w.addrs), w.addrs, w.authType, w.auth)
			if got != exp {
				t.Errorf("instance %s: tshark reads %s\n\twant %s", w.opts.name, got, exp)
			}
			status := d.checksum
			if w.opts.name == "v3-message-only" {
				status = asV2[i].checksum
			}
			if status != "1" {
				t.Errorf("instance %s: tshark checksum status %q, want 1 (good)", w.opts.name, status)
			}
		}
		if seen < 3 || zero == 0 {
			t.Errorf("instance %s: %d adverts dissected, %d with priority 0; want at least 2 and 1", w.opts.name, seen, zero)
		}
		t.Logf("instance %s (v%d, vrid %s): %d adverts, tshark reads interval %s, addresses %v, checksum good",
			w.opts.name, w.opts.version, vrid, seen, w.interval, w.addrs)
	}
	// Under default preferences the message-only form is reported bad: the
	// dissector expects the pseudo-header form keepalived and FRR send,
	// which is why that is failoverd's default.
	for _, d := range def {
		if d.vrid == "54" {
			t.Logf("message-only VRRPv3 IPv4 checksum under tshark's default preferences: status %s (0 = bad)", d.checksum)
			break
		}
	}
}
