package instance

import (
	"net/netip"
	"slices"
	"time"

	"github.com/failover-ha/failover/pkg/netif"
	"github.com/failover-ha/failover/vrrp"
)

// Peer is what an instance has heard from one other router.
type Peer struct {
	Addr         netip.Addr    `json:"addr"`
	Priority     uint8         `json:"priority"`
	Interval     time.Duration `json:"interval"`
	LastSeen     time.Time     `json:"last_seen"`
	Adverts      uint64        `json:"adverts"`
	ChecksumMode string        `json:"checksum_mode,omitempty"` // VRRPv3 IPv4 only
}

// Drop counts an advert for this instance that failed the receive path's
// generic checks (decode, TTL).
func (in *Instance) Drop(r DropReason) { in.stats.drop(r) }

// Receive runs the per-instance receive checks of RFC 9568 §7.1 / RFC 3768
// §7.1 on a decoded advert for this VRID and, if it passes, gives it to the
// machine. Only the driving loop may call it: the advert is handled inline,
// with no hand-off to another goroutine.
func (in *Instance) Receive(now time.Time, p *netif.Packet, a *vrrp.Advert) {
	switch {
	case a.Version != in.rx.version:
		in.stats.drop(DropVersionMismatch)
		return
	case a.Version == 2 && !in.authMatches(a):
		in.stats.drop(DropAuth)
		return
	case len(in.rx.peers) > 0 && !slices.Contains(in.rx.peers, p.Src):
		in.stats.drop(DropUnknownPeer)
		return
	}
	if !sameAddrs(a.Addrs, in.template.Addrs) {
		in.stats.AddrListMismatch.Add(1)
		// RFC 3768 §7.1 (v2): a mismatched list MUST be dropped unless the
		// sender owns the addresses (priority 255). RFC 9568 §7.1 (v3)
		// only asks to log it, so v3 adverts go on.
		if a.Version == 2 && a.Priority != 255 {
			in.stats.drop(DropAddrList)
			return
		}
	}
	if a.Version == 3 && p.Src.Is4() {
		if a.ChecksumMode == vrrp.ChecksumMessageOnly {
			in.stats.ChecksumMessageOnly.Add(1)
		} else {
			in.stats.ChecksumPseudoHeader.Add(1)
		}
	}
	if a.Priority == 0 {
		in.stats.PriorityZeroReceived.Add(1)
	}
	in.notePeer(now, p.Src, a)
	in.stats.AdvertsReceived.Add(1)
	in.HandleAdvert(now, vrrp.AdvertFrom(p.Src, a.Priority, a.Interval()))
}

func (in *Instance) authMatches(a *vrrp.Advert) bool {
	return a.AuthType == in.rx.authType && (a.AuthType == vrrp.AuthNone || a.AuthData == in.rx.authData)
}

// rxSettings are what the receive path checks. They never change for an
// Instance: a reload that changes them restarts it.
type rxSettings struct {
	version  uint8
	authType uint8
	authData [8]byte
	peers    []netip.Addr
}

// sameAddrs compares address lists as sets (order is not significant).
func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func (in *Instance) notePeer(now time.Time, src netip.Addr, a *vrrp.Advert) {
	mode := ""
	if a.Version == 3 && src.Is4() {
		mode = a.ChecksumMode.String()
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.peers == nil {
		in.peers = map[netip.Addr]*Peer{}
	}
	p := in.peers[src]
	if p == nil {
		if len(in.peers) >= maxPeers {
			return
		}
		p = &Peer{Addr: src}
		in.peers[src] = p
	}
	p.Priority, p.Interval, p.LastSeen, p.ChecksumMode = a.Priority, a.Interval(), now, mode
	p.Adverts++
}

// maxPeers bounds the peer table against a flood of forged sources.
const maxPeers = 64
