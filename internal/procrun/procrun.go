// Package procrun runs a hook or check program the way failoverd must: no
// shell, its own process group, its output handed over line by line, a
// timeout after which the whole group gets SIGTERM and then SIGKILL, and
// always reaped, so no zombie and no descriptor outlives the run.
package procrun

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Spec is one run.
type Spec struct {
	Argv    []string
	Env     []string      // complete environment
	Timeout time.Duration // 0: none
	// KillGrace is how long the group has between SIGTERM and SIGKILL;
	// 0: DefaultKillGrace.
	KillGrace time.Duration
	// Line receives each line of output; stream is "stdout" or "stderr".
	Line func(stream, line string)
}

// Result is how a run ended.
type Result struct {
	Started  time.Time
	Duration time.Duration
	ExitCode int  // -1 when killed by a signal or never started
	TimedOut bool // the timeout fired or ctx ended, and the group was terminated
	Err      error
}

// OK reports a clean exit 0.
func (r Result) OK() bool { return r.Err == nil && r.ExitCode == 0 && !r.TimedOut }

func (r Result) String() string {
	switch {
	case r.Err != nil:
		return "failed: " + r.Err.Error()
	case r.TimedOut:
		return fmt.Sprintf("killed after timeout (%v)", r.Duration.Round(time.Millisecond))
	case r.ExitCode < 0:
		return "killed by a signal"
	}
	return fmt.Sprintf("exit %d", r.ExitCode)
}

// maxLine bounds a logged line; longer output is split.
const maxLine = 4096

// cloexecOnce marks descriptors inherited from our own parent close-on-exec.
// Go opens its own with O_CLOEXEC, but exec leaves anything a parent passed
// down without the flag open in every child: a hook must not inherit them.
var cloexecOnce sync.Once

func markInheritedCloexec() {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return
	}
	// Kernels before 5.11: walk /proc/self/fd.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

// Environ is the daemon's environment without systemd's protocol
// variables: a hook must not be able to notify or feed the watchdog on
// failoverd's behalf.
func Environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// DefaultKillGrace is the time between SIGTERM and SIGKILL unless a Spec
// sets its own.
const DefaultKillGrace = 3 * time.Second

// Run runs spec to completion. Cancelling ctx terminates the group like a
// timeout does.
func Run(ctx context.Context, spec Spec) Result {
	cloexecOnce.Do(markInheritedCloexec)
	res := Result{Started: time.Now(), ExitCode: -1}
	if len(spec.Argv) == 0 {
		res.Err = errors.New("no program")
		return res
	}
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Env = spec.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A hook may leave a daemon behind holding our pipes: stop waiting for
	// its output shortly after the hook itself exits.
	cmd.WaitDelay = time.Second
	var wg sync.WaitGroup
	pipe := func(stream string) io.Writer {
		pr, pw := io.Pipe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 0, maxLine), maxLine)
			for sc.Scan() {
				if spec.Line != nil {
					spec.Line(stream, strings.TrimRight(sc.Text(), "\r"))
				}
			}
			// Drain (an over-long line ends the scanner) so the writer never blocks.
			io.Copy(io.Discard, pr)
		}()
		return pw
	}
	stdout, stderr := pipe("stdout"), pipe("stderr")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	defer func() {
		stdout.(*io.PipeWriter).Close()
		stderr.(*io.PipeWriter).Close()
		wg.Wait()
	}()
	if err := cmd.Start(); err != nil {
		res.Err = err
		return res
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
	}
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		res.TimedOut = true
		err = terminate(pgid, spec.KillGrace, done)
	}
	res.Duration = time.Since(res.Started)
	var ee *exec.ExitError
	switch {
	case err == nil:
		res.ExitCode = 0
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode() // -1 if signalled
	case errors.Is(err, exec.ErrWaitDelay):
		res.ExitCode = cmd.ProcessState.ExitCode()
	default:
		res.Err = err
	}
	return res
}

// terminate sends SIGTERM to the process group, then SIGKILL after grace,
// and waits for the process to be reaped.
func terminate(pgid int, grace time.Duration, done <-chan error) error {
	syscall.Kill(-pgid, syscall.SIGTERM)
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-done:
		syscall.Kill(-pgid, syscall.SIGKILL) // children that ignored SIGTERM
		return err
	case <-t.C:
		syscall.Kill(-pgid, syscall.SIGKILL)
		return <-done
	}
}
