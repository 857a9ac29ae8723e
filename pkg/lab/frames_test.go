package lab

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/failover-ha/failover/internal/pcapfile"
)

var testMAC = net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, 0x07}

func arpFrame(op byte, spa, tpa netip.Addr) []byte {
	f := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	f = append(f, testMAC...)
	f = append(f, 0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, op)
	f = append(f, testMAC...)
	f = append(f, spa.AsSlice()...)
	f = append(f, 0, 0, 0, 0, 0, 0)
	return append(f, tpa.AsSlice()...)
}

func naFrame(flags byte, target netip.Addr) []byte {
	icmp := []byte{136, 0, 0, 0, flags, 0, 0, 0}
	icmp = append(icmp, target.AsSlice()...)
	return pcapfile.BuildEthernetIP([6]byte(testMAC), pcapfile.IPPacket{
		Src: netip.MustParseAddr("fe80::1"), Dst: netip.MustParseAddr("ff02::1"), TTL: 255, Protocol: 58, Payload: icmp,
	})
}

func TestIsVRRP(t *testing.T) {
	for _, dst := range []string{"224.0.0.18", "ff02::12"} {
		d := netip.MustParseAddr(dst)
		src := netip.MustParseAddr("192.0.2.11")
		if d.Is6() {
			src = netip.MustParseAddr("fe80::1")
		}
		f := pcapfile.BuildEthernetIP([6]byte(testMAC), pcapfile.IPPacket{Src: src, Dst: d, TTL: 255, Protocol: 112, Payload: []byte{0x31, 7, 100, 0}})
		p, ok := IsVRRP(f)
		if !ok || p.Src != src || !bytes.Equal(p.Payload, []byte{0x31, 7, 100, 0}) {
			t.Errorf("IsVRRP(%s) = %+v, %v", dst, p, ok)
		}
		f = pcapfile.BuildEthernetIP([6]byte(testMAC), pcapfile.IPPacket{Src: src, Dst: d, TTL: 255, Protocol: 17, Payload: []byte{1}})
		if _, ok := IsVRRP(f); ok {
			t.Errorf("IsVRRP(UDP to %s) = true", dst)
		}
	}
	if _, ok := IsVRRP([]byte{1, 2, 3}); ok {
		t.Error("IsVRRP(short) = true")
	}
}

func TestIsGratuitousARP(t *testing.T) {
	vip := netip.MustParseAddr("192.0.2.100")
	other := netip.MustParseAddr("192.0.2.11")
	for _, op := range []byte{1, 2} {
		ip, mac, ok := IsGratuitousARP(arpFrame(op, vip, vip))
		if !ok || ip != vip || !bytes.Equal(mac, testMAC) {
			t.Errorf("op %d: %v %v %v", op, ip, mac, ok)
		}
	}
	if _, _, ok := IsGratuitousARP(arpFrame(1, other, vip)); ok {
		t.Error("ordinary ARP request taken for gratuitous")
	}
	if _, _, ok := IsGratuitousARP(arpFrame(3, vip, vip)); ok {
		t.Error("RARP op accepted")
	}
	if _, _, ok := IsGratuitousARP(arpFrame(1, vip, vip)[:30]); ok {
		t.Error("truncated ARP accepted")
	}
}

func TestIsUnsolicitedNA(t *testing.T) {
	vip := netip.MustParseAddr("2001:db8::100")
	if target, ok := IsUnsolicitedNA(naFrame(0x20, vip)); !ok || target != vip {
		t.Errorf("O flag: %v %v", target, ok)
	}
	if target, ok := IsUnsolicitedNA(naFrame(0xa0, vip)); !ok || target != vip {
		t.Errorf("R+O flags: %v %v", target, ok)
	}
	if _, ok := IsUnsolicitedNA(naFrame(0x00, vip)); ok {
		t.Error("NA without Override accepted")
	}
	if _, ok := IsUnsolicitedNA(naFrame(0x60, vip)); ok {
		t.Error("solicited NA accepted")
	}
	if _, ok := IsUnsolicitedNA(arpFrame(1, netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.1"))); ok {
		t.Error("ARP accepted as NA")
	}
}
