package netif

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func cmsg(level, typ int, data []byte) []byte {
	return appendCmsg(nil, level, typ, data)
}

func ipv4Packet(ttl byte, payload []byte) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:4], uint16(20+len(payload)))
	h[8], h[9] = ttl, 112
	copy(h[12:16], []byte{192, 0, 2, 1})
	copy(h[16:20], []byte{224, 0, 0, 18})
	return append(h, payload...)
}

func TestParsePacket(t *testing.T) {
	pi := make([]byte, 12)
	binary.NativeEndian.PutUint32(pi, 7)
	p, ok := parsePacket(ipv4Packet(255, []byte("vrrp")), cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, pi), nil, false)
	if !ok || p.TTL != 255 || p.IfIndex != 7 || p.Src != netip.MustParseAddr("192.0.2.1") || p.Dst != netip.MustParseAddr("224.0.0.18") || string(p.Payload) != "vrrp" {
		t.Errorf("ipv4: %+v %v", p, ok)
	}

	name := make([]byte, unix.SizeofSockaddrInet6)
	src := netip.MustParseAddr("fe80::1").As16()
	copy(name[8:24], src[:])
	pi6 := make([]byte, 20)
	dst := netip.MustParseAddr("ff02::12").As16()
	copy(pi6, dst[:])
	binary.NativeEndian.PutUint32(pi6[16:], 3)
	hl := make([]byte, 4)
	binary.NativeEndian.PutUint32(hl, 255)
	oob := append(cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, pi6), cmsg(unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT, hl)...)
	p, ok = parsePacket([]byte("vrrp6"), oob, name, true)
	if !ok || p.TTL != 255 || p.IfIndex != 3 || p.Src.String() != "fe80::1" || p.Dst.String() != "ff02::12" || string(p.Payload) != "vrrp6" {
		t.Errorf("ipv6: %+v %v", p, ok)
	}

	for _, bad := range [][]byte{nil, ipv4Packet(255, nil)[:19], {0x65, 0, 0, 20}, append([]byte{0x46}, make([]byte, 19)...)} {
		if _, ok := parsePacket(bad, nil, nil, false); ok {
			t.Errorf("accepted %x", bad)
		}
	}
	if _, ok := parsePacket([]byte("x"), nil, name[:10], true); ok {
		t.Error("accepted a short IPv6 source address")
	}
}

// FuzzParsePacket: whatever recvmsg hands over, parsing never panics and
// the payload lies inside the buffer.
func FuzzParsePacket(f *testing.F) {
	pi := make([]byte, 12)
	f.Add(ipv4Packet(255, []byte("vrrp")), cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, pi), []byte{}, false)
	f.Add([]byte("vrrp6"), cmsg(unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT, []byte{255, 0, 0, 0}), make([]byte, unix.SizeofSockaddrInet6), true)
	f.Fuzz(func(t *testing.T, b, oob, name []byte, v6 bool) {
		p, ok := parsePacket(b, oob, name, v6)
		if ok && len(p.Payload) > 0 && !bytes.Contains(b, p.Payload) {
			t.Fatalf("payload outside the buffer")
		}
	})
}
