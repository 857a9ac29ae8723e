package instance

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/failover-ha/failover/pkg/config"
)

// RestartReason says why moving from old to new cannot be done in place
// ("" if it can): these settings define the virtual router on the wire, so
// changing them is a new router.
func RestartReason(old, new config.Instance) string {
	switch {
	case old.Interface != new.Interface:
		return "interface changed"
	case old.VRID != new.VRID:
		return "vrid changed"
	case old.Version != new.Version:
		return "version changed"
	case old.AdvertInterval != new.AdvertInterval:
		return "advert_interval changed"
	case old.IPv6() != new.IPv6():
		return "address family changed"
	case !slices.Equal(old.UnicastPeers, new.UnicastPeers):
		return "unicast_peers changed"
	case old.ChecksumMode != new.ChecksumMode:
		return "checksum_mode changed"
	case old.AuthPass != new.AuthPass:
		return "auth_pass changed"
	}
	return ""
}

type update struct {
	cfg  config.Instance
	io   IO
	done chan struct{}
}

// Update applies a new configuration in place (RestartReason must be ""):
// no transition, no gap in adverts. Priority, preemption, addresses,
// announcement settings, hooks and tracking take effect at once. Only the
// Notifier, Tracks and Group of io are taken. It returns once applied.
func (in *Instance) Update(ctx context.Context, cfg config.Instance, io IO) error {
	if r := RestartReason(in.cfg, cfg); r != "" {
		return fmt.Errorf("instance %q: %s: needs a restart, not an update", cfg.Name, r)
	}
	u := &update{cfg: cfg, io: io, done: make(chan struct{})}
	select {
	case in.inbox <- input{kind: inUpdate, update: u}:
		if in.wake != nil {
			in.wake()
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-u.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (in *Instance) applyUpdate(now time.Time, u *update) {
	defer close(u.done)
	old := in.cfg
	in.mu.Lock()
	in.cfg = u.cfg
	in.mu.Unlock()
	in.io.Notifier, in.io.Tracks, in.io.Group = u.io.Notifier, u.io.Tracks, u.io.Group
	if !slices.Equal(old.VirtualIPs, u.cfg.VirtualIPs) {
		in.template.Addrs = in.template.Addrs[:0]
		for _, p := range u.cfg.VirtualIPs {
			in.template.Addrs = append(in.template.Addrs, p.Addr())
		}
		if in.holdsVIPs {
			in.swapVIPs(now, old.VirtualIPs, u.cfg.VirtualIPs)
		}
	}
	in.mu.Lock()
	in.status.VIPs = u.cfg.VirtualIPs
	in.status.ConfiguredPriority = u.cfg.Priority
	in.mu.Unlock()
	if in.router != nil {
		in.router.Reconfigure(u.cfg.Preempt, u.cfg.PreemptDelay)
		in.evaluate(now, "configuration reloaded")
	}
	in.log.Info("configuration updated in place")
}

// swapVIPs moves a master from one address set to another: new ones are
// added and announced before dropped ones are removed.
func (in *Instance) swapVIPs(now time.Time, old, new []netip.Prefix) {
	var added, removed []netip.Prefix
	for _, p := range new {
		if !slices.Contains(old, p) {
			added = append(added, p)
		}
	}
	for _, p := range old {
		if !slices.Contains(new, p) {
			removed = append(removed, p)
		}
	}
	if len(added) > 0 {
		if err := in.io.Addresses.Add(in.cfg.Interface, added); err != nil {
			in.stats.AddressErrors.Add(1)
			in.log.Error("cannot add virtual addresses", "error", err)
		}
		in.startAnnouncing(now)
	}
	if len(removed) > 0 {
		if err := in.io.Addresses.Remove(in.cfg.Interface, removed); err != nil {
			in.stats.AddressErrors.Add(1)
			in.log.Error("cannot remove virtual addresses", "error", err)
		}
	}
}
