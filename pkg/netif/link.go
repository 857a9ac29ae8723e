package netif

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LinkState is what a virtual router needs to know of its interface.
type LinkState struct {
	Name   string
	Exists bool
	Index  int
	Up     bool // administratively up with carrier
	MAC    net.HardwareAddr
}

func (s LinkState) String() string {
	switch {
	case !s.Exists:
		return fmt.Sprintf("interface %s not found", s.Name)
	case !s.Up:
		return fmt.Sprintf("link %s down", s.Name)
	}
	return fmt.Sprintf("link %s up", s.Name)
}

// Link returns the current state of ifname.
func Link(ifname string) LinkState {
	st := LinkState{Name: ifname}
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return st
	}
	return linkState(link)
}

func linkState(link netlink.Link) LinkState {
	a := link.Attrs()
	return LinkState{
		Name:   a.Name,
		Exists: true,
		Index:  a.Index,
		Up: a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0 &&
			a.OperState != netlink.OperDown && a.OperState != netlink.OperLowerLayerDown,
		MAC: a.HardwareAddr,
	}
}

// WatchLinks calls changed with an interface name whenever netlink reports a
// link or address change on it, until ctx ends. Notifications are
// level-triggered hints: the receiver re-reads the state (Link,
// PrimaryAddress). If the kernel drops notifications (the socket overflowed)
// or the subscription breaks, it resubscribes and calls changed("") to ask
// for a full re-read.
func WatchLinks(ctx context.Context, changed func(ifname string)) error {
	for {
		err := watchOnce(ctx, changed)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, errResubscribe) {
			return err
		}
		changed("")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var errResubscribe = errors.New("netlink subscription lost")

func watchOnce(ctx context.Context, changed func(string)) error {
	done := make(chan struct{})
	defer close(done)
	broken := make(chan struct{}, 1)
	onErr := func(error) {
		select {
		case broken <- struct{}{}:
		default:
		}
	}
	links := make(chan netlink.LinkUpdate, 64)
	if err := netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{ErrorCallback: onErr}); err != nil {
		return fmt.Errorf("subscribe to link changes: %w", err)
	}
	addrs := make(chan netlink.AddrUpdate, 64)
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{ErrorCallback: onErr}); err != nil {
		return fmt.Errorf("subscribe to address changes: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-broken:
			return errResubscribe
		case u, ok := <-links:
			if !ok {
				return errResubscribe
			}
			changed(u.Attrs().Name)
		case u, ok := <-addrs:
			if !ok {
				return errResubscribe
			}
			if ifi, err := net.InterfaceByIndex(u.LinkIndex); err == nil {
				changed(ifi.Name)
			} else {
				changed("")
			}
		}
	}
}
