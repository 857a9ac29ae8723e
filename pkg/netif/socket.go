// Package netif is failoverd's Linux data plane: the raw VRRP socket of an
// interface, the virtual addresses (netlink), their announcement (gratuitous
// ARP, unsolicited neighbour advertisements) and link state.
package netif

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/failover-ha/failover/vrrp"
)

// tosInternetControl is the IP precedence keepalived and routers give VRRP
// (IPTOS_PREC_INTERNETCONTROL), so QoS treats adverts as control traffic.
const tosInternetControl = 0xc0

// Packet is one received VRRP packet. Payload aliases the socket's buffer and
// is valid until the next Read.
type Packet struct {
	Src, Dst netip.Addr
	TTL      uint8 // IPv4 TTL or IPv6 hop limit
	IfIndex  int
	Payload  []byte
	Received time.Time // kernel receive time (wall clock), zero if not given
}

// Socket is a raw IP protocol-112 socket of one interface and address family,
// joined to the VRRP multicast group on that interface only. One socket serves
// every virtual router on the interface; the caller demultiplexes by VRID.
//
// Setup goes through golang.org/x/net; the receive path calls recvmsg
// directly on buffers allocated once, so reading an advert allocates nothing
// (x/net allocates a header, control message and address per packet, which
// shows at hundreds of virtual routers with 10 ms intervals).
type Socket struct {
	ifi  *net.Interface
	v6   bool
	conn net.PacketConn
	rc   syscall.RawConn
	fd   int // for an event loop of its own; see Fd

	// Receive state, owned by the single reader.
	rbuf   []byte
	roob   []byte
	rname  []byte
	riov   unix.Iovec
	rmsg   unix.Msghdr
	rn     int
	rerr   error
	readFn func(fd uintptr) bool

	// Send state, shared by the instances on the interface: a message
	// header built in place, so sending allocates nothing either.
	wmu     sync.Mutex
	woob    []byte
	wname   [unix.SizeofSockaddrInet6]byte // sockaddr_in or sockaddr_in6
	wiov    unix.Iovec
	wmsg    unix.Msghdr
	werr    error
	writeFn func(fd uintptr) bool
}

// Listen opens the VRRP socket of ifname for IPv4 (v6 false) or IPv6.
func Listen(ifname string, v6 bool) (*Socket, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("vrrp socket on %s: %w", ifname, err)
	}
	s := &Socket{
		ifi:   ifi,
		v6:    v6,
		rbuf:  make([]byte, 65536),
		roob:  make([]byte, 256),
		rname: make([]byte, unix.SizeofSockaddrInet6),
		woob:  make([]byte, 0, 64),
	}
	if err := s.open(); err != nil {
		return nil, fmt.Errorf("vrrp socket on %s (%s): %w", ifname, s.family(), err)
	}
	s.riov.Base = &s.rbuf[0]
	s.riov.SetLen(len(s.rbuf))
	s.rmsg.Iov = &s.riov
	s.rmsg.SetIovlen(1)
	s.rmsg.Control = &s.roob[0]
	if v6 {
		s.rmsg.Name = &s.rname[0]
	}
	s.readFn = s.recvmsg
	s.writeFn = s.sendmsg
	return s, nil
}

func (s *Socket) family() string {
	if s.v6 {
		return "IPv6"
	}
	return "IPv4"
}

func (s *Socket) open() error {
	network, any := "ip4:112", "0.0.0.0"
	if s.v6 {
		network, any = "ip6:112", "::"
	}
	c, err := net.ListenPacket(network, any)
	if err != nil {
		return err
	}
	s.conn = c
	if s.rc, err = c.(*net.IPConn).SyscallConn(); err == nil {
		err = s.setup()
	}
	if err != nil {
		c.Close()
	}
	return err
}

func (s *Socket) setup() error {
	var serr error
	err := s.rc.Control(func(fd uintptr) {
		s.fd = int(fd)
		// Only this interface's packets: the kernel filters before we wake.
		if serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, s.ifi.Name); serr != nil {
			serr = fmt.Errorf("SO_BINDTODEVICE: %w", serr)
			return
		}
		// Room for bursts from hundreds of virtual routers.
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
		// The kernel's receive time: timers count from an advert's arrival.
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	if s.v6 {
		p := ipv6.NewPacketConn(s.conn)
		return firstErr(
			p.JoinGroup(s.ifi, &net.IPAddr{IP: vrrp.MulticastIPv6.AsSlice()}),
			p.SetMulticastInterface(s.ifi),
			p.SetMulticastHopLimit(vrrp.TTL),
			p.SetHopLimit(vrrp.TTL),
			p.SetMulticastLoopback(false),
			p.SetTrafficClass(tosInternetControl),
			p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true),
		)
	}
	p := ipv4.NewPacketConn(s.conn)
	return firstErr(
		p.JoinGroup(s.ifi, &net.IPAddr{IP: vrrp.MulticastIPv4.AsSlice()}),
		p.SetMulticastInterface(s.ifi),
		p.SetMulticastTTL(vrrp.TTL),
		p.SetTTL(vrrp.TTL),
		p.SetMulticastLoopback(false),
		p.SetTOS(tosInternetControl),
		p.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true),
	)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Close closes the socket; a blocked Read returns net.ErrClosed.
func (s *Socket) Close() error { return s.conn.Close() }

// Fd is the socket's descriptor, for an event loop that waits on it itself
// (epoll) and reads with TryRead. It stays valid until Close.
func (s *Socket) Fd() int { return s.fd }

// TryRead reads one packet if one is queued; ok is false when none is. Like
// Read, only one goroutine may use it, and the packet is valid until the
// next read.
func (s *Socket) TryRead() (p Packet, ok bool, err error) {
	for {
		switch errno := s.recv(); errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return p, false, nil
		default:
			return p, false, fmt.Errorf("recvmsg on %s: %w", s.ifi.Name, errno)
		}
		if p, ok := s.parse(); ok {
			return p, true, nil
		}
	}
}

// Read blocks until a packet arrives. Only one goroutine may call it.
func (s *Socket) Read() (Packet, error) {
	for {
		if err := s.rc.Read(s.readFn); err != nil {
			return Packet{}, err
		}
		if s.rerr != nil {
			if errors.Is(s.rerr, unix.EINTR) {
				continue
			}
			return Packet{}, fmt.Errorf("recvmsg on %s: %w", s.ifi.Name, s.rerr)
		}
		if p, ok := s.parse(); ok {
			return p, nil
		}
	}
}

// recvmsg is the RawConn read callback (fd is s.fd); it returns false to
// wait for readiness.
func (s *Socket) recvmsg(uintptr) bool {
	errno := s.recv()
	if errno == unix.EAGAIN || errno == unix.EWOULDBLOCK {
		return false
	}
	s.rerr = nil
	if errno != 0 {
		s.rerr = errno
	}
	return true
}

// recv makes one non-blocking recvmsg into the socket's buffers; on
// success s.rn is the packet's length.
func (s *Socket) recv() unix.Errno {
	s.rmsg.SetControllen(len(s.roob))
	if s.v6 {
		s.rmsg.Namelen = uint32(len(s.rname))
	}
	n, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.rmsg)), unix.MSG_DONTWAIT)
	if errno == 0 {
		s.rn = int(n)
	}
	return errno
}

// parse extracts addresses, TTL and interface from the last packet read.
func (s *Socket) parse() (Packet, bool) {
	var name []byte
	if s.v6 {
		name = s.rname[:s.rmsg.Namelen]
	}
	return parsePacket(s.rbuf[:s.rn], s.roob[:s.rmsg.Controllen], name, s.v6)
}

// parsePacket decodes what recvmsg returned: IPv4 raw sockets return the IP
// header; IPv6 ones give the source in the socket address (name) and the
// rest in control messages (oob). ok is false for anything malformed.
func parsePacket(b, oob, name []byte, v6 bool) (p Packet, ok bool) {
	if !v6 {
		if len(b) < 20 || b[0]>>4 != 4 {
			return p, false
		}
		ihl := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:4]))
		if ihl < 20 || total < ihl || total > len(b) {
			return p, false
		}
		p.TTL = b[8]
		p.Src = netip.AddrFrom4([4]byte(b[12:16]))
		p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		p.Payload = b[ihl:total]
	} else {
		if len(name) < unix.SizeofSockaddrInet6 {
			return p, false
		}
		p.Src = netip.AddrFrom16([16]byte(name[8:24]))
		p.Payload = b
	}
	// struct cmsghdr: a size_t length, then int level and int type.
	const lenSize = unix.SizeofCmsghdr - 8
	for len(oob) >= unix.SizeofCmsghdr {
		var n uint64
		if lenSize == 8 {
			n = binary.NativeEndian.Uint64(oob[0:8])
		} else {
			n = uint64(binary.NativeEndian.Uint32(oob[0:4]))
		}
		if n < unix.SizeofCmsghdr || n > uint64(len(oob)) {
			break
		}
		level := int32(binary.NativeEndian.Uint32(oob[lenSize : lenSize+4]))
		typ := int32(binary.NativeEndian.Uint32(oob[lenSize+4 : lenSize+8]))
		data := oob[unix.SizeofCmsghdr:n]
		switch {
		case level == unix.IPPROTO_IP && typ == unix.IP_PKTINFO && len(data) >= 12:
			p.IfIndex = int(binary.NativeEndian.Uint32(data[0:4]))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO && len(data) >= 20:
			p.Dst = netip.AddrFrom16([16]byte(data[0:16]))
			p.IfIndex = int(binary.NativeEndian.Uint32(data[16:20]))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_HOPLIMIT && len(data) >= 4:
			p.TTL = uint8(binary.NativeEndian.Uint32(data[0:4]))
		case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS && len(data) >= 16:
			p.Received = time.Unix(int64(binary.NativeEndian.Uint64(data[0:8])), int64(binary.NativeEndian.Uint64(data[8:16])))
		}
		next := unix.CmsgSpace(int(n) - unix.SizeofCmsghdr)
		if next > len(oob) {
			break
		}
		oob = oob[next:]
	}
	return p, true
}

// Send sends a VRRP message from src (the interface's primary address, or
// for IPv6 its link-local address) to dst (the multicast group or a unicast
// peer) out of this interface with TTL 255.
func (s *Socket) Send(payload []byte, src, dst netip.Addr) error {
	if len(payload) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.woob = s.woob[:0]
	s.wname = [unix.SizeofSockaddrInet6]byte{}
	var namelen int
	if s.v6 {
		var pi [20]byte
		src16 := src.As16()
		copy(pi[:16], src16[:])
		binary.NativeEndian.PutUint32(pi[16:], uint32(s.ifi.Index))
		s.woob = appendCmsg(s.woob, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, pi[:])
		// struct sockaddr_in6: family, port, flowinfo, address, scope id.
		binary.NativeEndian.PutUint16(s.wname[0:2], unix.AF_INET6)
		d := dst.As16()
		copy(s.wname[8:24], d[:])
		if dst.IsLinkLocalUnicast() || dst.IsLinkLocalMulticast() {
			binary.NativeEndian.PutUint32(s.wname[24:28], uint32(s.ifi.Index))
		}
		namelen = unix.SizeofSockaddrInet6
	} else {
		var pi [12]byte
		binary.NativeEndian.PutUint32(pi[0:4], uint32(s.ifi.Index))
		src4 := src.As4()
		copy(pi[4:8], src4[:]) // ipi_spec_dst: the source address to use
		s.woob = appendCmsg(s.woob, unix.IPPROTO_IP, unix.IP_PKTINFO, pi[:])
		// struct sockaddr_in: family, port, address.
		binary.NativeEndian.PutUint16(s.wname[0:2], unix.AF_INET)
		d := dst.As4()
		copy(s.wname[4:8], d[:])
		namelen = unix.SizeofSockaddrInet4
	}
	s.wiov.Base = &payload[0]
	s.wiov.SetLen(len(payload))
	s.wmsg = unix.Msghdr{Name: &s.wname[0], Namelen: uint32(namelen), Iov: &s.wiov, Control: &s.woob[0]}
	s.wmsg.SetIovlen(1)
	s.wmsg.SetControllen(len(s.woob))
	s.werr = nil
	err := s.rc.Write(s.writeFn)
	s.wiov.Base = nil // do not keep the caller's buffer alive
	if err != nil {
		return err
	}
	if s.werr != nil {
		return fmt.Errorf("send VRRP from %v to %v on %s: %w", src, dst, s.ifi.Name, s.werr)
	}
	return nil
}

func (s *Socket) sendmsg(fd uintptr) bool {
	_, _, errno := unix.Syscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&s.wmsg)), unix.MSG_DONTWAIT)
	if errno == unix.EAGAIN || errno == unix.EWOULDBLOCK {
		return false
	}
	s.werr = nil
	if errno != 0 {
		s.werr = errno
	}
	return true
}

func appendCmsg(b []byte, level, typ int, data []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, unix.CmsgSpace(len(data)))...)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[start]))
	h.Level, h.Type = int32(level), int32(typ)
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[start+unix.SizeofCmsghdr:], data)
	return b
}
