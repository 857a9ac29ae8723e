package instance

import (
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/failover-ha/failover/pkg/track"
	"github.com/failover-ha/failover/vrrp"
)

// Status is a snapshot of an instance for operators.
type Status struct {
	Name                string
	Interface           string
	VRID                uint8
	Version             uint8
	State               vrrp.State
	Since               time.Time
	Priority            uint8 // effective
	ConfiguredPriority  uint8
	Drained             bool       // by the operator or the sync group
	GroupHeld           bool       // held back by the sync group
	Master              netip.Addr // current master (our Source when we are master)
	MasterPriority      uint8
	MasterAdverInterval time.Duration
	Source              netip.Addr
	VIPs                []netip.Prefix
	Faults              []string
	Tracks              []track.Input
	Transitions         []Transition // most recent last
	Peers               []Peer
	Counters            Counters
}

// Status returns a consistent snapshot; safe from any goroutine.
func (in *Instance) Status() Status {
	in.mu.Lock()
	st := in.status
	st.Faults = slices.Clone(st.Faults)
	st.Tracks = slices.Clone(st.Tracks)
	st.Transitions = slices.Clone(in.history)
	for _, p := range in.peers {
		st.Peers = append(st.Peers, *p)
	}
	in.mu.Unlock()
	sort.Slice(st.Peers, func(i, j int) bool { return st.Peers[i].Addr.Less(st.Peers[j].Addr) })
	st.Counters = in.stats.Snapshot()
	return st
}
