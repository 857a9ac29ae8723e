package track

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failover-ha/failover/pkg/config"
)

func TestHysteresis(t *testing.T) {
	h := Hysteresis{Rise: 2, Fall: 3}
	if !h.OK() {
		t.Fatal("unknown state should count as OK")
	}
	steps := []struct {
		in      bool
		changed bool
		ok      bool
	}{
		{false, true, false}, // first result counts at once
		{true, false, false}, // 1 of 2 rises
		{false, false, false},
		{true, false, false},
		{true, true, true}, // 2 in a row
		{false, false, true},
		{false, false, true},
		{true, false, true}, // failure run broken
		{false, false, true},
		{false, false, true},
		{false, true, false}, // 3 in a row
	}
	for i, s := range steps {
		if changed := h.Observe(s.in); changed != s.changed || h.OK() != s.ok {
			t.Errorf("step %d (%v): changed=%v ok=%v, want %v %v", i, s.in, changed, h.OK(), s.changed, s.ok)
		}
	}
}

func TestEffective(t *testing.T) {
	cases := []struct {
		name   string
		base   uint8
		inputs []Input
		prio   uint8
		faults []string
	}{
		{"nothing tracked", 100, nil, 100, nil},
		{"negative weight failing", 100, []Input{{Name: "a", Weight: -30, OK: false}}, 70, nil},
		{"negative weight ok", 100, []Input{{Name: "a", Weight: -30, OK: true}}, 100, nil},
		{"positive weight ok", 100, []Input{{Name: "a", Weight: 20, OK: true}}, 120, nil},
		{"positive weight failing", 100, []Input{{Name: "a", Weight: 20, OK: false}}, 100, nil},
		{"clamped high", 250, []Input{{Name: "a", Weight: 20, OK: true}}, 254, nil},
		{"clamped low", 10, []Input{{Name: "a", Weight: -100, OK: false}}, 1, nil},
		{"owner lowered", 255, []Input{{Name: "a", Weight: -5, OK: false}}, 250, nil},
		{"owner raised stays 254", 255, []Input{{Name: "a", Weight: 5, OK: true}}, 254, nil},
		{"weights add up", 100, []Input{{Name: "a", Weight: -30, OK: false}, {Name: "b", Weight: 10, OK: true}}, 80, nil},
		{"weight 0 failing is a fault", 100, []Input{{Name: "nginx", Kind: "script", OK: false}, {Name: "eth1", Kind: "interface", OK: false}}, 100,
			[]string{"check nginx failing", "tracked interface eth1 failing"}},
	}
	for _, c := range cases {
		p, f := Effective(c.base, c.inputs)
		if p != c.prio || !slices.Equal(f, c.faults) {
			t.Errorf("%s: %d %v, want %d %v", c.name, p, f, c.prio, c.faults)
		}
	}
}

// The checker runs at once, then every interval, applies rise/fall, and
// treats a timeout as a failure.
func TestChecker(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "healthy")
	script := filepath.Join(dir, "check.sh")
	os.WriteFile(script, []byte("#!/bin/sh\ntest -e "+flag+"\n"), 0o755)
	os.WriteFile(flag, nil, 0o644)
	c := NewChecker(config.TrackScript{Name: "svc", Command: []string{script}, Interval: 20 * time.Millisecond,
		Timeout: time.Second, Rise: 1, Fall: 2}, nil)
	var changes atomic.Int32
	c.Subscribe(func() { changes.Add(1) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("first result", func() bool { return changes.Load() == 1 })
	if ok, _ := c.State(); !ok {
		t.Fatal("healthy check reported failing")
	}
	os.Remove(flag)
	waitFor("failure after fall=2", func() bool { ok, _ := c.State(); return !ok })
	if _, detail := c.State(); detail != "exit 1" {
		t.Errorf("detail %q", detail)
	}
	os.WriteFile(flag, nil, 0o644)
	waitFor("recovery", func() bool { ok, _ := c.State(); return ok })
	if n := changes.Load(); n != 3 {
		t.Errorf("%d state changes, want 3", n)
	}

	slow := NewChecker(config.TrackScript{Name: "slow", Command: []string{"/bin/sleep", "10"}, Interval: time.Second,
		Timeout: 50 * time.Millisecond, Rise: 1, Fall: 1}, nil)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go slow.Run(ctx2)
	deadline := time.Now().Add(3 * time.Second)
	for {
		ok, detail := slow.State()
		if !ok {
			if detail == "" {
				t.Error("no detail for a timed-out check")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a check past its timeout never failed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
