// Package vrrp is the Virtual Router Redundancy Protocol itself, with no I/O:
// the advert codec for VRRPv2 (RFC 3768) and VRRPv3 (RFC 9568, which
// obsoletes RFC 5798) over IPv4 and IPv6, and the RFC state machine.
//
// A Router takes events (Startup, an advert received, a timer fired, a
// priority change, Shutdown, a fault) with the current time and returns
// actions (send an advert, arm or stop a timer, take or release the virtual
// addresses, announce them, a state change with its reason). It reads no
// clock, opens no socket, starts no goroutine and logs nothing, so the
// driver in pkg/instance owns all of that and every RFC rule is a
// deterministic table test here.
package vrrp
