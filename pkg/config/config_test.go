package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/failover-ha/failover/vrrp"
)

const file = "failover.toml"

// one returns a file with a single valid IPv4 instance named "web", after
// applying kv: pairs of key and TOML value that replace a base key or are
// appended; the value "-" removes the key.
func one(kv ...string) string {
	keys := []string{"name", "interface", "vrid", "virtual_ips"}
	vals := map[string]string{
		"name":        `"web"`,
		"interface":   `"eth0"`,
		"vrid":        "51",
		"virtual_ips": `["192.0.2.10/24"]`,
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if _, ok := vals[kv[i]]; !ok {
			keys = append(keys, kv[i])
		}
		vals[kv[i]] = kv[i+1]
	}
	var b strings.Builder
	b.WriteString("[[instance]]\n")
	for _, k := range keys {
		if vals[k] != "-" {
			fmt.Fprintf(&b, "%s = %s\n", k, vals[k])
		}
	}
	return b.String()
}

// inst is one [[instance]] table with the given name, interface, vrid and
// VIPs, for cross-instance cases.
func inst(name, ifname string, vrid int, vips ...string) string {
	return fmt.Sprintf("[[instance]]\nname = %q\ninterface = %q\nvrid = %d\nvirtual_ips = [%s]\n",
		name, ifname, vrid, `"`+strings.Join(vips, `", "`)+`"`)
}

// mustParse fails the test on any error.
func mustParse(t *testing.T, data string) *Config {
	t.Helper()
	c, err := Parse([]byte(data), file)
	if err != nil {
		t.Fatalf("Parse: %v\ninput:\n%s", err, data)
	}
	if c == nil {
		t.Fatal("Parse returned nil Config and nil error")
	}
	return c
}

func TestParseFull(t *testing.T) {
	const data = `
[global]
log_level = "debug"
log_format = "json"
control_socket = "/run/fo.sock"
control_socket_group = "adm"

[[instance]]
name = "web"
interface = "eth0"
vrid = 51
priority = 255
version = 3
advert_interval = "250ms"
preempt = false
preempt_delay = "5s"
virtual_ips = ["192.0.2.10/24", "192.0.2.11"]
unicast_peers = ["192.0.2.2", "192.0.2.3"]
checksum_mode = "message-only"
garp_repeat = 0
garp_interval = "1s"
garp_refresh = "30s"

[[instance]]
name = "db.v6"
interface = "bond0.100"
vrid = 52
virtual_ips = ["2001:db8::10/64", "2001:db8::11"]
unicast_peers = ["fe80::2"]

[[instance]]
name = "legacy"
interface = "eth1"
vrid = 1
version = 2
auth_pass = "12345678"
advert_interval = "3s"
virtual_ips = ["198.51.100.1/25"]
`
	want := &Config{
		Path: file,
		Global: Global{
			LogLevel:           "debug",
			LogFormat:          "json",
			ControlSocket:      "/run/fo.sock",
			ControlSocketGroup: "adm",
		},
		Instances: []Instance{
			{
				Name:           "web",
				Interface:      "eth0",
				VRID:           51,
				Priority:       255,
				Version:        3,
				AdvertInterval: 250 * time.Millisecond,
				Preempt:        false,
				PreemptDelay:   5 * time.Second,
				// Host bits are kept: the VIP is .10 on a /24.
				VirtualIPs:   []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24"), netip.MustParsePrefix("192.0.2.11/32")},
				UnicastPeers: []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")},
				ChecksumMode: vrrp.ChecksumMessageOnly,
				GARPRepeat:   0,
				GARPInterval: time.Second,
				GARPRefresh:  30 * time.Second,
				Hooks:        Hooks{Timeout: 30 * time.Second},
			},
			{
				Name:           "db.v6",
				Interface:      "bond0.100",
				VRID:           52,
				Priority:       100,
				Version:        3,
				AdvertInterval: time.Second,
				Preempt:        true,
				VirtualIPs:     []netip.Prefix{netip.MustParsePrefix("2001:db8::10/64"), netip.MustParsePrefix("2001:db8::11/128")},
				UnicastPeers:   []netip.Addr{netip.MustParseAddr("fe80::2")},
				ChecksumMode:   vrrp.ChecksumPseudoHeader,
				GARPRepeat:     3,
				GARPInterval:   100 * time.Millisecond,
				Hooks:          Hooks{Timeout: 30 * time.Second},
			},
			{
				Name:           "legacy",
				Interface:      "eth1",
				VRID:           1,
				Priority:       100,
				Version:        2,
				AdvertInterval: 3 * time.Second,
				Preempt:        true,
				VirtualIPs:     []netip.Prefix{netip.MustParsePrefix("198.51.100.1/25")},
				ChecksumMode:   vrrp.ChecksumPseudoHeader,
				AuthPass:       "12345678",
				GARPRepeat:     3,
				GARPInterval:   100 * time.Millisecond,
				Hooks:          Hooks{Timeout: 30 * time.Second},
			},
		},
	}
	got := mustParse(t, data)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got.Instances[0].IPv6() || !got.Instances[1].IPv6() || got.Instances[2].IPv6() {
		t.Errorf("IPv6() = %v %v %v, want false true false",
			got.Instances[0].IPv6(), got.Instances[1].IPv6(), got.Instances[2].IPv6())
	}
	if i := got.Instance("db.v6"); i != &got.Instances[1] {
		t.Errorf(`Instance("db.v6") = %p, want %p`, i, &got.Instances[1])
	}
	if i := got.Instance("nope"); i != nil {
		t.Errorf(`Instance("nope") = %+v, want nil`, i)
	}
}

// TestParseDefaults checks every optional key's default.
func TestParseDefaults(t *testing.T) {
	got := mustParse(t, one())
	want := &Config{
		Path: file,
		Global: Global{
			LogLevel:      "info",
			LogFormat:     "text",
			ControlSocket: "/run/failover/failoverd.sock",
		},
		Instances: []Instance{{
			Name:           "web",
			Interface:      "eth0",
			VRID:           51,
			Priority:       100,
			Version:        3,
			AdvertInterval: time.Second,
			Preempt:        true,
			PreemptDelay:   0,
			VirtualIPs:     []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")},
			ChecksumMode:   vrrp.ChecksumPseudoHeader,
			GARPRepeat:     3,
			GARPInterval:   100 * time.Millisecond,
			GARPRefresh:    0,
			Hooks:          Hooks{Timeout: 30 * time.Second},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestParseValid covers inputs near the edges of the rules that must be
// accepted.
func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		check      func(*testing.T, *Config)
	}{
		{"same vrid on other interfaces", inst("a", "eth0", 7, "192.0.2.1") + inst("b", "eth1", 7, "192.0.2.2"), nil},
		{"same vrid and interface, other family", inst("a", "eth0", 7, "192.0.2.1") + inst("b", "eth0", 7, "2001:db8::1"), nil},
		{"v2 interval bounds", one("version", "2", "advert_interval", `"255s"`) + one("version", "2", "advert_interval", `"1s"`, "name", `"w2"`, "vrid", "52", "virtual_ips", `["192.0.2.11"]`), nil},
		{"v3 interval bounds", one("advert_interval", `"10ms"`) + one("advert_interval", `"40.95s"`, "name", `"w2"`, "vrid", "52", "virtual_ips", `["192.0.2.11"]`), nil},
		{"message-only with v3 IPv4", one("checksum_mode", `"message-only"`), func(t *testing.T, c *Config) {
			if c.Instances[0].ChecksumMode != vrrp.ChecksumMessageOnly {
				t.Errorf("ChecksumMode = %v", c.Instances[0].ChecksumMode)
			}
		}},
		{"pseudo-header with IPv6", one("virtual_ips", `["2001:db8::1"]`, "checksum_mode", `"pseudo-header"`), nil},
		{"bare addresses are host routes", one("virtual_ips", `["192.0.2.10", "192.0.2.11/32"]`), func(t *testing.T, c *Config) {
			for _, p := range c.Instances[0].VirtualIPs {
				if p.Bits() != 32 {
					t.Errorf("%v: want /32", p)
				}
			}
		}},
		{"edge values", one("vrid", "255", "priority", "1", "preempt_delay", `"1h"`, "garp_repeat", "100",
			"garp_interval", `"0s"`, "garp_refresh", `"100ms"`, "auth_pass", `"a"`, "version", "2", "advert_interval", `"2s"`), nil},
		{"empty unicast_peers is multicast", one("unicast_peers", "[]"), func(t *testing.T, c *Config) {
			if c.Instances[0].UnicastPeers != nil {
				t.Errorf("UnicastPeers = %v, want nil", c.Instances[0].UnicastPeers)
			}
		}},
		{"numeric group", `[global]` + "\n" + `control_socket_group = "0"` + "\n" + one(), nil},
		{"empty group", `[global]` + "\n" + `control_socket_group = ""` + "\n" + one(), nil},
		{"inline instance array", `instance = [{name = "a", interface = "eth0", vrid = 1, virtual_ips = ["192.0.2.1"]}]`, nil},
		{"255 VIPs", one("virtual_ips", vipList(255)), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.data)
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

// vipList is a TOML array of n distinct IPv4 VIPs.
func vipList(n int) string {
	var l []string
	for i := range n {
		l = append(l, fmt.Sprintf(`"198.51.%d.%d"`, 100+i/250, 1+i%250))
	}
	return "[" + strings.Join(l, ", ") + "]"
}

type errorCase struct {
	name string
	data string
	want []string // substrings of the error, each matching one reported problem
}

// errorCases has at least one bad input for every rule. Each want names the
// instance, the key and the value, as an operator needs to find the fault.
func errorCases() []errorCase {
	web := `failover.toml: instance "web": `
	return []errorCase{
		// Document shape.
		{"empty file", "", []string{`failover.toml: no [[instance]] table`}},
		{"empty instance array", "instance = []", []string{`failover.toml: instance = []: no instances`}},
		{"instance is a table", "[instance]\nname = \"web\"", []string{`failover.toml: instance = { name = "web" }: must be an array of tables ([[instance]]), not a table`}},
		{"instance element not a table", "instance = [1]", []string{`failover.toml: instance #1: must be a table, not an integer 1`}},
		{"global not a table", "global = 1\n" + one(), []string{`failover.toml: global = 1: must be a table ([global]), not an integer`}},
		{"unknown top-level key", "loglevel = \"x\"\n" + one(), []string{`failover.toml: unknown key "loglevel"`}},
		{"unknown global key", "[global]\nloglevel = \"x\"\n" + one(), []string{`failover.toml: global: unknown key "global.loglevel"`}},
		{"unknown instance key", one("prio", "5"), []string{web + `unknown key "instance.prio"`}},
		{"unknown instance key, second instance", one() + inst("db", "eth0", 52, "192.0.2.20") + "prio = 5\n",
			[]string{`failover.toml: instance "db": unknown key "instance.prio"`}},
		{"unknown sub-table", one() + "[instance.track]\nscript = \"x\"\n", []string{web + `unknown key "instance.track"`}},
		{"key case matters", one("Priority", "5"), []string{web + `unknown key "instance.Priority"`}},

		// Global.
		{"log_level", "[global]\nlog_level = \"verbose\"\n" + one(), []string{`failover.toml: global: log_level = "verbose": must be one of "trace", "debug", "info", "warn", "error"`}},
		{"log_level type", "[global]\nlog_level = 1\n" + one(), []string{`failover.toml: global: log_level = 1: must be a string, not an integer`}},
		{"log_format", "[global]\nlog_format = \"xml\"\n" + one(), []string{`failover.toml: global: log_format = "xml": must be one of "text", "json"`}},
		{"control_socket relative", "[global]\ncontrol_socket = \"run/x.sock\"\n" + one(), []string{`failover.toml: global: control_socket = "run/x.sock": must be an absolute path`}},
		{"control_socket too long", "[global]\ncontrol_socket = \"/" + strings.Repeat("x", 107) + "\"\n" + one(), []string{`failover.toml: global: control_socket = "/xxx`, `is 108 bytes, a unix socket path can have at most 107`}},
		{"control_socket_group", "[global]\ncontrol_socket_group = \"a b\"\n" + one(), []string{`failover.toml: global: control_socket_group = "a b": must be a group name`}},
		{"control_socket_group gid range", "[global]\ncontrol_socket_group = \"4294967295\"\n" + one(), []string{`control_socket_group = "4294967295": numeric gid must be less than 4294967295`}},
		{"control_socket_group integer", "[global]\ncontrol_socket_group = 1000\n" + one(), []string{`failover.toml: global: control_socket_group = 1000: must be a string; write a numeric gid as control_socket_group = "1000"`}},

		// name.
		{"name missing", one("name", "-"), []string{`failover.toml: instance #1: missing required key "name"`}},
		{"name invalid", one("name", `"web server"`), []string{`failover.toml: instance #1: name = "web server": must be 1-64 characters`}},
		{"name leading dot", one("name", `".web"`), []string{`instance #1: name = ".web": must be 1-64 characters`}},
		{"name too long", one("name", `"`+strings.Repeat("a", 65)+`"`), []string{`instance #1: name = "aaaa`, `must be 1-64 characters`}},
		{"name type", one("name", "5"), []string{`failover.toml: instance #1: name = 5: must be a string, not an integer`}},
		{"name duplicate", inst("web", "eth0", 1, "192.0.2.1") + inst("db", "eth0", 2, "192.0.2.2") + inst("web", "eth0", 3, "192.0.2.3"),
			[]string{`failover.toml: instance #3: name = "web": already used by instance #1`}},

		// interface.
		{"interface missing", one("interface", "-"), []string{web + `missing required key "interface"`}},
		{"interface empty", one("interface", `""`), []string{web + `interface = "": must not be empty`}},
		{"interface too long", one("interface", `"abcdefghijklmnop"`), []string{web + `interface = "abcdefghijklmnop": is 16 bytes, a Linux interface name has at most 15`}},
		{"interface slash", one("interface", `"eth/0"`), []string{web + `interface = "eth/0": must not contain '/'`}},
		{"interface space", one("interface", `"eth 0"`), []string{web + `interface = "eth 0": must not contain whitespace`}},
		{"interface tab", one("interface", `"eth\t0"`), []string{web + `interface = "eth\t0": must not contain whitespace`}},
		{"interface dot", one("interface", `"."`), []string{web + `interface = ".": is not a valid interface name`}},
		{"interface dotdot", one("interface", `".."`), []string{web + `interface = "..": is not a valid interface name`}},
		{"interface alias", one("interface", `"eth0:1"`), []string{web + `interface = "eth0:1": must not contain ':'`}},

		// vrid.
		{"vrid missing", one("vrid", "-"), []string{web + `missing required key "vrid"`}},
		{"vrid 0", one("vrid", "0"), []string{web + `vrid = 0: must be 1-255`}},
		{"vrid 256", one("vrid", "256"), []string{web + `vrid = 256: must be 1-255`}},
		{"vrid negative", one("vrid", "-1"), []string{web + `vrid = -1: must be 1-255`}},
		{"vrid string", one("vrid", `"51"`), []string{web + `vrid = "51": must be an integer, not a string`}},
		{"vrid float", one("vrid", `51.0`), []string{web + `vrid = 51.0: must be an integer, not a float`}},
		{"vrid huge", one("vrid", `9223372036854775807`), []string{web + `vrid = 9223372036854775807: must be 1-255`}},

		// priority.
		{"priority 300", one("priority", "300"), []string{web + `priority = 300: must be 1-255`}},
		{"priority 0", one("priority", "0"), []string{web + `priority = 0: must be 1-255`}},
		{"priority -1", one("priority", "-1"), []string{web + `priority = -1: must be 1-255`}},

		// version.
		{"version 1", one("version", "1"), []string{web + `version = 1: must be 2 (RFC 3768) or 3 (RFC 9568)`}},
		{"version 4", one("version", "4"), []string{web + `version = 4: must be 2`}},
		{"version string", one("version", `"3"`), []string{web + `version = "3": must be an integer, not a string`}},

		// advert_interval.
		{"v2 fractional interval", one("version", "2", "advert_interval", `"1.5s"`), []string{web + `advert_interval = "1.5s": VRRPv2 needs whole seconds from 1s to 255s`}},
		{"v2 interval too long", one("version", "2", "advert_interval", `"256s"`), []string{web + `advert_interval = "256s": VRRPv2 needs whole seconds`}},
		{"v2 interval sub-second", one("version", "2", "advert_interval", `"500ms"`), []string{web + `advert_interval = "500ms": VRRPv2 needs whole seconds`}},
		{"v3 interval not 10ms steps", one("advert_interval", `"15ms"`), []string{web + `advert_interval = "15ms": VRRPv3 needs a multiple of 10ms from 10ms to 40.95s`}},
		{"v3 interval too long", one("advert_interval", `"41s"`), []string{web + `advert_interval = "41s": VRRPv3 needs a multiple of 10ms`}},
		{"interval zero", one("advert_interval", `"0s"`), []string{web + `advert_interval = "0s": VRRPv3 needs`}},
		{"interval negative", one("advert_interval", `"-1s"`), []string{web + `advert_interval = "-1s": VRRPv3 needs`}},
		{"interval integer", one("advert_interval", `1`), []string{web + `advert_interval = 1: must be a duration string such as "1s" or "100ms", not an integer`}},
		{"interval garbage", one("advert_interval", `"1 second"`), []string{web + `advert_interval = "1 second": not a duration`}},

		// preempt, preempt_delay.
		{"preempt string", one("preempt", `"yes"`), []string{web + `preempt = "yes": must be true or false, not a string`}},
		{"preempt integer", one("preempt", `1`), []string{web + `preempt = 1: must be true or false, not an integer`}},
		{"preempt_delay too long", one("preempt_delay", `"2h"`), []string{web + `preempt_delay = "2h": must be from 0s to 1h`}},
		{"preempt_delay negative", one("preempt_delay", `"-1s"`), []string{web + `preempt_delay = "-1s": must be from 0s to 1h`}},

		// virtual_ips, one by one.
		{"virtual_ips missing", one("virtual_ips", "-"), []string{web + `missing required key "virtual_ips"`}},
		{"virtual_ips empty", one("virtual_ips", "[]"), []string{web + `virtual_ips = []: must list 1-255 addresses, has 0`}},
		{"virtual_ips too many", one("virtual_ips", vipList(256)), []string{web + `virtual_ips = ["198.51.100.1"`, `must list 1-255 addresses, has 256`}},
		{"virtual_ips string", one("virtual_ips", `"192.0.2.1"`), []string{web + `virtual_ips = "192.0.2.1": must be an array, not a string`}},
		{"virtual_ips element type", one("virtual_ips", `[1]`), []string{web + `virtual_ips[0] = 1: must be a string such as "192.0.2.10/24", not an integer`}},
		{"vip not an address", one("virtual_ips", `["192.0.2.300"]`), []string{web + `virtual_ips[0] = "192.0.2.300": not an IP address or ADDR/PREFIX`}},
		{"vip hostname", one("virtual_ips", `["www.example.com/24"]`), []string{web + `virtual_ips[0] = "www.example.com/24": not an IP address or ADDR/PREFIX`}},
		{"vip prefix too long", one("virtual_ips", `["192.0.2.1/33"]`), []string{web + `virtual_ips[0] = "192.0.2.1/33": prefix length must be 0-32 for IPv4`}},
		{"vip6 prefix too long", one("virtual_ips", `["2001:db8::1/129"]`), []string{web + `virtual_ips[0] = "2001:db8::1/129": prefix length must be 0-128 for IPv6`}},
		{"vip zone", one("virtual_ips", `["fe80::1%eth0"]`), []string{web + `virtual_ips[0] = "fe80::1%eth0": must not have an IPv6 zone`}},
		{"vip zone with prefix", one("virtual_ips", `["fe80::1%eth0/64"]`), []string{web + `virtual_ips[0] = "fe80::1%eth0/64": must not have an IPv6 zone`}},
		{"vip unspecified", one("virtual_ips", `["0.0.0.0/0"]`), []string{web + `virtual_ips[0] = "0.0.0.0/0": the unspecified address cannot be a virtual address`}},
		{"vip6 unspecified", one("virtual_ips", `["::"]`), []string{web + `virtual_ips[0] = "::": the unspecified address`}},
		{"vip loopback", one("virtual_ips", `["127.0.0.2/8"]`), []string{web + `virtual_ips[0] = "127.0.0.2/8": a loopback address cannot be a virtual address`}},
		{"vip6 loopback", one("virtual_ips", `["::1"]`), []string{web + `virtual_ips[0] = "::1": a loopback address`}},
		{"vip multicast", one("virtual_ips", `["224.0.0.18"]`), []string{web + `virtual_ips[0] = "224.0.0.18": a multicast address cannot be a virtual address`}},
		{"vip6 multicast", one("virtual_ips", `["ff02::12"]`), []string{web + `virtual_ips[0] = "ff02::12": a multicast address`}},
		{"vip mapped", one("virtual_ips", `["::ffff:192.0.2.1/120"]`), []string{web + `virtual_ips[0] = "::ffff:192.0.2.1/120": is an IPv4-mapped IPv6 address; write 192.0.2.1 for IPv4`}},
		{"vip broadcast", one("virtual_ips", `["255.255.255.255"]`), []string{web + `virtual_ips[0] = "255.255.255.255": the broadcast address`}},
		{"vip mixed families", one("virtual_ips", `["192.0.2.1", "2001:db8::1"]`), []string{web + `virtual_ips[1] = "2001:db8::1": is IPv6 but virtual_ips[0] is IPv4: one instance cannot mix address families`}},
		{"vip v2 with IPv6", one("version", "2", "virtual_ips", `["2001:db8::1"]`), []string{web + `version = 2: VRRPv2 is IPv4 only but virtual_ips are IPv6`}},
		{"vip duplicate", one("virtual_ips", `["192.0.2.1/24", "192.0.2.2", "192.0.2.1/32"]`), []string{web + `virtual_ips[2] = "192.0.2.1/32": duplicate of virtual_ips[0]`}},
		{"vip6 duplicate spelled differently", one("virtual_ips", `["2001:db8::1", "2001:DB8:0::1/64"]`), []string{web + `virtual_ips[1] = "2001:DB8:0::1/64": duplicate of virtual_ips[0]`}},
		{"vip used by another instance", inst("web", "eth0", 1, "192.0.2.1/24") + inst("db", "eth1", 2, "192.0.2.1/24"),
			[]string{`failover.toml: instance "db": virtual_ips[0] = "192.0.2.1/24": address already used by instance "web"`}},

		// unicast_peers.
		{"peers not an array", one("unicast_peers", `"192.0.2.2"`), []string{web + `unicast_peers = "192.0.2.2": must be an array, not a string`}},
		{"peer element type", one("unicast_peers", `[true]`), []string{web + `unicast_peers[0] = true: must be a string such as "192.0.2.2", not a boolean`}},
		{"peer not an address", one("unicast_peers", `["192.0.2.2/24"]`), []string{web + `unicast_peers[0] = "192.0.2.2/24": not an IP address`}},
		{"peer wrong family", one("unicast_peers", `["192.0.2.2", "2001:db8::2"]`), []string{web + `unicast_peers[1] = "2001:db8::2": is IPv6 but the instance's virtual_ips are IPv4`}},
		{"peer wrong family v6", one("virtual_ips", `["2001:db8::1"]`, "unicast_peers", `["192.0.2.2"]`), []string{web + `unicast_peers[0] = "192.0.2.2": is IPv4 but the instance's virtual_ips are IPv6`}},
		{"peer duplicate", one("unicast_peers", `["192.0.2.2", "192.0.2.3", "192.0.2.2"]`), []string{web + `unicast_peers[2] = "192.0.2.2": duplicate of unicast_peers[0]`}},
		{"peer multicast", one("unicast_peers", `["224.0.0.18"]`), []string{web + `unicast_peers[0] = "224.0.0.18": a multicast address cannot be a peer address`}},
		{"peer unspecified", one("unicast_peers", `["0.0.0.0"]`), []string{web + `unicast_peers[0] = "0.0.0.0": the unspecified address cannot be a peer address`}},
		{"peer zone", one("virtual_ips", `["2001:db8::1"]`, "unicast_peers", `["fe80::2%eth0"]`), []string{web + `unicast_peers[0] = "fe80::2%eth0": must not have an IPv6 zone`}},
		{"peer mapped", one("unicast_peers", `["::ffff:192.0.2.2"]`), []string{web + `unicast_peers[0] = "::ffff:192.0.2.2": is an IPv4-mapped IPv6 address`}},

		// vrid per interface and family.
		{"vrid clash", inst("web", "eth0", 51, "192.0.2.1") + inst("db", "eth0", 51, "192.0.2.2"),
			[]string{`failover.toml: instance "db": vrid = 51: instance "web" already uses vrid 51 on interface "eth0" for IPv4`}},
		{"vrid clash IPv6", inst("web", "eth0", 51, "2001:db8::1") + inst("db", "eth0", 51, "2001:db8::2"),
			[]string{`failover.toml: instance "db": vrid = 51: instance "web" already uses vrid 51 on interface "eth0" for IPv6`}},

		// checksum_mode.
		{"checksum_mode unknown", one("checksum_mode", `"rfc"`), []string{web + `checksum_mode = "rfc": must be one of "pseudo-header", "message-only"`}},
		{"message-only with v2", one("version", "2", "checksum_mode", `"message-only"`), []string{web + `checksum_mode = "message-only": only applies to VRRPv3 over IPv4 (VRRPv2 always checksums the message only)`}},
		{"message-only with IPv6", one("virtual_ips", `["2001:db8::1"]`, "checksum_mode", `"message-only"`), []string{web + `checksum_mode = "message-only": only applies to VRRPv3 over IPv4 (over IPv6 the checksum always includes the pseudo-header)`}},

		// auth_pass: never echoed.
		{"auth_pass with v3", one("auth_pass", `"secret"`), []string{web + `auth_pass = <hidden, 6 bytes>: VRRPv3 has no authentication`}},
		{"auth_pass too long", one("version", "2", "auth_pass", `"123456789"`), []string{web + `auth_pass = <hidden, 9 bytes>: must be 1-8 bytes`}},
		{"auth_pass empty", one("version", "2", "auth_pass", `""`), []string{web + `auth_pass = <hidden, 0 bytes>: must be 1-8 bytes`}},
		{"auth_pass integer", one("version", "2", "auth_pass", `1234`), []string{web + `auth_pass = 1234: must be a string, not an integer`}},

		// GARP.
		{"garp_repeat too many", one("garp_repeat", "101"), []string{web + `garp_repeat = 101: must be 0-100`}},
		{"garp_repeat negative", one("garp_repeat", "-1"), []string{web + `garp_repeat = -1: must be 0-100`}},
		{"garp_interval too long", one("garp_interval", `"11s"`), []string{web + `garp_interval = "11s": must be from 0s to 10s`}},
		{"garp_interval negative", one("garp_interval", `"-1ms"`), []string{web + `garp_interval = "-1ms": must be from 0s to 10s`}},
		{"garp_refresh too often", one("garp_refresh", `"50ms"`), []string{web + `garp_refresh = "50ms": must be 0s (off) or at least 100ms`}},
		{"garp_refresh negative", one("garp_refresh", `"-1s"`), []string{web + `garp_refresh = "-1s": must be 0s (off) or at least 100ms`}},
		{"garp_refresh type", one("garp_refresh", `60`), []string{web + `garp_refresh = 60: must be a duration string`}},

		// Odd values are shown as TOML, shortened.
		{"table value", one("priority", `{ a = 1, b = [1, 2.5, "x"] }`), []string{web + `priority = { a = 1, b = [1, 2.5, "x"] }: must be an integer, not a table`}},
		{"date value", one("priority", `1979-05-27T07:32:00Z`), []string{web + `priority = 1979-05-27T07:32:00Z: must be an integer, not a date-time`}},
		{"long value", one("interface", `"`+strings.Repeat("e", 200)+`"`), []string{web + `interface = "eeee`, `eee...: is 200 bytes`}},
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range errorCases() {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.data), file)
			if err == nil {
				t.Fatalf("no error; want %q\ninput:\n%s", tc.want, tc.data)
			}
			if c != nil {
				t.Errorf("Config %+v returned with an error", c)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s\ninput:\n%s", w, msg, tc.data)
				}
			}
			// Every line is one problem and starts with the file name.
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, file+": ") {
					t.Errorf("line %q does not start with %q", line, file+": ")
				}
			}
		})
	}
}

// TestParseErrorsAllReported checks that one bad file yields every problem
// in it, in file order, each as a *Error with its fields set.
func TestParseErrorsAllReported(t *testing.T) {
	data := `
[[instance]]
name = "web"
interface = "eth0"
priority = 300
vrid = 0
advert_interval = "15ms"
virtual_ips = ["192.0.2.1", "2001:db8::1"]
prio = 1

[[instance]]
interface = "eth/1"
vrid = 7
virtual_ips = ["192.0.2.1"]

[global]
log_level = "loud"
`
	_, err := Parse([]byte(data), file)
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`failover.toml: instance "web": priority = 300: must be 1-255`,
		`failover.toml: instance "web": vrid = 0: must be 1-255`,
		`failover.toml: instance "web": virtual_ips[1] = "2001:db8::1": is IPv6 but virtual_ips[0] is IPv4`,
		`failover.toml: instance "web": unknown key "instance.prio"`,
		`failover.toml: instance "web": advert_interval = "15ms": VRRPv3 needs a multiple of 10ms`,
		`failover.toml: instance #2: interface = "eth/1": must not contain '/'`,
		`failover.toml: instance #2: virtual_ips[0] = "192.0.2.1": address already used by instance "web"`,
		`failover.toml: instance #2: missing required key "name"`,
		`failover.toml: global: log_level = "loud": must be one of`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(lines), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s...", i+1, lines[i], want[i])
		}
	}

	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%T is not a *Error", err)
	}
	if e.File != file || e.Section != `instance "web"` || e.Key != "priority" || e.Value != "300" || !strings.HasPrefix(e.Msg, "must be 1-255") {
		t.Errorf("first problem %+v", *e)
	}
}

func TestParseSyntaxError(t *testing.T) {
	data := one() + "priority = \n"
	_, err := Parse([]byte(data), file)
	if err == nil {
		t.Fatal("no error")
	}
	if want := "failover.toml: line 6, column"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("%T is not a *SyntaxError", err)
	}
	var pe toml.ParseError
	if !errors.As(err, &pe) || pe.Position.Line != 6 {
		t.Errorf("does not wrap a toml.ParseError at line 6: %#v", pe)
	}
	// A duplicate key is a syntax error too, not a silent override.
	_, err = Parse([]byte(one()+"vrid = 52\n"), file)
	if err == nil || !strings.Contains(err.Error(), "line 6") {
		t.Errorf("duplicate key: %v", err)
	}
}

func TestLoadMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(path)
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), path) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %q should name %s and be fs.ErrNotExist", err, path)
	}
}

// TestLoadExamples loads the shipped example configs.
func TestLoadExamples(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "config")

	path := filepath.Join(dir, "two-instances.toml")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != path || c.Global.LogFormat != "json" || c.Global.ControlSocketGroup != "failover" || len(c.Instances) != 2 {
		t.Errorf("%s: %+v", path, c)
	}
	v4, v6 := c.Instance("web-v4"), c.Instance("web-v6")
	if v4 == nil || v6 == nil {
		t.Fatalf("%s: instances %+v", path, c.Instances)
	}
	if v4.IPv6() || !v6.IPv6() || v4.VRID != v6.VRID || v4.Interface != v6.Interface {
		t.Errorf("%s: want an IPv4 and an IPv6 router sharing VRID and interface: %+v", path, c.Instances)
	}
	if v4.PreemptDelay != 30*time.Second || v4.GARPRepeat != 5 || v4.GARPRefresh != time.Minute || v6.AdvertInterval != 500*time.Millisecond {
		t.Errorf("%s: %+v", path, c.Instances)
	}

	path = filepath.Join(dir, "keepalived-style-v2.toml")
	c, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Instance{
		Name:           "VI_1",
		Interface:      "eth1",
		VRID:           51,
		Priority:       100,
		Version:        2,
		AdvertInterval: time.Second,
		Preempt:        false,
		VirtualIPs:     []netip.Prefix{netip.MustParsePrefix("198.51.100.100/24"), netip.MustParsePrefix("198.51.100.101/32")},
		UnicastPeers:   []netip.Addr{netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("198.51.100.3")},
		AuthPass:       "s3cret",
		GARPRepeat:     3,
		GARPInterval:   100 * time.Millisecond,
		Hooks:          Hooks{Timeout: 30 * time.Second},
	}
	if len(c.Instances) != 1 || !reflect.DeepEqual(c.Instances[0], want) || c.Global.LogLevel != "debug" {
		t.Errorf("%s:\n got %+v\nwant %+v", path, c, want)
	}
}

func TestLoadSyntaxErrorNamesPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(path, []byte("[global]\nlog_level = = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+": line 2") {
		t.Errorf("got %v, want it to start with %s: line 2", err, path)
	}
}

// Every shipped example must stay a valid config.
func TestShippedExamplesAreValid(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
