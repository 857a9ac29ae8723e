package lab

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failover-ha/failover/internal/pcapfile"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// newLab builds a lab for t and closes it when t ends.
func newLab(t *testing.T, hosts, clients int) *Lab {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opt := Options{Hosts: hosts, Clients: clients}
	if testing.Verbose() {
		opt.Logf = t.Logf
	}
	start := time.Now()
	l, err := New(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("New(%d hosts, %d clients) took %v", hosts, clients, time.Since(start))
	t.Cleanup(func() {
		start := time.Now()
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		t.Logf("Close took %v", time.Since(start))
	})
	return l
}

// ping sends one echo request and waits up to wait seconds for the reply.
func ping(h *Host, dst netip.Addr, wait int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := h.Run(ctx, "ping", "-n", "-c1", "-W"+fmt.Sprint(wait), dst.String())
	return err
}

// mustPing allows 3 s: after a cut, the neighbour entry may be INCOMPLETE
// and the kernel only retries ARP/ND once a second.
func mustPing(t *testing.T, h *Host, dst netip.Addr) {
	t.Helper()
	if err := ping(h, dst, 3); err != nil {
		t.Fatalf("%s -> %s: %v", h.Name, dst, err)
	}
}

func mustNotPing(t *testing.T, h *Host, dst netip.Addr) {
	t.Helper()
	if err := ping(h, dst, 1); err == nil {
		t.Fatalf("%s -> %s: ping succeeded, want it dropped", h.Name, dst)
	}
}

func labNamespaces(t *testing.T, substr string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	var found []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.Contains(f[0], substr) {
			found = append(found, f[0])
		}
	}
	return found
}

// icmpEcho matches an ICMP echo request (typ 8) or reply (0) from src to dst.
func icmpEcho(src, dst netip.Addr, typ byte) func(pcapfile.Frame) bool {
	return func(f pcapfile.Frame) bool {
		p, ok := pcapfile.ParseEthernetIP(f.Data)
		return ok && p.Protocol == 1 && p.Src == src && p.Dst == dst && len(p.Payload) > 0 && p.Payload[0] == typ
	}
}

func TestLab(t *testing.T) {
	l := newLab(t, 2, 1)
	h1, h2, c1 := l.Hosts[0], l.Hosts[1], l.Clients[0]

	if got, want := h1.IPv4, netip.MustParsePrefix("192.0.2.11/24"); got != want {
		t.Errorf("h1.IPv4 = %v, want %v", got, want)
	}
	if got, want := h1.IPv6, netip.MustParsePrefix("2001:db8::b/64"); got != want {
		t.Errorf("h1.IPv6 = %v, want %v", got, want)
	}
	if got, want := c1.IPv4, netip.MustParsePrefix("192.0.2.201/24"); got != want {
		t.Errorf("c1.IPv4 = %v, want %v", got, want)
	}
	if got, want := h1.LinkLocal, netip.MustParseAddr("fe80::fa:ff:fe00:b"); got != want {
		t.Errorf("h1.LinkLocal = %v, want %v", got, want)
	}
	if h1.NS != l.ID+"-h1" || c1.NS != l.ID+"-c1" || l.Switch != l.ID+"-sw" || h2.Port != "h2" || h1.Iface != "eth0" {
		t.Errorf("names: %s %s %s %s %s", h1.NS, c1.NS, l.Switch, h2.Port, h1.Iface)
	}
	if l.Host("c1") != c1 || l.Host("h3") != nil {
		t.Error("Lab.Host lookup")
	}

	capture, err := l.Capture()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ping and capture", func(t *testing.T) {
		before := time.Now()
		mustPing(t, c1, h1.IPv4.Addr())
		after := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		// The ARP request is a broadcast: it must be on br0 too.
		arp, err := capture.Wait(ctx, func(f pcapfile.Frame) bool {
			return len(f.Data) >= 42 && binary.BigEndian.Uint16(f.Data[12:14]) == 0x0806 &&
				bytes.Equal(f.Data[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) && bytes.Equal(f.Data[6:12], c1.MAC)
		})
		if err != nil {
			t.Fatalf("ARP broadcast from c1: %v", err)
		}
		req, err := capture.Wait(ctx, icmpEcho(c1.IPv4.Addr(), h1.IPv4.Addr(), 8))
		if err != nil {
			t.Fatalf("echo request: %v", err)
		}
		rep, err := capture.Wait(ctx, icmpEcho(h1.IPv4.Addr(), c1.IPv4.Addr(), 0))
		if err != nil {
			t.Fatalf("echo reply: %v", err)
		}
		for _, f := range []pcapfile.Frame{arp, req, rep} {
			if f.Time.Before(before.Add(-time.Millisecond)) || f.Time.After(after.Add(time.Millisecond)) {
				t.Errorf("kernel timestamp %v outside [%v, %v]", f.Time, before, after)
			}
		}
		if !arp.Time.Before(req.Time) || !req.Time.Before(rep.Time) {
			t.Errorf("timestamps out of order: ARP %v, request %v, reply %v", arp.Time, req.Time, rep.Time)
		}
		// Unicast frames are seen once each, not once per port.
		n := 0
		for _, f := range capture.Frames() {
			if icmpEcho(c1.IPv4.Addr(), h1.IPv4.Addr(), 8)(f) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("echo request captured %d times, want 1", n)
		}

		mac, state, err := c1.Neighbor(h1.IPv4.Addr())
		if err != nil || !bytes.Equal(mac, h1.MAC) {
			t.Errorf("c1 neighbour %v = %v %s, %v; want %v", h1.IPv4.Addr(), mac, state, err, h1.MAC)
		}
		mustPing(t, c1, h1.IPv6.Addr())
		mac, state, err = c1.Neighbor(h1.IPv6.Addr())
		if err != nil || !bytes.Equal(mac, h1.MAC) {
			t.Errorf("c1 neighbour %v = %v %s, %v; want %v", h1.IPv6.Addr(), mac, state, err, h1.MAC)
		}
		// The Neighbor Solicitation goes to a solicited-node multicast group.
		if _, err := capture.Wait(ctx, func(f pcapfile.Frame) bool {
			p, ok := pcapfile.ParseEthernetIP(f.Data)
			return ok && p.Protocol == 58 && len(p.Payload) > 0 && p.Payload[0] == 135 && p.Dst.IsMulticast() && p.Src == c1.IPv6.Addr()
		}); err != nil {
			t.Errorf("multicast NS from c1: %v", err)
		}
		if err := c1.FlushNeighbors(); err != nil {
			t.Fatal(err)
		}
		for _, a := range []netip.Addr{h1.IPv4.Addr(), h1.IPv6.Addr()} {
			if mac, state, err := c1.Neighbor(a); err != nil || mac != nil {
				t.Errorf("after flush, c1 neighbour %v = %v %s, %v; want none", a, mac, state, err)
			}
		}
		path := filepath.Join(t.TempDir(), "lab.pcap")
		if err := capture.WritePcap(path); err != nil {
			t.Fatal(err)
		}
		if back, err := pcapfile.ReadFile(path); err != nil || len(back) < 3 {
			t.Errorf("pcap read back: %d frames, %v", len(back), err)
		}
	})

	t.Run("VRRP multicast, GARP and NA frames", func(t *testing.T) {
		testAnnouncements(t, l, capture)
	})

	t.Run("isolate", func(t *testing.T) {
		if err := l.Isolate(h1); err != nil {
			t.Fatal(err)
		}
		mustNotPing(t, c1, h1.IPv4.Addr())
		mustPing(t, c1, h2.IPv4.Addr())
		if err := l.Heal(); err != nil {
			t.Fatal(err)
		}
		mustPing(t, c1, h1.IPv4.Addr())
	})

	t.Run("loss", func(t *testing.T) {
		if err := l.Loss(h1, 100); err != nil {
			t.Fatal(err)
		}
		mustNotPing(t, c1, h1.IPv4.Addr())
		mustPing(t, c1, h2.IPv4.Addr())
		if err := l.Loss(h1, 0); err != nil {
			t.Fatal(err)
		}
		mustPing(t, c1, h1.IPv4.Addr())
		if err := l.Loss(h1, 100); err != nil {
			t.Fatal(err)
		}
		if err := l.Heal(); err != nil {
			t.Fatal(err)
		}
		mustPing(t, c1, h1.IPv4.Addr())
		if err := l.Loss(h1, 101); err == nil {
			t.Error("Loss(101) succeeded")
		}
	})

	t.Run("partial loss", func(t *testing.T) {
		// 30% each way: some of 20 quick pings must be lost, some must pass
		// (each outcome fails with p < 1e-5). Resolve h2 first so that a
		// lost ARP exchange cannot swallow the whole burst.
		mustPing(t, c1, h2.IPv4.Addr())
		if err := l.Loss(h2, 30); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, _ := c1.Run(ctx, "ping", "-n", "-q", "-c20", "-i0.01", "-W0.2", h2.IPv4.Addr().String())
		if err := l.Heal(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "20 packets transmitted") || strings.Contains(out, " 0% packet loss") || strings.Contains(out, " 100% packet loss") {
			t.Errorf("30%% loss each way, got:\n%s", out)
		}
	})

	t.Run("partition", func(t *testing.T) {
		if err := l.Partition([]*Host{h1}, []*Host{h2}); err != nil {
			t.Fatal(err)
		}
		mustNotPing(t, h1, h2.IPv4.Addr())
		mustPing(t, c1, h1.IPv4.Addr())
		mustPing(t, c1, h2.IPv4.Addr())
		if err := l.Partition([]*Host{h1, h2}, []*Host{c1}); err != nil {
			t.Fatal(err) // replaces the previous one
		}
		mustPing(t, h1, h2.IPv6.Addr())
		if err := l.Partition([]*Host{h1}, []*Host{h1}); err == nil {
			t.Error("host in two groups accepted")
		}
		if err := l.Heal(); err != nil {
			t.Fatal(err)
		}
		mustPing(t, c1, h1.IPv4.Addr())
	})

	t.Run("Do", func(t *testing.T) {
		var found bool
		var recv, send net.PacketConn
		err := h1.Do(func() error {
			ifs, err := net.Interfaces()
			if err != nil {
				return err
			}
			for _, ifi := range ifs {
				if ifi.Name == "eth0" && bytes.Equal(ifi.HardwareAddr, h1.MAC) {
					found = true
				}
			}
			// Binding h1's address only works inside h1.
			recv, err = net.ListenPacket("udp4", netip.AddrPortFrom(h1.IPv4.Addr(), 0).String())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		defer recv.Close()
		if !found {
			t.Error("eth0 with h1's MAC not found inside h1")
		}
		if err := c1.Do(func() (err error) {
			send, err = net.ListenPacket("udp4", ":0")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer send.Close()
		if _, err := send.WriteTo([]byte("hello"), recv.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		recv.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 16)
		n, from, err := recv.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "hello" || !strings.HasPrefix(from.String(), c1.IPv4.Addr().String()+":") {
			t.Errorf("UDP c1 -> h1 via sockets made in Do: %q from %v, %v", buf[:n], from, err)
		}
		// The calling goroutine is unaffected.
		if _, err := net.InterfaceByName("h1"); err == nil {
			t.Error("switch port h1 visible in the test's namespace")
		}
		if err := h1.Do(func() error { return errors.New("boom") }); err == nil || err.Error() != "boom" {
			t.Errorf("Do error = %v, want boom", err)
		}
		func() {
			defer func() {
				if r := recover(); r != "p" {
					t.Errorf("recovered %v, want p", r)
				}
			}()
			_ = h1.Do(func() error { panic("p") })
		}()
	})

	t.Run("link down and up", func(t *testing.T) {
		if err := h1.LinkDown(); err != nil {
			t.Fatal(err)
		}
		var state netlink.LinkOperState
		if err := doInNS(l.Switch, func() error {
			link, err := netlink.LinkByName(h1.Port)
			if err == nil {
				state = link.Attrs().OperState
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if state == netlink.OperUp {
			t.Errorf("switch port %s still up after h1.LinkDown", h1.Port)
		}
		if ok, err := h1.HasAddr(h1.IPv6.Addr()); !ok || err != nil {
			t.Errorf("static IPv6 gone after LinkDown: %v %v", ok, err)
		}
		if err := h1.LinkUp(); err != nil {
			t.Fatal(err)
		}
		for _, a := range []netip.Addr{h1.IPv4.Addr(), h1.IPv6.Addr(), h1.LinkLocal} {
			if ok, err := h1.HasAddr(a); !ok || err != nil {
				t.Errorf("HasAddr(%v) after LinkUp = %v, %v", a, ok, err)
			}
		}
		if ok, _ := h1.HasAddr(VIP4(0)); ok {
			t.Error("h1 has a VIP it was never given")
		}
		mustPing(t, c1, h1.IPv6.Addr())

		if err := h2.CarrierDown(); err != nil {
			t.Fatal(err)
		}
		mustNotPing(t, c1, h2.IPv4.Addr())
		if err := h2.CarrierUp(); err != nil {
			t.Fatal(err)
		}
		mustPing(t, c1, h2.IPv4.Addr())
	})

	frames := capture.Stop()
	if len(frames) == 0 || capture.Err() != nil || capture.Drops() != 0 {
		t.Errorf("capture: %d frames, err %v, %d drops", len(frames), capture.Err(), capture.Drops())
	}
	if got := capture.Stop(); len(got) != len(frames) {
		t.Errorf("second Stop: %d frames, want %d", len(got), len(frames))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := capture.Wait(ctx, func(pcapfile.Frame) bool { return false }); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on stopped capture = %v, want a prompt error", err)
	}
}

// testAnnouncements sends what a new VRRP master sends (an advert to
// 224.0.0.18, a gratuitous ARP, an unsolicited NA to ff02::1) from h1's
// eth0 and checks that the capture and h2 both see them, the frame helpers
// recognise them, and that isolating h1 hides them from h2 but not from the
// capture.
func testAnnouncements(t *testing.T, l *Lab, capture *Capture) {
	h1, h2 := l.Hosts[0], l.Hosts[1]
	vmac := net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, 0x33}
	vip4, vip6 := VIP4(0), VIP6(0)

	advert := pcapfile.BuildEthernetIP([6]byte(vmac), pcapfile.IPPacket{
		Src: h1.IPv4.Addr(), Dst: netip.MustParseAddr("224.0.0.18"), TTL: 255, Protocol: 112,
		Payload: []byte{0x31, 0x33, 100, 1, 0, 100, 0, 0, 192, 0, 2, 100},
	})
	garp := append([]byte(nil), "\xff\xff\xff\xff\xff\xff"...)
	garp = append(garp, vmac...)
	garp = append(garp, 0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1)
	garp = append(garp, vmac...)
	garp = append(garp, vip4.AsSlice()...)
	garp = append(garp, 0, 0, 0, 0, 0, 0)
	garp = append(garp, vip4.AsSlice()...)
	na := []byte{136, 0, 0, 0, 0x20, 0, 0, 0}
	na = append(na, vip6.AsSlice()...)
	na = append(na, 2, 1)
	na = append(na, vmac...)
	naFrame := pcapfile.BuildEthernetIP([6]byte(vmac), pcapfile.IPPacket{
		Src: h1.LinkLocal, Dst: netip.MustParseAddr("ff02::1"), TTL: 255, Protocol: 58, Payload: na,
	})

	var tx, rx *packet.Conn
	if err := h1.Do(func() error {
		ifi, err := net.InterfaceByName(h1.Iface)
		if err == nil {
			tx, err = packet.Listen(ifi, packet.Raw, 0, nil)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if err := h2.Do(func() error {
		ifi, err := net.InterfaceByName(h2.Iface)
		if err == nil {
			rx, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	// h2 receives an advert from h1 within timeout, or not.
	h2Gets := func(timeout time.Duration) bool {
		rx.SetReadDeadline(time.Now().Add(timeout))
		buf := make([]byte, 2048)
		for {
			n, _, err := rx.ReadFrom(buf)
			if err != nil {
				return false
			}
			if p, ok := IsVRRP(buf[:n]); ok && p.Src == h1.IPv4.Addr() {
				return true
			}
		}
	}
	send := func(frames ...[]byte) {
		for _, f := range frames {
			if _, err := tx.WriteTo(f, &packet.Addr{HardwareAddr: net.HardwareAddr(f[0:6])}); err != nil {
				t.Fatal(err)
			}
		}
	}

	mark := capture.Mark()
	send(advert, garp, naFrame)
	if !h2Gets(2 * time.Second) {
		t.Error("h2 did not receive h1's VRRP multicast")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	f, err := capture.WaitFrom(ctx, mark, func(f pcapfile.Frame) bool { _, ok := IsVRRP(f.Data); return ok })
	if err != nil {
		t.Fatalf("VRRP advert not captured on br0: %v", err)
	}
	if p, _ := IsVRRP(f.Data); p.Src != h1.IPv4.Addr() || p.TTL != 255 || len(p.Payload) != 12 {
		t.Errorf("captured advert %+v", p)
	}
	if _, err := capture.WaitFrom(ctx, mark, func(f pcapfile.Frame) bool {
		ip, mac, ok := IsGratuitousARP(f.Data)
		return ok && ip == vip4 && bytes.Equal(mac, vmac)
	}); err != nil {
		t.Errorf("gratuitous ARP not captured: %v", err)
	}
	if _, err := capture.WaitFrom(ctx, mark, func(f pcapfile.Frame) bool {
		target, ok := IsUnsolicitedNA(f.Data)
		return ok && target == vip6
	}); err != nil {
		t.Errorf("unsolicited NA not captured: %v", err)
	}
	n := 0
	for _, f := range capture.Frames()[mark:] {
		if _, ok := IsVRRP(f.Data); ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("flooded advert captured %d times, want once", n)
	}

	// An isolated host's frames still show in the capture but reach nobody.
	if err := l.Isolate(h1); err != nil {
		t.Fatal(err)
	}
	mark = capture.Mark()
	send(advert)
	if h2Gets(300 * time.Millisecond) {
		t.Error("h2 received an advert from isolated h1")
	}
	if _, err := capture.WaitFrom(ctx, mark, func(f pcapfile.Frame) bool { _, ok := IsVRRP(f.Data); return ok }); err != nil {
		t.Errorf("isolated h1's advert not captured: %v", err)
	}
	if err := l.Heal(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseKillsAndCleans(t *testing.T) {
	l := newLab(t, 1, 0)
	h1 := l.Hosts[0]
	logPath := filepath.Join(t.TempDir(), "sleep.log")
	sleep, err := h1.Start("sleep", []string{"1000"}, logPath)
	if err != nil {
		t.Fatal(err)
	}
	// A child ignoring SIGTERM in its own process group is SIGKILLed.
	stubborn, err := h1.Start("sh", []string{"-c", "trap '' TERM; echo ready; sleep 1000 & wait"}, logPath)
	if err != nil {
		t.Fatal(err)
	}
	// Not tracked: started with Command, killed because it is in h1.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	untracked := h1.Command(ctx, "sleep", "1000")
	if err := untracked.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { untracked.Wait(); close(exited) }()

	quick, err := h1.Start("sh", []string{"-c", "echo hi; exit 3"}, logPath)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := quick.Wait(5 * time.Second); code != 3 || err != nil {
		t.Errorf("quick.Wait = %d, %v; want 3, nil", code, err)
	}
	if _, err := sleep.Wait(10 * time.Millisecond); err == nil {
		t.Error("Wait on sleep 1000 did not time out")
	}
	if !sleep.Running() || !stubborn.Running() {
		t.Fatal("processes not running")
	}
	if err := sleep.Signal(unix.Signal(0)); err != nil {
		t.Errorf("Signal(0): %v", err)
	}
	if out, err := h1.Run(context.Background(), "ip", "-br", "addr", "show", "dev", "eth0"); err != nil || !strings.Contains(out, "192.0.2.11/24") {
		t.Errorf("Run: %q, %v", out, err)
	}
	if _, err := h1.Run(context.Background(), "false"); err == nil || !strings.Contains(err.Error(), h1.NS) {
		t.Errorf("Run(false) error %v should name the namespace", err)
	}

	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close with a SIGTERM-ignoring process took %v", time.Since(start))
	for _, p := range []*Proc{sleep, stubborn} {
		if p.Running() {
			t.Errorf("%v still running after Close", p)
		}
		if code, err := p.Wait(time.Second); code != -1 || err != nil {
			t.Errorf("%v: Wait after Close = %d, %v", p, code, err)
		}
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Error("untracked process in h1 survived Close")
	}
	if left := labNamespaces(t, l.ID); len(left) > 0 {
		t.Errorf("namespaces left after Close: %v", left)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := h1.Start("true", nil, ""); err == nil {
		t.Error("Start after Close succeeded")
	}
	if err := sleep.Kill(); err != nil {
		t.Errorf("Kill after exit: %v", err)
	}
	log, _ := os.ReadFile(logPath)
	if !strings.Contains(string(log), "hi\n") || !strings.Contains(string(log), "ready\n") {
		t.Errorf("log %q lacks the processes' output", log)
	}
}

func TestProcKill(t *testing.T) {
	l := newLab(t, 1, 0)
	p, err := l.Hosts[0].Start("sleep", []string{"1000"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if p.Running() {
		t.Error("running after Kill")
	}
	if err := p.Signal(unix.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after exit = %v, want ErrProcessDone", err)
	}
}

func TestNewCleansUpAfterFailure(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	prefix := fmt.Sprintf("%s%dx", nsPrefix, os.Getpid())
	for _, d := range []time.Duration{0, 2 * time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond, 60 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		l, err := New(ctx, Options{Hosts: 3, Clients: 1})
		cancel()
		if err == nil {
			t.Logf("timeout %v: New succeeded", d)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Logf("timeout %v: %.80s", d, err)
		}
		if left := labNamespaces(t, prefix); len(left) > 0 {
			t.Fatalf("timeout %v: namespaces left behind: %v", d, left)
		}
	}
	if _, err := New(context.Background(), Options{Hosts: 0}); err == nil {
		t.Error("New with 0 hosts succeeded")
	}
}

func TestSweep(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadNS := fmt.Sprintf("%s%dxbeef-sw", nsPrefix, dead.Process.Pid)
	liveNS := fmt.Sprintf("%s%dxbeef-h1", nsPrefix, os.Getpid())
	for _, ns := range []string{deadNS, liveNS} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
		}
	}
	t.Cleanup(func() { deleteNS(deadNS); deleteNS(liveNS) })
	// A process left running inside the dead lab's namespace.
	orphan := exec.Command("ip", "netns", "exec", deadNS, "sleep", "1000")
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { orphan.Wait(); close(exited) }()
	time.Sleep(50 * time.Millisecond) // let ip netns exec enter the namespace

	if err := Sweep(); err != nil {
		t.Fatal(err)
	}
	if left := labNamespaces(t, deadNS); len(left) > 0 {
		t.Errorf("Sweep left %v", left)
	}
	if left := labNamespaces(t, liveNS); len(left) != 1 {
		t.Errorf("Sweep removed the namespace of a live process")
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Error("process in swept namespace survived")
	}
}

func TestParseNSName(t *testing.T) {
	for name, want := range map[string]int{
		"fo123xabcd-sw":      123,
		"fo123xabcd-h1":      123,
		"fo4194304x0f0f-c54": 4194304,
		"fo123xabcd-h0":      0,
		"fo123xABCD-sw":      0,
		"fo123xabc-sw":       0,
		"fo0123xabcd-sw":     0,
		"fox abcd-sw":        0,
		"fo123xabcd-x1":      0,
		"fo123xabcd-sw2":     0,
		"foo123xabcd-sw":     0,
		"myns":               0,
		"fo123xabcd-h01":     0,
	} {
		pid, ok := parseNSName(name)
		if ok != (want != 0) || pid != want {
			t.Errorf("parseNSName(%q) = %d, %v; want %d", name, pid, ok, want)
		}
	}
}

func TestAddresses(t *testing.T) {
	cases := []struct{ got, want string }{
		{HostIPv4(1).String(), "192.0.2.11/24"},
		{HostIPv6(1).String(), "2001:db8::b/64"},
		{HostIPv4(MaxHosts).String(), "192.0.2.99/24"},
		{ClientIPv4(1).String(), "192.0.2.201/24"},
		{ClientIPv6(1).String(), "2001:db8::c9/64"},
		{ClientIPv4(MaxClients).String(), "192.0.2.254/24"},
		{VIP4(0).String(), "192.0.2.100"},
		{VIP4(99).String(), "192.0.2.199"},
		{VIP6(0).String(), "2001:db8::100"},
		{VIP6(255).String(), "2001:db8::1ff"},
		{macFor(11, 0).String(), "02:fa:00:00:00:0b"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
	for _, bad := range []func(){func() { VIP4(100) }, func() { VIP6(-1) }} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("out-of-range VIP did not panic")
				}
			}()
			bad()
		}()
	}
}

func TestFaultRules(t *testing.T) {
	f := faults{
		partition: [][]string{{"h1"}, {"h2", "c1"}},
		isolated:  map[string]bool{"h3": true},
		loss:      map[string]int{"h1": 30},
	}
	want := `add table bridge lab
delete table bridge lab
table bridge lab {
	chain prerouting {
		type filter hook prerouting priority 0; policy accept;
		meta mark set numgen random mod 100
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		iifname "h3" drop
		oifname "h3" drop
		iifname { "h1" } oifname { "h2", "c1" } drop
		iifname { "h2", "c1" } oifname { "h1" } drop
		iifname "h1" meta mark < 30 drop
		oifname "h1" numgen random mod 100 < 30 drop
	}
}
`
	if got := f.render(); got != want {
		t.Errorf("render:\n%s\nwant:\n%s", got, want)
	}
	if got := (faults{}).render(); got != "add table bridge lab\ndelete table bridge lab\n" {
		t.Errorf("empty render: %q", got)
	}
}
