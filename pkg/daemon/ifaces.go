package daemon

import (
	"context"
	"net/netip"
	"sync"

	"github.com/failover-ha/failover/pkg/netif"
)

// ifaceCache keeps what instances need of each interface (link state and
// primary addresses), read with one link lookup and one address dump per
// interface however many instances use it, and refreshed from netlink
// notifications. Bursts coalesce: a notification marks the interface
// dirty, and a single worker re-reads each dirty interface once. Instances
// hear of a change only when something they care about differs, so adding
// the virtual addresses of 255 instances does not make every one of them
// re-read the interface 255 times.
//
// It has its own lock and its own copy of what it needs from the
// configuration: it is read from the port loops, which must never wait for
// the daemon's lock (the daemon holds it while it waits for them).
type ifaceCache struct {
	nl      *netif.Addresses
	changes func(ifname string, st netif.Interface)

	mu    sync.Mutex
	state map[string]netif.Interface
	vips  map[string][]netip.Prefix // every VIP configured per interface
	names []string                  // every interface the configuration uses
	dirty map[string]bool
	all   bool
	kick  chan struct{}
}

func newIfaceCache(nl *netif.Addresses, changes func(string, netif.Interface)) *ifaceCache {
	return &ifaceCache{nl: nl, changes: changes, state: map[string]netif.Interface{}, vips: map[string][]netip.Prefix{},
		dirty: map[string]bool{}, kick: make(chan struct{}, 1)}
}

// configure takes the interfaces and VIPs of a (new) configuration; cached
// states are read again with it.
func (c *ifaceCache) configure(names []string, vips map[string][]netip.Prefix) {
	c.mu.Lock()
	c.names, c.vips = names, vips
	c.state = map[string]netif.Interface{}
	c.mu.Unlock()
}

func (c *ifaceCache) read(ifname string) netif.Interface {
	c.mu.Lock()
	vips := c.vips[ifname]
	c.mu.Unlock()
	return c.nl.Interface(ifname, vips)
}

// changed is netif.WatchLinks' callback: ifname ("" for all) may differ.
func (c *ifaceCache) changed(ifname string) {
	c.mu.Lock()
	if ifname == "" {
		c.all = true
	} else {
		c.dirty[ifname] = true
	}
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// run re-reads dirty interfaces until ctx ends.
func (c *ifaceCache) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		c.mu.Lock()
		var names []string
		if c.all {
			names = append(names, c.names...)
		} else {
			for name := range c.dirty {
				names = append(names, name)
			}
		}
		c.all, c.dirty = false, map[string]bool{}
		c.mu.Unlock()
		for _, name := range names {
			st := c.read(name)
			c.mu.Lock()
			old, known := c.state[name]
			c.state[name] = st
			c.mu.Unlock()
			if !known || !old.Same(st) {
				c.changes(name, st)
			}
		}
	}
}

// get returns the cached state, reading it on first use.
func (c *ifaceCache) get(ifname string) netif.Interface {
	c.mu.Lock()
	st, ok := c.state[ifname]
	c.mu.Unlock()
	if ok {
		return st
	}
	st = c.read(ifname)
	c.mu.Lock()
	c.state[ifname] = st
	c.mu.Unlock()
	return st
}

// Link implements instance.LinkProbe.
func (c *ifaceCache) Link(ifname string) netif.LinkState { return c.get(ifname).Link }

// PrimaryAddress implements instance.LinkProbe. The cache already leaves out
// every virtual address configured on the interface.
func (c *ifaceCache) PrimaryAddress(ifname string, v6 bool) (netip.Addr, error) {
	return c.get(ifname).Primary(v6)
}
