// Package track runs health checks ([[track_script]]) and turns check and
// link results into an instance's effective priority and faults, with
// keepalived's semantics: a weight of 0 means failing puts the instance in
// FAULT; a positive weight is added to the priority while the check
// succeeds, a negative one while it fails; the result is clamped to 1-254.
package track

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/failover-ha/failover/internal/procrun"
	"github.com/failover-ha/failover/pkg/config"
)

// Hysteresis applies rise/fall: a check changes state only after Rise
// consecutive successes or Fall consecutive failures. Its first result
// counts at once, so a service that is down at start is seen as down within
// one run rather than rise*interval later.
type Hysteresis struct {
	Rise, Fall int
	ok, known  bool
	run        int // consecutive results against the current state
}

// Observe records one result and reports whether the state changed.
func (h *Hysteresis) Observe(success bool) bool {
	if !h.known {
		h.known, h.ok = true, success
		return true
	}
	if success == h.ok {
		h.run = 0
		return false
	}
	h.run++
	need := h.Fall
	if success {
		need = h.Rise
	}
	if h.run >= need {
		h.ok, h.run = success, 0
		return true
	}
	return false
}

// OK is the current state; true before the first result.
func (h *Hysteresis) OK() bool { return !h.known || h.ok }

// Input is one tracked thing as an instance sees it.
type Input struct {
	Name   string
	Kind   string // "script" or "interface"
	Weight int
	OK     bool
	Detail string
}

// Effective returns the priority an instance with configured priority base
// should run at, and the faults its failing weight-0 inputs cause.
func Effective(base uint8, inputs []Input) (priority uint8, faults []string) {
	sum := 0
	for _, in := range inputs {
		switch {
		case in.Weight == 0 && !in.OK:
			what := "check"
			if in.Kind == "interface" {
				what = "tracked interface"
			}
			faults = append(faults, fmt.Sprintf("%s %s failing", what, in.Name))
		case in.Weight > 0 && in.OK, in.Weight < 0 && !in.OK:
			sum += in.Weight
		}
	}
	if sum == 0 {
		return base, faults
	}
	p := int(base) + sum
	return uint8(min(max(p, 1), 254)), faults
}

// Checker runs one track_script every interval.
type Checker struct {
	cfg config.TrackScript
	log hclog.Logger

	mu     sync.Mutex
	h      Hysteresis
	subs   []func()
	detail string
}

// NewChecker prepares a checker; Run starts it.
func NewChecker(cfg config.TrackScript, log hclog.Logger) *Checker {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Checker{cfg: cfg, log: log.With("track_script", cfg.Name), h: Hysteresis{Rise: cfg.Rise, Fall: cfg.Fall}}
}

// Name is the track_script's name.
func (c *Checker) Name() string { return c.cfg.Name }

// Weight is the track_script's weight.
func (c *Checker) Weight() int { return c.cfg.Weight }

// Subscribe calls fn (on the checker's goroutine; it must not block) after
// every state change.
func (c *Checker) Subscribe(fn func()) {
	c.mu.Lock()
	c.subs = append(c.subs, fn)
	c.mu.Unlock()
}

// State returns the current state and a description of the last result.
func (c *Checker) State() (ok bool, detail string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.h.OK(), c.detail
}

// Run checks at once, then every interval, until ctx ends.
func (c *Checker) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		c.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Checker) check(ctx context.Context) {
	res := procrun.Run(ctx, procrun.Spec{
		Argv:    c.cfg.Command,
		Env:     append(procrun.Environ(), "FAILOVER_TRACK_SCRIPT="+c.cfg.Name),
		Timeout: c.cfg.Timeout,
		Line: func(stream, line string) {
			c.log.Debug("check output", "stream", stream, "line", line)
		},
	})
	if ctx.Err() != nil {
		return
	}
	c.mu.Lock()
	changed := c.h.Observe(res.OK())
	ok := c.h.OK()
	c.detail = res.String()
	subs := append([]func(){}, c.subs...)
	c.mu.Unlock()
	if !changed {
		return
	}
	if ok {
		c.log.Info("check succeeding", "result", res.String())
	} else {
		c.log.Warn("check failing", "result", res.String(), "fall", c.cfg.Fall)
	}
	for _, fn := range subs {
		fn()
	}
}
