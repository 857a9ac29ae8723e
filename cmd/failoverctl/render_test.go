package main

import (
	"bytes"
	"context"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failover-ha/failover/pkg/control"
	"github.com/failover-ha/failover/pkg/instance"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The golden files pin what operators read; run with -update after an
// intended change and review the diff.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

var (
	now    = time.Date(2026, 11, 25, 14, 5, 0, 0, time.UTC)
	became = now.Add(-3*time.Minute - 12*time.Second)
)

func sample() []control.InstanceStatus {
	return []control.InstanceStatus{
		{Name: "web", Interface: "eth0", VRID: 51, Version: 3, State: "MASTER", Since: became, Priority: 200, ConfiguredPriority: 200,
			Master: "192.0.2.13", MasterPriority: 200, MasterIntervalMS: 100, IsMaster: true, Source: "192.0.2.13", VIPs: []string{"192.0.2.100/24"},
			Peers: []instance.Peer{{Addr: netip.MustParseAddr("192.0.2.12"), Priority: 150, Interval: 100 * time.Millisecond, LastSeen: now.Add(-2 * time.Second), Adverts: 12, ChecksumMode: "pseudo-header"}},
			Counters: instance.Counters{AdvertsSent: 1920, AdvertsReceived: 12, PriorityZeroReceived: 1, ChecksumPseudoHeader: 12, Transitions: 2, Announcements: 4,
				Drops: map[instance.DropReason]uint64{"checksum": 3, "ttl": 0, "interval_mismatch": 0}},
			Transitions: []control.Transition{
				{Time: became.Add(-400 * time.Millisecond), Instance: "web", From: "INIT", To: "BACKUP", Reason: "startup: waiting 322ms for a master", Priority: 200},
				{Time: became, Instance: "web", From: "BACKUP", To: "MASTER", Reason: "master down timer expired: no advert heard for 323ms", Priority: 200},
			},
			Tracks: []control.TrackStatus{{Name: "nginx", Kind: "script", OK: true, Weight: -50}},
			Hooks:  []control.HookStatus{{Hook: "notify_master", State: "MASTER", Started: became, Duration: 41.5, Result: "exit 0"}},
		},
		{Name: "db", Interface: "eth1", VRID: 52, Version: 2, State: "BACKUP", Since: now.Add(-2 * time.Hour), Priority: 90, ConfiguredPriority: 100,
			Drained: true, Master: "192.0.2.12", MasterPriority: 150, MasterIntervalMS: 1000, VIPs: []string{"192.0.2.101/24", "192.0.2.102/24"}},
		{Name: "dns6", Interface: "eth2", VRID: 53, Version: 3, State: "FAULT", Since: now.Add(-5 * time.Second), Priority: 100, ConfiguredPriority: 100,
			Faults: []string{"link eth2 down"}, VIPs: []string{"2001:db8::53/64"}},
	}
}

func TestRenderTable(t *testing.T) {
	t.Setenv("TZ", "UTC")
	var b bytes.Buffer
	if err := renderTable(&b, sample(), now); err != nil {
		t.Fatal(err)
	}
	golden(t, "status.golden", b.Bytes())
}

func TestRenderDetail(t *testing.T) {
	t.Setenv("TZ", "UTC")
	var b bytes.Buffer
	if err := renderDetail(&b, sample()[0], now); err != nil {
		t.Fatal(err)
	}
	golden(t, "status-web.golden", b.Bytes())
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage: failoverctl"},
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{[]string{"status", "a", "b"}, 2, `unexpected argument "b"`},
		{[]string{"reload", "x"}, 2, `unexpected argument "x"`},
		{[]string{"drain", "-json"}, 2, "flag provided but not defined: -json"},
		{[]string{"-h"}, 0, "Usage: failoverctl"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), c.args, "", &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, errb.String())
		}
	}
}
