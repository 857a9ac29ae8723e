package instance

import (
	"sort"
	"strings"
	"time"

	"github.com/failover-ha/failover/pkg/track"
	"github.com/failover-ha/failover/vrrp"
)

// TrackedScript is a track_script as an instance reads it (track.Checker).
type TrackedScript interface {
	Name() string
	Weight() int
	State() (ok bool, detail string)
}

// GroupMember is told when the instance's own faults (not those its sync
// group imposes) start or end. It is called on the instance's loop and must
// not block.
type GroupMember interface {
	OwnFaultChanged(instance string, faulty bool)
}

// NotifyTrackChanged tells the loop a track_script changed state.
func (in *Instance) NotifyTrackChanged() { in.post(input{kind: inTrackChanged}) }

// SetGroupFault puts the instance in FAULT for its sync group (reason), or
// ends that ("").
func (in *Instance) SetGroupFault(reason string) {
	in.post(input{kind: inGroupFault, reason: reason})
}

// SetGroupHold holds the instance back for its sync group: it hands over
// and stays backup (as drained) until released.
func (in *Instance) SetGroupHold(on bool) { in.post(input{kind: inGroupHold, on: on}) }

// LinkChanged re-reads the interfaces (its own and tracked ones).
func (in *Instance) LinkChanged(now time.Time) { in.evaluate(now, "") }

// evaluate recomputes everything that decides whether the instance can
// serve and at which priority: its interface and source address, tracked
// interfaces, track_scripts and its sync group. Faults put the machine in
// FAULT; when the last one ends the protocol starts again from Backup.
func (in *Instance) evaluate(now time.Time, why string) {
	if !in.started {
		return
	}
	faults := map[string]string{}
	st := in.io.Link.Link(in.cfg.Interface)
	if !st.Exists || !st.Up {
		faults["link"] = st.String()
	} else if src, err := in.io.Link.PrimaryAddress(in.cfg.Interface, in.cfg.IPv6()); err != nil {
		faults["address"] = err.Error()
	} else if src != in.src {
		if in.src.IsValid() {
			in.log.Info("source address changed", "old", in.src, "new", src)
		}
		in.src = src
		in.router.SetPrimaryAddr(src)
		in.mu.Lock()
		in.status.Source = src
		in.mu.Unlock()
	}

	var inputs []track.Input
	for _, name := range in.cfg.TrackInterfaces {
		ls := in.io.Link.Link(name)
		inputs = append(inputs, track.Input{Name: name, Kind: "interface", OK: ls.Exists && ls.Up, Detail: ls.String()})
	}
	for _, ts := range in.io.Tracks {
		ok, detail := ts.State()
		inputs = append(inputs, track.Input{Name: ts.Name(), Kind: "script", Weight: ts.Weight(), OK: ok, Detail: detail})
	}
	// The reads above can take a while (netlink, a busy machine): act at
	// the time they finished, or the first advert deadline would already
	// be past and a second advert would follow the first at once.
	now = in.freshen(now)
	prio, trackFaults := track.Effective(in.cfg.Priority, inputs)
	for _, f := range trackFaults {
		faults["track:"+f] = f
	}
	own := len(faults) > 0
	if in.groupFault != "" {
		faults["group"] = in.groupFault
	}
	in.faults = faults
	in.mu.Lock()
	in.status.Tracks = inputs
	in.mu.Unlock()

	if prio != in.router.Priority() {
		in.log.Info("priority changed by tracking", "from", in.router.Priority(), "to", prio)
		in.apply(now, in.router.Handle(now, vrrp.PriorityChanged(prio)))
	}
	if own != in.ownFaulty {
		in.ownFaulty = own
		if in.io.Group != nil {
			in.io.Group.OwnFaultChanged(in.cfg.Name, own)
		}
	}
	in.reconcile(now, why)
}

// reconcile moves the machine into or out of Fault to match in.faults.
func (in *Instance) reconcile(now time.Time, why string) {
	fs := make([]string, 0, len(in.faults))
	for _, r := range in.faults {
		fs = append(fs, r)
	}
	sort.Strings(fs)
	in.mu.Lock()
	in.status.Faults = fs
	in.mu.Unlock()
	state := in.router.State()
	switch {
	case len(fs) > 0 && state != vrrp.Fault:
		in.apply(now, in.router.Handle(now, vrrp.FaultDetected(strings.Join(fs, "; "))))
	case len(fs) == 0 && state == vrrp.Fault:
		if why == "" {
			why = "all clear"
		}
		in.apply(now, in.router.Handle(now, vrrp.FaultCleared(why)))
	case len(fs) == 0 && state == vrrp.Initialize:
		in.apply(now, in.router.Handle(now, vrrp.Startup()))
	}
}

func (in *Instance) setGroupFault(now time.Time, reason string) {
	if in.groupFault == reason {
		return
	}
	in.groupFault = reason
	why := "sync group recovered"
	if reason != "" {
		why = reason
	}
	in.evaluate(now, why)
}

func (in *Instance) setGroupHold(now time.Time, on bool) {
	if in.groupHeld == on {
		return
	}
	in.groupHeld = on
	in.mu.Lock()
	in.status.GroupHeld = on
	in.mu.Unlock()
	in.applyDrain(now, "sync group")
}
