package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/failover-ha/failover/pkg/lab"
)

// TestDemo runs `make demo`'s story with a short interval, so the README's
// first command keeps working.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("network-namespace demo skipped in -short mode")
	}
	if err := lab.BuildAvailable(); err != nil {
		t.Skip(err)
	}
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", bin+"/", "../failoverd").CombinedOutput(); err != nil {
		t.Fatalf("build failoverd: %v\n%s", err, out)
	}
	var out, errb bytes.Buffer
	code := demo(context.Background(), []string{"-bin", bin, "-interval", "100ms"}, &out, &errb)
	t.Logf("demo output:\n%s", out.String())
	if code != 0 {
		t.Fatalf("demo exited %d: %s", code, errb.String())
	}
	for _, want := range []string{"VIP 192.0.2.100 is on: h3", "h2 took over", "answers moved to h2", "namespaces, links and processes removed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
