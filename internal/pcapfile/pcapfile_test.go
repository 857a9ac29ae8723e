package pcapfile

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteReadRoundTrip(t *testing.T) {
	frame := BuildEthernetIP([6]byte{2, 0, 0, 0, 0, 1}, IPPacket{
		Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("224.0.0.18"), TTL: 255, TOS: 0xc0, Protocol: 112, Payload: []byte("vrrp"),
	})
	in := []Frame{{Time: time.Unix(1795349189, 650432000).UTC(), Data: frame}}
	var buf bytes.Buffer
	if err := Write(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, err := Read(&buf)
	if err != nil || len(out) != 1 || !out[0].Time.Equal(in[0].Time) || !bytes.Equal(out[0].Data, frame) {
		t.Fatalf("round trip: %v %+v", err, out)
	}
	ip, ok := ParseEthernetIP(out[0].Data)
	if !ok || ip.TTL != 255 || ip.TOS != 0xc0 || ip.Protocol != 112 || string(ip.Payload) != "vrrp" || ip.Src.String() != "192.0.2.1" {
		t.Errorf("parsed %+v %v", ip, ok)
	}
	v6 := BuildEthernetIP([6]byte{2, 0, 0, 0, 0, 1}, IPPacket{Src: netip.MustParseAddr("fe80::1"), Dst: netip.MustParseAddr("ff02::12"), TTL: 255, Protocol: 112, Payload: []byte("x")})
	if ip, ok := ParseEthernetIP(v6); !ok || ip.Dst.String() != "ff02::12" || string(ip.Payload) != "x" {
		t.Errorf("ipv6 parsed %+v %v", ip, ok)
	}
}

func TestReadErrors(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("not a pcap file at all......"), append(make([]byte, 24), 1)} {
		if _, err := Read(bytes.NewReader(b)); err == nil {
			t.Errorf("accepted %q", b)
		}
	}
}

// FuzzRead: the reader and the frame parser never panic on any file.
func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/pcap/*.pcap")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		frames, _ := Read(bytes.NewReader(b))
		for _, fr := range frames {
			ParseEthernetIP(fr.Data)
		}
		ParseEthernetIP(b)
	})
}
