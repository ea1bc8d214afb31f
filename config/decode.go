package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder walks the yaml.Node tree of one file onto a Config. Working on
// nodes rather than yaml.Unmarshal gives every problem a line, lets unknown
// keys be reported everywhere and lets every problem be collected instead of
// stopping at the first.
type decoder struct {
	file     string
	problems Problems
	// lines maps a dotted key present in the file to the line of the key.
	lines map[string]int
	// bad holds dotted keys whose value could not be decoded; validation
	// skips them (and everything below them) so one mistake is reported once.
	bad map[string]bool
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, lines: map[string]int{}, bad: map[string]bool{}}
}

func (d *decoder) add(line int, key, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Key: key, Message: fmt.Sprintf(format, args...)})
}

// fail reports a value that could not be decoded and marks key as bad.
func (d *decoder) fail(line int, key, format string, args ...any) {
	d.bad[key] = true
	d.add(line, key, format, args...)
}

// err returns the collected problems ordered by line (problems without a
// line last), or nil.
func (d *decoder) err() error {
	if len(d.problems) == 0 {
		return nil
	}
	slices.SortStableFunc(d.problems, func(a, b Problem) int {
		la, lb := a.Line, b.Line
		if la == 0 {
			la = int(^uint(0) >> 1)
		}
		if lb == 0 {
			lb = int(^uint(0) >> 1)
		}
		return la - lb
	})
	return d.problems
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntax turns a yaml.v3 parse error into a Problem at the line yaml names.
func (d *decoder) syntax(err error) {
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	d.add(line, "", "YAML syntax error: %s", msg)
}

// decode parses data and applies it onto c.
func (d *decoder) decode(data []byte, c *Config) {
	root, ok := d.parseYAML(data)
	if !ok || root == nil {
		return
	}
	d.root(root, c)
}

// parseYAML returns the single document's content node, or nil for an
// empty file.
func (d *decoder) parseYAML(data []byte) (root *yaml.Node, ok bool) {
	// yaml.v3 has panicked on hostile input in the past; a config file must
	// never take the process down.
	defer func() {
		if r := recover(); r != nil {
			d.add(0, "", "YAML syntax error: %v", r)
			root, ok = nil, false
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true // empty file: all defaults
		}
		d.syntax(err)
		return nil, false
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.syntax(err)
		return nil, false
	default:
		d.add(next.Line, "", "more than one YAML document; a config file holds one")
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, true
	}
	return doc.Content[0], true
}

// handler decodes the value of one key. path is the dotted key, line the
// line of the key, v the (alias-resolved) value.
type handler func(path string, line int, v *yaml.Node)

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func resolve(n *yaml.Node) *yaml.Node {
	// Aliases are followed one level at a time by each handler; yaml.v3
	// rejects self-containing anchors, so this terminates.
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe names a node's type and value for type errors.
func describe(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!int", "!!float":
			return "number " + n.Value
		case "!!bool":
			return "boolean " + n.Value
		case "!!str":
			return strconv.Quote(n.Value)
		default:
			return n.ShortTag() + " " + strconv.Quote(n.Value)
		}
	}
	return "an unsupported YAML node"
}

// pairs walks the key/value pairs of mapping n (found at path, whose key is
// on line) and calls each(key, keyLine, value) for every well-formed pair.
// It reports non-mapping values, non-scalar keys and duplicate keys.
func (d *decoder) pairs(path string, line int, n *yaml.Node, each func(key string, keyLine int, v *yaml.Node)) bool {
	if n.Kind != yaml.MappingNode {
		d.fail(line, path, "want a mapping, got %s", describe(n))
		return false
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k == nil || k.Kind != yaml.ScalarNode {
			d.add(n.Content[i].Line, path, "keys must be plain words, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.add(k.Line, join(path, k.Value), "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		d.lines[join(path, k.Value)] = k.Line
		each(k.Value, k.Line, v)
	}
	return true
}

// fields decodes a mapping with a fixed set of keys; any other key is
// reported as unknown. A null value (a section with every key commented
// out) keeps the defaults.
func (d *decoder) fields(path string, line int, n *yaml.Node, known map[string]handler) {
	if isNull(n) {
		return
	}
	d.pairs(path, line, n, func(key string, keyLine int, v *yaml.Node) {
		h, ok := known[key]
		if !ok {
			names := make([]string, 0, len(known))
			for k := range known {
				names = append(names, k)
			}
			slices.Sort(names)
			d.add(keyLine, join(path, key), "unknown key (known keys: %s)", strings.Join(names, ", "))
			return
		}
		h(join(path, key), keyLine, v)
	})
}

func (d *decoder) section(known map[string]handler) handler {
	return func(path string, line int, v *yaml.Node) { d.fields(path, line, v, known) }
}

// scalar checks that v is a non-null scalar; the caller converts it.
func (d *decoder) scalar(path string, line int, v *yaml.Node, want string) bool {
	switch {
	case isNull(v):
		d.fail(line, path, "missing value; want %s", want)
		return false
	case v.Kind != yaml.ScalarNode:
		d.fail(line, path, "want %s, got %s", want, describe(v))
		return false
	}
	return true
}

func (d *decoder) str(dst *string) handler {
	return func(path string, line int, v *yaml.Node) {
		if d.scalar(path, line, v, "a string") {
			*dst = v.Value
		}
	}
}

func (d *decoder) integer(dst *int) handler {
	return func(path string, line int, v *yaml.Node) {
		const want = "an integer"
		if !d.scalar(path, line, v, want) {
			return
		}
		var i int
		if v.ShortTag() != "!!int" || v.Decode(&i) != nil {
			d.fail(line, path, "want %s, got %s", want, describe(v))
			return
		}
		*dst = i
	}
}

func (d *decoder) duration(dst *time.Duration) handler {
	return func(path string, line int, v *yaml.Node) {
		const want = "a duration like 1s"
		if !d.scalar(path, line, v, want) {
			return
		}
		if v.ShortTag() != "!!str" {
			// A bare number has no unit: 5 could mean seconds or
			// nanoseconds, so it is refused rather than guessed.
			d.fail(line, path, "want %s, got %s", want, describe(v))
			return
		}
		t, err := time.ParseDuration(v.Value)
		if err != nil {
			d.fail(line, path, "want %s, got %s", want, describe(v))
			return
		}
		*dst = t
	}
}

func (d *decoder) boolean(dst *bool) handler {
	return func(path string, line int, v *yaml.Node) {
		const want = "true or false"
		if !d.scalar(path, line, v, want) {
			return
		}
		var b bool
		// Only YAML 1.2 booleans: "yes", "on" and friends stay strings, so
		// a typo is an error rather than a guess.
		if v.ShortTag() != "!!bool" || v.Decode(&b) != nil {
			d.fail(line, path, "want %s, got %s", want, describe(v))
			return
		}
		*dst = b
	}
}

// stringList decodes a list of scalars; null leaves dst unchanged.
func (d *decoder) stringList(dst *[]string, want string) handler {
	return func(path string, line int, v *yaml.Node) {
		if isNull(v) {
			return
		}
		var out []string
		ok := d.items(path, line, v, func(p string, l int, it *yaml.Node) {
			if !d.scalar(p, l, it, want) {
				out = append(out, "") // keep indexes aligned with the file
				return
			}
			out = append(out, it.Value)
		})
		if ok {
			*dst = out
		}
	}
}

// items walks the list v (the value of the key at path, on line) and calls
// each(itemPath, itemLine, item) for every item, with itemPath like
// "agents[0]" (indexes count from 0, as in Go and jq). It reports a value
// that is not a list and returns false.
func (d *decoder) items(path string, line int, v *yaml.Node, each func(p string, l int, it *yaml.Node)) bool {
	if v.Kind != yaml.SequenceNode {
		d.fail(line, path, "want a list, got %s", describe(v))
		return false
	}
	for i, it := range v.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		l := it.Line
		d.lines[p] = l
		each(p, l, resolve(it))
	}
	return true
}

func (d *decoder) clock(dst *ClockTime) handler {
	return func(path string, line int, v *yaml.Node) {
		const want = `a time of day "HH:MM" (00:00 to 23:59)`
		if !d.scalar(path, line, v, want) {
			return
		}
		c, err := ParseClockTime(v.Value)
		if v.ShortTag() != "!!str" || err != nil {
			d.fail(line, path, "want %s, got %s", want, describe(v))
			return
		}
		*dst = c
	}
}

// root decodes the top-level mapping onto c.
func (d *decoder) root(n *yaml.Node, c *Config) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.add(n.Line, "", "want a mapping of configuration keys at the top level, got %s", describe(n))
		return
	}
	d.fields("", n.Line, n, map[string]handler{
		"company": d.section(map[string]handler{
			"name":  d.str(&c.Company.Name),
			"audio": d.str(&c.Company.Audio),
		}),
		"language": d.str(&c.Language),
		"timezone": d.str(&c.Timezone),
		"day_parts": d.section(map[string]handler{
			"morning":   d.clock(&c.DayParts.Morning),
			"noon":      d.clock(&c.DayParts.Noon),
			"afternoon": d.clock(&c.DayParts.Afternoon),
			"evening":   d.clock(&c.DayParts.Evening),
		}),
		"ring": d.section(map[string]handler{
			"on":  d.duration(&c.Ring.On),
			"off": d.duration(&c.Ring.Off),
		}),
		"answer": d.section(map[string]handler{
			"delay": d.duration(&c.Answer.Delay),
		}),
		"closing": d.section(map[string]handler{
			"safety_timeout": d.duration(&c.Closing.SafetyTimeout),
		}),
		"sip": d.section(map[string]handler{
			"listen":    d.str(&c.SIP.Listen),
			"advertise": d.str(&c.SIP.Advertise),
		}),
		"http": d.section(map[string]handler{
			"listen": d.str(&c.HTTP.Listen),
			"pprof":  d.boolean(&c.HTTP.Pprof),
		}),
		"rtp": d.section(map[string]handler{
			"bind":               d.str(&c.RTP.Bind),
			"port_min":           d.integer(&c.RTP.PortMin),
			"port_max":           d.integer(&c.RTP.PortMax),
			"inactivity_timeout": d.duration(&c.RTP.InactivityTimeout),
			"transport":          d.str(&c.RTP.Transport),
		}),
		"limits": d.section(map[string]handler{
			"max_calls":          d.integer(&c.Limits.MaxCalls),
			"retry_after":        d.duration(&c.Limits.RetryAfter),
			"max_media_lateness": d.duration(&c.Limits.MaxMediaLateness),
			"max_cpu_busy":       d.integer(&c.Limits.MaxCPUBusy),
		}),
		"process": d.section(map[string]handler{
			"nice":       d.integer(&c.Process.Nice),
			"gc_percent": d.integer(&c.Process.GCPercent),
		}),
		"prompts": func(path string, line int, v *yaml.Node) { d.prompts(path, line, v, c) },
		"database": d.section(map[string]handler{
			"driver": d.str(&c.Database.Driver),
			"path":   d.str(&c.Database.Path),
		}),
		"menu":   func(path string, line int, v *yaml.Node) { d.menu(path, line, v, c) },
		"agents": func(path string, line int, v *yaml.Node) { d.agents(path, line, v, c) },
		"registrar": d.section(map[string]handler{
			"realm":          d.str(&c.Registrar.Realm),
			"algorithms":     d.stringList(&c.Registrar.Algorithms, "a digest algorithm (SHA-256 or MD5)"),
			"nonce_ttl":      d.duration(&c.Registrar.NonceTTL),
			"min_expires":    d.duration(&c.Registrar.MinExpires),
			"max_expires":    d.duration(&c.Registrar.MaxExpires),
			"failure_limit":  d.integer(&c.Registrar.FailureLimit),
			"failure_window": d.duration(&c.Registrar.FailureWindow),
			"block_for":      d.duration(&c.Registrar.BlockFor),
		}),
		"queues": func(path string, line int, v *yaml.Node) { d.queues(path, line, v, c) },
		"routing": d.section(map[string]handler{
			"default_queue": d.str(&c.Routing.DefaultQueue),
		}),
		"api": d.section(map[string]handler{
			"token": d.str(&c.API.Token),
		}),
		"metrics": d.section(map[string]handler{
			"agent_labels": d.boolean(&c.Metrics.AgentLabels),
		}),
		"speech": d.section(map[string]handler{
			"dead_air_alert":  d.duration(&c.Speech.DeadAirAlert),
			"pace_min":        d.integer(&c.Speech.PaceMin),
			"pace_max":        d.integer(&c.Speech.PaceMax),
			"dead_air_prompt": d.boolean(&c.Speech.DeadAirPrompt),
		}),
	})
	if c.Prompts == nil {
		c.Prompts = map[string]string{}
	}
}

// prompts merges the file's prompt ID → file entries over the defaults.
func (d *decoder) prompts(path string, line int, v *yaml.Node, c *Config) {
	if isNull(v) {
		return
	}
	if c.Prompts == nil {
		c.Prompts = map[string]string{}
	}
	d.pairs(path, line, v, func(id string, keyLine int, v *yaml.Node) {
		var file string
		d.str(&file)(join(path, id), keyLine, v)
		if !d.bad[join(path, id)] {
			c.Prompts[id] = file
		}
	})
}

// menu decodes the menu section. Null (or absence) means no menu; a mapping
// starts from the menu defaults, and its options replace any default ones.
func (d *decoder) menu(path string, line int, v *yaml.Node, c *Config) {
	if isNull(v) {
		c.Menu = nil
		return
	}
	if v.Kind != yaml.MappingNode {
		d.fail(line, path, "want a mapping (or nothing for no menu), got %s", describe(v))
		return
	}
	m := &Menu{Prompt: DefaultMenuPrompt, Timeout: DefaultMenuTimeout, MaxRepeats: DefaultMenuMaxRepeats}
	if c.Menu != nil {
		*m = *c.Menu
	}
	m.Options = map[string]MenuOption{}
	d.fields(path, line, v, map[string]handler{
		"prompt":      d.str(&m.Prompt),
		"timeout":     d.duration(&m.Timeout),
		"max_repeats": d.integer(&m.MaxRepeats),
		"options": func(path string, line int, v *yaml.Node) {
			if isNull(v) {
				return
			}
			d.pairs(path, line, v, func(key string, keyLine int, v *yaml.Node) {
				// The option is kept even when it is wrong, so a menu whose
				// only option is malformed is not also reported as empty.
				var o MenuOption
				defer func() { m.Options[key] = o }()
				p := join(path, key)
				if isNull(v) {
					d.fail(keyLine, p, "missing value; want a mapping like {action: close}")
					return
				}
				d.fields(p, keyLine, v, map[string]handler{
					"action": d.str(&o.Action),
					"prompt": d.str(&o.Prompt),
					"queue":  d.str(&o.Queue),
				})
			})
		},
	})
	c.Menu = m
}

// agents decodes the agents list, which replaces the default (empty) one.
// Null keeps the default. Every item is kept, even a wrong one, so that
// indexes in problems match the file.
func (d *decoder) agents(path string, line int, v *yaml.Node, c *Config) {
	if isNull(v) {
		return
	}
	var agents []Agent
	ok := d.items(path, line, v, func(p string, l int, it *yaml.Node) {
		var a Agent
		defer func() { agents = append(agents, a) }()
		if isNull(it) {
			d.fail(l, p, `empty list item; want a mapping like {user: "1001", password: "..."}`)
			return
		}
		d.fields(p, l, it, map[string]handler{
			"user":       d.str(&a.User),
			"name":       d.str(&a.Name),
			"password":   d.str(&a.Password),
			"ha1_md5":    d.str(&a.HA1MD5),
			"ha1_sha256": d.str(&a.HA1SHA256),
			"queues":     d.stringList(&a.Queues, "a queue name"),
			"penalty":    d.integer(&a.Penalty),
			"algorithms": d.stringList(&a.Algorithms, "a digest algorithm (SHA-256 or MD5)"),
		})
	})
	if ok {
		c.Agents = agents
	}
}

// queues decodes the queues list, which replaces the default one; each
// item starts from the per-queue defaults (NewQueue). Null keeps the
// default list.
func (d *decoder) queues(path string, line int, v *yaml.Node, c *Config) {
	if isNull(v) {
		return
	}
	queues := []Queue{} // an empty list is no queues, not the default
	ok := d.items(path, line, v, func(p string, l int, it *yaml.Node) {
		q := NewQueue("")
		defer func() { queues = append(queues, q) }()
		if isNull(it) {
			d.fail(l, p, "empty list item; want a mapping like {name: support}")
			return
		}
		d.fields(p, l, it, map[string]handler{
			"name":                 d.str(&q.Name),
			"strategy":             d.str(&q.Strategy),
			"ring_cycles":          d.integer(&q.RingCycles),
			"wrap_up":              d.duration(&q.WrapUp),
			"max_no_answer":        d.integer(&q.MaxNoAnswer),
			"no_answer_delay":      d.duration(&q.NoAnswerDelay),
			"busy_delay":           d.duration(&q.BusyDelay),
			"reject_delay":         d.duration(&q.RejectDelay),
			"retry_avoid":          d.duration(&q.RetryAvoid),
			"short_abandon":        d.duration(&q.ShortAbandon),
			"reassurance_interval": d.duration(&q.ReassuranceInterval),
			"announce_interval":    d.duration(&q.AnnounceInterval),
			"max_wait":             d.duration(&q.MaxWait),
			"on_max_wait":          d.str(&q.OnMaxWait),
			"on_no_agents":         d.str(&q.OnNoAgents),
			"whisper":              d.boolean(&q.Whisper),
			"hold_promise":         d.duration(&q.HoldPromise),
			"hold_alert_interval":  d.duration(&q.HoldAlertInterval),

			"transfer_confirm":         d.boolean(&q.TransferConfirm),
			"transfer_confirm_timeout": d.duration(&q.TransferConfirmTimeout),
			"ring_back_attempts":       d.integer(&q.RingBackAttempts),
		})
	})
	if ok {
		c.Queues = queues
	}
}
