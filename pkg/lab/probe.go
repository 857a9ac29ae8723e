package lab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// ProbePort is the UDP port responders listen on.
const ProbePort = 7007

// probe wire format: 8-byte sequence number, 8-byte send time (UnixNano);
// replies echo both and append the responder's host name.
const probeLen = 16

// Responder answers UDP probes inside a host's namespace with the host's
// name, so a client can tell which host holds the address it probes.
type Responder struct {
	conn *net.UDPConn
	done chan struct{}
}

// StartResponder listens on ProbePort (IPv4 and IPv6) in h's namespace and
// answers whatever address was probed, as a service bound to a wildcard
// address does. Replies leave from the host's own address; the prober
// accepts them from any source and identifies the host by the payload.
func (h *Host) StartResponder() (*Responder, error) {
	var conn *net.UDPConn
	err := h.Do(func() error {
		c, err := net.ListenUDP("udp", &net.UDPAddr{Port: ProbePort})
		conn = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("responder on %s: %w", h.Name, err)
	}
	r := &Responder{conn: conn, done: make(chan struct{})}
	go r.serve(h.Name)
	return r, nil
}

func (r *Responder) serve(name string) {
	defer close(r.done)
	buf := make([]byte, 64)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if n < probeLen {
			continue
		}
		reply := append(buf[:probeLen:probeLen], name...)
		r.conn.WriteToUDPAddrPort(reply, from)
	}
}

// Stop closes the responder.
func (r *Responder) Stop() {
	r.conn.Close()
	<-r.done
}

// Reply is one answered probe.
type Reply struct {
	Seq      uint64
	Sent     time.Time
	Received time.Time
	From     string // responder's host name
}

// Prober sends a UDP probe to a target every interval from a client
// namespace and records every reply.
type Prober struct {
	conn     *net.UDPConn
	target   netip.AddrPort
	interval time.Duration
	precise  bool // see StartPreciseProber
	stop     chan struct{}
	wg       sync.WaitGroup

	mu      sync.Mutex
	sent    []time.Time // index = sequence number
	replies map[uint64]Reply
}

// StartProber starts probing target (a VIP, port ProbePort) from h every
// interval until Stop.
func (h *Host) StartProber(target netip.Addr, interval time.Duration) (*Prober, error) {
	return h.startProber(target, interval, false)
}

func (h *Host) startProber(target netip.Addr, interval time.Duration, precise bool) (*Prober, error) {
	var conn *net.UDPConn
	err := h.Do(func() error {
		c, err := net.ListenUDP("udp", nil)
		conn = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("prober on %s: %w", h.Name, err)
	}
	p := &Prober{conn: conn, target: netip.AddrPortFrom(target, ProbePort), interval: interval, precise: precise,
		stop: make(chan struct{}), replies: map[uint64]Reply{}}
	p.wg.Add(2)
	if precise {
		go p.sendPrecise()
	} else {
		go p.send()
	}
	go p.receive()
	return p, nil
}

func (p *Prober) send() {
	defer p.wg.Done()
	t := time.NewTicker(p.interval)
	defer t.Stop()
	var msg [probeLen]byte
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.probe(&msg)
	}
}

// probe sends the next probe and records its send time.
func (p *Prober) probe(msg *[probeLen]byte) {
	now := time.Now()
	p.mu.Lock()
	seq := uint64(len(p.sent))
	p.sent = append(p.sent, now)
	p.mu.Unlock()
	binary.BigEndian.PutUint64(msg[0:8], seq)
	binary.BigEndian.PutUint64(msg[8:16], uint64(now.UnixNano()))
	p.conn.WriteToUDPAddrPort(msg[:], p.target) // errors (no route yet) count as loss
}

func (p *Prober) receive() {
	defer p.wg.Done()
	buf := make([]byte, 128)
	for {
		n, _, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		now := time.Now()
		if n < probeLen {
			continue
		}
		seq := binary.BigEndian.Uint64(buf[0:8])
		p.mu.Lock()
		if seq < uint64(len(p.sent)) {
			p.replies[seq] = Reply{Seq: seq, Sent: p.sent[seq], Received: now, From: string(buf[probeLen:n])}
		}
		p.mu.Unlock()
	}
}

// Stop ends probing, waits grace for late replies and returns the result.
func (p *Prober) Stop(grace time.Duration) ProbeResult {
	close(p.stop)
	time.Sleep(grace)
	p.conn.Close()
	p.wg.Wait()
	return p.Result()
}

// Result is a snapshot of what the prober saw so far.
func (p *Prober) Result() ProbeResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := ProbeResult{Sent: append([]time.Time(nil), p.sent...)}
	for _, rep := range p.replies {
		r.Replies = append(r.Replies, rep)
	}
	sort.Slice(r.Replies, func(i, j int) bool { return r.Replies[i].Seq < r.Replies[j].Seq })
	return r
}

// ProbeResult is every probe sent and every reply received.
type ProbeResult struct {
	Sent    []time.Time
	Replies []Reply
}

// Lost is the number of probes without a reply.
func (r ProbeResult) Lost() int { return len(r.Sent) - len(r.Replies) }

// Outage is a run of consecutive unanswered probes.
type Outage struct {
	FirstLost, LastLost uint64
	Lost                int
	// Gap is from the send time of the last answered probe before the run
	// to that of the first answered probe after it: how long the client saw
	// no answer, at probe resolution.
	Gap           time.Duration
	Before, After string // who answered before and after
}

// Outages lists the runs of unanswered probes, in order. A run still open at
// the end has After == "".
func (r ProbeResult) Outages() []Outage {
	answered := make(map[uint64]Reply, len(r.Replies))
	for _, rep := range r.Replies {
		answered[rep.Seq] = rep
	}
	var out []Outage
	var cur *Outage
	var last Reply
	haveLast := false
	for seq := range uint64(len(r.Sent)) {
		rep, ok := answered[seq]
		switch {
		case !ok && cur == nil:
			cur = &Outage{FirstLost: seq, LastLost: seq, Lost: 1}
			if haveLast {
				cur.Before = last.From
			}
		case !ok:
			cur.LastLost, cur.Lost = seq, cur.Lost+1
		case cur != nil:
			cur.After = rep.From
			if haveLast {
				cur.Gap = rep.Sent.Sub(last.Sent)
			}
			out = append(out, *cur)
			cur = nil
		}
		if ok {
			last, haveLast = rep, true
		}
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out
}

// Switches lists the probes at which the answering host changed.
func (r ProbeResult) Switches() []Reply {
	var out []Reply
	for i := 1; i < len(r.Replies); i++ {
		if r.Replies[i].From != r.Replies[i-1].From {
			out = append(out, r.Replies[i])
		}
	}
	return out
}
