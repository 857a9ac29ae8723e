// Package notify runs the notify hooks of an instance or sync group so the
// service follows the VIP: one hook at a time, in transition order, each
// bounded by a timeout, never holding up the protocol.
//
// For each transition the state's own hook runs first (notify_master,
// notify_backup, notify_fault, notify_stop), then the generic notify hook
// with keepalived's arguments appended: INSTANCE|GROUP <name> <STATE>
// <priority>, so existing keepalived notify scripts run unchanged.
package notify

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/failover-ha/failover/internal/procrun"
	"github.com/failover-ha/failover/pkg/config"
	"github.com/failover-ha/failover/pkg/instance"
	"github.com/failover-ha/failover/vrrp"
)

// Kind is what a runner notifies for, as keepalived's first argument says.
type Kind string

// Runner kinds.
const (
	Instance Kind = "INSTANCE"
	Group    Kind = "GROUP"
)

// Event is a state change to tell the hooks about. State is MASTER, BACKUP,
// FAULT or STOP (keepalived's names).
type Event struct {
	Time     time.Time
	State    string
	Previous string
	Priority int
	Reason   string
	VIPs     []netip.Prefix
}

// Run describes the latest run of one hook, for status.
type Run struct {
	Hook     string
	State    string
	Started  time.Time
	Duration time.Duration
	Result   string // "running", "exit 0", "killed after timeout (30s)", ...
}

// Runner executes hooks for one instance or group on its own goroutine.
type Runner struct {
	kind  Kind
	name  string
	hooks config.Hooks
	extra []string // extra environment, e.g. FAILOVER_INTERFACE
	log   hclog.Logger

	mu      sync.Mutex
	queue   []Event
	wake    chan struct{}
	closing bool
	started bool // the goroutine starts with the first hook to run
	runs    map[string]Run
	done    chan struct{}
}

// NewRunner starts a runner. extraEnv adds KEY=value pairs to every hook's
// environment.
func NewRunner(kind Kind, name string, hooks config.Hooks, extraEnv []string, log hclog.Logger) *Runner {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Runner{kind: kind, name: name, hooks: hooks, extra: extraEnv, log: log,
		wake: make(chan struct{}, 1), runs: map[string]Run{}, done: make(chan struct{})}
}

// Post queues ev; it never blocks.
func (r *Runner) Post(ev Event) {
	if len(r.hooksFor(ev.State)) == 0 {
		return
	}
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return
	}
	r.queue = append(r.queue, ev)
	if n := len(r.queue); n > 1 && n%10 == 0 {
		r.log.Warn("notify hooks are falling behind", "pending", n)
	}
	if !r.started {
		// Hundreds of instances without hooks cost no goroutine each.
		r.started = true
		go r.loop()
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Notify implements instance.Notifier: a transition to INIT is the STOP of
// keepalived's vocabulary.
func (r *Runner) Notify(t instance.Transition) {
	state := t.To.String()
	if t.To == vrrp.Initialize {
		state = "STOP"
	}
	r.Post(Event{Time: t.Time, State: state, Previous: t.From.String(), Priority: int(t.Priority), Reason: t.Reason, VIPs: t.VIPs})
}

// Close runs what is queued (each run still bounded by its timeout), then
// stops. It returns once the last hook has finished.
func (r *Runner) Close() {
	r.mu.Lock()
	r.closing = true
	started := r.started
	r.mu.Unlock()
	if !started {
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
	<-r.done
}

// SetHooks replaces the hooks (a reload); runs already queued use the new ones.
func (r *Runner) SetHooks(h config.Hooks) {
	r.mu.Lock()
	r.hooks = h
	r.mu.Unlock()
}

// Runs returns the latest run of each hook.
func (r *Runner) Runs() []Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Run
	for _, name := range config.HookKeys {
		if run, ok := r.runs[name]; ok {
			out = append(out, run)
		}
	}
	return out
}

func (r *Runner) loop() {
	defer close(r.done)
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			closing := r.closing
			r.mu.Unlock()
			if closing {
				return
			}
			<-r.wake
			continue
		}
		ev := r.queue[0]
		r.queue = r.queue[1:]
		r.mu.Unlock()
		for _, h := range r.hooksFor(ev.State) {
			r.run(h.name, h.argv, ev)
		}
	}
}

type hook struct {
	name string
	argv []string
}

func (r *Runner) hooksFor(state string) []hook {
	r.mu.Lock()
	hooks := r.hooks
	r.mu.Unlock()
	var out []hook
	specific := map[string]hook{
		"MASTER": {"notify_master", hooks.Master},
		"BACKUP": {"notify_backup", hooks.Backup},
		"FAULT":  {"notify_fault", hooks.Fault},
		"STOP":   {"notify_stop", hooks.Stop},
	}[state]
	if len(specific.argv) > 0 {
		out = append(out, specific)
	}
	if len(hooks.Notify) > 0 {
		out = append(out, hook{"notify", hooks.Notify})
	}
	return out
}

func (r *Runner) run(name string, argv []string, ev Event) {
	if name == "notify" {
		argv = append(append([]string(nil), argv...), string(r.kind), r.name, ev.State, fmt.Sprint(ev.Priority))
	}
	log := r.log.With("hook", name, "state", ev.State)
	start := time.Now()
	r.setRun(name, Run{Hook: name, State: ev.State, Started: start, Result: "running"})
	log.Info("running hook", "argv", argv, "queued_for", start.Sub(ev.Time).Round(time.Millisecond))
	res := procrun.Run(context.Background(), procrun.Spec{
		Argv:    argv,
		Env:     r.env(ev),
		Timeout: r.timeout(), // then SIGTERM, and procrun.DefaultKillGrace later SIGKILL
		Line: func(stream, line string) {
			log.Info("hook output", "stream", stream, "line", line)
		},
	})
	switch {
	case res.OK():
		log.Info("hook finished", "result", res.String(), "took", res.Duration.Round(time.Millisecond))
	default:
		log.Warn("hook failed", "result", res.String(), "took", res.Duration.Round(time.Millisecond))
	}
	r.setRun(name, Run{Hook: name, State: ev.State, Started: start, Duration: res.Duration, Result: res.String()})
}

func (r *Runner) timeout() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hooks.Timeout
}

func (r *Runner) setRun(name string, run Run) {
	r.mu.Lock()
	r.runs[name] = run
	r.mu.Unlock()
}

// env is the daemon's environment plus FAILOVER_* variables describing the
// transition.
func (r *Runner) env(ev Event) []string {
	vips := make([]string, len(ev.VIPs))
	for i, v := range ev.VIPs {
		vips[i] = v.String()
	}
	env := append(procrun.Environ(),
		"FAILOVER_TYPE="+string(r.kind),
		"FAILOVER_NAME="+r.name,
		"FAILOVER_STATE="+ev.State,
		"FAILOVER_PREVIOUS_STATE="+ev.Previous,
		"FAILOVER_PRIORITY="+fmt.Sprint(ev.Priority),
		"FAILOVER_VIPS="+strings.Join(vips, " "),
		"FAILOVER_REASON="+ev.Reason,
		"FAILOVER_TIME="+ev.Time.UTC().Format(time.RFC3339Nano),
	)
	if r.kind == Instance {
		env = append(env, "FAILOVER_INSTANCE="+r.name)
	} else {
		env = append(env, "FAILOVER_GROUP="+r.name)
	}
	return append(env, r.extra...)
}
