package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "failover.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckValid(t *testing.T) {
	p := writeConfig(t, `
[[instance]]
name = "web"
interface = "eth0"
vrid = 51
virtual_ips = ["192.0.2.100/24"]
`)
	code, out, errs := runCLI(t, "-check", "-config", p)
	if code != 0 || !strings.Contains(out, "configuration OK (1 instances)") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// Invalid config never starts the daemon: -check and a plain start both
// exit 1 and the error names the instance, key and value.
func TestInvalidConfigIsRejected(t *testing.T) {
	p := writeConfig(t, `
[[instance]]
name = "web"
interface = "eth0"
vrid = 51
priority = 300
virtual_ips = ["192.0.2.100/24"]
`)
	for _, args := range [][]string{{"-check", "-config", p}, {"-config", p}} {
		code, _, errs := runCLI(t, args...)
		if code != 1 || !strings.Contains(errs, `instance "web": priority = 300`) {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
}

func TestMissingConfigFile(t *testing.T) {
	code, _, errs := runCLI(t, "-check", "-config", "/nonexistent/failover.toml")
	if code != 1 || !strings.Contains(errs, "/nonexistent/failover.toml") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

func TestVersionAndUsage(t *testing.T) {
	if code, out, _ := runCLI(t, "-version"); code != 0 || !strings.HasPrefix(out, "failoverd ") {
		t.Errorf("-version: exit %d, %q", code, out)
	}
	if code, _, errs := runCLI(t, "-bogus"); code != 2 || !strings.Contains(errs, "Usage: failoverd") {
		t.Errorf("-bogus: exit %d, %q", code, errs)
	}
	if code, _, errs := runCLI(t, "extra"); code != 2 || !strings.Contains(errs, `unexpected argument "extra"`) {
		t.Errorf("extra arg: exit %d, %q", code, errs)
	}
}
