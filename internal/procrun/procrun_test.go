package procrun

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type lines struct {
	mu sync.Mutex
	l  []string
}

func (c *lines) add(stream, line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.l = append(c.l, stream+": "+line)
}

func (c *lines) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.l)
}

func TestExitCodeOutputAndEnv(t *testing.T) {
	var out lines
	r := Run(context.Background(), Spec{
		Argv: []string{"/bin/sh", "-c", `echo "hello $WHO"; echo oops >&2; exit 3`, "x"},
		Env:  []string{"WHO=world", "PATH=/usr/bin:/bin"},
		Line: out.add,
	})
	if r.ExitCode != 3 || r.TimedOut || r.Err != nil || r.OK() || r.String() != "exit 3" {
		t.Errorf("result %+v", r)
	}
	got := out.all()
	slices.Sort(got)
	if !slices.Equal(got, []string{"stderr: oops", "stdout: hello world"}) {
		t.Errorf("lines %q", got)
	}
}

func TestMissingProgram(t *testing.T) {
	r := Run(context.Background(), Spec{Argv: []string{"/nonexistent/prog"}})
	if r.Err == nil || r.OK() || !strings.Contains(r.String(), "failed") {
		t.Errorf("result %+v", r)
	}
}

// groupGone reports whether no process is left in process group pgid.
func groupGone(pgid int) bool { return syscall.Kill(-pgid, 0) == syscall.ESRCH }

// pidFile has the shell write its own pid (= the process group id).
func pidOf(t *testing.T, path string) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			n, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err == nil {
				return n
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no pid written")
	return 0
}

// A run past its timeout loses its whole process group, including children
// that ignore SIGTERM.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	r := Run(context.Background(), Spec{
		Argv:      []string{"/bin/sh", "-c", `echo $$ > "$1"; (trap "" TERM; sleep 100) & sleep 100`, "x", pidFile},
		Timeout:   200 * time.Millisecond,
		KillGrace: 200 * time.Millisecond,
	})
	took := time.Since(start)
	if !r.TimedOut || r.OK() || !strings.HasPrefix(r.String(), "killed after timeout") {
		t.Errorf("result %+v", r)
	}
	if took > 2*time.Second {
		t.Errorf("took %v", took)
	}
	pgid := pidOf(t, pidFile)
	deadline := time.Now().Add(2 * time.Second)
	for !groupGone(pgid) {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still alive after the timeout", pgid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestContextCancelTerminates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r := Run(ctx, Spec{Argv: []string{"/bin/sleep", "100"}, KillGrace: 100 * time.Millisecond})
	if !r.TimedOut || r.Duration > 2*time.Second {
		t.Errorf("result %+v", r)
	}
}

// A hook that starts a daemon holding our output pipe must not block us
// beyond a short grace after it exits.
func TestBackgroundChildDoesNotBlock(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	r := Run(context.Background(), Spec{Argv: []string{"/bin/sh", "-c", `sleep 30 & echo $! > "$1"; exit 0`, "x", pidFile}})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("blocked %v by a background child", took)
	}
	if r.ExitCode != 0 {
		t.Errorf("result %+v", r)
	}
	if pid := pidOf(t, pidFile); pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// The child sees only stdin, stdout and stderr (plus what it opens itself).
func TestNoLeakedDescriptors(t *testing.T) {
	f, err := os.Open("/dev/null") // a descriptor of ours that must not leak
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out lines
	Run(context.Background(), Spec{Argv: []string{"/bin/ls", "/proc/self/fd"}, Line: out.add})
	var fds []string
	for _, l := range out.all() {
		fds = append(fds, strings.TrimPrefix(l, "stdout: "))
	}
	// ls itself opens one descriptor to read the directory.
	if len(fds) > 4 || !slices.Contains(fds, "0") || !slices.Contains(fds, "2") {
		t.Errorf("child descriptors %v", fds)
	}
}

// Every run is reaped: no zombie children remain.
func TestNoZombies(t *testing.T) {
	for i := 0; i < 5; i++ {
		Run(context.Background(), Spec{Argv: []string{"/bin/true"}})
		Run(context.Background(), Spec{Argv: []string{"/bin/sleep", "10"}, Timeout: 20 * time.Millisecond, KillGrace: 50 * time.Millisecond})
	}
	entries, _ := os.ReadDir("/proc")
	me := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		rest := s[strings.LastIndexByte(s, ')')+2:]
		f := strings.Fields(rest) // state, ppid, ...
		if len(f) > 1 && f[1] == me && f[0] == "Z" {
			t.Errorf("zombie child: %s", strings.TrimSpace(s))
		}
	}
}
