package daemon

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/failover-ha/failover/pkg/config"
	"github.com/failover-ha/failover/pkg/instance"
	"github.com/failover-ha/failover/pkg/notify"
	"github.com/failover-ha/failover/vrrp"
)

// syncGroup makes its instances move together, as keepalived's
// vrrp_sync_group does:
//
//   - a member with a fault of its own puts every other member in FAULT
//     until it recovers;
//   - a member that loses an election (MASTER -> BACKUP) holds the others
//     back: they hand over make-before-break, like a drain, and stay backup
//     until a member becomes master again. The member that lost keeps
//     competing, so when it wins again (its peer failed, or its own check
//     recovered) the group follows it back.
//
// Members must rank the hosts the same way (one host's priorities higher
// for every member): with crossed priorities a group splits across hosts,
// as keepalived's does.
//
// Holding rather than forcing keeps the group on the protocol's rules: the
// other host's members take over because ours advertise priority 0, not
// because anything bypasses an election. Weighted tracking still changes
// each member's priority on its own.
type syncGroup struct {
	cfg    config.SyncGroup
	log    hclog.Logger
	runner *notify.Runner

	mu        sync.Mutex
	members   map[string]*instance.Instance
	states    map[string]vrrp.State
	ownFaulty map[string]bool
	held      bool
	holder    string // the member whose lost election holds the others
	state     string // group state last given to the hooks
}

func newSyncGroup(cfg config.SyncGroup, log hclog.Logger) *syncGroup {
	log = log.With("sync_group", cfg.Name)
	return &syncGroup{
		cfg:       cfg,
		log:       log,
		runner:    notify.NewRunner(notify.Group, cfg.Name, cfg.Hooks, nil, log),
		members:   map[string]*instance.Instance{},
		states:    map[string]vrrp.State{},
		ownFaulty: map[string]bool{},
	}
}

// setMembers gives the group its running instances (after a start or
// reload). A reload releases a hold: it is the operator asking for the
// configuration, new priorities included, to be evaluated afresh, and a
// held member could not preempt however high its new priority.
func (g *syncGroup) setMembers(m map[string]*instance.Instance, reload bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.members = m
	g.applyFaultsLocked()
	if g.held && reload {
		g.held, g.holder = false, ""
		g.log.Info("configuration reloaded; releasing the group")
	}
	for name, in := range m {
		in.SetGroupHold(g.held && name != g.holder)
	}
}

// OwnFaultChanged implements instance.GroupMember.
func (g *syncGroup) OwnFaultChanged(name string, faulty bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ownFaulty[name] = faulty
	g.applyFaultsLocked()
}

// applyFaultsLocked gives each member the group fault of the others.
func (g *syncGroup) applyFaultsLocked() {
	for name, in := range g.members {
		var culprits []string
		for other, faulty := range g.ownFaulty {
			if faulty && other != name {
				culprits = append(culprits, other)
			}
		}
		reason := ""
		if len(culprits) > 0 {
			sort.Strings(culprits)
			reason = fmt.Sprintf("sync group %s: %s in FAULT", g.cfg.Name, strings.Join(culprits, ", "))
		}
		in.SetGroupFault(reason)
	}
}

// Notify implements instance.Notifier for every member's transitions.
func (g *syncGroup) Notify(t instance.Transition) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.states[t.Instance] = t.To
	switch {
	case t.From == vrrp.Master && t.To == vrrp.Backup && !g.held:
		// A member lost its election: everyone leaves master with it.
		g.held, g.holder = true, t.Instance
		g.log.Info("member lost mastership; holding the group back", "member", t.Instance, "reason", t.Reason)
		for name, in := range g.members {
			if name != t.Instance {
				in.SetGroupHold(true)
			}
		}
	case t.To == vrrp.Master && g.held:
		g.held = false
		g.log.Info("member became master; releasing the group", "member", t.Instance)
		for _, in := range g.members {
			in.SetGroupHold(false)
		}
	}
	g.hooksLocked(t)
}

// hooksLocked runs the group's hooks when the group as a whole changes
// state: FAULT if any member is, MASTER or BACKUP when all members agree,
// STOP when all have stopped.
func (g *syncGroup) hooksLocked(t instance.Transition) {
	counts := map[vrrp.State]int{}
	for _, name := range g.cfg.Instances {
		counts[g.states[name]]++
	}
	n := len(g.cfg.Instances)
	state := ""
	switch {
	case counts[vrrp.Fault] > 0:
		state = "FAULT"
	case counts[vrrp.Master] == n:
		state = "MASTER"
	case counts[vrrp.Backup] == n:
		state = "BACKUP"
	case counts[vrrp.Initialize] == n && g.state != "":
		state = "STOP"
	}
	if state == "" || state == g.state {
		return
	}
	prev := g.state
	g.state = state
	g.log.Info("sync group state "+state, "previous", prev, "trigger", t.Instance)
	g.runner.Post(notify.Event{Time: time.Now(), State: state, Previous: prev, Reason: fmt.Sprintf("%s %v -> %v: %s", t.Instance, t.From, t.To, t.Reason)})
}
