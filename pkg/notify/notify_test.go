package notify

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failover-ha/failover/pkg/config"
	"github.com/failover-ha/failover/pkg/instance"
	"github.com/failover-ha/failover/vrrp"
)

// recorder writes a hook that appends "<name> <start> <end> <args> <env>" to
// a log file, sleeping a little so overlapping runs would show.
func recorder(t *testing.T, sleep string) (script, logFile string) {
	t.Helper()
	dir := t.TempDir()
	logFile = filepath.Join(dir, "calls.log")
	script = filepath.Join(dir, "hook.sh")
	body := fmt.Sprintf(`#!/bin/sh
start=$(date +%%s%%N)
sleep %s
echo "$(basename "$0") $start $(date +%%s%%N) args=[$*] state=$FAILOVER_STATE prev=$FAILOVER_PREVIOUS_STATE prio=$FAILOVER_PRIORITY vips=[$FAILOVER_VIPS] inst=$FAILOVER_INSTANCE" >> %s
echo "to stdout"; echo "to stderr" >&2
`, sleep, logFile)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, logFile
}

func readCalls(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func tr(from, to vrrp.State, prio uint8) instance.Transition {
	return instance.Transition{Time: time.Now(), Instance: "web", From: from, To: to, Priority: prio, Reason: "test",
		VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.100/24")}}
}

// Hooks run one at a time, in transition order, the specific hook before the
// generic one, with keepalived's arguments and the FAILOVER_* environment.
func TestOrderArgsAndEnv(t *testing.T) {
	script, logFile := recorder(t, "0.05")
	r := NewRunner(Instance, "web", config.Hooks{Master: []string{script, "--fast"}, Backup: []string{script},
		Notify: []string{script}, Timeout: 5 * time.Second}, nil, nil)
	start := time.Now()
	r.Notify(tr(vrrp.Initialize, vrrp.Backup, 100))
	r.Notify(tr(vrrp.Backup, vrrp.Master, 100))
	r.Notify(tr(vrrp.Master, vrrp.Initialize, 100))
	if posted := time.Since(start); posted > 20*time.Millisecond {
		t.Errorf("Notify blocked for %v", posted)
	}
	r.Close()
	calls := readCalls(t, logFile)
	want := []string{
		"args=[] state=BACKUP prev=INIT",
		"args=[INSTANCE web BACKUP 100] state=BACKUP",
		"args=[--fast] state=MASTER prev=BACKUP prio=100 vips=[192.0.2.100/24] inst=web",
		"args=[INSTANCE web MASTER 100] state=MASTER",
		"args=[INSTANCE web STOP 100] state=STOP prev=MASTER",
	}
	if len(calls) != len(want) {
		t.Fatalf("calls:\n%s", strings.Join(calls, "\n"))
	}
	var prevEnd int64
	for i, c := range calls {
		if !strings.Contains(c, want[i]) {
			t.Errorf("call %d = %q, want it to contain %q", i, c, want[i])
		}
		var name string
		var s, e int64
		fmt.Sscanf(c, "%s %d %d", &name, &s, &e)
		if s < prevEnd {
			t.Errorf("call %d started before call %d ended: hooks overlapped", i, i-1)
		}
		prevEnd = e
	}
	runs := r.Runs()
	if len(runs) != 3 || runs[0].Hook != "notify_master" || runs[0].Result != "exit 0" {
		t.Errorf("runs %+v", runs)
	}
}

// A hook past its timeout is terminated with its process group, and the
// next one still runs.
func TestTimeoutThenNextRuns(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	forever := filepath.Join(dir, "forever.sh")
	os.WriteFile(forever, []byte("#!/bin/sh\nsleep 1000 & wait\n"), 0o755)
	after := filepath.Join(dir, "after.sh")
	os.WriteFile(after, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755)
	r := NewRunner(Instance, "web", config.Hooks{Master: []string{forever}, Backup: []string{after}, Timeout: 200 * time.Millisecond}, nil, nil)
	r.Notify(tr(vrrp.Backup, vrrp.Master, 100))
	r.Notify(tr(vrrp.Master, vrrp.Backup, 100))
	done := make(chan struct{})
	go func() { r.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("runner stuck on a hook that sleeps forever")
	}
	if _, err := os.Stat(marker); err != nil {
		t.Error("the hook after the timed-out one did not run")
	}
	if runs := r.Runs(); !strings.HasPrefix(runs[0].Result, "killed after timeout") {
		t.Errorf("runs %+v", runs)
	}
}

func TestNoHooksNoRuns(t *testing.T) {
	r := NewRunner(Group, "g", config.Hooks{}, nil, nil)
	r.Notify(tr(vrrp.Backup, vrrp.Master, 1))
	r.Close()
	if len(r.Runs()) != 0 {
		t.Error("ran something with no hooks configured")
	}
}
