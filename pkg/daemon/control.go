package daemon

import (
	"fmt"
	"sync"
	"time"

	"github.com/failover-ha/failover/pkg/control"
	"github.com/failover-ha/failover/pkg/instance"
)

// bus fans transitions out to event subscribers (failoverctl events). A
// subscriber that does not keep up loses events rather than slowing an
// instance down.
type bus struct {
	mu   sync.Mutex
	subs map[chan control.Transition]struct{}
}

func (b *bus) Notify(t instance.Transition) {
	ev := control.TransitionFrom(t)
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (b *bus) Subscribe() (<-chan control.Transition, func()) {
	ch := make(chan control.Transition, 64)
	b.mu.Lock()
	if b.subs == nil {
		b.subs = map[chan control.Transition]struct{}{}
	}
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

// The daemon is the control API's backend.

// Status implements control.Backend.
func (d *Daemon) Status() []control.InstanceStatus {
	d.mu.Lock()
	units := make([]*unit, 0, len(d.order))
	for _, name := range d.order {
		units = append(units, d.units[name])
	}
	d.mu.Unlock()
	out := make([]control.InstanceStatus, 0, len(units))
	for _, u := range units {
		st := control.FromInstance(u.in.Status())
		for _, r := range u.runner.Runs() {
			st.Hooks = append(st.Hooks, control.HookStatus{Hook: r.Hook, State: r.State, Started: r.Started,
				Duration: float64(r.Duration) / float64(time.Millisecond), Result: r.Result})
		}
		out = append(out, st)
	}
	return out
}

// Drain implements control.Backend.
func (d *Daemon) Drain(name string) ([]string, error) { return d.setDrained(name, true) }

// Resume implements control.Backend.
func (d *Daemon) Resume(name string) ([]string, error) { return d.setDrained(name, false) }

func (d *Daemon) setDrained(name string, drained bool) ([]string, error) {
	var done []string
	for _, in := range d.current() {
		if name != "" && in.Name() != name {
			continue
		}
		ok := in.Resume()
		if drained {
			ok = in.Drain()
		}
		if !ok {
			return done, fmt.Errorf("instance %q is busy; try again", in.Name())
		}
		d.mu.Lock()
		if drained {
			d.drained[in.Name()] = true
		} else {
			delete(d.drained, in.Name())
		}
		d.mu.Unlock()
		done = append(done, in.Name())
	}
	if name != "" && len(done) == 0 {
		return nil, fmt.Errorf("%w %q", control.ErrNotFound, name)
	}
	return done, nil
}

// Subscribe implements control.Backend.
func (d *Daemon) Subscribe() (<-chan control.Transition, func()) { return d.events.Subscribe() }
