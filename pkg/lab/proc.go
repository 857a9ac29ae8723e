package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Proc is a background process started in a namespace by Host.Start. The
// lab reaps it as soon as it exits, so Wait, Kill and Running may be called
// any number of times, also after Lab.Close.
type Proc struct {
	Cmd     *exec.Cmd // Cmd.Process.Pid is the process (ip netns exec execs in place)
	Host    *Host
	Name    string // the program, as passed to Start
	LogPath string // stdout and stderr are appended here ("" = discarded)

	done    chan struct{} // closed once reaped
	waitErr error         // from Cmd.Wait, valid after done
	logFile *os.File
}

// Start runs name in h's namespace in the background, in its own process
// group, with stdout and stderr appended to logPath ("" discards them). The
// lab tracks it and Close stops it. The process also gets SIGKILL if the
// thread that started it exits (Pdeathsig), so daemons do not outlive a
// crashed test binary; Go only ends threads of goroutines that exit while
// locked with runtime.LockOSThread, so do not call Start from one.
func (h *Host) Start(name string, args []string, logPath string) (*Proc, error) {
	out := logPath
	if out == "" {
		out = os.DevNull
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: start %s: log: %w", h.NS, name, err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &Proc{Cmd: cmd, Host: h, Name: name, LogPath: logPath, done: make(chan struct{}), logFile: f}

	l := h.lab
	redirect := ""
	if logPath != "" {
		redirect = " >>" + shellJoin([]string{logPath}) + " 2>&1"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		f.Close()
		return nil, fmt.Errorf("namespace %s: start %s: lab is closed", h.NS, name)
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("namespace %s: start %s: %w", h.NS, shellJoin(cmd.Args), err)
	}
	l.procs = append(l.procs, p)
	go p.reap()
	l.log("%s%s &  # pid %d", shellJoin(cmd.Args), redirect, cmd.Process.Pid)
	return p, nil
}

func (p *Proc) reap() {
	p.waitErr = p.Cmd.Wait()
	p.logFile.Close()
	close(p.done)
}

func (p *Proc) String() string {
	return fmt.Sprintf("%s[%d] on %s", p.Name, p.Cmd.Process.Pid, p.Host.Name)
}

// Pid is the process ID.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Running reports whether the process has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Done is closed when the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process (not its group). It returns
// os.ErrProcessDone if it has exited.
func (p *Proc) Signal(sig os.Signal) error {
	if err := p.Cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%v: signal %v: %w", p, sig, err)
	}
	return nil
}

// signalGroup signals the whole process group while the leader is not yet
// reaped (so the group ID cannot have been reused).
func (p *Proc) signalGroup(sig syscall.Signal) error {
	if !p.Running() {
		return os.ErrProcessDone
	}
	if err := syscall.Kill(-p.Cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%v: signal group %v: %w", p, sig, err)
	}
	return nil
}

// Wait waits up to timeout (forever if timeout <= 0) for the process to
// exit and returns its exit code: -1 if a signal killed it (see
// Cmd.ProcessState). A non-zero exit is not an error; a timeout is.
func (p *Proc) Wait(timeout time.Duration) (exitCode int, err error) {
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			return -1, fmt.Errorf("%v: still running after %v", p, timeout)
		}
	} else {
		<-p.done
	}
	var exitErr *exec.ExitError
	if p.waitErr != nil && !errors.As(p.waitErr, &exitErr) {
		return -1, fmt.Errorf("%v: wait: %w", p, p.waitErr)
	}
	return p.Cmd.ProcessState.ExitCode(), nil
}

// Kill sends SIGKILL to the process group and reaps the process. Killing a
// process that has already exited is not an error.
func (p *Proc) Kill() error {
	if err := p.signalGroup(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	_, err := p.Wait(5 * time.Second)
	return err
}
