package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const trackingConfig = `
[[track_script]]
name = "nginx"
command = ["/usr/bin/pgrep", "-x", "nginx"]
interval = "2s"
fall = 3
rise = 2
weight = -50

[[track_script]]
name = "disk"
command = "/usr/local/bin/check-disk"

[[instance]]
name = "web"
interface = "eth0"
vrid = 51
virtual_ips = ["192.0.2.100/24"]
notify_master = ["/usr/local/bin/app-up", "--fast"]
notify_backup = "/usr/local/bin/app-down"
notify = "/etc/keepalived/notify.sh"
hook_timeout = "10s"
track_scripts = ["nginx", "disk"]
track_interfaces = ["eth1"]

[[instance]]
name = "db"
interface = "eth1"
vrid = 52
virtual_ips = ["198.51.100.100/24"]

[[sync_group]]
name = "app"
instances = ["web", "db"]
notify_fault = ["/usr/local/bin/page", "oncall"]
`

func TestParseTracking(t *testing.T) {
	c, err := Parse([]byte(trackingConfig), "failover.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := []TrackScript{
		{Name: "nginx", Command: []string{"/usr/bin/pgrep", "-x", "nginx"}, Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3, Weight: -50},
		{Name: "disk", Command: []string{"/usr/local/bin/check-disk"}, Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1},
	}
	if !reflect.DeepEqual(c.TrackScripts, want) {
		t.Errorf("track scripts\n got %+v\nwant %+v", c.TrackScripts, want)
	}
	web := c.Instance("web")
	wantHooks := Hooks{Master: []string{"/usr/local/bin/app-up", "--fast"}, Backup: []string{"/usr/local/bin/app-down"},
		Notify: []string{"/etc/keepalived/notify.sh"}, Timeout: 10 * time.Second}
	if !reflect.DeepEqual(web.Hooks, wantHooks) || len(web.Hooks.Configured()) != 3 {
		t.Errorf("hooks %+v", web.Hooks)
	}
	if !reflect.DeepEqual(web.TrackScripts, []string{"nginx", "disk"}) || !reflect.DeepEqual(web.TrackInterfaces, []string{"eth1"}) {
		t.Errorf("tracking %v %v", web.TrackScripts, web.TrackInterfaces)
	}
	g := c.SyncGroupOf("db")
	if g == nil || g.Name != "app" || !reflect.DeepEqual(g.Instances, []string{"web", "db"}) || g.Hooks.Fault[1] != "oncall" || g.Hooks.Timeout != 30*time.Second {
		t.Errorf("sync group %+v", g)
	}
	if c.Instance("db").Hooks.Timeout != 30*time.Second {
		t.Error("default hook_timeout is not 30s")
	}
}

func TestParseTrackingErrors(t *testing.T) {
	base := "[[instance]]\nname = \"web\"\ninterface = \"eth0\"\nvrid = 51\nvirtual_ips = [\"192.0.2.100/24\"]\n"
	cases := []struct {
		name, add, want string
	}{
		{"relative hook", `notify_master = "app-up"`, `instance "web": notify_master = "app-up": program "app-up" must be an absolute path`},
		{"shell string", `notify_master = "/bin/app up"`, `is one string with spaces; no shell is involved`},
		{"empty argv", `notify = []`, `notify = []: must name a program`},
		{"hook of wrong type", `notify_backup = 3`, `notify_backup = 3: must be a program path or an argv array`},
		{"hook_timeout too short", `hook_timeout = "10ms"`, `hook_timeout = "10ms": must be from 1s to 1h`},
		{"unknown track script", `track_scripts = ["nope"]`, `instance "web": track_scripts[0] = "nope": no [[track_script]] has this name`},
		{"bad tracked interface", `track_interfaces = ["a/b"]`, `track_interfaces[0] = "a/b"`},
		{"track script weight", "\n[[track_script]]\nname = \"x\"\ncommand = \"/bin/true\"\nweight = 300", `track_script "x": weight = 300: must be -253 to 253`},
		{"track script missing command", "\n[[track_script]]\nname = \"x\"", `track_script "x": missing required key "command"`},
		{"track script unknown key", "\n[[track_script]]\nname = \"x\"\ncommand = \"/bin/true\"\nevery = \"1s\"", `track_script "x": unknown key "track_script.every"`},
		{"duplicate track script", "\n[[track_script]]\nname = \"x\"\ncommand = \"/bin/true\"\n[[track_script]]\nname = \"x\"\ncommand = \"/bin/true\"", `track_script #2: name = "x": already used by track_script #1`},
		{"group of unknown instance", "\n[[sync_group]]\nname = \"g\"\ninstances = [\"web\", \"ghost\"]", `sync_group "g": instances[1] = "ghost": no [[instance]] has this name`},
		{"instance in two groups", "\n[[sync_group]]\nname = \"g\"\ninstances = [\"web\"]\n[[sync_group]]\nname = \"h\"\ninstances = [\"web\"]", `sync_group "h": instances[0] = "web": instance is already in sync_group "g"`},
		{"group without instances", "\n[[sync_group]]\nname = \"g\"", `sync_group "g": missing required key "instances"`},
		{"group unknown key", "\n[[sync_group]]\nname = \"g\"\ninstances = [\"web\"]\npriority = 3", `sync_group "g": unknown key "sync_group.priority"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(base+c.add+"\n"), "failover.toml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}

// Script security: as root, a program or directory others can write is refused.
func TestCheckPrograms(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create root-owned files and test ownership")
	}
	dir := t.TempDir() // root-owned, 0700
	os.Chmod(dir, 0o755)
	good := filepath.Join(dir, "good.sh")
	os.WriteFile(good, []byte("#!/bin/sh\n"), 0o755)
	groupW := filepath.Join(dir, "groupw.sh")
	os.WriteFile(groupW, []byte("#!/bin/sh\n"), 0o775)
	os.Chmod(groupW, 0o775)
	os.Chown(groupW, 0, 1) // group daemon may write it
	worldDir := filepath.Join(dir, "open")
	os.Mkdir(worldDir, 0o777)
	os.Chmod(worldDir, 0o777)
	inOpen := filepath.Join(worldDir, "x.sh")
	os.WriteFile(inOpen, []byte("#!/bin/sh\n"), 0o755)
	notExec := filepath.Join(dir, "plain")
	os.WriteFile(notExec, []byte("x"), 0o644)
	userOwned := filepath.Join(dir, "user.sh")
	os.WriteFile(userOwned, []byte("#!/bin/sh\n"), 0o755)
	os.Chown(userOwned, 65534, 0)
	link := filepath.Join(dir, "link.sh")
	os.Symlink(inOpen, link)

	cases := []struct {
		path string
		want string
	}{
		{good, ""},
		{"/bin/true", ""},
		{groupW, "insecure: the program is writable by group 1"},
		{inOpen, "insecure: directory " + worldDir + " is writable by everyone"},
		{link, "insecure: directory " + worldDir},
		{notExec, "is not executable"},
		{userOwned, "insecure: the program is owned by uid 65534"},
		{filepath.Join(dir, "missing"), "no such file"},
	}
	for _, c := range cases {
		cfg := &Config{Path: "f.toml", Instances: []Instance{{Name: "web", Hooks: Hooks{Master: []string{c.path}}}}}
		err := cfg.CheckPrograms(true)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: got %v, want %q", c.path, err, c.want)
		}
		if err != nil && !strings.Contains(err.Error(), `instance "web": notify_master = "`+c.path+`"`) {
			t.Errorf("error does not name instance and key: %v", err)
		}
	}
	// Not as root, only existence and the execute bit matter.
	cfg := &Config{Instances: []Instance{{Name: "web", Hooks: Hooks{Master: []string{groupW}}}}}
	if err := cfg.CheckPrograms(false); err != nil {
		t.Errorf("non-root check: %v", err)
	}
	// /tmp-like sticky world-writable directory with a root-owned file: fine.
	sticky := filepath.Join(dir, "sticky")
	os.Mkdir(sticky, 0o777)
	os.Chmod(sticky, 0o777|os.ModeSticky)
	inSticky := filepath.Join(sticky, "ok.sh")
	os.WriteFile(inSticky, []byte("#!/bin/sh\n"), 0o755)
	cfg = &Config{TrackScripts: []TrackScript{{Name: "t", Command: []string{inSticky}}}}
	if err := cfg.CheckPrograms(true); err != nil {
		t.Errorf("root-owned file in a sticky directory: %v", err)
	}
}

func TestMetricsListen(t *testing.T) {
	base := "[[instance]]\nname = \"web\"\ninterface = \"eth0\"\nvrid = 51\nvirtual_ips = [\"192.0.2.100/24\"]\n"
	for _, good := range []string{"127.0.0.1:9650", "[::1]:9650", ":9650", "localhost:9650"} {
		c, err := Parse([]byte("[global]\nmetrics_listen = \""+good+"\"\n"+base), "f.toml")
		if err != nil || c.Global.MetricsListen != good {
			t.Errorf("%s: %v", good, err)
		}
	}
	for _, bad := range []string{"9650", "127.0.0.1:0", "127.0.0.1:http", "example.com:9650"} {
		if _, err := Parse([]byte("[global]\nmetrics_listen = \""+bad+"\"\n"+base), "f.toml"); err == nil || !strings.Contains(err.Error(), "global: metrics_listen = \""+bad+"\"") {
			t.Errorf("%s accepted or badly reported: %v", bad, err)
		}
	}
}
