package daemon

import (
	"fmt"
	"sync"

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
	var out []control.InstanceStatus
	for _, in := range d.current() {
		out = append(out, control.FromInstance(in.Status()))
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

// Reload implements control.Backend.
func (d *Daemon) Reload() (control.ReloadResponse, error) {
	return control.ReloadResponse{}, fmt.Errorf("reload is not supported yet")
}
