package config

import (
	_ "embed"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	// The greeting depends on the local time in the configured zone (R2);
	// embedding the zone database makes Asia/Shanghai load on machines and
	// containers without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// BuiltinSource is Config.Source for the built-in configuration.
const BuiltinSource = "<built-in>"

// defaultYAML is the built-in configuration, documented key by key.
//
//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default configuration file, comments
// included, e.g. for a command that prints a starting point for operators.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Config is hotline's whole configuration.
type Config struct {
	Company  Company        `yaml:"company"`
	Language string         `yaml:"language"`
	Timezone string         `yaml:"timezone"`
	Location *time.Location `yaml:"-"` // loaded from Timezone during validation
	DayParts DayParts       `yaml:"day_parts"`
	Ring     Ring           `yaml:"ring"`
	Answer   Answer         `yaml:"answer"`
	Closing  Closing        `yaml:"closing"`
	SIP      SIP            `yaml:"sip"`
	HTTP     HTTP           `yaml:"http"`
	RTP      RTP            `yaml:"rtp"`
	// Prompts maps a prompt ID to an absolute WAV file name that replaces
	// the built-in audio for that prompt.
	Prompts  map[string]string `yaml:"prompts"`
	Database Database          `yaml:"database"`
	Menu     *Menu             `yaml:"menu"` // nil = no menu
	// Agents are the people who log in from SIP softphones; none by
	// default.
	Agents    []Agent   `yaml:"agents"`
	Registrar Registrar `yaml:"registrar"`
	// Queues are the waiting lines callers join. A file's queues list
	// replaces the built-in one (a single queue named "support").
	Queues  []Queue `yaml:"queues"`
	Routing Routing `yaml:"routing"`
	API     API     `yaml:"api"`
	Speech  Speech  `yaml:"speech"`
	Metrics Metrics `yaml:"metrics"`
	Limits  Limits  `yaml:"limits"`
	Process Process `yaml:"process"`
	Source  string  `yaml:"-"` // file name the config came from ("<built-in>" for defaults)
}

// Company identifies whose hotline this is; the name is part of the
// greeting (R2).
type Company struct {
	Name  string `yaml:"name"`
	Audio string `yaml:"audio"` // absolute WAV file name, or empty to speak Name
}

// DayParts holds the local start times of the four greeting variants (R2).
// Each part lasts until the next one starts; Evening lasts until the next
// Morning.
type DayParts struct {
	Morning   ClockTime `yaml:"morning"`
	Noon      ClockTime `yaml:"noon"`
	Afternoon ClockTime `yaml:"afternoon"`
	Evening   ClockTime `yaml:"evening"`
}

// ClockTime is a time of day with minute precision, written "HH:MM".
type ClockTime struct {
	Hour, Minute int
}

// String returns the time as "HH:MM".
func (c ClockTime) String() string { return fmt.Sprintf("%02d:%02d", c.Hour, c.Minute) }

// Minutes returns the number of minutes since midnight.
func (c ClockTime) Minutes() int { return c.Hour*60 + c.Minute }

// ParseClockTime parses "HH:MM" (00:00 to 23:59, two digits each).
func ParseClockTime(s string) (ClockTime, error) {
	if len(s) != 5 || s[2] != ':' || !isDigit(s[0]) || !isDigit(s[1]) || !isDigit(s[3]) || !isDigit(s[4]) {
		return ClockTime{}, fmt.Errorf("time of day %q is not HH:MM", s)
	}
	c := ClockTime{Hour: int(s[0]-'0')*10 + int(s[1]-'0'), Minute: int(s[3]-'0')*10 + int(s[4]-'0')}
	if c.Hour > 23 || c.Minute > 59 {
		return ClockTime{}, fmt.Errorf("time of day %q is out of range 00:00..23:59", s)
	}
	return c, nil
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// Ring is the ring cadence the caller hears before the answer (R1).
type Ring struct {
	On  time.Duration `yaml:"on"`
	Off time.Duration `yaml:"off"`
}

// Cycle returns the length of one ring cycle, On+Off. R1's "three rings" is
// three cycles.
func (r Ring) Cycle() time.Duration { return r.On + r.Off }

// Answer is the answer policy (R1).
type Answer struct {
	Delay time.Duration `yaml:"delay"` // ringing time before 200 OK
}

// Closing configures the end of a call (R7).
type Closing struct {
	// SafetyTimeout is how long to wait for the caller's BYE after the last
	// closing prompt before ending the call from our side.
	SafetyTimeout time.Duration `yaml:"safety_timeout"`
}

// SIP configures the SIP transports.
type SIP struct {
	Listen    string `yaml:"listen"`    // host:port for UDP and TCP
	Advertise string `yaml:"advertise"` // IP for Contact and SDP; empty = the local address routing to the caller
}

// HTTP configures the operations endpoint (/metrics, /healthz, /readyz).
type HTTP struct {
	Listen string `yaml:"listen"` // host:port
	// Pprof serves Go's profiler at /debug/pprof/ on Listen, for
	// capacity work (bench/README.md); off by default.
	Pprof bool `yaml:"pprof"`
}

// RTP configures the media sockets.
type RTP struct {
	Bind    string `yaml:"bind"`     // IP address to bind
	PortMin int    `yaml:"port_min"` // even, first port of the range
	PortMax int    `yaml:"port_max"` // even, last port of the range, > PortMin
	// InactivityTimeout ends a call when no RTP arrives from the caller for
	// this long.
	InactivityTimeout time.Duration `yaml:"inactivity_timeout"`
	// Transport is how call legs map onto UDP sockets: TransportPerCall
	// (an even port each) or TransportShared (one port per CPU, batched
	// sends and receives; what carries thousands of calls).
	Transport string `yaml:"transport"`
}

// RTP transports.
const (
	TransportPerCall = "per-call"
	TransportShared  = "shared"
)

// Process is how the hotline process runs on its machine.
type Process struct {
	// Nice is the scheduling priority hotline gives all its threads at
	// start, as nice(1) counts it: -20 (first) to 19 (last). Below 0 it
	// needs root or CAP_SYS_NICE; without either hotline says so once and
	// runs at the priority it was started with. 0 = leave it as started.
	// A priority is only ever raised, never lowered, so a service manager
	// that started hotline higher (systemd's Nice=) keeps its setting.
	Nice int `yaml:"nice"`
	// GCPercent is the garbage collector's target, as GOGC counts it: the
	// heap may grow this many percent past what the last collection left
	// live before the next one starts. Calls up allocate next to nothing
	// per packet, so a low target costs few collections and keeps the
	// memory a call holds close to what it uses. 0 = leave it as started
	// (the GOGC environment variable, else Go's 100); GOGC set in the
	// environment is kept over this.
	GCPercent int `yaml:"gc_percent"`
}

// Limits protect calls already up from new ones (overload, R1).
type Limits struct {
	// MaxCalls is the most calls in progress; a new call past it is
	// refused at once with 503 and Retry-After. 0 = no limit.
	MaxCalls int `yaml:"max_calls"`
	// RetryAfter is what the 503 asks callers' equipment to wait.
	RetryAfter time.Duration `yaml:"retry_after"`
	// MaxMediaLateness is the send lateness the calls up are kept within:
	// once three of the last second's four quarters had more than 1 % of
	// their audio frames later than this (or skipped), new calls are
	// refused at once with 503 and Retry-After, until a whole second is on
	// time (media.Engine.Overloaded). 0 = not judged.
	MaxMediaLateness time.Duration `yaml:"max_media_lateness"`
	// MaxCPUBusy is the share of the machine's CPUs, in percent, the
	// calls may keep busy: a new call is refused with 503 and Retry-After
	// while the legs the calls in progress are about to add, at what the
	// legs carried cost, would take the machine past it
	// (sysload.Sampler.Overloaded). 0 = not judged.
	MaxCPUBusy int `yaml:"max_cpu_busy"`
}

// Database configures where call records are kept (R6).
type Database struct {
	Driver string `yaml:"driver"` // "sqlite"
	Path   string `yaml:"path"`   // SQLite file
}

// Menu is the optional DTMF menu played after the greeting.
type Menu struct {
	Prompt     string                `yaml:"prompt"`      // prompt ID inviting a choice; default "menu"
	Timeout    time.Duration         `yaml:"timeout"`     // wait for a digit; default 5s
	MaxRepeats int                   `yaml:"max_repeats"` // how often the menu may loop; default 3, >= 1
	Options    map[string]MenuOption `yaml:"options"`     // key: one DTMF key "0"-"9", "*", "#"
}

// Menu defaults, used for keys a file's menu section leaves out.
const (
	DefaultMenuPrompt     = "menu"
	DefaultMenuTimeout    = 5 * time.Second
	DefaultMenuMaxRepeats = 3
)

// MenuOption is what pressing one key in the menu does.
type MenuOption struct {
	Action string `yaml:"action"` // one of the Action constants
	Prompt string `yaml:"prompt"` // prompt ID; required for ActionPlay, forbidden otherwise
	Queue  string `yaml:"queue"`  // queue name; required for ActionQueue, forbidden otherwise
}

// Menu actions.
const (
	ActionRepeatGreeting = "repeat_greeting" // play the greeting again, then the menu
	ActionPlay           = "play"            // play MenuOption.Prompt, then the menu
	ActionClose          = "close"           // leave the menu for the closing (R7)
	ActionQueue          = "queue"           // leave the menu for the queue named by MenuOption.Queue
)

// DayPart names the greeting variant for a local time (R2).
type DayPart string

// The four greeting variants (R2).
const (
	Morning   DayPart = "morning"   // 早上好
	Noon      DayPart = "noon"      // 中午好
	Afternoon DayPart = "afternoon" // 下午好
	Evening   DayPart = "evening"   // 晚上好
)

// PartOfDay returns the greeting variant in force at t, converted to
// c.Location (t's own zone when Location is nil). Before the morning's start
// it is still Evening: a call at 02:00 hears 晚上好 (R2).
func (c *Config) PartOfDay(t time.Time) DayPart {
	if c.Location != nil {
		t = t.In(c.Location)
	}
	m := t.Hour()*60 + t.Minute()
	switch {
	case m >= c.DayParts.Evening.Minutes():
		return Evening
	case m >= c.DayParts.Afternoon.Minutes():
		return Afternoon
	case m >= c.DayParts.Noon.Minutes():
		return Noon
	case m >= c.DayParts.Morning.Minutes():
		return Morning
	default:
		return Evening
	}
}

// builtin parses the embedded defaults once; Default hands out copies so
// callers may change theirs freely.
var builtin = sync.OnceValues(func() (*Config, error) {
	return parse(BuiltinSource, defaultYAML, &Config{})
})

// Default returns the built-in configuration, parsed from the embedded
// default.yaml. Each call returns a fresh copy. It panics only if the
// embedded file itself is broken, which the package tests rule out.
func Default() *Config {
	c, err := builtin()
	if err != nil {
		panic(fmt.Sprintf("config: embedded default.yaml is invalid:\n%v", err))
	}
	return c.Clone()
}

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	n := *c
	n.Prompts = maps.Clone(c.Prompts)
	n.Agents = slices.Clone(c.Agents)
	for i := range n.Agents {
		n.Agents[i].Queues = slices.Clone(c.Agents[i].Queues)
		n.Agents[i].Algorithms = slices.Clone(c.Agents[i].Algorithms)
	}
	n.Queues = slices.Clone(c.Queues)
	n.Registrar.Algorithms = slices.Clone(c.Registrar.Algorithms)
	if c.Menu != nil {
		m := *c.Menu
		m.Options = maps.Clone(c.Menu.Options)
		n.Menu = &m
	}
	return &n
}

// Load reads the file at path and applies it on top of the defaults: keys
// absent from the file keep their default values. A file that cannot be read
// gives an error wrapping the os error (so fs.ErrNotExist can be tested); a
// file that is wrong gives Problems.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse is Load for bytes already read. name is used in problems and as the
// base for relative file names in the config (its directory).
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, data, Default())
}

// Validate checks c as Parse would check a file, loads Location from
// Timezone and resolves relative file names against the directory of
// c.Source. Problems carry line 0, since a Config built in code has no lines.
func (c *Config) Validate() error {
	d := newDecoder(c.Source)
	d.validate(c)
	return d.err()
}

// parse decodes data onto base (the defaults) and validates the result.
func parse(name string, data []byte, base *Config) (*Config, error) {
	d := newDecoder(name)
	base.Source = name
	d.decode(data, base)
	d.validate(base)
	if err := d.err(); err != nil {
		return nil, err
	}
	return base, nil
}
