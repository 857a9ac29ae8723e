package lab

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// nftTable is the lab's table in the switch namespace (family bridge).
const nftTable = "lab"

// faults is the wanted fault state; every change rewrites the whole nft
// table in one atomic transaction, so rules never pile up or half-apply.
type faults struct {
	partition [][]string      // groups of bridge port names
	isolated  map[string]bool // port -> cut
	loss      map[string]int  // port -> percent (1..100)
}

// Partition drops frames between members of different groups at the
// bridge; hosts in no group still reach everyone and carrier stays up. It
// replaces any previous partition (isolation and loss stay). Partition()
// with no groups removes the partition.
func (l *Lab) Partition(groups ...[]*Host) error {
	seen := map[*Host]int{}
	var ports [][]string
	for gi, g := range groups {
		var names []string
		for _, h := range g {
			if err := l.check(h); err != nil {
				return err
			}
			if prev, dup := seen[h]; dup {
				return fmt.Errorf("lab %s: partition: %s is in groups %d and %d", l.ID, h.Name, prev+1, gi+1)
			}
			seen[h] = gi
			names = append(names, h.Port)
		}
		if len(names) > 0 {
			ports = append(ports, names)
		}
	}
	return l.updateFaults(func(f *faults) { f.partition = ports })
}

// Isolate drops every frame into or out of h's bridge port: a total cut
// while carrier stays up, as with a broken switch or VLAN misconfiguration.
func (l *Lab) Isolate(h *Host) error {
	if err := l.check(h); err != nil {
		return err
	}
	return l.updateFaults(func(f *faults) {
		if f.isolated == nil {
			f.isolated = map[string]bool{}
		}
		f.isolated[h.Port] = true
	})
}

// Loss drops percent% of the frames entering and leaving h's bridge port
// (0 removes it, 100 drops all). A frame from h is dropped or kept once, at
// ingress, for all the ports it is flooded to (the decision is kept in the
// frame's mark); frames towards h are dropped independently per frame.
func (l *Lab) Loss(h *Host, percent int) error {
	if err := l.check(h); err != nil {
		return err
	}
	if percent < 0 || percent > 100 {
		return fmt.Errorf("lab %s: loss %d%% for %s: want 0..100", l.ID, percent, h.Name)
	}
	return l.updateFaults(func(f *faults) {
		if f.loss == nil {
			f.loss = map[string]int{}
		}
		if percent == 0 {
			delete(f.loss, h.Port)
		} else {
			f.loss[h.Port] = percent
		}
	})
}

// Heal removes all partitions, isolation and loss.
func (l *Lab) Heal() error {
	return l.updateFaults(func(f *faults) { *f = faults{} })
}

func (l *Lab) check(h *Host) error {
	if h == nil || h.lab != l {
		return fmt.Errorf("lab %s: host %v does not belong to this lab", l.ID, h)
	}
	return nil
}

func (l *Lab) updateFaults(change func(*faults)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("lab %s: closed", l.ID)
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return fmt.Errorf("lab %s: cutting links needs nftables (apt-get install nftables): %w", l.ID, err)
	}
	next := l.faults.clone()
	change(&next)
	script := next.render()
	l.log("ip netns exec %s nft -f - <<'EOF'\n%sEOF", l.Switch, script)
	_, err := runCmd(context.Background(), strings.NewReader(script), "ip", "netns", "exec", l.Switch, "nft", "-f", "-")
	if err != nil {
		return fmt.Errorf("namespace %s: %w\nscript:\n%s", l.Switch, err, script)
	}
	l.faults = next
	return nil
}

func (f faults) clone() faults {
	var c faults
	for _, g := range f.partition {
		c.partition = append(c.partition, slices.Clone(g))
	}
	if f.isolated != nil {
		c.isolated = map[string]bool{}
		for k, v := range f.isolated {
			c.isolated[k] = v
		}
	}
	if f.loss != nil {
		c.loss = map[string]int{}
		for k, v := range f.loss {
			c.loss[k] = v
		}
	}
	return c
}

// render returns an nft script that replaces the lab table atomically (the
// add-then-delete idiom works whether or not the table exists).
func (f faults) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "add table bridge %s\ndelete table bridge %s\n", nftTable, nftTable)
	var fwd []string
	for _, p := range sortedKeys(f.isolated) {
		fwd = append(fwd, fmt.Sprintf("iifname %q drop", p), fmt.Sprintf("oifname %q drop", p))
	}
	for i, from := range f.partition {
		for j, to := range f.partition {
			if i != j {
				fwd = append(fwd, fmt.Sprintf("iifname %s oifname %s drop", nftSet(from), nftSet(to)))
			}
		}
	}
	for _, p := range sortedKeys(f.loss) {
		n := f.loss[p]
		if n >= 100 { // nft rejects "mod 100 < 100"
			fwd = append(fwd, fmt.Sprintf("iifname %q drop", p), fmt.Sprintf("oifname %q drop", p))
			continue
		}
		fwd = append(fwd,
			fmt.Sprintf("iifname %q meta mark < %d drop", p, n),
			fmt.Sprintf("oifname %q numgen random mod 100 < %d drop", p, n))
	}
	if len(fwd) == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "table bridge %s {\n", nftTable)
	if len(f.loss) > 0 {
		// One random number per frame at ingress, before flooding clones it.
		b.WriteString("\tchain prerouting {\n\t\ttype filter hook prerouting priority 0; policy accept;\n")
		b.WriteString("\t\tmeta mark set numgen random mod 100\n\t}\n")
	}
	b.WriteString("\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n")
	for _, r := range fwd {
		b.WriteString("\t\t" + r + "\n")
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

func nftSet(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return "{ " + strings.Join(q, ", ") + " }"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
