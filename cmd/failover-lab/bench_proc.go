package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cpuSample is a process's CPU time at one instant, read two ways.
type cpuSample struct {
	At time.Time
	// Clock is the process's CPU-time clock (clock_gettime on the clock ID
	// of another process, as clock_getcpuclockid(3) gives): the scheduler's
	// nanosecond sum_exec_runtime over all its threads, dead ones included.
	Clock time.Duration
	// Ticks is utime+stime from /proc/PID/stat, in clock ticks (USER_HZ):
	// the same quantity in 10 ms steps, kept as a cross-check.
	Ticks uint64
}

// processCPUClock is the clock ID of pid's process-wide CPU-time clock
// (CPUCLOCK_SCHED, see the kernel's posix-timers.h: ~pid << 3 | 2).
func processCPUClock(pid int) int32 {
	return int32(^uint32(pid)<<3 | 2)
}

func sampleCPU(pid int) (cpuSample, error) {
	s := cpuSample{At: time.Now()}
	var ts unix.Timespec
	if err := unix.ClockGettime(processCPUClock(pid), &ts); err != nil {
		return s, fmt.Errorf("CPU clock of pid %d: %w", pid, err)
	}
	s.Clock = time.Duration(ts.Nano())
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	ut, st, err := parseStatTimes(b)
	if err != nil {
		return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	s.Ticks = ut + st
	return s, nil
}

// parseStatTimes returns utime and stime (fields 14 and 15) of a
// /proc/PID/stat line; the command name in parentheses may hold spaces.
func parseStatTimes(b []byte) (utime, stime uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("%d fields", len(f)+2)
	}
	if utime, err = strconv.ParseUint(f[11], 10, 64); err != nil {
		return 0, 0, err
	}
	if stime, err = strconv.ParseUint(f[12], 10, 64); err != nil {
		return 0, 0, err
	}
	return utime, stime, nil
}

// clkTck is USER_HZ, the unit of /proc/PID/stat times; 100 on every Linux
// architecture Go supports.
const clkTck = 100

// cpuPerSecond is CPU time per wall-clock second between two samples, from
// the precise clock and from the tick counters.
func cpuPerSecond(a, b cpuSample) (clock, ticks time.Duration) {
	wall := b.At.Sub(a.At).Seconds()
	if wall <= 0 {
		return 0, 0
	}
	clock = time.Duration(float64(b.Clock-a.Clock) / wall)
	ticks = time.Duration(float64(b.Ticks-a.Ticks) * float64(time.Second/clkTck) / wall)
	return clock, ticks
}

// memSample is VmRSS and VmHWM (peak RSS) from /proc/PID/status, in KiB.
type memSample struct {
	RSSKiB, HWMKiB uint64
}

func sampleMem(pid int) (memSample, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memSample{}, err
	}
	return parseStatusMem(b)
}

func parseStatusMem(b []byte) (memSample, error) {
	var m memSample
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *uint64
		switch key {
		case "VmRSS":
			dst = &m.RSSKiB
		case "VmHWM":
			dst = &m.HWMKiB
		default:
			continue
		}
		f := strings.Fields(val)
		if len(f) < 1 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("%s: %w", key, err)
		}
		*dst = n
		found++
	}
	if found < 2 {
		return m, fmt.Errorf("no VmRSS/VmHWM in status")
	}
	return m, nil
}

// machineInfo describes where the numbers were taken.
type machineInfo struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`         // of the failoverd binary measured
	Revision   string `json:"revision,omitempty"` // commit failoverd was built from
	Keepalived string `json:"keepalived,omitempty"`
}

func readMachine(failoverd string) machineInfo {
	m := machineInfo{Cores: runtime.NumCPU(), CPU: "?", Kernel: "?"}
	m.GoVersion, m.Revision = binaryInfo(failoverd)
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	return m
}

// loadAvg is /proc/loadavg's 1, 5 and 15 minute averages, as printed there.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
