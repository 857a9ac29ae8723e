// Command failover-lab runs failover in a throw-away network-namespace lab on
// this host (see pkg/lab): `demo` shows a cluster failing over while you
// watch, `bench` measures takeovers and load against the protocol's limits and
// against keepalived. It needs root; everything it creates is removed when it
// exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: failover-lab COMMAND [flags]

Commands:
  demo    a 3-host cluster and a client in network namespaces: elect, crash
          the master, watch the VIP move, restart, hand over gracefully
  bench   takeover time after a crash, a graceful stop and a link loss
          against the protocol limit and keepalived; CPU and memory at 1 to
          255 VRIDs; writes a markdown table, an SVG chart and raw JSON

Run "failover-lab COMMAND -h" for the command's flags. Needs root.
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "demo":
		return demo(ctx, args[1:], stdout, stderr)
	case "bench":
		return benchCmd(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "failover-lab: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

// defaultBinDir is the directory of this executable: make builds failoverd
// and failover-lab side by side into bin/.
func defaultBinDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "bin"
	}
	return filepath.Dir(exe)
}

func findBinary(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not found in %s (run make build, or pass -bin DIR)", name, dir)
	}
	return p, nil
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("failover-lab "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
