package main

import (
	"context"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-hclog"
)

// notifier speaks systemd's notify protocol (Type=notify): READY=1 once
// every instance runs, STATUS= with a one-line summary after each change,
// WATCHDOG=1 while the instance loops answer. Outside systemd (no
// NOTIFY_SOCKET) every call is a no-op.
type notifier struct {
	log     hclog.Logger
	summary daemonState
}

// daemonState is what the notifier reports: the summary for STATUS= and
// whether the loops answer, for the watchdog.
type daemonState interface {
	Summary() string
	Alive(time.Duration) bool
}

func systemdNotifier(log hclog.Logger, d daemonState) *notifier {
	return &notifier{log: log, summary: d}
}

func (n *notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("systemd notify failed", "state", state, "error", err)
	}
}

func (n *notifier) ready() {
	n.send("READY=1\nSTATUS=" + n.summary.Summary())
}

func (n *notifier) status() {
	n.send("STATUS=" + n.summary.Summary())
}

// watchdog pings at half of WatchdogSec, but only while every instance loop
// answers within a quarter of it: a wedged loop stops the pings and systemd
// restarts the daemon.
func (n *notifier) watchdog(ctx context.Context) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	n.log.Info("systemd watchdog enabled", "interval", interval)
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n.summary.Alive(interval / 4) {
			n.send("WATCHDOG=1")
		} else {
			n.log.Error("an instance loop is not answering; withholding the watchdog ping")
		}
	}
}
