package lab

import (
	"net/netip"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// StartPreciseProber is StartProber for periods of a few milliseconds and
// less, as the benchmark's 1 ms probing: Go timers wake through the
// netpoller, whose epoll_wait timeout is whole milliseconds, so a 1 ms
// ticker runs late and drops ticks (about 10% on a busy 2-core machine).
// This sender sleeps to absolute deadlines with clock_nanosleep on a thread
// of its own with a 1 µs timer slack. It still drops a probe rather than
// sending a burst when it falls more than a period behind. Results and
// Stop are the same as StartProber's.
func (h *Host) StartPreciseProber(target netip.Addr, interval time.Duration) (*Prober, error) {
	return h.startProber(target, interval, true)
}

func (p *Prober) sendPrecise() {
	defer p.wg.Done()
	runtime.LockOSThread()
	// The thread's timer slack (default 50 µs) widens every sleep; restore
	// it before the thread goes back to the Go scheduler.
	const defaultSlack = 50000
	slack, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil || slack <= 0 {
		slack = defaultSlack
	}
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	defer func() {
		_ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack), 0, 0, 0)
		runtime.UnlockOSThread()
	}()
	var msg [probeLen]byte
	period := p.interval.Nanoseconds()
	next := monotonicNow()
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		next += period
		if now := monotonicNow(); now > next+period {
			next = now // fell behind: skip, do not burst
		}
		ts := unix.NsecToTimespec(next)
		for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil) == unix.EINTR {
		}
		p.probe(&msg)
	}
}

func monotonicNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
