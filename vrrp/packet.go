package vrrp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// IPProtocol is the IP protocol number of VRRP (IPv4 protocol / IPv6 next header).
const IPProtocol = 112

// Multicast destinations of VRRP adverts (RFC 3768 §5.2.2, RFC 9568 §5.1.1.2 / §5.1.2.2).
var (
	MulticastIPv4 = netip.AddrFrom4([4]byte{224, 0, 0, 18})
	MulticastIPv6 = netip.MustParseAddr("ff02::12")
)

// TTL is the only IPv4 TTL / IPv6 hop limit a valid advert may carry.
const TTL = 255

const (
	typeAdvertisement = 1
	headerLen         = 8
	authDataLen       = 8 // VRRPv2 only
	maxV2Interval     = 255
	maxV3Interval     = 0x0fff
)

// Auth types of VRRPv2 (RFC 3768 §5.3.6; RFC 2338 defined 1 and 2).
const (
	AuthNone   = 0
	AuthSimple = 1 // plain-text password, as keepalived's auth_type PASS
	AuthAH     = 2 // IP Authentication Header
)

// ChecksumMode says which checksum form a VRRPv3 IPv4 advert uses. VRRPv2 is
// always message-only and VRRPv3 over IPv6 always includes the pseudo-header;
// for VRRPv3 over IPv4 implementations disagree, so both are accepted.
type ChecksumMode uint8

const (
	// ChecksumPseudoHeader covers an IPv4 pseudo-header and the message, as
	// keepalived and FRR do by default (and as RFC 5798 was widely read).
	ChecksumPseudoHeader ChecksumMode = iota
	// ChecksumMessageOnly covers the VRRP message only, as RFC 9568 and
	// several router vendors do for IPv4.
	ChecksumMessageOnly
)

func (m ChecksumMode) String() string {
	switch m {
	case ChecksumPseudoHeader:
		return "pseudo-header"
	case ChecksumMessageOnly:
		return "message-only"
	}
	return fmt.Sprintf("ChecksumMode(%d)", uint8(m))
}

// Advert is a decoded VRRP advertisement. Decode reuses the Addrs slice, so a
// receive loop that keeps one Advert allocates nothing per packet.
type Advert struct {
	Version  uint8 // 2 or 3
	VRID     uint8 // 1-255
	Priority uint8 // 0 = master resigns, 255 = address owner
	// MaxAdvertInt is the interval field as on the wire: whole seconds (8
	// bits) for v2, centiseconds (12 bits) for v3. See Interval.
	MaxAdvertInt uint16
	AuthType     uint8   // v2 only
	AuthData     [8]byte // v2 only
	// Checksum is the field as received; Append computes its own.
	Checksum uint16
	// ChecksumMode is the form the received checksum matched.
	ChecksumMode ChecksumMode
	Addrs        []netip.Addr
}

// Interval returns the advertised interval as a duration.
func (a *Advert) Interval() time.Duration {
	if a.Version == 2 {
		return time.Duration(a.MaxAdvertInt) * time.Second
	}
	return time.Duration(a.MaxAdvertInt) * 10 * time.Millisecond
}

// IntervalField converts an interval to the wire field of the given version:
// v2 takes whole seconds 1-255, v3 takes 10 ms steps from 10 ms to 40.95 s.
func IntervalField(version uint8, d time.Duration) (uint16, error) {
	switch version {
	case 2:
		if d%time.Second != 0 || d < time.Second || d > maxV2Interval*time.Second {
			return 0, fmt.Errorf("VRRPv2 advert interval %v: must be whole seconds from 1s to 255s", d)
		}
		return uint16(d / time.Second), nil
	case 3:
		const step = 10 * time.Millisecond
		if d%step != 0 || d < step || d > maxV3Interval*step {
			return 0, fmt.Errorf("VRRPv3 advert interval %v: must be a multiple of 10ms from 10ms to 40.95s", d)
		}
		return uint16(d / step), nil
	}
	return 0, fmt.Errorf("VRRP version %d: must be 2 or 3", version)
}

// Decode parses b, the VRRP message (the IP payload), into a. src and dst are
// the packet's IP source and destination: they give the address family and
// the pseudo-header for the checksum. It never panics and, once a.Addrs has
// grown to fit, allocates only when it returns an error.
func (a *Advert) Decode(b []byte, src, dst netip.Addr) error {
	if src.Is4In6() || dst.Is4In6() {
		src, dst = src.Unmap(), dst.Unmap()
	}
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return decodeErr(ReasonFamily, "source %v and destination %v are not one address family", src, dst)
	}
	if len(b) < headerLen {
		return decodeErr(ReasonTruncated, "%d bytes, a VRRP header needs %d", len(b), headerLen)
	}
	version, typ := b[0]>>4, b[0]&0x0f
	if version != 2 && version != 3 {
		return decodeErr(ReasonVersion, "version %d, want 2 or 3", version)
	}
	if typ != typeAdvertisement {
		return decodeErr(ReasonType, "type %d, want 1 (advertisement)", typ)
	}
	if version == 2 && !src.Is4() {
		return decodeErr(ReasonFamily, "VRRPv2 advert from IPv6 source %v", src)
	}
	vrid, count := b[1], int(b[3])
	if vrid == 0 {
		return decodeErr(ReasonInvalidVRID, "VRID 0")
	}
	addrLen := 4
	if !src.Is4() {
		addrLen = 16
	}
	want := headerLen + count*addrLen
	if version == 2 {
		want += authDataLen
	}
	if len(b) != want {
		return decodeErr(ReasonAddrCount, "%d addresses need %d bytes, message has %d", count, want, len(b))
	}
	if count == 0 {
		return decodeErr(ReasonAddrCount, "advert carries no addresses")
	}

	var interval uint16
	var authType uint8
	if version == 2 {
		authType = b[4]
		if authType > AuthAH {
			return decodeErr(ReasonAuthType, "auth type %d", authType)
		}
		interval = uint16(b[5])
	} else {
		// The 4 reserved bits are ignored on receive (RFC 9568 §5.2.7).
		interval = binary.BigEndian.Uint16(b[4:6]) & maxV3Interval
	}
	if interval == 0 {
		return decodeErr(ReasonIntervalZero, "")
	}

	mode, ok := verifyChecksum(b, version, src, dst)
	if !ok {
		return decodeErr(ReasonChecksum, "checksum %#04x does not match (want %#04x)",
			binary.BigEndian.Uint16(b[6:8]), expectedChecksum(b, version, src, dst))
	}

	a.Version, a.VRID, a.Priority = version, vrid, b[2]
	a.MaxAdvertInt, a.AuthType = interval, authType
	a.Checksum = binary.BigEndian.Uint16(b[6:8])
	a.ChecksumMode = mode
	a.AuthData = [8]byte{}
	a.Addrs = a.Addrs[:0]
	p := b[headerLen:]
	for i := 0; i < count; i++ {
		if addrLen == 4 {
			a.Addrs = append(a.Addrs, netip.AddrFrom4([4]byte(p[:4])))
		} else {
			a.Addrs = append(a.Addrs, netip.AddrFrom16([16]byte(p[:16])))
		}
		p = p[addrLen:]
	}
	if version == 2 {
		copy(a.AuthData[:], p)
	}
	return nil
}

// Len returns the length of a's wire form (each address counts by its own
// family).
func (a *Advert) Len() int {
	n := headerLen
	for _, addr := range a.Addrs {
		if addr.Is4() {
			n += 4
		} else {
			n += 16
		}
	}
	if a.Version == 2 {
		n += authDataLen
	}
	return n
}

// Append appends the wire form of a to b and returns the extended slice. The
// checksum is computed from src and dst (the IP header the advert will be
// sent with) and, for VRRPv3 over IPv4, mode; a.Checksum is not consulted.
func (a *Advert) Append(b []byte, src, dst netip.Addr, mode ChecksumMode) ([]byte, error) {
	if err := a.validate(src, dst); err != nil {
		return b, err
	}
	start := len(b)
	b = append(b, a.Version<<4|typeAdvertisement, a.VRID, a.Priority, uint8(len(a.Addrs)))
	if a.Version == 2 {
		b = append(b, a.AuthType, uint8(a.MaxAdvertInt))
	} else {
		b = binary.BigEndian.AppendUint16(b, a.MaxAdvertInt)
	}
	b = append(b, 0, 0) // checksum, filled below
	for _, addr := range a.Addrs {
		if addr.Is4() {
			v4 := addr.As4()
			b = append(b, v4[:]...)
		} else {
			v6 := addr.As16()
			b = append(b, v6[:]...)
		}
	}
	if a.Version == 2 {
		b = append(b, a.AuthData[:]...)
	}
	msg := b[start:]
	var sum uint32
	if a.Version == 3 && (src.Is6() || mode == ChecksumPseudoHeader) {
		sum = pseudoHeaderSum(src, dst, len(msg))
	}
	binary.BigEndian.PutUint16(msg[6:8], ^fold(sumBytes(sum, msg)))
	return b, nil
}

func (a *Advert) validate(src, dst netip.Addr) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidAdvert, fmt.Sprintf(format, args...))
	}
	if a.Version != 2 && a.Version != 3 {
		return bad("version %d, want 2 or 3", a.Version)
	}
	if a.VRID == 0 {
		return bad("VRID 0")
	}
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return bad("source %v and destination %v are not one address family", src, dst)
	}
	if a.Version == 2 && !src.Is4() {
		return bad("VRRPv2 is IPv4 only")
	}
	if len(a.Addrs) == 0 || len(a.Addrs) > 255 {
		return bad("%d addresses, want 1-255", len(a.Addrs))
	}
	for _, addr := range a.Addrs {
		if addr.Is4() != src.Is4() {
			return bad("address %v is not of the packet's family", addr)
		}
	}
	limit := uint16(maxV3Interval)
	if a.Version == 2 {
		limit = maxV2Interval
		if a.AuthType > AuthAH {
			return bad("auth type %d", a.AuthType)
		}
	}
	if a.MaxAdvertInt == 0 || a.MaxAdvertInt > limit {
		return bad("interval field %d, want 1-%d", a.MaxAdvertInt, limit)
	}
	return nil
}

// verifyChecksum reports whether b's checksum is valid and which form it used.
func verifyChecksum(b []byte, version uint8, src, dst netip.Addr) (ChecksumMode, bool) {
	msgSum := sumBytes(0, b)
	if version == 2 {
		return ChecksumMessageOnly, fold(msgSum) == 0xffff
	}
	pseudo := pseudoHeaderSum(src, dst, len(b))
	if fold(pseudo+fold32(msgSum)) == 0xffff {
		return ChecksumPseudoHeader, true
	}
	if src.Is4() && fold(msgSum) == 0xffff {
		return ChecksumMessageOnly, true
	}
	return ChecksumPseudoHeader, false
}

// expectedChecksum is only for error messages: the checksum b should carry in
// the form this package sends by default.
func expectedChecksum(b []byte, version uint8, src, dst netip.Addr) uint16 {
	var sum uint32
	if version == 3 {
		sum = pseudoHeaderSum(src, dst, len(b))
	}
	sum = sumBytes(sum, b[:6])
	sum = sumBytes(sum, b[8:])
	return ^fold(sum)
}

// pseudoHeaderSum is the one's-complement partial sum of the IPv4 (RFC 768
// style) or IPv6 (RFC 8200 §8.1) pseudo-header for a VRRP message of length n.
func pseudoHeaderSum(src, dst netip.Addr, n int) uint32 {
	var sum uint32
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		sum = sumBytes(sum, s[:])
		sum = sumBytes(sum, d[:])
	} else {
		s, d := src.As16(), dst.As16()
		sum = sumBytes(sum, s[:])
		sum = sumBytes(sum, d[:])
		sum += uint32(n >> 16)
	}
	return sum + IPProtocol + uint32(n&0xffff)
}

// sumBytes adds b to a one's-complement running sum as big-endian 16-bit words.
func sumBytes(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return fold32(sum)
}

// fold32 keeps the running sum small enough never to overflow.
func fold32(sum uint32) uint32 {
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return sum
}

func fold(sum uint32) uint16 { return uint16(fold32(sum)) }
