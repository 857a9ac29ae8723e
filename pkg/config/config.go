// Package config loads and validates failoverd's TOML configuration file.
//
// Validation is complete and strict because a daemon that starts on a
// half-understood config can take addresses it should not, or fail over the
// wrong way: every problem is reported (not just the first), each naming the
// file, the instance, the key and the offending value, and unknown keys are
// errors rather than silently ignored typos.
package config

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/failover-ha/failover/vrrp"
)

// DefaultPath is where failoverd looks for its config when not told otherwise.
const DefaultPath = "/etc/failover/failover.toml"

// Config is a fully validated configuration.
type Config struct {
	// Path is the file the config came from (the name given to Parse).
	Path         string
	Global       Global
	Instances    []Instance
	TrackScripts []TrackScript // [[track_script]]
	SyncGroups   []SyncGroup   // [[sync_group]]
}

// Global holds the daemon-wide settings of the [global] table.
type Global struct {
	LogLevel           string // log_level: trace, debug, info, warn or error
	LogFormat          string // log_format: text or json
	ControlSocket      string // control_socket: absolute path of the control API's unix socket
	ControlSocketGroup string // control_socket_group: group name or numeric gid; "" leaves the group alone
	MetricsListen      string // metrics_listen: host:port of the Prometheus endpoint; "" = off
}

// Instance is one virtual router, an [[instance]] table.
type Instance struct {
	Name      string // unique; names the instance in logs and the control API
	Interface string // Linux interface the adverts are sent on and the VIPs added to
	VRID      uint8  // 1-255
	Priority  uint8  // 1-255; 255 means this host owns the addresses
	Version   uint8  // VRRP version, 2 (RFC 3768) or 3 (RFC 9568)
	// AdvertInterval is whole seconds for v2 and 10 ms steps for v3, as the
	// wire format can carry nothing else.
	AdvertInterval time.Duration
	Preempt        bool
	PreemptDelay   time.Duration
	// VirtualIPs keep their host bits: 192.0.2.10/24 is the address
	// 192.0.2.10 on a /24, not the network 192.0.2.0/24. All are one family.
	VirtualIPs []netip.Prefix
	// UnicastPeers replaces multicast with unicast adverts to these
	// addresses when not empty.
	UnicastPeers []netip.Addr
	// ChecksumMode matters only for VRRPv3 over IPv4, where implementations
	// disagree on whether the checksum covers a pseudo-header.
	ChecksumMode vrrp.ChecksumMode
	// AuthPass is the VRRPv2 simple password (auth type 1); "" means none.
	AuthPass string
	// GARPRepeat is how many gratuitous ARP / unsolicited NA announcements
	// follow the first one on becoming master, GARPInterval apart, so that
	// switches and neighbours that missed one still learn the new owner.
	GARPRepeat   int
	GARPInterval time.Duration
	// GARPRefresh re-announces the addresses this often while master; 0 is off.
	GARPRefresh time.Duration
	// Hooks run on this instance's transitions.
	Hooks Hooks
	// TrackScripts names [[track_script]] checks that affect this instance.
	TrackScripts []string
	// TrackInterfaces are links whose loss puts the instance in FAULT.
	TrackInterfaces []string
}

// Hooks are the notify programs of an instance or sync group. Each is an
// argv (no shell); nil means none.
type Hooks struct {
	Master, Backup, Fault, Stop []string // notify_master, notify_backup, notify_fault, notify_stop
	// Notify is keepalived's generic hook, called with
	// INSTANCE|GROUP <name> <MASTER|BACKUP|FAULT|STOP> <priority> appended.
	Notify []string
	// Timeout bounds each run; the process group is then terminated.
	Timeout time.Duration
}

// HookKeys are the configuration keys of the hooks, in the order status
// lists them.
var HookKeys = [...]string{"notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"}

// hook returns the field of h that holds the hook of key, or nil when key
// is not a hook key. It is the one place keys map to fields.
func (h *Hooks) hook(key string) *[]string {
	switch key {
	case "notify_master":
		return &h.Master
	case "notify_backup":
		return &h.Backup
	case "notify_fault":
		return &h.Fault
	case "notify_stop":
		return &h.Stop
	case "notify":
		return &h.Notify
	}
	return nil
}

// KeyedHook is a configured hook and its configuration key.
type KeyedHook struct {
	Key  string
	Argv []string
}

// Configured returns every configured hook with its key, for checks that
// apply to each.
func (h Hooks) Configured() []KeyedHook {
	var out []KeyedHook
	for _, k := range HookKeys {
		if argv := *h.hook(k); len(argv) > 0 {
			out = append(out, KeyedHook{k, argv})
		}
	}
	return out
}

// TrackScript is a [[track_script]] health check.
type TrackScript struct {
	Name     string
	Command  []string // argv; no shell unless the user writes one
	Interval time.Duration
	Timeout  time.Duration
	Rise     int // consecutive successes to count as up
	Fall     int // consecutive failures to count as down
	// Weight 0: failing puts the instance in FAULT. Otherwise keepalived's
	// rule: a positive weight is added to the priority while the check
	// succeeds, a negative one added while it fails.
	Weight int
}

// SyncGroup is a [[sync_group]]: instances that move together.
type SyncGroup struct {
	Name      string
	Instances []string
	Hooks     Hooks
}

// Defaults of optional keys; the documentation and tests spell them out too.
const (
	defaultLogLevel       = "info"
	defaultLogFormat      = "text"
	defaultControlSocket  = "/run/failover/failoverd.sock"
	defaultPriority       = 100
	defaultVersion        = 3
	defaultAdvertInterval = time.Second
	defaultGARPRepeat     = 3
	defaultGARPInterval   = 100 * time.Millisecond
	defaultHookTimeout    = 30 * time.Second
	defaultCheckInterval  = time.Second
)

// IPv6 reports whether the instance's virtual addresses are IPv6, which
// decides the advert family (IPv6 multicast, unsolicited NA instead of ARP).
func (i *Instance) IPv6() bool {
	return len(i.VirtualIPs) > 0 && i.VirtualIPs[0].Addr().Is6()
}

// TrackScript returns the check called name, or nil if there is none.
func (c *Config) TrackScript(name string) *TrackScript {
	for k := range c.TrackScripts {
		if c.TrackScripts[k].Name == name {
			return &c.TrackScripts[k]
		}
	}
	return nil
}

// SyncGroupOf returns the sync group instance name belongs to, or nil.
func (c *Config) SyncGroupOf(name string) *SyncGroup {
	for k := range c.SyncGroups {
		for _, n := range c.SyncGroups[k].Instances {
			if n == name {
				return &c.SyncGroups[k]
			}
		}
	}
	return nil
}

// Instance returns the instance called name, or nil if there is none.
func (c *Config) Instance(name string) *Instance {
	for k := range c.Instances {
		if c.Instances[k].Name == name {
			return &c.Instances[k]
		}
	}
	return nil
}

// Load reads and parses the config file at path. Errors name the path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(data, path)
}

// Parse parses and validates a config file's contents. name (usually the
// file's path) prefixes every error message. On failure it returns a nil
// Config and all problems found, joined with errors.Join in file order; each
// is a *Error, except a TOML syntax error, which is a *SyntaxError (only one
// is reported: the file cannot be read past it).
func Parse(data []byte, name string) (*Config, error) {
	p := newParser(name)
	cfg := p.parse(data)
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}
