package config

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// Error is one problem found in a config file. Its fields let a caller (say,
// a config check command) present problems its own way; Error() gives the
// one-line form "file: section: key = value: message".
type Error struct {
	File    string // the name given to Parse
	Section string // "global", `instance "web"`, "instance #2"; "" for the top level
	Key     string // the key at fault, "" when the problem is not about one key
	Value   string // the offending value written as TOML, "" if none
	Msg     string
}

func (e *Error) Error() string {
	var b strings.Builder
	sep := func() {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.File)
	if e.Section != "" {
		sep()
		b.WriteString(e.Section)
	}
	if e.Key != "" {
		sep()
		b.WriteString(e.Key)
		if e.Value != "" {
			b.WriteString(" = ")
			b.WriteString(e.Value)
		}
	}
	sep()
	b.WriteString(e.Msg)
	return b.String()
}

// SyntaxError is a TOML syntax error. It wraps the toml.ParseError, whose
// Position gives the exact place.
type SyntaxError struct {
	File string
	Err  toml.ParseError
}

func (e *SyntaxError) Error() string {
	pos := e.Err.Position
	where := fmt.Sprintf("line %d", pos.Line)
	if pos.Col > 0 {
		where += fmt.Sprintf(", column %d", pos.Col)
	}
	msg := e.Err.Message
	if e.Err.LastKey != "" {
		msg += fmt.Sprintf(" (after key %q)", e.Err.LastKey)
	}
	if e.File == "" {
		return where + ": invalid TOML: " + msg
	}
	return e.File + ": " + where + ": invalid TOML: " + msg
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// errorList collects problems in the order they are found, which is file
// order because the parser walks the file's tables and keys in order.
type errorList struct {
	file string
	errs []error
}

func (l *errorList) add(err error) { l.errs = append(l.errs, err) }

func (l *errorList) err() error { return errors.Join(l.errs...) }

// scope reports problems inside one table, prefixing them with its label.
type scope struct {
	errs    *errorList
	section string
}

// errorf reports a problem of the table as a whole.
func (s scope) errorf(format string, args ...any) {
	s.errs.add(&Error{File: s.errs.file, Section: s.section, Msg: fmt.Sprintf(format, args...)})
}

// keyErrorf reports a problem with key, whose value is shown as written.
func (s scope) keyErrorf(key string, value any, format string, args ...any) {
	s.errs.add(&Error{File: s.errs.file, Section: s.section, Key: key, Value: render(value),
		Msg: fmt.Sprintf(format, args...)})
}

// secret stands for a value that must not be echoed into logs.
type secret string

// maxRender bounds how much of a value an error message repeats, so a
// pathological file cannot produce an unreadable (or huge) message.
const maxRender = 80

// render writes v the way it would appear in TOML, shortened if long.
func render(v any) string {
	var b strings.Builder
	renderTo(&b, v, 0)
	s := b.String()
	if len(s) > maxRender {
		cut := maxRender - 3
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

func renderTo(b *strings.Builder, v any, depth int) {
	if b.Len() > maxRender {
		return
	}
	switch v := v.(type) {
	case nil:
		// Not a TOML value: the problem is not about a value.
	case secret:
		fmt.Fprintf(b, "<hidden, %d bytes>", len(v))
	case string:
		b.WriteString(strconv.Quote(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case float64:
		switch {
		case math.IsNaN(v):
			b.WriteString("nan")
		case math.IsInf(v, 1):
			b.WriteString("inf")
		case math.IsInf(v, -1):
			b.WriteString("-inf")
		default:
			s := strconv.FormatFloat(v, 'g', -1, 64)
			if !strings.ContainsAny(s, ".eEn") {
				s += ".0"
			}
			b.WriteString(s)
		}
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case time.Time:
		b.WriteString(v.Format(time.RFC3339Nano))
	case []any:
		if depth > 2 {
			b.WriteString("[...]")
			return
		}
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			if b.Len() > maxRender {
				b.WriteString("...")
				break
			}
			renderTo(b, e, depth+1)
		}
		b.WriteByte(']')
	case []map[string]any:
		b.WriteByte('[')
		for i := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			if b.Len() > maxRender {
				b.WriteString("...")
				break
			}
			b.WriteString("{...}")
		}
		b.WriteByte(']')
	case map[string]any:
		if len(v) == 0 {
			b.WriteString("{}")
			return
		}
		if depth > 2 {
			b.WriteString("{...}")
			return
		}
		keys := slices.Sorted(maps.Keys(v))
		b.WriteString("{ ")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			if b.Len() > maxRender {
				b.WriteString("...")
				break
			}
			b.WriteString(toml.Key{k}.String())
			b.WriteString(" = ")
			renderTo(b, v[k], depth+1)
		}
		b.WriteString(" }")
	default:
		fmt.Fprintf(b, "%v", v)
	}
}

// typeName names a decoded TOML value's type for "must be X, not Y" messages.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}
