// Package pcapfile reads and writes classic libpcap capture files holding
// Ethernet frames, and pulls the IP header fields VRRP tests need out of
// them. It exists for tests and tools: golden packets from real peers are
// kept as pcaps, and frames we build are written as pcaps for tshark.
package pcapfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"
)

const (
	magicMicros    = 0xa1b2c3d4
	magicNanos     = 0xa1b23c4d
	linkTypeEther  = 1
	globalHdrLen   = 24
	recordHdrLen   = 16
	maxSnapLen     = 262144
	etherTypeIPv4  = 0x0800
	etherTypeIPv6  = 0x86dd
	etherHeaderLen = 14
)

// Frame is one captured frame.
type Frame struct {
	Time time.Time
	Data []byte
}

// ReadFile returns every frame of a classic pcap file of Ethernet frames.
func ReadFile(path string) ([]Frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	frames, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return frames, nil
}

// Read parses a classic pcap stream (either byte order, micro- or nanosecond).
func Read(r io.Reader) ([]Frame, error) {
	var hdr [globalHdrLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	var order binary.ByteOrder = binary.LittleEndian
	magic := order.Uint32(hdr[0:4])
	if magic != magicMicros && magic != magicNanos {
		order = binary.BigEndian
		magic = order.Uint32(hdr[0:4])
	}
	if magic != magicMicros && magic != magicNanos {
		return nil, fmt.Errorf("not a classic pcap file (magic %#x)", hdr[0:4])
	}
	if lt := order.Uint32(hdr[20:24]); lt != linkTypeEther {
		return nil, fmt.Errorf("link type %d, want Ethernet (1)", lt)
	}
	var frames []Frame
	for {
		var rec [recordHdrLen]byte
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return frames, nil
			}
			return nil, fmt.Errorf("record %d header: %w", len(frames)+1, err)
		}
		sec, frac := order.Uint32(rec[0:4]), order.Uint32(rec[4:8])
		n := order.Uint32(rec[8:12])
		if n > maxSnapLen {
			return nil, fmt.Errorf("record %d: length %d too large", len(frames)+1, n)
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, fmt.Errorf("record %d data: %w", len(frames)+1, err)
		}
		ns := int64(frac) * 1000
		if magic == magicNanos {
			ns = int64(frac)
		}
		frames = append(frames, Frame{Time: time.Unix(int64(sec), ns).UTC(), Data: data})
	}
}

// Write writes frames as a classic little-endian microsecond pcap.
func Write(w io.Writer, frames []Frame) error {
	var hdr [globalHdrLen]byte
	binary.LittleEndian.PutUint32(hdr[0:4], magicMicros)
	binary.LittleEndian.PutUint16(hdr[4:6], 2)
	binary.LittleEndian.PutUint16(hdr[6:8], 4)
	binary.LittleEndian.PutUint32(hdr[16:20], maxSnapLen)
	binary.LittleEndian.PutUint32(hdr[20:24], linkTypeEther)
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	for _, f := range frames {
		var rec [recordHdrLen]byte
		binary.LittleEndian.PutUint32(rec[0:4], uint32(f.Time.Unix()))
		binary.LittleEndian.PutUint32(rec[4:8], uint32(f.Time.Nanosecond()/1000))
		binary.LittleEndian.PutUint32(rec[8:12], uint32(len(f.Data)))
		binary.LittleEndian.PutUint32(rec[12:16], uint32(len(f.Data)))
		if _, err := w.Write(rec[:]); err != nil {
			return err
		}
		if _, err := w.Write(f.Data); err != nil {
			return err
		}
	}
	return nil
}

// IPPacket is the part of an IP packet a VRRP receiver looks at.
type IPPacket struct {
	Src, Dst netip.Addr
	TTL      uint8 // IPv4 TTL or IPv6 hop limit
	TOS      uint8 // IPv4 TOS or IPv6 traffic class
	Protocol uint8 // IPv4 protocol or IPv6 next header (no extension headers)
	Payload  []byte
}

// ParseEthernetIP extracts the IP packet from an Ethernet frame. ok is false
// for frames that are not IPv4/IPv6 or are truncated.
func ParseEthernetIP(frame []byte) (p IPPacket, ok bool) {
	if len(frame) < etherHeaderLen {
		return p, false
	}
	b := frame[etherHeaderLen:]
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case etherTypeIPv4:
		if len(b) < 20 {
			return p, false
		}
		ihl := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:4]))
		if ihl < 20 || total < ihl || total > len(b) {
			return p, false
		}
		p.TOS, p.TTL, p.Protocol = b[1], b[8], b[9]
		p.Src = netip.AddrFrom4([4]byte(b[12:16]))
		p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		p.Payload = b[ihl:total]
		return p, true
	case etherTypeIPv6:
		if len(b) < 40 {
			return p, false
		}
		plen := int(binary.BigEndian.Uint16(b[4:6]))
		if 40+plen > len(b) {
			return p, false
		}
		p.TOS = uint8(binary.BigEndian.Uint16(b[0:2]) >> 4)
		p.Protocol, p.TTL = b[6], b[7]
		p.Src = netip.AddrFrom16([16]byte(b[8:24]))
		p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		p.Payload = b[40 : 40+plen]
		return p, true
	}
	return p, false
}

// BuildEthernetIP builds an Ethernet frame carrying p (IPv4 without options,
// or IPv6 without extension headers), addressed to the multicast MAC derived
// from p.Dst, which must be a multicast address. It is the inverse of
// ParseEthernetIP.
func BuildEthernetIP(srcMAC [6]byte, p IPPacket) []byte {
	var dstMAC [6]byte
	var frame []byte
	if p.Dst.Is4() {
		d := p.Dst.As4()
		dstMAC = [6]byte{0x01, 0x00, 0x5e, d[1] & 0x7f, d[2], d[3]}
		frame = append(frame, dstMAC[:]...)
		frame = append(frame, srcMAC[:]...)
		frame = binary.BigEndian.AppendUint16(frame, etherTypeIPv4)
		ip := make([]byte, 20)
		ip[0] = 0x45
		ip[1] = p.TOS
		binary.BigEndian.PutUint16(ip[2:4], uint16(20+len(p.Payload)))
		ip[8], ip[9] = p.TTL, p.Protocol
		s, dd := p.Src.As4(), p.Dst.As4()
		copy(ip[12:16], s[:])
		copy(ip[16:20], dd[:])
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[i:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(ip[10:12], ^uint16(sum))
		frame = append(frame, ip...)
	} else {
		d := p.Dst.As16()
		dstMAC = [6]byte{0x33, 0x33, d[12], d[13], d[14], d[15]}
		frame = append(frame, dstMAC[:]...)
		frame = append(frame, srcMAC[:]...)
		frame = binary.BigEndian.AppendUint16(frame, etherTypeIPv6)
		ip := make([]byte, 40)
		binary.BigEndian.PutUint32(ip[0:4], 6<<28|uint32(p.TOS)<<20)
		binary.BigEndian.PutUint16(ip[4:6], uint16(len(p.Payload)))
		ip[6], ip[7] = p.Protocol, p.TTL
		s, dd := p.Src.As16(), p.Dst.As16()
		copy(ip[8:24], s[:])
		copy(ip[24:40], dd[:])
		frame = append(frame, ip...)
	}
	return append(frame, p.Payload...)
}
