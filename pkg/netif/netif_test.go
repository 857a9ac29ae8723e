package netif

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/failover-ha/failover/internal/pcapfile"
	"github.com/failover-ha/failover/pkg/lab"
	"github.com/failover-ha/failover/vrrp"
)

func newLab(t *testing.T, hosts int) *lab.Lab {
	t.Helper()
	if err := lab.BuildAvailable(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := lab.New(ctx, lab.Options{Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// in runs fn inside h's namespace and fails the test on error.
func in(t *testing.T, h *lab.Host, fn func() error) {
	t.Helper()
	if err := h.Do(fn); err != nil {
		t.Fatalf("%s: %v", h.Name, err)
	}
}

// An advert sent on one host arrives on the other with TTL 255, the
// sender's primary address, the interface index, and decodes.
func TestSocketRoundTrip(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "ipv4", true: "ipv6"}[v6], func(t *testing.T) {
			l := newLab(t, 2)
			h1, h2 := l.Hosts[0], l.Hosts[1]
			var tx, rx *Socket
			var src netip.Addr
			in(t, h1, func() (err error) {
				if tx, err = Listen("eth0", v6); err != nil {
					return err
				}
				src, err = PrimaryAddress("eth0", v6, nil)
				return err
			})
			defer tx.Close()
			var ifindex int
			in(t, h2, func() (err error) {
				ifindex = Link("eth0").Index
				rx, err = Listen("eth0", v6)
				return err
			})
			defer rx.Close()
			want := h1.IPv4.Addr()
			dst, vip := vrrp.MulticastIPv4, netip.MustParseAddr("192.0.2.100")
			if v6 {
				want, dst, vip = h1.LinkLocal, vrrp.MulticastIPv6, netip.MustParseAddr("2001:db8::100")
			}
			if src != want {
				t.Fatalf("primary address %v, want %v", src, want)
			}
			a := vrrp.Advert{Version: 3, VRID: 7, Priority: 99, MaxAdvertInt: 100, Addrs: []netip.Addr{vip}}
			b, err := a.Append(nil, src, dst, vrrp.ChecksumPseudoHeader)
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan Packet, 1)
			go func() {
				p, err := rx.Read()
				if err == nil {
					p.Payload = bytes.Clone(p.Payload)
				}
				got <- p
			}()
			if err := tx.Send(b, src, dst); err != nil {
				t.Fatal(err)
			}
			select {
			case p := <-got:
				if p.Src != src || p.Dst != dst || p.TTL != 255 || p.IfIndex != ifindex || !bytes.Equal(p.Payload, b) {
					t.Errorf("received %+v, want src %v dst %v ttl 255 ifindex %d payload %x", p, src, dst, ifindex, b)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("advert not received")
			}
		})
	}
}

// Receiving allocates nothing per packet.
func TestSocketReadAllocatesNothing(t *testing.T) {
	l := newLab(t, 2)
	h1, h2 := l.Hosts[0], l.Hosts[1]
	var tx, rx *Socket
	in(t, h1, func() (err error) { tx, err = Listen("eth0", false); return err })
	defer tx.Close()
	in(t, h2, func() (err error) { rx, err = Listen("eth0", false); return err })
	defer rx.Close()
	src := h1.IPv4.Addr()
	a := vrrp.Advert{Version: 3, VRID: 7, Priority: 99, MaxAdvertInt: 100, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
	b, _ := a.Append(nil, src, vrrp.MulticastIPv4, vrrp.ChecksumPseudoHeader)
	const n = 200
	for i := 0; i < n+1; i++ {
		if err := tx.Send(b, src, vrrp.MulticastIPv4); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := rx.Read(); err != nil { // warm up
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(n-1, func() {
		if _, err := rx.Read(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Read", allocs)
	}
}

// Adding and removing are idempotent; our addresses are recognised as ours;
// the primary address skips VIPs.
func TestAddresses(t *testing.T) {
	l := newLab(t, 1)
	h := l.Hosts[0]
	vips := []netip.Prefix{netip.MustParsePrefix("192.0.2.100/24"), netip.MustParsePrefix("2001:db8::100/64")}
	in(t, h, func() error {
		a, err := NewAddresses() // bound to the namespace it is opened in
		if err != nil {
			return err
		}
		defer a.Close()
		for i := 0; i < 2; i++ {
			if err := a.Add("eth0", vips); err != nil {
				return err
			}
		}
		st, err := a.State("eth0", vips)
		if err != nil {
			return err
		}
		for _, s := range st {
			if !s.Present || !s.Ours {
				t.Errorf("%v after add: %+v", s.Prefix, s)
			}
		}
		if p, err := a.Interface("eth0", vips).Primary(false); err != nil || p != h.IPv4.Addr() {
			t.Errorf("primary %v %v, want %v", p, err, h.IPv4.Addr())
		}
		if st := a.Interface("eth0", vips); !st.Link.Up || st.Primary6 != h.LinkLocal {
			t.Errorf("interface state %+v", st)
		}
		if st := a.Interface("nope0", nil); st.Link.Exists || st.Err4 == nil {
			t.Errorf("missing interface: %+v", st)
		}
		for i := 0; i < 2; i++ {
			if err := a.Remove("eth0", vips); err != nil {
				return err
			}
		}
		st, err = a.State("eth0", vips)
		if err != nil {
			return err
		}
		for _, s := range st {
			if s.Present {
				t.Errorf("%v still present after remove", s.Prefix)
			}
		}
		return a.Remove("nonexistent0", vips) // a vanished interface is not an error
	})
	out, err := h.Run(context.Background(), "ip", "-4", "addr", "show", "dev", "eth0")
	if err != nil || bytes.Contains([]byte(out), []byte("192.0.2.100")) {
		t.Errorf("ip addr after remove: %v\n%s", err, out)
	}
}

// The announcer's gratuitous ARP and neighbour advertisement reach the wire
// in the forms clients accept.
func TestAnnouncer(t *testing.T) {
	l := newLab(t, 1)
	h := l.Hosts[0]
	capt, err := l.Capture()
	if err != nil {
		t.Fatal(err)
	}
	defer capt.Stop()
	v4, v6 := netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("2001:db8::100")
	ann := NewAnnouncer("eth0")
	defer ann.Close()
	in(t, h, func() error {
		return ann.Announce([]netip.Prefix{netip.PrefixFrom(v4, 24), netip.PrefixFrom(v6, 64)})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := capt.Wait(ctx, func(f pcapfile.Frame) bool {
		ip, mac, ok := lab.IsGratuitousARP(f.Data)
		return ok && ip == v4 && bytes.Equal(mac, h.MAC)
	}); err != nil {
		t.Errorf("no gratuitous ARP: %v", err)
	}
	if _, err := capt.Wait(ctx, func(f pcapfile.Frame) bool {
		target, ok := lab.IsUnsolicitedNA(f.Data)
		return ok && target == v6
	}); err != nil {
		t.Errorf("no unsolicited NA: %v", err)
	}
}

func TestLinkState(t *testing.T) {
	l := newLab(t, 1)
	h := l.Hosts[0]
	check := func(want bool) {
		t.Helper()
		in(t, h, func() error {
			if st := Link("eth0"); !st.Exists || st.Up != want {
				t.Errorf("link state %+v, want up=%v", st, want)
			}
			if st := Link("nope0"); st.Exists || st.String() != "interface nope0 not found" {
				t.Errorf("missing interface: %+v", st)
			}
			return nil
		})
	}
	check(true)
	if err := h.CarrierDown(); err != nil {
		t.Fatal(err)
	}
	check(false)
	if err := h.CarrierUp(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	check(true)
}

// Sending allocates nothing per advert either.
func TestSocketSendAllocatesNothing(t *testing.T) {
	l := newLab(t, 1)
	h := l.Hosts[0]
	var tx *Socket
	in(t, h, func() (err error) { tx, err = Listen("eth0", false); return err })
	defer tx.Close()
	src := h.IPv4.Addr()
	a := vrrp.Advert{Version: 3, VRID: 7, Priority: 99, MaxAdvertInt: 100, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
	b, _ := a.Append(nil, src, vrrp.MulticastIPv4, vrrp.ChecksumPseudoHeader)
	if err := tx.Send(b, src, vrrp.MulticastIPv4); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := tx.Send(b, src, vrrp.MulticastIPv4); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per Send", n)
	}
}
