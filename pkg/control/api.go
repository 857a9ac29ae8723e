// Package control is failoverd's local operator API: HTTP with JSON bodies
// over a unix socket (never a network port), served by the daemon and used
// by failoverctl. This file holds the wire types; they are the stable API.
package control

import (
	"time"

	"github.com/failover-ha/failover/pkg/instance"
	"github.com/failover-ha/failover/vrrp"
)

// DefaultSocket is where failoverd listens unless control_socket says
// otherwise, and where failoverctl looks unless -socket or $FAILOVER_SOCKET
// say otherwise.
const DefaultSocket = "/run/failover/failoverd.sock"

// SocketEnv names the environment variable failoverctl reads for the socket.
const SocketEnv = "FAILOVER_SOCKET"

// InstanceStatus is one virtual router as operators see it.
type InstanceStatus struct {
	Name               string            `json:"name"`
	Interface          string            `json:"interface"`
	VRID               int               `json:"vrid"`
	Version            int               `json:"version"`
	State              string            `json:"state"`
	Since              time.Time         `json:"since"`
	Priority           int               `json:"priority"`            // effective (tracking, drain)
	ConfiguredPriority int               `json:"configured_priority"` // from the config file
	Drained            bool              `json:"drained"`
	Master             string            `json:"master,omitempty"` // current master's address ("" if unknown)
	MasterPriority     int               `json:"master_priority"`
	MasterIntervalMS   float64           `json:"master_advert_interval_ms"`
	IsMaster           bool              `json:"is_master"` // this host is the master
	Source             string            `json:"source,omitempty"`
	VIPs               []string          `json:"vips"`
	Faults             []string          `json:"faults,omitempty"`
	Transitions        []Transition      `json:"transitions,omitempty"` // most recent last
	Peers              []instance.Peer   `json:"peers,omitempty"`
	Counters           instance.Counters `json:"counters"`
	Tracks             []TrackStatus     `json:"tracks,omitempty"`
	Hooks              []HookStatus      `json:"hooks,omitempty"`
}

// TrackStatus is one health check or tracked interface of an instance.
type TrackStatus struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // "script" or "interface"
	OK     bool   `json:"ok"`
	Weight int    `json:"weight"`
	Detail string `json:"detail,omitempty"`
}

// HookStatus is the latest run of an instance's notify hook.
type HookStatus struct {
	Hook     string    `json:"hook"`
	State    string    `json:"state"` // the transition it ran for
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_ms"`
	Result   string    `json:"result"` // "running", "exit 0", "exit 3", "killed after timeout", ...
}

// Transition is one state change.
type Transition struct {
	Time     time.Time `json:"time"`
	Instance string    `json:"instance"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Reason   string    `json:"reason"`
	Priority int       `json:"priority"`
}

// StatusResponse is GET /v1/status.
type StatusResponse struct {
	Instances []InstanceStatus `json:"instances"`
}

// ActionRequest is the body of POST /v1/drain and /v1/resume; an empty
// instance means all.
type ActionRequest struct {
	Instance string `json:"instance,omitempty"`
}

// ActionResponse lists the instances an action applied to.
type ActionResponse struct {
	Instances []string `json:"instances"`
}

// ReloadResponse is POST /v1/reload's answer.
type ReloadResponse struct {
	Added     []string `json:"added,omitempty"`
	Removed   []string `json:"removed,omitempty"`
	Changed   []string `json:"changed,omitempty"`
	Unchanged []string `json:"unchanged,omitempty"`
}

// ErrorResponse carries any error.
type ErrorResponse struct {
	Error string `json:"error"`
}

// FromInstance converts a driver snapshot to the API form.
func FromInstance(st instance.Status) InstanceStatus {
	out := InstanceStatus{
		Name:               st.Name,
		Interface:          st.Interface,
		VRID:               int(st.VRID),
		Version:            int(st.Version),
		State:              st.State.String(),
		Since:              st.Since,
		Priority:           int(st.Priority),
		ConfiguredPriority: int(st.ConfiguredPriority),
		Drained:            st.Drained,
		MasterPriority:     int(st.MasterPriority),
		MasterIntervalMS:   float64(st.MasterAdverInterval) / float64(time.Millisecond),
		Faults:             st.Faults,
		Peers:              st.Peers,
		Counters:           st.Counters,
		VIPs:               []string{},
	}
	if st.Master.IsValid() && !st.Master.IsUnspecified() {
		out.Master = st.Master.String()
		out.IsMaster = st.Master == st.Source && st.State == vrrp.Master
	}
	if st.Source.IsValid() {
		out.Source = st.Source.String()
	}
	for _, v := range st.VIPs {
		out.VIPs = append(out.VIPs, v.String())
	}
	for _, t := range st.Transitions {
		out.Transitions = append(out.Transitions, TransitionFrom(t))
	}
	for _, t := range st.Tracks {
		out.Tracks = append(out.Tracks, TrackStatus{Name: t.Name, Kind: t.Kind, OK: t.OK, Weight: t.Weight, Detail: t.Detail})
	}
	return out
}

// TransitionFrom converts a driver transition to the API form.
func TransitionFrom(t instance.Transition) Transition {
	return Transition{Time: t.Time, Instance: t.Instance, From: t.From.String(), To: t.To.String(),
		Reason: t.Reason, Priority: int(t.Priority)}
}
