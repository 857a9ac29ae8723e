// Package daemon wires failoverd together: one port (VRRP socket) per
// interface and family, one instance per configured virtual router, and the
// link watcher that tells both when interfaces change.
package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/failover-ha/failover/pkg/config"
	"github.com/failover-ha/failover/pkg/control"
	"github.com/failover-ha/failover/pkg/instance"
	"github.com/failover-ha/failover/pkg/netif"
)

// Daemon runs every configured virtual router.
type Daemon struct {
	cfg *config.Config
	log hclog.Logger

	addrs      netif.Addresses
	ports      map[portKey]*port
	announcers map[string]*netif.Announcer
	events     bus

	mu        sync.Mutex // guards the fields below
	instances []*instance.Instance
	drained   map[string]bool // instances drained by the operator; kept across reloads
}

// linkProbe reads real interfaces.
type linkProbe struct{}

func (linkProbe) Link(ifname string) netif.LinkState { return netif.Link(ifname) }
func (linkProbe) PrimaryAddress(ifname string, v6 bool, vips []netip.Prefix) (netip.Addr, error) {
	return netif.PrimaryAddress(ifname, v6, vips)
}

// New prepares a daemon for cfg; Run starts it.
func New(cfg *config.Config, log hclog.Logger) (*Daemon, error) {
	d := &Daemon{
		cfg:        cfg,
		log:        log,
		ports:      map[portKey]*port{},
		announcers: map[string]*netif.Announcer{},
		drained:    map[string]bool{},
	}
	for _, ic := range cfg.Instances {
		key := portKey{ic.Interface, ic.IPv6()}
		p := d.ports[key]
		if p == nil {
			p = newPort(key, log)
			d.ports[key] = p
		}
		ann := d.announcers[ic.Interface]
		if ann == nil {
			ann = netif.NewAnnouncer(ic.Interface)
			d.announcers[ic.Interface] = ann
		}
		in, err := instance.New(ic, instance.IO{Sender: p, Addresses: d.addrs, Announcer: ann, Link: linkProbe{},
			Notifier: &d.events}, log)
		if err != nil {
			return nil, err
		}
		p.attach(in)
		d.instances = append(d.instances, in)
	}
	return d, nil
}

// current returns the running instances.
func (d *Daemon) current() []*instance.Instance {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*instance.Instance(nil), d.instances...)
}

// Run removes stale addresses, opens the sockets, runs every instance until
// ctx ends, then shuts them down (masters resign and release their
// addresses) and returns.
func (d *Daemon) Run(ctx context.Context) error {
	api, err := control.Listen(d.cfg.Global.ControlSocket, d.cfg.Global.ControlSocketGroup, d)
	if err != nil {
		return err
	}
	go func() {
		if err := api.Serve(); err != nil {
			d.log.Error("control API failed", "error", err)
		}
	}()
	defer api.Close()
	d.removeStaleVIPs()
	for _, p := range d.ports {
		p.refresh()
	}
	defer func() {
		for _, p := range d.ports {
			p.close()
		}
		for _, a := range d.announcers {
			a.Close()
		}
	}()

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchErr := make(chan error, 1)
	go func() { watchErr <- netif.WatchLinks(watchCtx, d.linkChanged) }()

	var wg sync.WaitGroup
	for _, in := range d.instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.Run(ctx)
		}()
	}
	d.log.Info("failoverd running", "instances", len(d.instances), "control_socket", d.cfg.Global.ControlSocket)
	select {
	case <-ctx.Done():
	case err := <-watchErr:
		if err != nil {
			d.log.Error("link watcher failed; interface changes will go unnoticed", "error", err)
		}
		<-ctx.Done()
	}
	wg.Wait()
	d.log.Info("failoverd stopped")
	return nil
}

// linkChanged reopens sockets of recreated interfaces and tells the
// instances on ifname ("" = all) to re-read their link.
func (d *Daemon) linkChanged(ifname string) {
	for key, p := range d.ports {
		if ifname == "" || key.ifname == ifname {
			p.refresh()
		}
	}
	for _, in := range d.instances {
		if ifname == "" || in.Config().Interface == ifname {
			in.NotifyLinkChanged()
		}
	}
}

// removeStaleVIPs removes every configured virtual address found on its
// interface before any instance starts: a crashed failoverd (or an operator)
// may have left it there, and a backup must not hold it.
func (d *Daemon) removeStaleVIPs() {
	for _, in := range d.instances {
		ic := in.Config()
		states, err := d.addrs.State(ic.Interface, ic.VirtualIPs)
		if err != nil {
			continue // interface missing: nothing to remove
		}
		var stale []netip.Prefix
		for _, s := range states {
			if !s.Present {
				continue
			}
			stale = append(stale, s.Prefix)
			if s.Ours {
				d.log.Warn("removing stale virtual address left by a previous run", "instance", ic.Name, "address", s.Prefix)
			} else {
				d.log.Warn("removing configured virtual address found on the interface (not added by failoverd)", "instance", ic.Name, "address", s.Prefix)
			}
		}
		if len(stale) > 0 {
			if err := d.addrs.Remove(ic.Interface, stale); err != nil {
				d.log.Error("cannot remove stale virtual addresses", "instance", ic.Name, "error", fmt.Errorf("%w", err))
			}
		}
	}
}
