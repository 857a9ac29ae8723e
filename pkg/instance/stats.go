package instance

import (
	"sync/atomic"

	"github.com/failover-ha/failover/vrrp"
)

// DropReason names why a received advert was not given to the machine.
type DropReason string

// Drop reasons counted per instance. Decode failures use the codec's names
// (vrrp.Reason.String: "checksum", "truncated", "version", ...).
const (
	DropTTL              DropReason = "ttl"               // TTL / hop limit not 255
	DropVersionMismatch  DropReason = "version_mismatch"  // a v2 advert to a v3 instance or vice versa
	DropAuth             DropReason = "auth"              // VRRPv2 authentication differs
	DropUnknownPeer      DropReason = "unknown_peer"      // unicast mode: source is not a configured peer
	DropIntervalMismatch DropReason = "interval_mismatch" // VRRPv2 interval differs (RFC 3768 §7.1)
	DropOwnAddress       DropReason = "own_address"       // claims our own source address
	DropAddrList         DropReason = "addr_list"         // VRRPv2 address list differs (RFC 3768 §7.1)
)

// DropReasons lists every reason an instance counts, in display order.
func DropReasons() []DropReason {
	out := []DropReason{DropTTL, DropVersionMismatch, DropAuth, DropUnknownPeer, DropIntervalMismatch, DropOwnAddress, DropAddrList}
	for _, r := range vrrp.Reasons() {
		out = append(out, DropReason(r.String()))
	}
	return out
}

// Stats are an instance's counters. The port loop updates them; status and
// metrics read them from other goroutines, hence the atomics.
type Stats struct {
	AdvertsSent          atomic.Uint64
	AdvertsReceived      atomic.Uint64 // accepted and given to the machine
	PriorityZeroSent     atomic.Uint64
	PriorityZeroReceived atomic.Uint64
	AddrListMismatch     atomic.Uint64 // accepted adverts whose address list differs from ours
	ChecksumPseudoHeader atomic.Uint64 // accepted VRRPv3 IPv4 adverts by checksum form
	ChecksumMessageOnly  atomic.Uint64
	Transitions          atomic.Uint64
	Announcements        atomic.Uint64
	Reannouncements      atomic.Uint64 // split-brain re-announcements
	SendErrors           atomic.Uint64
	AddressErrors        atomic.Uint64
	AnnounceErrors       atomic.Uint64

	drops map[DropReason]*atomic.Uint64 // fixed key set, created once
}

func newStats() *Stats {
	s := &Stats{drops: map[DropReason]*atomic.Uint64{}}
	for _, r := range DropReasons() {
		s.drops[r] = new(atomic.Uint64)
	}
	return s
}

// drop counts one dropped advert.
func (s *Stats) drop(r DropReason) {
	if c, ok := s.drops[r]; ok {
		c.Add(1)
	}
}

// Drops returns the drop counters by reason.
func (s *Stats) Drops() map[DropReason]uint64 {
	out := make(map[DropReason]uint64, len(s.drops))
	for r, c := range s.drops {
		out[r] = c.Load()
	}
	return out
}

// Counters is a plain snapshot of Stats for status output.
type Counters struct {
	AdvertsSent          uint64                `json:"adverts_sent"`
	AdvertsReceived      uint64                `json:"adverts_received"`
	PriorityZeroSent     uint64                `json:"priority_zero_sent"`
	PriorityZeroReceived uint64                `json:"priority_zero_received"`
	AddrListMismatch     uint64                `json:"addr_list_mismatch"`
	ChecksumPseudoHeader uint64                `json:"checksum_pseudo_header"`
	ChecksumMessageOnly  uint64                `json:"checksum_message_only"`
	Transitions          uint64                `json:"transitions"`
	Announcements        uint64                `json:"announcements"`
	Reannouncements      uint64                `json:"reannouncements"`
	SendErrors           uint64                `json:"send_errors"`
	AddressErrors        uint64                `json:"address_errors"`
	AnnounceErrors       uint64                `json:"announce_errors"`
	Drops                map[DropReason]uint64 `json:"drops"`
}

// Snapshot reads every counter.
func (s *Stats) Snapshot() Counters {
	return Counters{
		AdvertsSent:          s.AdvertsSent.Load(),
		AdvertsReceived:      s.AdvertsReceived.Load(),
		PriorityZeroSent:     s.PriorityZeroSent.Load(),
		PriorityZeroReceived: s.PriorityZeroReceived.Load(),
		AddrListMismatch:     s.AddrListMismatch.Load(),
		ChecksumPseudoHeader: s.ChecksumPseudoHeader.Load(),
		ChecksumMessageOnly:  s.ChecksumMessageOnly.Load(),
		Transitions:          s.Transitions.Load(),
		Announcements:        s.Announcements.Load(),
		Reannouncements:      s.Reannouncements.Load(),
		SendErrors:           s.SendErrors.Load(),
		AddressErrors:        s.AddressErrors.Load(),
		AnnounceErrors:       s.AnnounceErrors.Load(),
		Drops:                s.Drops(),
	}
}
