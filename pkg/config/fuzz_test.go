package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary files to Parse. It must never panic, must return
// exactly one of a Config and an error, and every problem it reports must be
// a *Error or *SyntaxError whose text starts with the file name.
//
// Seeds: every input of the error and valid-case tables and the example
// configs. Run: go test -fuzz=FuzzParse ./pkg/config
func FuzzParse(f *testing.F) {
	for _, tc := range errorCases() {
		f.Add([]byte(tc.data))
	}
	f.Add([]byte(one()))
	f.Add([]byte(one("version", "2", "auth_pass", `"pw"`, "unicast_peers", `["192.0.2.2"]`, "checksum_mode", `"message-only"`)))
	f.Add([]byte(inst("a", "eth0", 7, "192.0.2.1") + inst("b", "eth0", 7, "2001:db8::1")))
	examples, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "config", "*.toml"))
	for _, path := range examples {
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, file)
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v", c, err)
		}
		if err == nil {
			return
		}
		j, ok := err.(interface{ Unwrap() []error })
		if !ok {
			t.Fatalf("error %T is not a join", err)
		}
		for _, e := range j.Unwrap() {
			var ce *Error
			var se *SyntaxError
			if !errors.As(e, &ce) && !errors.As(e, &se) {
				t.Errorf("problem %T %q is neither *Error nor *SyntaxError", e, e)
			}
			if !strings.HasPrefix(e.Error(), file+": ") {
				t.Errorf("problem %q does not start with the file name", e)
			}
		}
	})
}
