package config_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hotline-dev/hotline/config"
)

func TestDefaultHasTheDocumentedValues(t *testing.T) {
	c := config.Default()
	want := config.Config{
		Company:  config.Company{Name: "热线服务中心", Audio: ""},
		Language: "zh-CN",
		Timezone: "Asia/Shanghai",
		DayParts: config.DayParts{
			Morning:   config.ClockTime{Hour: 5},
			Noon:      config.ClockTime{Hour: 11},
			Afternoon: config.ClockTime{Hour: 13},
			Evening:   config.ClockTime{Hour: 18},
		},
		Ring:     config.Ring{On: time.Second, Off: 4 * time.Second},
		Answer:   config.Answer{Delay: time.Second},
		Closing:  config.Closing{SafetyTimeout: 30 * time.Second},
		SIP:      config.SIP{Listen: "0.0.0.0:5060", Advertise: ""},
		HTTP:     config.HTTP{Listen: "127.0.0.1:9060"},
		RTP:      config.RTP{Bind: "0.0.0.0", PortMin: 10000, PortMax: 20000, InactivityTimeout: 60 * time.Second, Transport: "shared"},
		Limits:   config.Limits{MaxCalls: 0, RetryAfter: 5 * time.Second, MaxMediaLateness: 20 * time.Millisecond, MaxCPUBusy: 70},
		Process:  config.Process{Nice: -10, GCPercent: 50},
		Prompts:  map[string]string{},
		Database: config.Database{Driver: "sqlite", Path: "hotline.db"},
		Menu:     nil,
		Agents:   nil,
		Registrar: config.Registrar{
			Realm:         "hotline",
			Algorithms:    []string{"SHA-256", "MD5"},
			NonceTTL:      5 * time.Minute,
			MinExpires:    time.Minute,
			MaxExpires:    time.Hour,
			FailureLimit:  5,
			FailureWindow: time.Minute,
			BlockFor:      5 * time.Minute,
		},
		Queues: []config.Queue{{
			Name:                "support",
			Strategy:            config.StrategyLongestIdle,
			RingCycles:          3,
			MaxNoAnswer:         2,
			WrapUp:              10 * time.Second,
			NoAnswerDelay:       0,
			BusyDelay:           10 * time.Second,
			RejectDelay:         10 * time.Second,
			RetryAvoid:          30 * time.Second,
			ShortAbandon:        5 * time.Second,
			ReassuranceInterval: 30 * time.Second,
			AnnounceInterval:    60 * time.Second,
			MaxWait:             10 * time.Minute,
			OnMaxWait:           config.OnMaxWaitClose,
			OnNoAgents:          config.OnNoAgentsClose,
			HoldPromise:         time.Minute,
			HoldAlertInterval:   30 * time.Second,
			Whisper:             false,

			TransferConfirmTimeout: 10 * time.Second,
			RingBackAttempts:       1,
		}},
		Routing: config.Routing{DefaultQueue: "support"},
		Speech:  config.Speech{DeadAirAlert: 8 * time.Second, PaceMin: 100, PaceMax: 160},
		API:     config.API{Token: ""},
		Source:  "<built-in>",
	}
	if c.Location == nil || c.Location.String() != "Asia/Shanghai" {
		t.Fatalf("Location = %v, want Asia/Shanghai", c.Location)
	}
	got := *c
	got.Location = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Default() =\n%+v\nwant\n%+v", got, want)
	}
	if c.Ring.Cycle() != 5*time.Second {
		t.Errorf("Ring.Cycle() = %s, want 5s (China cadence)", c.Ring.Cycle())
	}
}

// The embedded file is what Default parses; if it were broken Default would
// panic, so this is the guard for that panic.
func TestEmbeddedDefaultFileIsValid(t *testing.T) {
	c, err := config.Parse(config.BuiltinSource, config.DefaultYAML())
	if err != nil {
		t.Fatalf("embedded default.yaml: %v", err)
	}
	d := config.Default()
	if c.Location.String() != d.Location.String() {
		t.Errorf("Location %v != %v", c.Location, d.Location)
	}
	c.Location, d.Location = nil, nil
	if !reflect.DeepEqual(c, d) {
		t.Errorf("parsing the embedded file gives\n%+v\nDefault() gives\n%+v", c, d)
	}
}

func TestEmbeddedDefaultFileCommentsEveryKey(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal(config.DefaultYAML(), &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, n *yaml.Node)
	walk = func(path string, n *yaml.Node) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := strings.TrimPrefix(path+"."+k.Value, ".")
			if k.LineComment == "" && v.LineComment == "" && k.HeadComment == "" {
				t.Errorf("default.yaml:%d: key %s has no comment", k.Line, key)
			}
			walk(key, v)
		}
	}
	walk("", doc.Content[0])
}

func TestDefaultReturnsIndependentCopies(t *testing.T) {
	a := config.Default()
	a.Prompts["greeting"] = "/tmp/x.wav"
	a.Ring.On = time.Hour
	b := config.Default()
	if len(b.Prompts) != 0 || b.Ring.On != time.Second {
		t.Errorf("changing one Default() changed the next: %+v", b)
	}
}

func TestEmptyFileGivesTheDefaults(t *testing.T) {
	for _, data := range []string{"", "\n", "# only a comment\n", "---\n", "~\n"} {
		c, err := config.Parse("empty.yaml", []byte(data))
		if err != nil {
			t.Fatalf("Parse(%q): %v", data, err)
		}
		if c.Source != "empty.yaml" {
			t.Errorf("Source = %q, want empty.yaml", c.Source)
		}
		d := config.Default()
		c.Source, d.Source = "", ""
		c.Location, d.Location = nil, nil
		if !reflect.DeepEqual(c, d) {
			t.Errorf("Parse(%q) = %+v, want the defaults", data, c)
		}
	}
}

func TestPartialFileKeepsOtherDefaults(t *testing.T) {
	c, err := config.Parse("partial.yaml", []byte(`
language: en
ring:
  on: 2s        # North America cadence; off stays 4s
rtp:
  port_max: 30000
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Language != "en" || c.Ring.On != 2*time.Second || c.RTP.PortMax != 30000 {
		t.Errorf("file values not applied: %+v", c)
	}
	if c.Ring.Off != 4*time.Second || c.RTP.PortMin != 10000 || c.RTP.Bind != "0.0.0.0" ||
		c.Timezone != "Asia/Shanghai" || c.Company.Name != "热线服务中心" || c.Answer.Delay != time.Second {
		t.Errorf("absent keys lost their defaults: %+v", c)
	}
}

func TestFileNamesResolveAgainstTheConfigDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "audio"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"audio/acme.wav", "audio/hours.wav"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("RIFF"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	abs := filepath.Join(dir, "audio", "hours.wav")
	name := filepath.Join(dir, "hotline.yaml")
	if err := os.WriteFile(name, []byte("company:\n  audio: audio/acme.wav\nprompts:\n  hours: "+abs+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Load from another working directory: the names must not depend on it.
	t.Chdir(t.TempDir())
	c, err := config.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "audio", "acme.wav"); c.Company.Audio != want {
		t.Errorf("Company.Audio = %q, want %q", c.Company.Audio, want)
	}
	if c.Prompts["hours"] != abs {
		t.Errorf("Prompts[hours] = %q, want %q", c.Prompts["hours"], abs)
	}
	if c.Source != name {
		t.Errorf("Source = %q, want %q", c.Source, name)
	}
}

func TestMissingAudioFilesAreProblems(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "hotline.yaml")
	if err := os.Mkdir(filepath.Join(dir, "audio"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := config.Parse(name, []byte("company:\n  audio: acme.wav\nprompts:\n  hours: audio\n  menu: \"\"\n"))
	assertProblems(t, err, []string{
		fmt.Sprintf(`%s:2: company.audio: file "acme.wav" not found (looked for %s)`, name, filepath.Join(dir, "acme.wav")),
		fmt.Sprintf(`%s:4: prompts.hours: "audio" is not a regular file`, name),
		fmt.Sprintf(`%s:5: prompts.menu: empty file name`, name),
	})
}

func TestLoadOfAMissingFileIsNotAnInvalidConfig(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
	if errors.Is(err, config.ErrInvalid) {
		t.Errorf("an unreadable file is reported as invalid: %v", err)
	}
}

func TestProblemsMatchErrInvalidEvenWhenWrapped(t *testing.T) {
	_, err := config.Parse("bad.yaml", []byte("language: fr\n"))
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("errors.Is(%v, ErrInvalid) = false", err)
	}
	if !errors.Is(fmt.Errorf("check-config: %w", err), config.ErrInvalid) {
		t.Error("wrapped Problems do not match ErrInvalid")
	}
	var ps config.Problems
	if !errors.As(err, &ps) || len(ps) != 1 || ps[0].Line != 1 || ps[0].Key != "language" {
		t.Errorf("errors.As gives %#v", ps)
	}
}

func TestProblemStringOmitsAnEmptyKey(t *testing.T) {
	p := config.Problem{File: "a.yaml", Line: 3, Message: "YAML syntax error: x"}
	if got := p.String(); got != "a.yaml:3: YAML syntax error: x" {
		t.Errorf("String() = %q", got)
	}
	p.Key = "ring.on"
	if got := p.String(); got != "a.yaml:3: ring.on: YAML syntax error: x" {
		t.Errorf("String() = %q", got)
	}
}

func TestMenuSectionStartsFromTheMenuDefaults(t *testing.T) {
	c, err := config.Parse("menu.yaml", []byte(`
menu:
  options:
    "1": {action: repeat_greeting}
    2: {action: play, prompt: hours}
    "*": {action: close}
    "#": {action: close}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &config.Menu{
		Prompt:     "menu",
		Timeout:    5 * time.Second,
		MaxRepeats: 3,
		Options: map[string]config.MenuOption{
			"1": {Action: config.ActionRepeatGreeting},
			"2": {Action: config.ActionPlay, Prompt: "hours"},
			"*": {Action: config.ActionClose},
			"#": {Action: config.ActionClose},
		},
	}
	if !reflect.DeepEqual(c.Menu, want) {
		t.Errorf("Menu = %+v, want %+v", c.Menu, want)
	}

	c, err = config.Parse("menu.yaml", []byte("menu:\n  prompt: choose\n  timeout: 8s\n  max_repeats: 1\n  options: {\"0\": {action: close}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Menu.Prompt != "choose" || c.Menu.Timeout != 8*time.Second || c.Menu.MaxRepeats != 1 {
		t.Errorf("Menu = %+v", c.Menu)
	}
}

func TestNullMenuMeansNoMenu(t *testing.T) {
	for _, data := range []string{"menu:\n", "menu: null\n", "menu: ~\n", "language: en\n"} {
		c, err := config.Parse("m.yaml", []byte(data))
		if err != nil {
			t.Fatalf("Parse(%q): %v", data, err)
		}
		if c.Menu != nil {
			t.Errorf("Parse(%q).Menu = %+v, want nil", data, c.Menu)
		}
	}
}

func TestNullSectionKeepsItsDefaults(t *testing.T) {
	c, err := config.Parse("n.yaml", []byte("ring:\nprompts:\nrtp: ~\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Ring.On != time.Second || c.RTP.PortMin != 10000 || c.Prompts == nil {
		t.Errorf("null sections changed the defaults: %+v", c)
	}
}

func TestAliasesAreFollowed(t *testing.T) {
	c, err := config.Parse("a.yaml", []byte("ring:\n  on: &t 2s\n  off: *t\nanswer:\n  delay: *t\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Ring.Off != 2*time.Second || c.Answer.Delay != 2*time.Second {
		t.Errorf("aliases not followed: %+v %+v", c.Ring, c.Answer)
	}
}

func TestValidateChecksAConfigBuiltInCode(t *testing.T) {
	c := config.Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	c.Ring.On, c.Ring.Off = time.Second, time.Second
	c.Answer.Delay = 7 * time.Second
	c.Timezone = "Europe/Berlin"
	assertProblems(t, c.Validate(), []string{
		"<built-in>:0: answer.delay: answer delay 7s is beyond three rings (6s)",
	})
	if c.Location == nil || c.Location.String() != "Europe/Berlin" {
		t.Errorf("Validate did not load Location: %v", c.Location)
	}
}

func TestParseClockTime(t *testing.T) {
	tests := []struct {
		in      string
		want    config.ClockTime
		wantErr bool
	}{
		{"00:00", config.ClockTime{}, false},
		{"05:30", config.ClockTime{Hour: 5, Minute: 30}, false},
		{"23:59", config.ClockTime{Hour: 23, Minute: 59}, false},
		{"24:00", config.ClockTime{}, true},
		{"12:60", config.ClockTime{}, true},
		{"5:00", config.ClockTime{}, true},
		{"05:00:00", config.ClockTime{}, true},
		{"ab:cd", config.ClockTime{}, true},
		{"", config.ClockTime{}, true},
	}
	for _, tt := range tests {
		got, err := config.ParseClockTime(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseClockTime(%q) = %v, %v; want %v, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("ParseClockTime(%q).String() = %q", tt.in, got.String())
		}
	}
}

// assertProblems checks that err is a Problems error with exactly want, in
// order, as "file:line: key: message" strings.
func assertProblems(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want\n%s", strings.Join(want, "\n"))
	}
	var ps config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %T %v is not Problems", err, err)
	}
	got := make([]string, len(ps))
	for i, p := range ps {
		got[i] = p.String()
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err.Error() != strings.Join(want, "\n") {
		t.Errorf("Error() = %q, want one problem per line", err.Error())
	}
}
