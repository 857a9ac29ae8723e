package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/failover-ha/failover/internal/pcapfile"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

const (
	// captureRcvBuf absorbs bursts while the reader goroutine is descheduled.
	captureRcvBuf = 4 << 20
	// captureSnap holds a whole GSO super-frame; veths pass them unsplit.
	captureSnap = 256 << 10
)

// Capture records every frame entering the lab's bridge, stamped by the
// kernel (SO_TIMESTAMPNS) when the frame reached the switch namespace. See
// the package documentation for what br0 sees.
type Capture struct {
	lab  *Lab
	conn *packet.Conn

	mu      sync.Mutex
	frames  []pcapfile.Frame
	notify  chan struct{} // closed and replaced on every new frame and at the end
	ended   bool          // reader finished
	err     error         // why the reader finished, if not Stop
	drops   uint64
	stopped bool

	done chan struct{} // reader goroutine exited
}

// Capture starts capturing on br0 in the switch namespace. Frames are kept
// in memory until the capture is stopped; Close stops it too.
func (l *Lab) Capture() (*Capture, error) {
	var conn *packet.Conn
	err := doInNS(l.Switch, func() error {
		ifi, err := net.InterfaceByName(BridgeName)
		if err != nil {
			return err
		}
		conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("namespace %s: capture on %s: %w", l.Switch, BridgeName, err)
	}
	fail := func(what string, err error) (*Capture, error) {
		conn.Close()
		return nil, fmt.Errorf("namespace %s: capture on %s: %s: %w", l.Switch, BridgeName, what, err)
	}
	// Promiscuous br0 is what makes the bridge pass forwarded frames up to
	// the socket, not just frames addressed to br0 itself.
	if err := conn.SetPromiscuous(true); err != nil {
		return fail("promiscuous mode", err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return fail("raw conn", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, captureRcvBuf)
		}
	}); err != nil {
		return fail("setsockopt", err)
	}
	if serr != nil {
		return fail("setsockopt", serr)
	}
	c := &Capture{lab: l, conn: conn, notify: make(chan struct{}), done: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		conn.Close()
		return nil, fmt.Errorf("lab %s: capture: lab is closed", l.ID)
	}
	l.captures = append(l.captures, c)
	l.mu.Unlock()
	l.log("# capturing every frame on %s (like: ip netns exec %s tcpdump -i %s)", BridgeName, l.Switch, BridgeName)
	go c.read(rc)
	return c, nil
}

// read receives frames until the socket is closed.
func (c *Capture) read(rc syscall.RawConn) {
	defer close(c.done)
	buf := make([]byte, captureSnap)
	oob := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))*4)
	var err error
	for {
		var n, oobn int
		var rerr error
		err = rc.Read(func(fd uintptr) bool {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_TRUNC)
			return !errors.Is(rerr, unix.EAGAIN) && !errors.Is(rerr, unix.EINTR)
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			break
		}
		if n > len(buf) { // MSG_TRUNC reports the real length
			n = len(buf)
		}
		f := pcapfile.Frame{Time: cmsgTime(oob[:oobn]), Data: bytes.Clone(buf[:n])}
		c.mu.Lock()
		c.frames = append(c.frames, f)
		close(c.notify)
		c.notify = make(chan struct{})
		c.mu.Unlock()
	}
	c.mu.Lock()
	if !c.stopped {
		c.err = err
	}
	c.ended = true
	close(c.notify)
	c.mu.Unlock()
}

// cmsgTime returns the SCM_TIMESTAMPNS time in oob, or now if there is
// none (which SO_TIMESTAMPNS should make impossible).
func cmsgTime(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS &&
				len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
				ts := *(*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
				return time.Unix(ts.Unix())
			}
		}
	}
	return time.Now()
}

// Frames returns a snapshot of the frames captured so far, in arrival
// order. It is safe to call while capturing; frames must not be modified.
func (c *Capture) Frames() []pcapfile.Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]pcapfile.Frame(nil), c.frames...)
}

// Mark returns the number of frames captured so far, for WaitFrom.
func (c *Capture) Mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.frames)
}

// Stop ends the capture and returns every frame. Later calls just return
// the frames.
func (c *Capture) Stop() []pcapfile.Frame {
	c.mu.Lock()
	first := !c.stopped
	c.stopped = true
	c.mu.Unlock()
	if first {
		if st, err := c.conn.Stats(); err == nil {
			c.mu.Lock()
			c.drops += uint64(st.Drops)
			c.mu.Unlock()
		}
		c.conn.Close()
	}
	<-c.done
	return c.Frames()
}

// Drops returns how many frames the kernel dropped because the socket
// buffer was full (non-zero means the capture is incomplete).
func (c *Capture) Drops() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped {
		if st, err := c.conn.Stats(); err == nil {
			c.drops += uint64(st.Drops) // Stats resets the kernel counter
		}
	}
	return c.drops
}

// Err returns the error that ended the capture early, if any.
func (c *Capture) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// WritePcap writes the frames captured so far as a classic pcap file
// (microsecond timestamps), for tshark or Wireshark.
func (c *Capture) WritePcap(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	if err := pcapfile.Write(f, c.Frames()); err != nil {
		f.Close()
		return fmt.Errorf("capture: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	return nil
}

// Wait blocks until a frame matching match has been captured, looking at
// every frame since the capture started (including ones already captured),
// and returns the first match. It fails when ctx ends or the capture stops
// without a match. To look only at frames after some event, take Mark
// before causing it and use WaitFrom.
func (c *Capture) Wait(ctx context.Context, match func(pcapfile.Frame) bool) (pcapfile.Frame, error) {
	return c.WaitFrom(ctx, 0, match)
}

// WaitFrom is Wait that ignores the first mark frames (see Mark).
func (c *Capture) WaitFrom(ctx context.Context, mark int, match func(pcapfile.Frame) bool) (pcapfile.Frame, error) {
	next := max(mark, 0)
	for {
		c.mu.Lock()
		frames := c.frames
		ch, ended, rerr := c.notify, c.ended, c.err
		c.mu.Unlock()
		for ; next < len(frames); next++ {
			if match(frames[next]) {
				return frames[next], nil
			}
		}
		if ended {
			if rerr != nil {
				return pcapfile.Frame{}, fmt.Errorf("capture: no matching frame, capture failed: %w", rerr)
			}
			return pcapfile.Frame{}, errors.New("capture: stopped without a matching frame")
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return pcapfile.Frame{}, fmt.Errorf("capture: no matching frame among %d: %w", len(frames), ctx.Err())
		}
	}
}
