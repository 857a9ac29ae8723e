package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Hooks, [[track_script]] and [[sync_group]]: the keys that make the service
// follow the VIP.

// trackRef remembers an instance's track_scripts until every
// [[track_script]] has been read (they may come later in the file).
type trackRef struct {
	s     scope
	names []string
}

// hookKey reads the notify keys shared by instances and sync groups; it
// reports whether k was one of them.
func (s scope) hookKey(h *Hooks, k string, v any) bool {
	if k == "hook_timeout" {
		if d, ok := s.durationIn(k, v, time.Second, time.Hour, "must be from 1s to 1h"); ok {
			h.Timeout = d
		}
		return true
	}
	dst := h.hook(k)
	if dst == nil {
		return false
	}
	if argv, ok := s.argv(k, v); ok {
		*dst = argv
	}
	return true
}

// argv reads a program to run: an array of strings (program and arguments,
// no shell), or a plain string naming just the program. The program must be
// an absolute path so what runs never depends on $PATH.
func (s scope) argv(k string, v any) ([]string, bool) {
	var argv []string
	switch v := v.(type) {
	case string:
		argv = []string{v}
	case []any:
		for i, e := range v {
			str, ok := e.(string)
			if !ok {
				s.keyErrorf(fmt.Sprintf("%s[%d]", k, i), e, "must be a string, not %s", typeName(e))
				return nil, false
			}
			argv = append(argv, str)
		}
	default:
		s.keyErrorf(k, v, `must be a program path or an argv array such as ["/usr/local/bin/app-up", "--fast"], not %s`, typeName(v))
		return nil, false
	}
	switch {
	case len(argv) == 0:
		s.keyErrorf(k, v, "must name a program")
		return nil, false
	case strings.ContainsRune(argv[0], ' ') && len(argv) == 1:
		s.keyErrorf(k, v, `is one string with spaces; no shell is involved, write an argv array such as ["/path/prog", "arg"]`)
		return nil, false
	case !filepath.IsAbs(argv[0]):
		s.keyErrorf(k, v, "program %q must be an absolute path", argv[0])
		return nil, false
	}
	for i, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			s.keyErrorf(fmt.Sprintf("%s[%d]", k, i), a, "must not contain a NUL byte")
			return nil, false
		}
	}
	return argv, true
}

// nameList reads a list of table names (track_scripts, instances).
func (s scope) nameList(k string, v any) ([]string, bool) {
	list, ok := s.list(k, v)
	if !ok {
		return nil, false
	}
	var out []string
	seen := map[string]int{}
	for i, e := range list {
		ek := fmt.Sprintf("%s[%d]", k, i)
		str, ok := e.(string)
		if !ok {
			s.keyErrorf(ek, e, "must be a string, not %s", typeName(e))
			continue
		}
		if j, dup := seen[str]; dup {
			s.keyErrorf(ek, e, "duplicate of %s[%d]", k, j)
			continue
		}
		seen[str] = i
		out = append(out, str)
	}
	return out, len(out) == len(list)
}

func (s scope) ifnameList(k string, v any) []string {
	list, ok := s.list(k, v)
	if !ok {
		return nil
	}
	var out []string
	for i, e := range list {
		if str, ok := s.checkedStr(fmt.Sprintf("%s[%d]", k, i), e, checkIfname); ok {
			out = append(out, str)
		}
	}
	return out
}

// arrayOfTables walks an array of tables such as [[track_script]], calling
// fn with each table, its 1-based number and its keys in file order. It
// returns how many entries the array has, or -1 when v is not an array.
func (p *parser) arrayOfTables(top scope, key string, v any, fn func(num int, t map[string]any, hint []string)) int {
	var tables []any
	switch v := v.(type) {
	case []map[string]any:
		for _, t := range v {
			tables = append(tables, t)
		}
	case []any:
		tables = v
	default:
		top.keyErrorf(key, v, "must be an array of tables ([[%s]]), not %s", key, typeName(v))
		return -1
	}
	hints := p.order.tables[key]
	for i, t := range tables {
		m, ok := t.(map[string]any)
		if !ok {
			s := scope{errs: &p.errs, section: fmt.Sprintf("%s #%d", key, i+1)}
			s.errorf("must be a table, not %s %s", typeName(t), render(t))
			continue
		}
		var hint []string
		if len(hints) == len(tables) {
			hint = hints[i]
		}
		fn(i+1, m, hint)
	}
	return len(tables)
}

// requireKeys reports each of keys that t lacks.
func (s scope) requireKeys(t map[string]any, keys ...string) {
	for _, k := range keys {
		if _, ok := t[k]; !ok {
			s.errorf("missing required key %q", k)
		}
	}
}

// uniqueName reads the name key of the num-th table of kind, which must be
// valid and not taken; taken records it.
func (s scope) uniqueName(k string, v any, kind string, num int, taken map[string]int) (string, bool) {
	str, ok := s.str(k, v)
	switch {
	case !ok:
		return "", false
	case !validName(str):
		s.keyErrorf(k, v, "must be 1-64 characters from A-Z a-z 0-9 _ . -, starting with a letter or digit")
		return "", false
	case taken[str] != 0:
		s.keyErrorf(k, v, "already used by %s #%d", kind, taken[str])
		return "", false
	}
	taken[str] = num
	return str, true
}

// tableLabel names a table in messages by its name when that is valid and
// not yet taken (so unambiguous), else by number.
func tableLabel(kind string, num int, t map[string]any, taken map[string]int) string {
	if name, ok := t["name"].(string); ok && validName(name) && taken[name] == 0 {
		return fmt.Sprintf("%s %q", kind, name)
	}
	return fmt.Sprintf("%s #%d", kind, num)
}

func (p *parser) trackScripts(top scope, v any) []TrackScript {
	var out []TrackScript
	names := map[string]int{}
	p.arrayOfTables(top, "track_script", v, func(num int, t map[string]any, hint []string) {
		s := scope{errs: &p.errs, section: tableLabel("track_script", num, t, names)}
		ts := TrackScript{Interval: defaultCheckInterval, Rise: 1, Fall: 1}
		timeoutSet := false
		for _, k := range orderedKeys(t, hint) {
			v := t[k]
			switch k {
			case "name":
				if str, ok := s.uniqueName(k, v, "track_script", num, names); ok {
					ts.Name = str
				}
			case "command":
				if argv, ok := s.argv(k, v); ok {
					ts.Command = argv
				}
			case "interval":
				if d, ok := s.durationIn(k, v, 10*time.Millisecond, time.Hour, "must be from 10ms to 1h"); ok {
					ts.Interval = d
				}
			case "timeout":
				if d, ok := s.durationIn(k, v, 10*time.Millisecond, time.Hour, "must be from 10ms to 1h"); ok {
					ts.Timeout, timeoutSet = d, true
				}
			case "rise":
				if n, ok := s.integer(k, v, 1, 100, "must be 1-100"); ok {
					ts.Rise = int(n)
				}
			case "fall":
				if n, ok := s.integer(k, v, 1, 100, "must be 1-100"); ok {
					ts.Fall = int(n)
				}
			case "weight":
				if n, ok := s.integer(k, v, -253, 253, "must be -253 to 253 (0: failing means FAULT)"); ok {
					ts.Weight = int(n)
				}
			default:
				s.errorf("unknown key %q", toml.Key{"track_script", k}.String())
			}
		}
		s.requireKeys(t, "name", "command")
		if !timeoutSet {
			ts.Timeout = ts.Interval
		}
		out = append(out, ts)
	})
	return out
}

func (p *parser) syncGroups(top scope, v any) []SyncGroup {
	var out []SyncGroup
	names := map[string]int{}
	p.arrayOfTables(top, "sync_group", v, func(num int, t map[string]any, hint []string) {
		s := scope{errs: &p.errs, section: tableLabel("sync_group", num, t, names)}
		g := SyncGroup{Hooks: Hooks{Timeout: defaultHookTimeout}}
		for _, k := range orderedKeys(t, hint) {
			v := t[k]
			switch k {
			case "name":
				if str, ok := s.uniqueName(k, v, "sync_group", num, names); ok {
					g.Name = str
				}
			case "instances":
				if list, ok := s.nameList(k, v); ok {
					if len(list) == 0 {
						s.keyErrorf(k, v, "must list at least one instance")
					}
					g.Instances = list
				}
			default:
				if !s.hookKey(&g.Hooks, k, v) {
					s.errorf("unknown key %q", toml.Key{"sync_group", k}.String())
				}
			}
		}
		s.requireKeys(t, "name", "instances")
		out = append(out, g)
	})
	return out
}

// crossReferences checks names that refer to other tables.
func (p *parser) crossReferences(cfg *Config) {
	for _, ref := range p.trackRefs {
		for i, name := range ref.names {
			if cfg.TrackScript(name) == nil {
				ref.s.keyErrorf(fmt.Sprintf("track_scripts[%d]", i), name, "no [[track_script]] has this name")
			}
		}
	}
	member := map[string]string{}
	for gi, g := range cfg.SyncGroups {
		s := scope{errs: &p.errs, section: fmt.Sprintf("sync_group %q", g.Name)}
		if g.Name == "" {
			s.section = fmt.Sprintf("sync_group #%d", gi+1)
		}
		for i, name := range g.Instances {
			k := fmt.Sprintf("instances[%d]", i)
			switch other, dup := member[name]; {
			case cfg.Instance(name) == nil:
				s.keyErrorf(k, name, "no [[instance]] has this name")
			case dup:
				s.keyErrorf(k, name, "instance is already in sync_group %q; an instance belongs to at most one group", other)
			default:
				member[name] = g.Name
			}
		}
	}
}
