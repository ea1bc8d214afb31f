package config_test

import (
	"testing"

	"github.com/hotline-dev/hotline/config"
)

const rootKeys = "agents, answer, api, closing, company, database, day_parts, http, language, limits, menu, metrics, process, prompts, queues, registrar, ring, routing, rtp, sip, speech, timezone"

// Each case is a whole file and every line Parse must print for it, in
// order: several problems in one file are all reported, each at its line.
func TestParseReportsEveryProblemAtItsLine(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "unknown keys are reported at every level, menu options included",
			yaml: `colour: red
ring:
  on: 1s
  of: 4s
menu:
  options:
    "1": {action: close, sound: x}
`,
			want: []string{
				"bad.yaml:1: colour: unknown key (known keys: " + rootKeys + ")",
				"bad.yaml:4: ring.of: unknown key (known keys: off, on)",
				"bad.yaml:7: menu.options.1.sound: unknown key (known keys: action, prompt, queue)",
			},
		},
		{
			name: "values of the wrong type get a type message naming what was wanted",
			yaml: `company: "ACME"
ring:
  on: 1
answer:
  delay: 1.5
rtp:
  port_min: abc
  port_max: [20000]
day_parts:
  noon: 11
database:
  path: {a: b}
closing:
  safety_timeout: soon
`,
			want: []string{
				`bad.yaml:1: company: want a mapping, got "ACME"`,
				"bad.yaml:3: ring.on: want a duration like 1s, got number 1",
				"bad.yaml:5: answer.delay: want a duration like 1s, got number 1.5",
				`bad.yaml:7: rtp.port_min: want an integer, got "abc"`,
				"bad.yaml:8: rtp.port_max: want an integer, got a list",
				`bad.yaml:10: day_parts.noon: want a time of day "HH:MM" (00:00 to 23:59), got number 11`,
				"bad.yaml:12: database.path: want a string, got a mapping",
				`bad.yaml:14: closing.safety_timeout: want a duration like 1s, got "soon"`,
			},
		},
		{
			name: "the RTP transport and the overload limits refuse values they cannot honour",
			yaml: `rtp:
  transport: batched
limits:
  max_calls: -1
  retry_after: 1500ms
  max_media_lateness: 500us
  max_cpu_busy: 120
process:
  nice: -21
  gc_percent: 5
`,
			want: []string{
				"bad.yaml:2: rtp.transport: unknown value \"batched\" (want per-call or shared)",
				"bad.yaml:4: limits.max_calls: must not be negative (0 = no limit), got -1",
				"bad.yaml:5: limits.retry_after: must be whole seconds, at least 1s (Retry-After counts seconds), got 1.5s",
				"bad.yaml:6: limits.max_media_lateness: must be 0 (not judged) or at least 1ms, got 500µs",
				"bad.yaml:7: limits.max_cpu_busy: must be a percentage of the CPUs, 1 to 100, or 0 (not judged), got 120",
				"bad.yaml:9: process.nice: must be a nice value, -20 (first) to 19 (last), or 0 (as started), got -21",
				"bad.yaml:10: process.gc_percent: must be a GOGC percentage, 10 to 1000, or 0 (as started), got 5",
			},
		},
		{
			name: "a bare zero is still a number, not a duration",
			yaml: "answer:\n  delay: 0\n",
			want: []string{"bad.yaml:2: answer.delay: want a duration like 1s, got number 0"},
		},
		{
			name: "a missing value points at its key",
			yaml: "database:\n  path:\nring:\n  on:\n",
			want: []string{
				"bad.yaml:2: database.path: missing value; want a string",
				"bad.yaml:4: ring.on: missing value; want a duration like 1s",
			},
		},
		{
			name: "a YAML syntax error is reported at the line yaml names",
			yaml: "ring:\n  on: 1s\n off: 4s\n",
			want: []string{"bad.yaml:2: YAML syntax error: did not find expected key"},
		},
		{
			name: "tabs for indentation are a syntax error",
			yaml: "language: en\ncompany:\n\tname: x\n",
			want: []string{"bad.yaml:3: YAML syntax error: found character that cannot start any token"},
		},
		{
			name: "a file that is not a mapping is refused",
			yaml: "- language\n- en\n",
			want: []string{"bad.yaml:1: want a mapping of configuration keys at the top level, got a list"},
		},
		{
			name: "a second YAML document is refused",
			yaml: "language: en\n---\nlanguage: zh-CN\n",
			want: []string{"bad.yaml:2: more than one YAML document; a config file holds one"},
		},
		{
			name: "duplicate keys point at the repeat and name the first",
			yaml: "ring:\n  on: 1s\n  on: 2s\nmenu:\n  options:\n    \"1\": {action: close}\n    1: {action: close}\n",
			want: []string{
				"bad.yaml:3: ring.on: duplicate key (first at line 2)",
				"bad.yaml:7: menu.options.1: duplicate key (first at line 6)",
			},
		},
		{
			name: "language and timezone must be known",
			yaml: "language: fr\ntimezone: Mars/Olympus_Mons\n",
			want: []string{
				`bad.yaml:1: language: unsupported language "fr" (want zh-CN or en)`,
				`bad.yaml:2: timezone: unknown time zone "Mars/Olympus_Mons"; want an IANA name like Asia/Shanghai`,
			},
		},
		{
			name: "day parts must be HH:MM and strictly increasing (R2)",
			yaml: `day_parts:
  morning: "12:00"
  afternoon: "13:00"
  evening: "24:00"
`,
			want: []string{
				// noon keeps its default 11:00, so the problem points at
				// morning, the key the file changed.
				"bad.yaml:2: day_parts.noon: 11:00 is not after morning (12:00); day parts must be strictly increasing",
				`bad.yaml:4: day_parts.evening: want a time of day "HH:MM" (00:00 to 23:59), got "24:00"`,
			},
		},
		{
			name: "equal day parts are not increasing",
			yaml: "day_parts:\n  afternoon: \"13:00\"\n  evening: \"13:00\"\n",
			want: []string{"bad.yaml:3: day_parts.evening: 13:00 is not after afternoon (13:00); day parts must be strictly increasing"},
		},
		{
			name: "ring, closing and RTP timers must be positive",
			yaml: `ring:
  on: 0s
  off: -1s
closing:
  safety_timeout: 0s
rtp:
  inactivity_timeout: -5s
`,
			want: []string{
				"bad.yaml:2: ring.on: must be positive, got 0s",
				"bad.yaml:3: ring.off: must not be negative, got -1s",
				"bad.yaml:5: closing.safety_timeout: must be positive, got 0s",
				"bad.yaml:7: rtp.inactivity_timeout: must be positive, got -5s",
			},
		},
		{
			name: "answer delay beyond three rings is refused (R1)",
			yaml: "answer:\n  delay: 16s\n",
			want: []string{"bad.yaml:2: answer.delay: answer delay 16s is beyond three rings (15s)"},
		},
		{
			name: "answer delay of exactly three rings is allowed, a negative one is not",
			yaml: "ring: {on: 2s, off: 4s}\nanswer:\n  delay: -1ms\n",
			want: []string{"bad.yaml:3: answer.delay: answer delay -1ms is negative"},
		},
		{
			name: "a shorter ring cadence makes the default answer delay too long; the problem points at the ring",
			yaml: "ring:\n  on: 100ms\n  off: 200ms\n",
			want: []string{"bad.yaml:2: answer.delay: answer delay 1s is beyond three rings (900ms)"},
		},
		{
			name: "RTP ports must be even and within 1024..65535",
			yaml: "rtp:\n  bind: localhost\n  port_min: 80\n  port_max: 10001\n",
			want: []string{
				`bad.yaml:2: rtp.bind: "localhost" is not an IP address`,
				"bad.yaml:3: rtp.port_min: port 80 is outside 1024..65535",
				"bad.yaml:4: rtp.port_max: port 10001 is odd; RTP uses even ports (RTCP takes the odd one above)",
			},
		},
		{
			name: "an RTP port range must not be empty",
			yaml: "rtp:\n  port_min: 20000\n  port_max: 20000\n",
			want: []string{"bad.yaml:3: rtp.port_max: empty port range: port_max 20000 must be above port_min 20000"},
		},
		{
			name: "an empty port range made by port_min alone points at port_min",
			yaml: "rtp:\n  port_min: 30000\n",
			want: []string{"bad.yaml:2: rtp.port_max: empty port range: port_max 20000 must be above port_min 30000"},
		},
		{
			name: "listen addresses must be host:port and advertise an IP",
			yaml: `sip:
  listen: "5060"
  advertise: pbx.example.com
http:
  listen: "localhost:http"
`,
			want: []string{
				`bad.yaml:2: sip.listen: want host:port like 0.0.0.0:5060, got "5060"`,
				`bad.yaml:3: sip.advertise: "pbx.example.com" is not an IP address (leave it empty to use the address that routes to the caller)`,
				`bad.yaml:5: http.listen: port "http" in "localhost:http" is not a number 0..65535`,
			},
		},
		{
			name: "only the sqlite driver is accepted and it needs a path",
			yaml: "database:\n  driver: postgres\n  path: \"\"\n",
			want: []string{
				`bad.yaml:2: database.driver: unsupported driver "postgres" (only sqlite is supported for now)`,
				"bad.yaml:3: database.path: empty path; want an SQLite file name like hotline.db",
			},
		},
		{
			name: "menu options need a DTMF key and a known action with a prompt only for play",
			yaml: `menu:
  prompt: ""
  timeout: 0s
  max_repeats: 0
  options:
    "12": {action: close}
    "1": {action: dance}
    "2": {action: play}
    "3": {action: close, prompt: bye}
    "4": {prompt: hours}
    "5": close
`,
			want: []string{
				"bad.yaml:2: menu.prompt: empty prompt ID",
				"bad.yaml:3: menu.timeout: must be positive, got 0s",
				"bad.yaml:4: menu.max_repeats: must be at least 1, got 0",
				`bad.yaml:6: menu.options.12: "12" is not a single DTMF key (0-9, *, #)`,
				`bad.yaml:7: menu.options.1.action: unknown action "dance" (want repeat_greeting, play, queue or close)`,
				"bad.yaml:8: menu.options.2.prompt: required for action play",
				"bad.yaml:9: menu.options.3.prompt: only allowed with action play, not close",
				"bad.yaml:10: menu.options.4.action: missing action (want repeat_greeting, play, queue or close)",
				`bad.yaml:11: menu.options.5: want a mapping, got "close"`,
			},
		},
		{
			name: "a menu without options is refused at the menu key",
			yaml: "language: en\nmenu:\n  prompt: menu\n",
			want: []string{"bad.yaml:2: menu.options: a menu needs at least one option"},
		},
		{
			name: "an empty options mapping is refused at the options key",
			yaml: "menu:\n  options: {}\n",
			want: []string{"bad.yaml:2: menu.options: a menu needs at least one option"},
		},
		{
			name: "a menu that is not a mapping is refused",
			yaml: "menu: yes\n",
			want: []string{`bad.yaml:1: menu: want a mapping (or nothing for no menu), got "yes"`},
		},
		{
			name: "a malformed only option is not also reported as an empty menu",
			yaml: "menu:\n  options:\n    \"1\":\n",
			want: []string{"bad.yaml:3: menu.options.1: missing value; want a mapping like {action: close}"},
		},
		{
			name: "problems of every kind in one file are all reported in line order",
			yaml: `company:
  name: ACME
language: de
ring:
  on: 1s
  off: 4s
answer:
  delay: 20s
rtp:
  port_min: 10000
  port_max: 9998
unknown: 1
`,
			want: []string{
				`bad.yaml:3: language: unsupported language "de" (want zh-CN or en)`,
				"bad.yaml:8: answer.delay: answer delay 20s is beyond three rings (15s)",
				"bad.yaml:11: rtp.port_max: empty port range: port_max 9998 must be above port_min 10000",
				"bad.yaml:12: unknown: unknown key (known keys: " + rootKeys + ")",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse("bad.yaml", []byte(tt.yaml))
			if c != nil {
				t.Errorf("Parse returned a config along with an error")
			}
			assertProblems(t, err, tt.want)
		})
	}
}
