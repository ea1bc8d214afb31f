package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is matched (with errors.Is) by every Problems error returned by
// Load, Parse and Validate, so callers can tell a wrong file from an
// unreadable one.
var ErrInvalid = errors.New("invalid configuration")

// Problem is one thing wrong with a config file.
type Problem struct {
	File string // file name as given to Load or Parse
	Line int    // 1-based line in File; 0 when the problem has no line
	// Key is the dotted key path, e.g. "ring.on" or "menu.options.2.prompt";
	// list items are indexed from 0, e.g. "agents[1].password". It is
	// empty for whole-file problems.
	Key     string
	Message string
}

// String formats the problem the way compilers do, "file:line: key: message",
// so editors and terminals can jump to it. The key part is left out for
// problems that concern the file as a whole (such as YAML syntax errors).
func (p Problem) String() string {
	if p.Key == "" {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	}
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Key, p.Message)
}

// Problems is the error returned by Load and Parse when a file is wrong. It
// lists every problem found, ordered by line, not only the first.
type Problems []Problem

// Error returns one Problem per line.
func (p Problems) Error() string {
	var b strings.Builder
	for i, pr := range p {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(pr.String())
	}
	return b.String()
}

// Is reports whether target is ErrInvalid, so errors.Is(err, ErrInvalid)
// holds for any Problems error, wrapped or not.
func (p Problems) Is(target error) bool { return target == ErrInvalid }
