package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/failover-ha/failover/pkg/control"
)

// renderTable prints the compact one-row-per-instance view.
func renderTable(w io.Writer, all []control.InstanceStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tINTERFACE\tVRID\tSTATE\tSINCE\tPRIORITY\tMASTER\tVIPS")
	for _, st := range all {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n",
			st.Name, st.Interface, st.VRID, stateLabel(st), since(st.Since, now, "15:04:05"),
			priorityLabel(st), masterLabel(st), strings.Join(st.VIPs, ","))
	}
	return tw.Flush()
}

// stateLabel adds what qualifies the state: a drain or a fault.
func stateLabel(st control.InstanceStatus) string {
	switch {
	case st.Drained && st.State == "MASTER":
		return "MASTER (draining)"
	case st.Drained:
		return st.State + " (drained)"
	case st.State == "FAULT" && len(st.Faults) > 0:
		return "FAULT (" + strings.Join(st.Faults, "; ") + ")"
	}
	return st.State
}

// priorityLabel shows effective/configured when tracking or a drain moved it.
func priorityLabel(st control.InstanceStatus) string {
	if st.Priority != st.ConfiguredPriority {
		return fmt.Sprintf("%d/%d", st.Priority, st.ConfiguredPriority)
	}
	return fmt.Sprint(st.Priority)
}

func masterLabel(st control.InstanceStatus) string {
	switch {
	case st.IsMaster:
		return "this host"
	case st.Master == "" || st.State == "FAULT" || st.State == "INIT":
		return "-"
	}
	return fmt.Sprintf("%s (%d)", st.Master, st.MasterPriority)
}

// since prints a time as a wall-clock time in layout and an age.
func since(t, now time.Time, layout string) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%s (%s ago)", t.Local().Format(layout), age(now.Sub(t)))
}

func age(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < 48*time.Hour:
		return d.Round(time.Second).String()
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// renderDetail prints everything about one instance.
func renderDetail(w io.Writer, st control.InstanceStatus, now time.Time) error {
	p := func(label, format string, args ...any) {
		fmt.Fprintf(w, "  %-12s %s\n", label+":", fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(w, "%s: VRID %d on %s, VRRPv%d\n", st.Name, st.VRID, st.Interface, st.Version)
	p("state", "%s since %s", stateLabel(st), since(st.Since, now, "2006-01-02 15:04:05.000"))
	p("priority", "%d (configured %d)", st.Priority, st.ConfiguredPriority)
	switch {
	case st.IsMaster:
		p("master", "this host (%s), advertising every %s", st.Source, msDur(st.MasterIntervalMS))
	case st.Master != "":
		p("master", "%s, priority %d, advertising every %s", st.Master, st.MasterPriority, msDur(st.MasterIntervalMS))
	default:
		p("master", "none heard")
	}
	p("source", "%s", dash(st.Source))
	p("VIPs", "%s", strings.Join(st.VIPs, ", "))
	p("drain", "%s", yesNo(st.Drained))
	p("faults", "%s", dash(strings.Join(st.Faults, "; ")))
	for i, pr := range st.Peers {
		label := ""
		if i == 0 {
			label = "peers:"
		}
		cs := ""
		if pr.ChecksumMode != "" {
			cs = ", checksum " + pr.ChecksumMode
		}
		fmt.Fprintf(w, "  %-12s %s priority %d every %s, last heard %s ago, %d adverts%s\n",
			label, pr.Addr, pr.Priority, pr.Interval, age(now.Sub(pr.LastSeen)), pr.Adverts, cs)
	}
	if len(st.Peers) == 0 {
		p("peers", "none heard")
	}
	for i, tr := range st.Tracks {
		label := ""
		if i == 0 {
			label = "tracking:"
		}
		ok := "ok"
		if !tr.OK {
			ok = "FAILING"
		}
		detail := ""
		if tr.Detail != "" {
			detail = " (" + tr.Detail + ")"
		}
		fmt.Fprintf(w, "  %-12s %s %s %s, weight %d%s\n", label, tr.Kind, tr.Name, ok, tr.Weight, detail)
	}
	for i, h := range st.Hooks {
		label := ""
		if i == 0 {
			label = "hooks:"
		}
		fmt.Fprintf(w, "  %-12s %s for %s at %s: %s (%s)\n", label, h.Hook, h.State,
			h.Started.Local().Format("15:04:05.000"), h.Result, msDur(h.Duration))
	}
	c := st.Counters
	p("adverts", "sent %d (priority 0: %d), received %d (priority 0: %d), address list mismatches %d",
		c.AdvertsSent, c.PriorityZeroSent, c.AdvertsReceived, c.PriorityZeroReceived, c.AddrListMismatch)
	if c.ChecksumPseudoHeader+c.ChecksumMessageOnly > 0 {
		p("checksums", "pseudo-header %d, message-only %d (VRRPv3 IPv4 adverts received)", c.ChecksumPseudoHeader, c.ChecksumMessageOnly)
	}
	p("drops", "%s", drops(c.Drops))
	p("announce", "%d announcements, %d split-brain re-announcements", c.Announcements, c.Reannouncements)
	p("errors", "send %d, address %d, announce %d", c.SendErrors, c.AddressErrors, c.AnnounceErrors)
	p("transitions", "%d", c.Transitions)
	for _, t := range st.Transitions {
		fmt.Fprintf(w, "    %s  %-6s -> %-6s  %s\n", t.Time.Local().Format("2006-01-02 15:04:05.000"), t.From, t.To, t.Reason)
	}
	return nil
}

// drops lists every reason with a count, zero ones last, so operators see
// what is checked as well as what was hit.
func drops[K ~string](m map[K]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := m[K(keys[i])], m[K(keys[j])]
		if (a == 0) != (b == 0) {
			return a != 0
		}
		return keys[i] < keys[j]
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[K(k)]))
	}
	return strings.Join(parts, ", ")
}

func msDur(ms float64) string {
	return time.Duration(ms * float64(time.Millisecond)).Round(time.Microsecond).String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes: advertising priority 0 / competing at priority 1 until resumed"
	}
	return "no"
}

func formatEvent(t control.Transition) string {
	return fmt.Sprintf("%s %s %s -> %s (priority %d): %s", t.Time.Local().Format("2006-01-02 15:04:05.000"),
		t.Instance, t.From, t.To, t.Priority, t.Reason)
}

func formatReload(r control.ReloadResponse) string {
	var parts []string
	add := func(label string, names []string) {
		if len(names) > 0 {
			parts = append(parts, label+" "+strings.Join(names, ", "))
		}
	}
	add("added", r.Added)
	add("removed", r.Removed)
	add("changed", r.Changed)
	add("unchanged", r.Unchanged)
	if len(parts) == 0 {
		return "reloaded: nothing to do"
	}
	return "reloaded: " + strings.Join(parts, "; ")
}
