package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// CheckPrograms checks every hook and track_script program on this host: it
// must exist and be an executable regular file. When failoverd runs as root
// (asRoot), neither the program nor any directory above it may be writable
// by anyone but root, since whoever can change it runs code as root: this is
// keepalived's script security, on by default here. It is separate from
// Parse because it depends on the host, not the file.
func (c *Config) CheckPrograms(asRoot bool) error {
	var errs []error
	check := func(section, key string, argv []string) {
		if err := checkProgram(argv[0], asRoot); err != nil {
			errs = append(errs, &Error{File: c.Path, Section: section, Key: key, Value: fmt.Sprintf("%q", argv[0]), Msg: err.Error()})
		}
	}
	hooks := func(section string, h Hooks) {
		for _, kh := range h.Configured() {
			check(section, kh.Key, kh.Argv)
		}
	}
	for _, in := range c.Instances {
		hooks(fmt.Sprintf("instance %q", in.Name), in.Hooks)
	}
	for _, g := range c.SyncGroups {
		hooks(fmt.Sprintf("sync_group %q", g.Name), g.Hooks)
	}
	for _, ts := range c.TrackScripts {
		check(fmt.Sprintf("track_script %q", ts.Name), "command", ts.Command)
	}
	return errors.Join(errs...)
}

func checkProgram(path string, asRoot bool) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("cannot use program: %w", err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("cannot use program: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", real)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable", real)
	}
	if !asRoot {
		return nil
	}
	// Walk from the file up to /: each must be safe from non-root writers.
	childRootOwned := true
	for p := real; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("cannot check %s: %w", p, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("cannot check owner of %s", p)
		}
		mode := fi.Mode()
		switch {
		case st.Uid != 0:
			return insecure(path, p, fmt.Sprintf("owned by uid %d", st.Uid))
		case mode.Perm()&0o020 != 0 && st.Gid != 0:
			return insecure(path, p, fmt.Sprintf("writable by group %d", st.Gid))
		case mode.Perm()&0o002 != 0 && !(mode.IsDir() && mode&os.ModeSticky != 0 && childRootOwned):
			// A world-writable sticky directory (like /tmp) is safe only
			// for entries root owns: others cannot replace them.
			return insecure(path, p, "writable by everyone")
		}
		childRootOwned = st.Uid == 0
		if p == "/" || p == "." {
			return nil
		}
	}
}

func insecure(program, where, why string) error {
	if program == where {
		return fmt.Errorf("insecure: the program is %s; it runs as root, so only root may be able to change it (chown root and chmod go-w)", why)
	}
	return fmt.Errorf("insecure: directory %s is %s; the program runs as root, so only root may be able to change it or its directories", where, why)
}
