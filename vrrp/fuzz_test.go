package vrrp

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode feeds arbitrary messages to the decoder over IPv4 and IPv6. It
// must never panic; every failure must be a *DecodeError; and whatever it
// accepts must re-encode to the same bytes (reserved bits aside), so the
// decoder cannot accept something it misreads.
//
// Seeds: every advert in the keepalived captures (testdata/pcap), the known
// answers, and testdata/fuzz/FuzzDecode. Run: go test -fuzz=FuzzDecode ./vrrp
func FuzzDecode(f *testing.F) {
	for _, c := range keepalivedAdverts(f) {
		f.Add(c.ip.Payload, false)
	}
	for _, k := range knownAnswers {
		f.Add(mustHex(k.wire), k.src.Is6())
	}
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		src, dst := keepalivedSrc, MulticastIPv4
		if v6 {
			src, dst = llSrc, MulticastIPv6
		}
		var a Advert
		err := a.Decode(b, src, dst)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Reason == ReasonNone {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		got, err := a.Append(nil, src, dst, a.ChecksumMode)
		if err != nil {
			t.Fatalf("decoded %+v but cannot encode it: %v", a, err)
		}
		want := bytes.Clone(b)
		if a.Version == 3 && want[4]&0xf0 != 0 {
			// Reserved bits are ignored on receive and zero on send; the
			// checksum then differs too.
			want[4] &= 0x0f
			copy(want[6:8], got[6:8])
		}
		if zero := func(c []byte) bool { return c[0] == c[1] && (c[0] == 0 || c[0] == 0xff) }; zero(got[6:8]) && zero(want[6:8]) {
			// 0x0000 and 0xffff are the two one's-complement zeros: both verify.
			copy(want[6:8], got[6:8])
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("accepted %x but re-encodes as %x", b, got)
		}
	})
}
