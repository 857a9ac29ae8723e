// Command failoverd runs the VRRP virtual routers of a failover config file:
// it elects a master with its peers, holds the floating addresses while it is
// master and announces them.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/failover-ha/failover/pkg/config"
	"github.com/failover-ha/failover/pkg/daemon"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("failoverd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", config.DefaultPath, "configuration `file` (TOML)")
	check := fs.Bool("check", false, "validate the configuration, print the result and exit 0 (valid) or 1 (invalid)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: failoverd [-config FILE] [-check] [-version]

failoverd runs the VRRP virtual routers (RFC 3768 v2, RFC 9568 v3) of a
failover configuration: it elects a master with its peers, holds the
floating addresses while master, announces them (gratuitous ARP, unsolicited
neighbour advertisements) and releases them on SIGTERM/SIGINT.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "failoverd: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "failoverd", versionString())
		return 0
	}

	load := func() (*config.Config, error) {
		cfg, err := config.Load(*configPath)
		if err != nil {
			return nil, err
		}
		return cfg, cfg.CheckPrograms(os.Geteuid() == 0)
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "failoverd: invalid configuration:\n%v\n", err)
		return 1
	}
	if *check {
		fmt.Fprintf(stdout, "%s: configuration OK (%d instances)\n", *configPath, len(cfg.Instances))
		return 0
	}

	log := hclog.New(&hclog.LoggerOptions{
		Name:       "failoverd",
		Level:      hclog.LevelFromString(cfg.Global.LogLevel),
		JSONFormat: cfg.Global.LogFormat == "json",
		Output:     stderr,
	})
	d, err := daemon.New(cfg, log)
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	d.Loader = load
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sd := systemdNotifier(log, d)
	d.OnReady = sd.ready
	d.OnChange = sd.status
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			log.Info("SIGHUP: reloading the configuration")
			sd.send("RELOADING=1")
			d.Reload() // logs its own outcome
			sd.send("READY=1")
		}
	}()
	go sd.watchdog(ctx)
	defer sd.send("STOPPING=1")
	log.Info("starting", "version", versionString(), "config", *configPath)
	if err := d.Run(ctx); err != nil {
		log.Error("failed", "error", err)
		return 1
	}
	return 0
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
	}
	return "dev"
}
