package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/failover-ha/failover/vrrp"
)

// The file is decoded into plain maps (map[string]any) rather than straight
// into structs, and every table is then walked key by key through a switch
// that knows the schema. Three reasons: struct decoding stops at the first
// type mismatch, where we want every problem reported; BurntSushi matches
// struct fields case-insensitively, so "Priority" (or both "priority" and
// "Priority") would be silently accepted; and MetaData.Undecoded cannot say
// which [[instance]] an unknown key was in. To add a key (hooks, track
// scripts, sync groups), add a case to the table's switch and, for a new
// table, a method like instance.
type parser struct {
	errs  errorList
	order keyOrder

	// References checked once every table is read.
	trackRefs []trackRef

	// State across instances, for the uniqueness rules.
	names map[string]int        // instance name -> 1-based instance number
	vips  map[netip.Addr]string // virtual address -> label of the instance using it
	vrids map[vridKey]string    // virtual router -> label of the instance using it
}

// vridKey identifies a virtual router on the wire: adverts of one VRID on
// one link and family are one router, whatever the config calls them.
type vridKey struct {
	iface string
	vrid  uint8
	ipv6  bool
}

func newParser(file string) *parser {
	return &parser{
		errs:  errorList{file: file},
		names: map[string]int{},
		vips:  map[netip.Addr]string{},
		vrids: map[vridKey]string{},
	}
}

// parse decodes and checks data, reporting problems to p.errs. The returned
// Config is only meaningful when no problem was reported.
func (p *parser) parse(data []byte) *Config {
	var doc map[string]any
	md, err := toml.Decode(string(data), &doc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			p.errs.add(&SyntaxError{File: p.errs.file, Err: pe})
		} else {
			p.errs.add(&Error{File: p.errs.file, Msg: err.Error()})
		}
		return nil
	}
	p.order = newKeyOrder(md)

	cfg := &Config{
		Path: p.errs.file,
		Global: Global{
			LogLevel:      defaultLogLevel,
			LogFormat:     defaultLogFormat,
			ControlSocket: defaultControlSocket,
		},
	}
	top := scope{errs: &p.errs}
	haveInstances := false
	for _, k := range orderedKeys(doc, p.order.top) {
		v := doc[k]
		switch k {
		case "global":
			t, ok := v.(map[string]any)
			if !ok {
				top.keyErrorf(k, v, "must be a table ([global]), not %s", typeName(v))
				continue
			}
			p.global(&cfg.Global, t)
		case "instance":
			haveInstances = true
			cfg.Instances = p.instances(top, v)
		case "track_script":
			cfg.TrackScripts = p.trackScripts(top, v)
		case "sync_group":
			cfg.SyncGroups = p.syncGroups(top, v)
		default:
			top.errorf("unknown key %q", toml.Key{k}.String())
		}
	}
	if !haveInstances {
		top.errorf("no [[instance]] table: at least one virtual router must be configured")
	}
	p.crossReferences(cfg)
	return cfg
}

// global checks the [global] table into g, which holds the defaults.
func (p *parser) global(g *Global, t map[string]any) {
	s := scope{errs: &p.errs, section: "global"}
	for _, k := range orderedKeys(t, p.order.global) {
		v := t[k]
		switch k {
		case "log_level":
			if str, ok := s.oneOf(k, v, "trace", "debug", "info", "warn", "error"); ok {
				g.LogLevel = str
			}
		case "log_format":
			if str, ok := s.oneOf(k, v, "text", "json"); ok {
				g.LogFormat = str
			}
		case "control_socket":
			str, ok := s.str(k, v)
			if !ok {
				continue
			}
			switch {
			case !strings.HasPrefix(str, "/"):
				s.keyErrorf(k, v, "must be an absolute path")
			case strings.IndexByte(str, 0) >= 0:
				s.keyErrorf(k, v, "must not contain a NUL byte")
			case len(str) > maxSocketPath:
				s.keyErrorf(k, v, "is %d bytes, a unix socket path can have at most %d", len(str), maxSocketPath)
			default:
				g.ControlSocket = str
			}
		case "control_socket_group":
			if n, isInt := v.(int64); isInt {
				s.keyErrorf(k, v, `must be a string; write a numeric gid as %s = "%d"`, k, n)
				continue
			}
			if str, ok := s.checkedStr(k, v, checkGroup); ok {
				g.ControlSocketGroup = str
			}
		case "metrics_listen":
			if str, ok := s.checkedStr(k, v, checkListen); ok {
				g.MetricsListen = str
			}
		default:
			s.errorf("unknown key %q", toml.Key{"global", k}.String())
		}
	}
}

// instances checks the [[instance]] array.
func (p *parser) instances(top scope, v any) []Instance {
	var out []Instance
	n := p.arrayOfTables(top, "instance", v, func(num int, t map[string]any, hint []string) {
		out = append(out, p.instance(num, t, hint))
	})
	if n == 0 {
		top.keyErrorf("instance", v, "no instances: at least one virtual router must be configured")
	}
	return out
}

// instanceParser holds one [[instance]] table while its keys are checked,
// along with what the cross-key rules need to know.
type instanceParser struct {
	p    *parser
	s    scope
	num  int
	inst Instance

	versionOK  bool   // inst.Version is 2 or 3 (default or valid value)
	interval   any    // advert_interval as written, if it parsed as a duration
	family     family // of the first valid VIP
	peers      []netip.Addr
	peersIndex []int // each peer's index in unicast_peers, for messages
}

// family is an address family as far as VRRP cares: the instance's family
// decides the advert's IP version.
type family uint8

const (
	famUnknown family = iota
	famIPv4
	famIPv6
)

func familyOf(a netip.Addr) family {
	if a.Is4() {
		return famIPv4
	}
	return famIPv6
}

func (f family) String() string {
	switch f {
	case famIPv4:
		return "IPv4"
	case famIPv6:
		return "IPv6"
	}
	return "unknown family"
}

// instance checks one [[instance]] table; num is its 1-based position.
func (p *parser) instance(num int, t map[string]any, hint []string) Instance {
	ip := &instanceParser{
		p:   p,
		s:   scope{errs: &p.errs, section: tableLabel("instance", num, t, p.names)},
		num: num,
		inst: Instance{
			Priority:       defaultPriority,
			Version:        defaultVersion,
			AdvertInterval: defaultAdvertInterval,
			Preempt:        true,
			ChecksumMode:   vrrp.ChecksumPseudoHeader,
			GARPRepeat:     defaultGARPRepeat,
			GARPInterval:   defaultGARPInterval,
			Hooks:          Hooks{Timeout: defaultHookTimeout},
		},
		versionOK: true,
	}
	for _, k := range orderedKeys(t, hint) {
		ip.key(k, t[k])
	}
	ip.s.requireKeys(t, "name", "interface", "vrid", "virtual_ips")
	ip.crossChecks()
	return ip.inst
}

// key checks one key of an [[instance]] table.
func (ip *instanceParser) key(k string, v any) {
	s, in := ip.s, &ip.inst
	switch k {
	case "name":
		if str, ok := s.uniqueName(k, v, "instance", ip.num, ip.p.names); ok {
			in.Name = str
		}
	case "interface":
		if str, ok := s.checkedStr(k, v, checkIfname); ok {
			in.Interface = str
		}
	case "vrid":
		if n, ok := s.integer(k, v, 1, 255, "must be 1-255"); ok {
			in.VRID = uint8(n)
		}
	case "priority":
		if n, ok := s.integer(k, v, 1, 255, "must be 1-255 (255 = address owner; 0 is reserved for a master giving up)"); ok {
			in.Priority = uint8(n)
		}
	case "version":
		n, ok := s.integer(k, v, 2, 3, "must be 2 (RFC 3768) or 3 (RFC 9568)")
		ip.versionOK = ok
		if ok {
			in.Version = uint8(n)
		}
	case "advert_interval":
		if d, ok := s.duration(k, v); ok {
			in.AdvertInterval, ip.interval = d, v
		}
	case "preempt":
		if b, ok := s.boolean(k, v); ok {
			in.Preempt = b
		}
	case "preempt_delay":
		if d, ok := s.durationIn(k, v, 0, time.Hour, "must be from 0s to 1h"); ok {
			in.PreemptDelay = d
		}
	case "virtual_ips":
		ip.virtualIPs(k, v)
	case "unicast_peers":
		ip.unicastPeers(k, v)
	case "checksum_mode":
		str, ok := s.oneOf(k, v, vrrp.ChecksumPseudoHeader.String(), vrrp.ChecksumMessageOnly.String())
		if !ok {
			return
		}
		in.ChecksumMode = vrrp.ChecksumPseudoHeader
		if str == vrrp.ChecksumMessageOnly.String() {
			in.ChecksumMode = vrrp.ChecksumMessageOnly
		}
	case "auth_pass":
		str, ok := v.(string)
		if !ok {
			s.keyErrorf(k, v, "must be a string, not %s", typeName(v))
			return
		}
		if len(str) < 1 || len(str) > 8 {
			s.keyErrorf(k, secret(str), "must be 1-8 bytes (VRRPv2 simple password)")
			return
		}
		in.AuthPass = str
	case "garp_repeat":
		if n, ok := s.integer(k, v, 0, 100, "must be 0-100"); ok {
			in.GARPRepeat = int(n)
		}
	case "garp_interval":
		if d, ok := s.durationIn(k, v, 0, 10*time.Second, "must be from 0s to 10s"); ok {
			in.GARPInterval = d
		}
	case "garp_refresh":
		d, ok := s.duration(k, v)
		if !ok {
			return
		}
		if d != 0 && d < minGARPRefresh {
			s.keyErrorf(k, v, "must be 0s (off) or at least %v", minGARPRefresh)
			return
		}
		in.GARPRefresh = d
	case "track_scripts":
		if names, ok := s.nameList(k, v); ok {
			in.TrackScripts = names
			ip.p.trackRefs = append(ip.p.trackRefs, trackRef{s, names})
		}
	case "track_interfaces":
		in.TrackInterfaces = s.ifnameList(k, v)
	default:
		if !s.hookKey(&in.Hooks, k, v) {
			s.errorf("unknown key %q", toml.Key{"instance", k}.String())
		}
	}
}

// minGARPRefresh keeps a periodic refresh from flooding the link.
const minGARPRefresh = 100 * time.Millisecond

// maxSocketPath is the longest path a unix socket can bind (sun_path is 108
// bytes including the terminating NUL).
const maxSocketPath = 107

// maxVIPs is the most addresses one advert can carry (the count is 8 bits).
const maxVIPs = 255

func (ip *instanceParser) virtualIPs(k string, v any) {
	s := ip.s
	list, ok := s.list(k, v)
	if !ok {
		return
	}
	if len(list) == 0 || len(list) > maxVIPs {
		s.keyErrorf(k, v, "must list 1-%d addresses, has %d", maxVIPs, len(list))
		return
	}
	firstOfFamily := -1
	index := map[netip.Addr]int{}
	for i, e := range list {
		ek := fmt.Sprintf("%s[%d]", k, i)
		str, ok := e.(string)
		if !ok {
			s.keyErrorf(ek, e, `must be a string such as "192.0.2.10/24", not %s`, typeName(e))
			continue
		}
		pfx, msg := parseVIP(str)
		if msg != "" {
			s.keyErrorf(ek, e, "%s", msg)
			continue
		}
		a, f := pfx.Addr(), familyOf(pfx.Addr())
		if ip.family == famUnknown {
			ip.family, firstOfFamily = f, i
		} else if f != ip.family {
			s.keyErrorf(ek, e, "is %v but %s[%d] is %v: one instance cannot mix address families (RFC 9568: use one instance per family)",
				f, k, firstOfFamily, ip.family)
			continue
		}
		if j, dup := index[a]; dup {
			s.keyErrorf(ek, e, "duplicate of %s[%d]", k, j)
			continue
		}
		if other, used := ip.p.vips[a]; used {
			s.keyErrorf(ek, e, "address already used by %s", other)
			continue
		}
		index[a] = i
		ip.p.vips[a] = ip.s.section
		ip.inst.VirtualIPs = append(ip.inst.VirtualIPs, pfx)
	}
}

// parseVIP reads "ADDR/PREFIX" or a bare "ADDR" (a host route, as keepalived
// reads it). The address keeps its host bits. It returns a problem message
// or "".
func parseVIP(s string) (netip.Prefix, string) {
	var pfx netip.Prefix
	if addrPart, _, slash := strings.Cut(s, "/"); slash {
		var err error
		if pfx, err = netip.ParsePrefix(s); err != nil {
			a, aerr := netip.ParseAddr(addrPart)
			switch {
			case aerr != nil:
				return pfx, "not an IP address or ADDR/PREFIX"
			case a.Zone() != "":
				return pfx, "must not have an IPv6 zone: the address goes on the instance's interface"
			default:
				return pfx, fmt.Sprintf("prefix length must be 0-%d for %v", a.BitLen(), familyOf(a))
			}
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return pfx, "not an IP address or ADDR/PREFIX"
		}
		if a.Zone() != "" {
			return pfx, "must not have an IPv6 zone: the address goes on the instance's interface"
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	if msg := checkUnicast(pfx.Addr(), "a virtual address"); msg != "" {
		return pfx, msg
	}
	return pfx, ""
}

func (ip *instanceParser) unicastPeers(k string, v any) {
	s := ip.s
	list, ok := s.list(k, v)
	if !ok {
		return
	}
	index := map[netip.Addr]int{}
	for i, e := range list {
		ek := fmt.Sprintf("%s[%d]", k, i)
		str, ok := e.(string)
		if !ok {
			s.keyErrorf(ek, e, `must be a string such as "192.0.2.2", not %s`, typeName(e))
			continue
		}
		a, err := netip.ParseAddr(str)
		if err != nil {
			s.keyErrorf(ek, e, "not an IP address")
			continue
		}
		if a.Zone() != "" {
			s.keyErrorf(ek, e, "must not have an IPv6 zone: peers are reached over the instance's interface")
			continue
		}
		if msg := checkUnicast(a, "a peer address"); msg != "" {
			s.keyErrorf(ek, e, "%s", msg)
			continue
		}
		if j, dup := index[a]; dup {
			s.keyErrorf(ek, e, "duplicate of %s[%d]", k, j)
			continue
		}
		index[a] = i
		ip.peers = append(ip.peers, a)
		ip.peersIndex = append(ip.peersIndex, i)
	}
}

// checkUnicast rejects addresses no host can own or be reached at as a
// VRRP peer. what is "a virtual address" or "a peer address".
func checkUnicast(a netip.Addr, what string) string {
	switch {
	case a.Is4In6():
		return fmt.Sprintf("is an IPv4-mapped IPv6 address; write %v for IPv4", a.Unmap())
	case a.IsUnspecified():
		return fmt.Sprintf("the unspecified address cannot be %s", what)
	case a.IsLoopback():
		return fmt.Sprintf("a loopback address cannot be %s", what)
	case a.IsMulticast():
		return fmt.Sprintf("a multicast address cannot be %s", what)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Sprintf("the broadcast address cannot be %s", what)
	}
	return ""
}

// crossChecks applies the rules that involve more than one key, once every
// key of the instance has been read.
func (ip *instanceParser) crossChecks() {
	s, in := ip.s, &ip.inst
	if ip.versionOK {
		if ip.interval != nil {
			if _, err := vrrp.IntervalField(in.Version, in.AdvertInterval); err != nil {
				if in.Version == 2 {
					s.keyErrorf("advert_interval", ip.interval, "VRRPv2 needs whole seconds from 1s to 255s")
				} else {
					s.keyErrorf("advert_interval", ip.interval, "VRRPv3 needs a multiple of 10ms from 10ms to 40.95s")
				}
			}
		}
		if in.Version == 2 && ip.family == famIPv6 {
			s.keyErrorf("version", int64(2), "VRRPv2 is IPv4 only but virtual_ips are IPv6; use version = 3")
		}
		if in.ChecksumMode == vrrp.ChecksumMessageOnly {
			switch {
			case in.Version == 2:
				s.keyErrorf("checksum_mode", in.ChecksumMode.String(),
					"only applies to VRRPv3 over IPv4 (VRRPv2 always checksums the message only)")
			case ip.family == famIPv6:
				s.keyErrorf("checksum_mode", in.ChecksumMode.String(),
					"only applies to VRRPv3 over IPv4 (over IPv6 the checksum always includes the pseudo-header)")
			}
		}
		if in.AuthPass != "" && in.Version == 3 {
			s.keyErrorf("auth_pass", secret(in.AuthPass),
				"VRRPv3 has no authentication (RFC 9568 removed it); remove auth_pass or use version = 2")
		}
	}

	if ip.family != famUnknown {
		for i, a := range ip.peers {
			if f := familyOf(a); f != ip.family {
				ek := fmt.Sprintf("unicast_peers[%d]", ip.peersIndex[i])
				s.keyErrorf(ek, a.String(), "is %v but the instance's virtual_ips are %v", f, ip.family)
			}
		}
	}
	if len(ip.peers) > 0 {
		in.UnicastPeers = ip.peers
	}

	// One VRID per link and family: two instances there would be one
	// virtual router fighting itself.
	if in.Interface != "" && in.VRID != 0 && ip.family != famUnknown {
		key := vridKey{iface: in.Interface, vrid: in.VRID, ipv6: ip.family == famIPv6}
		if other, used := ip.p.vrids[key]; used {
			s.keyErrorf("vrid", int64(in.VRID), "%s already uses vrid %d on interface %q for %v",
				other, in.VRID, in.Interface, ip.family)
		} else {
			ip.p.vrids[key] = s.section
		}
	}
}

// validName reports whether s is a usable instance name: it appears in logs,
// hook arguments and control API paths, so it is kept to a safe alphabet.
func validName(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}

// checkIfname applies the kernel's rules for interface names
// (dev_valid_name), so a typo is caught here rather than at netlink time.
func checkIfname(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > 15:
		return fmt.Sprintf("is %d bytes, a Linux interface name has at most 15", len(s))
	case s == "." || s == "..":
		return "is not a valid interface name"
	case strings.ContainsRune(s, '/'):
		return "must not contain '/'"
	case strings.ContainsRune(s, ':'):
		return "must not contain ':' (eth0:1 is an address label, not an interface)"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return "must not contain whitespace or control characters"
		}
	}
	return ""
}

// checkGroup accepts a numeric gid or a plausible group name. The group is
// not looked up: it may not exist on the host where the config is checked.
func checkGroup(s string) string {
	if s == "" {
		return ""
	}
	if s[0] >= '0' && s[0] <= '9' {
		var gid uint64
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return "must be a group name or a numeric gid"
			}
			gid = gid*10 + uint64(c-'0')
			if gid >= 1<<32-1 { // (gid_t)-1 means "no change" to chown
				return "numeric gid must be less than 4294967295"
			}
		}
		return ""
	}
	if len(s) > 32 {
		return "a group name has at most 32 characters"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '.' || c == '-' && i > 0 || c == '$' && i == len(s)-1
		if !ok {
			return "must be a group name (letters, digits, _ . -) or a numeric gid"
		}
	}
	return ""
}

// keyOrder records the order keys appear in the file, which the maps the
// file is decoded into have lost, so errors come out in file order.
type keyOrder struct {
	top, global []string
	// tables has, per array-of-tables key (instance, track_script,
	// sync_group), one key list per [[header]]. It stays empty for the
	// inline form (instance = [{...}]), whose keys cannot be told apart.
	tables map[string][][]string
}

// arrayTables are the top-level keys written as [[arrays of tables]].
var arrayTables = []string{"instance", "track_script", "sync_group"}

func newKeyOrder(md toml.MetaData) keyOrder {
	o := keyOrder{tables: map[string][][]string{}}
	for _, k := range md.Keys() {
		switch {
		case len(k) == 0:
		case len(k) == 1:
			o.top = append(o.top, k[0])
			if slices.Contains(arrayTables, k[0]) && md.Type(k[0]) == "ArrayHash" {
				o.tables[k[0]] = append(o.tables[k[0]], nil)
			}
		case k[0] == "global":
			o.global = append(o.global, k[1])
		case len(o.tables[k[0]]) > 0:
			lists := o.tables[k[0]]
			lists[len(lists)-1] = append(lists[len(lists)-1], k[1])
		}
	}
	return o
}

// orderedKeys returns m's keys in the order of hint (the file order, with
// repeats), then any not in hint sorted, so the walk is deterministic even
// when the hint is incomplete.
func orderedKeys(m map[string]any, hint []string) []string {
	keys := make([]string, 0, len(m))
	done := make(map[string]bool, len(m))
	for _, k := range hint {
		if _, ok := m[k]; ok && !done[k] {
			done[k] = true
			keys = append(keys, k)
		}
	}
	var rest []string
	for k := range m {
		if !done[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(keys, rest...)
}

// Typed accessors. Each reports a clear problem and returns ok=false when
// the value is not what the key needs.

func (s scope) str(key string, v any) (string, bool) {
	str, ok := v.(string)
	if !ok {
		s.keyErrorf(key, v, "must be a string, not %s", typeName(v))
	}
	return str, ok
}

// checkedStr reads a string that check, returning a problem or "", accepts.
func (s scope) checkedStr(key string, v any, check func(string) string) (string, bool) {
	str, ok := s.str(key, v)
	if !ok {
		return "", false
	}
	if msg := check(str); msg != "" {
		s.keyErrorf(key, v, "%s", msg)
		return "", false
	}
	return str, true
}

func (s scope) oneOf(key string, v any, allowed ...string) (string, bool) {
	str, ok := s.str(key, v)
	if !ok {
		return "", false
	}
	if !slices.Contains(allowed, str) {
		s.keyErrorf(key, v, "must be one of %s", quoteList(allowed))
		return "", false
	}
	return str, true
}

// integer reads a TOML integer, which decodes as int64 so that an out of
// range value gets a range message rather than a decoding error.
func (s scope) integer(key string, v any, lo, hi int64, rangeMsg string) (int64, bool) {
	n, ok := v.(int64)
	if !ok {
		s.keyErrorf(key, v, "must be an integer, not %s", typeName(v))
		return 0, false
	}
	if n < lo || n > hi {
		s.keyErrorf(key, v, "%s", rangeMsg)
		return 0, false
	}
	return n, true
}

func (s scope) boolean(key string, v any) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		s.keyErrorf(key, v, "must be true or false, not %s", typeName(v))
	}
	return b, ok
}

// duration reads a duration written as a string ("1s", "250ms"), the form
// time.ParseDuration takes; bare numbers are refused as their unit would be
// a guess.
func (s scope) duration(key string, v any) (time.Duration, bool) {
	str, ok := v.(string)
	if !ok {
		s.keyErrorf(key, v, `must be a duration string such as "1s" or "100ms", not %s`, typeName(v))
		return 0, false
	}
	d, err := time.ParseDuration(str)
	if err != nil {
		s.keyErrorf(key, v, `not a duration (write e.g. "1s" or "100ms")`)
		return 0, false
	}
	return d, true
}

func (s scope) durationIn(key string, v any, lo, hi time.Duration, rangeMsg string) (time.Duration, bool) {
	d, ok := s.duration(key, v)
	if !ok {
		return 0, false
	}
	if d < lo || d > hi {
		s.keyErrorf(key, v, "%s", rangeMsg)
		return 0, false
	}
	return d, true
}

// list reads a TOML array; arrays of tables come back as []map[string]any.
func (s scope) list(key string, v any) ([]any, bool) {
	switch v := v.(type) {
	case []any:
		return v, true
	case []map[string]any:
		out := make([]any, len(v))
		for i, t := range v {
			out[i] = t
		}
		return out, true
	}
	s.keyErrorf(key, v, "must be an array, not %s", typeName(v))
	return nil, false
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// checkListen validates a host:port listen address ("" is off).
func checkListen(addr string) string {
	if addr == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return `must be host:port, e.g. "127.0.0.1:9650" or "[::1]:9650" (an empty host listens on every address)`
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "port must be 1-65535"
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && host != "localhost" {
			return fmt.Sprintf("host %q must be an IP address (or localhost)", host)
		}
	}
	return ""
}
