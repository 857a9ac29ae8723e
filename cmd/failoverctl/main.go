// Command failoverctl shows and steers a running failoverd through its local
// control socket.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/failover-ha/failover/pkg/control"
)

// usageText names the socket defaults from the constants the code uses, so
// it cannot drift from them.
var usageText = `Usage: failoverctl [-socket PATH] COMMAND [ARGS]

Commands:
  status [NAME] [-json]   one row per instance, or everything about NAME
  events [-json]          follow state changes live until interrupted
  drain [NAME]            hand mastership over for maintenance, without a gap
                          (all instances when NAME is omitted)
  resume [NAME]           end a drain: compete with the configured priority
  reload                  re-read the configuration file (like SIGHUP)

The socket is -socket, else $` + control.SocketEnv + `, else ` + control.DefaultSocket + `.
Exit status: 0 ok, 1 error (daemon unreachable, unknown instance, rejected
reload), 2 usage.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv(control.SocketEnv), os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, envSocket string, stdout, stderr io.Writer) int {
	global := flag.NewFlagSet("failoverctl", flag.ContinueOnError)
	global.SetOutput(stderr)
	global.Usage = func() { fmt.Fprint(stderr, usageText) }
	socket := global.String("socket", "", "control socket `path` of the failoverd to talk to")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if global.NArg() == 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	path := *socket
	if path == "" {
		path = envSocket
	}
	if path == "" {
		path = control.DefaultSocket
	}
	c := control.NewClient(path)
	cmd, rest := global.Arg(0), global.Args()[1:]

	fs := flag.NewFlagSet("failoverctl "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageText) }
	asJSON := false
	if cmd == "status" || cmd == "events" {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	}
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	maxPos := map[string]int{"status": 1, "events": 0, "drain": 1, "resume": 1, "reload": 0}
	limit, known := maxPos[cmd]
	if !known {
		fmt.Fprintf(stderr, "failoverctl: unknown command %q\n\n%s", cmd, usageText)
		return 2
	}
	if len(pos) > limit {
		fmt.Fprintf(stderr, "failoverctl %s: unexpected argument %q\n", cmd, pos[limit])
		return 2
	}
	name := ""
	if len(pos) == 1 {
		name = pos[0]
	}

	reqCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch cmd {
	case "status":
		err = status(reqCtx, c, name, asJSON, stdout)
	case "events":
		err = c.Events(ctx, func(t control.Transition) {
			if asJSON {
				json.NewEncoder(stdout).Encode(t)
				return
			}
			fmt.Fprintln(stdout, formatEvent(t))
		})
	case "drain", "resume":
		var names []string
		if cmd == "drain" {
			names, err = c.Drain(reqCtx, name)
		} else {
			names, err = c.Resume(reqCtx, name)
		}
		if err == nil {
			past := map[string]string{"drain": "draining", "resume": "resumed"}[cmd]
			fmt.Fprintf(stdout, "%s: %s\n", past, strings.Join(names, ", "))
		}
	case "reload":
		var r control.ReloadResponse
		r, err = c.Reload(reqCtx)
		if err == nil {
			fmt.Fprintln(stdout, formatReload(r))
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "failoverctl %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// parseInterspersed lets flags follow positional arguments
// (`failoverctl status web -json`), which the flag package alone does not.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func status(ctx context.Context, c *control.Client, name string, asJSON bool, w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if name != "" {
		st, err := c.StatusOf(ctx, name)
		if err != nil {
			return err
		}
		if asJSON {
			return enc.Encode(st)
		}
		return renderDetail(w, st, time.Now())
	}
	all, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return enc.Encode(control.StatusResponse{Instances: all})
	}
	return renderTable(w, all, time.Now())
}
