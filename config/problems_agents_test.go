package config_test

import (
	"testing"

	"github.com/hotline-dev/hotline/config"
)

const (
	agentKeys = "algorithms, ha1_md5, ha1_sha256, name, password, penalty, queues, user"
	queueKeys = "announce_interval, busy_delay, hold_alert_interval, hold_promise, max_no_answer, max_wait, name, no_answer_delay, on_max_wait, on_no_agents, reassurance_interval, reject_delay, retry_avoid, ring_back_attempts, ring_cycles, short_abandon, strategy, transfer_confirm, transfer_confirm_timeout, whisper, wrap_up"
)

// Problems with agents, queues, the registrar, routing and the API, each at
// its line, with list items named like agents[1].user (counted from 0).
func TestParseReportsAgentQueueAndRegistrarProblemsAtTheirLines(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "agents need a unique valid user, credentials, well-formed HA1s, known queues and no unknown keys",
			yaml: `agents:
  - user: "1001"
    password: a
  - user: "1001"
    password: b
  - user: "1003"
    name: Li
  - user: "1004"
    ha1_md5: abc
    ha1_sha256: g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  - user: "1005"
    password: x
    queues: [support, billing, support]
    penalty: -1
    colour: red
  - user: "10 06"
    password: x
  - password: x
`,
			want: []string{
				`bad.yaml:4: agents[1].user: duplicate user "1001" (first at agents[0].user)`,
				"bad.yaml:6: agents[2]: no credentials: set password, ha1_md5 or ha1_sha256",
				"bad.yaml:9: agents[3].ha1_md5: want 32 hex digits, got 3 characters",
				"bad.yaml:10: agents[3].ha1_sha256: want 64 hex digits, got a character that is not one",
				`bad.yaml:13: agents[4].queues[1]: unknown queue "billing" (configured: support)`,
				`bad.yaml:13: agents[4].queues[2]: queue "support" listed twice (first at agents[4].queues[0])`,
				"bad.yaml:14: agents[4].penalty: must not be negative, got -1",
				"bad.yaml:15: agents[4].colour: unknown key (known keys: " + agentKeys + ")",
				`bad.yaml:16: agents[5].user: "10 06" is not a valid user name: use A-Z, a-z, 0-9, ., _ and -`,
				"bad.yaml:18: agents[6].user: required: the SIP user name the softphone registers with",
			},
		},
		{
			name: "an HA1 that does not match the password for the realm is refused",
			yaml: `registrar:
  realm: callcentre
agents:
  - user: "1002"
    password: s3cret-pass
    ha1_md5: ` + ha1MD5For1002 + `
`,
			want: []string{`bad.yaml:6: agents[0].ha1_md5: does not match password for realm "callcentre" (the HA1 depends on user, realm and password)`},
		},
		{
			name: "agents must be a list of mappings and an agent's queues a list of names",
			yaml: "agents:\n  -\n  - user: \"1\"\n    password: x\n    queues: [[support]]\n  - {user: \"2\", password: x, queues: support}\n",
			want: []string{
				`bad.yaml:2: agents[0]: empty list item; want a mapping like {user: "1001", password: "..."}`,
				"bad.yaml:5: agents[1].queues[0]: want a queue name, got a list",
				`bad.yaml:6: agents[2].queues: want a list, got "support"`,
			},
		},
		{
			name: "a queue's transfer settings refuse a negative ring-back and a zero confirmation wait",
			yaml: `queues:
  - name: support
    transfer_confirm: true
    transfer_confirm_timeout: 0s
    ring_back_attempts: -2
`,
			want: []string{
				"bad.yaml:4: queues[0].transfer_confirm_timeout: must be positive, got 0s",
				"bad.yaml:5: queues[0].ring_back_attempts: must not be negative (0 = never ring back), got -2",
			},
		},
		{
			name: "agents that are not a list are refused",
			yaml: "agents: {user: \"1001\"}\n",
			want: []string{"bad.yaml:1: agents: want a list, got a mapping"},
		},
		{
			name: "queues need a unique valid name, a known strategy, 1..3 ring cycles (R1) and sane timers",
			yaml: `queues:
  - name: support
    strategy: round_robin
    ring_cycles: 0
  - name: support
    ring_cycles: 4
    wrap_up: -1s
    busy_delay: -10s
  - name: Sales
    on_no_agents: bogus
    on_max_wait: callback
    whisper: yes
    announce_interval: -1m
    reassurance_interval: 0s
  - strategy: ring_all
    sound: on
`,
			want: []string{
				`bad.yaml:3: queues[0].strategy: unknown strategy "round_robin" (want longest_idle or ring_all)`,
				"bad.yaml:4: queues[0].ring_cycles: must be 1..3 (R1: at most three rings), got 0",
				`bad.yaml:5: queues[1].name: duplicate queue name "support" (first at queues[0].name)`,
				"bad.yaml:6: queues[1].ring_cycles: must be 1..3 (R1: at most three rings), got 4",
				"bad.yaml:7: queues[1].wrap_up: must not be negative, got -1s",
				"bad.yaml:8: queues[1].busy_delay: must not be negative, got -10s",
				`bad.yaml:9: queues[2].name: "Sales" is not a valid queue name: use a-z, 0-9, _ and - (it may become a metric label)`,
				`bad.yaml:10: queues[2].on_no_agents: unknown value "bogus" (want close or wait)`,
				"bad.yaml:11: queues[2].on_max_wait: callback is not available yet (want close)",
				`bad.yaml:12: queues[2].whisper: want true or false, got "yes"`,
				"bad.yaml:13: queues[2].announce_interval: must not be negative, got -1m0s",
				"bad.yaml:14: queues[2].reassurance_interval: must be positive, got 0s",
				"bad.yaml:15: queues[3].name: required: a name like support",
				"bad.yaml:16: queues[3].sound: unknown key (known keys: " + queueKeys + ")",
			},
		},
		{
			name: "every other queue timer is checked too",
			yaml: `queues:
  - name: support
    max_no_answer: -1
    no_answer_delay: -1s
    reject_delay: -1s
    retry_avoid: -1s
    short_abandon: -1s
    max_wait: 0s
    on_max_wait: hang_up
`,
			want: []string{
				"bad.yaml:3: queues[0].max_no_answer: must not be negative (0 = never), got -1",
				"bad.yaml:4: queues[0].no_answer_delay: must not be negative, got -1s",
				"bad.yaml:5: queues[0].reject_delay: must not be negative, got -1s",
				"bad.yaml:6: queues[0].retry_avoid: must not be negative, got -1s",
				"bad.yaml:7: queues[0].short_abandon: must not be negative, got -1s",
				"bad.yaml:8: queues[0].max_wait: must be positive, got 0s",
				`bad.yaml:9: queues[0].on_max_wait: unknown value "hang_up" (want close)`,
			},
		},
		{
			name: "a queue that failed to decode does not make references to it unknown",
			yaml: "queues:\n  - name: [support]\nagents:\n  - {user: \"1\", password: x, queues: [support]}\n",
			want: []string{"bad.yaml:2: queues[0].name: want a string, got a list"},
		},
		{
			name: "queues that are not a list, or hold an empty item, are refused",
			yaml: "queues:\n  - name: support\n  - ~\n",
			want: []string{"bad.yaml:3: queues[1]: empty list item; want a mapping like {name: support}"},
		},
		{
			name: "the default queue must be configured",
			yaml: "routing:\n  default_queue: billing\n",
			want: []string{`bad.yaml:2: routing.default_queue: unknown queue "billing" (configured: support)`},
		},
		{
			name: "replacing the queues without the default queue points at the queues",
			yaml: "queues:\n  - name: sales\n",
			want: []string{`bad.yaml:1: routing.default_queue: unknown queue "support" (configured: sales)`},
		},
		{
			name: "no queues leaves nothing to route to",
			yaml: "queues: []\nrouting: {default_queue: support}\n",
			want: []string{`bad.yaml:2: routing.default_queue: unknown queue "support" (no queues are configured)`},
		},
		{
			name: "menu queue actions need a configured queue, and queue is for the queue action only",
			yaml: `menu:
  options:
    "1": {action: queue}
    "2": {action: queue, queue: billing}
    "3": {action: play, prompt: hours, queue: support}
    "4": {action: queue, queue: support, prompt: hours}
`,
			want: []string{
				"bad.yaml:3: menu.options.1.queue: required for action queue",
				`bad.yaml:4: menu.options.2.queue: unknown queue "billing" (configured: support)`,
				"bad.yaml:5: menu.options.3.queue: only allowed with action queue, not play",
				"bad.yaml:6: menu.options.4.prompt: only allowed with action play, not queue",
			},
		},
		{
			name: "an API token is at least 16 bearer-token characters and never quoted back",
			yaml: "api:\n  token: abc\n",
			want: []string{"bad.yaml:2: api.token: too short: 3 characters, want at least 16 (or empty to disable the API)"},
		},
		{
			name: "an API token with a space is not a bearer token",
			yaml: "api:\n  token: \"0123456789abcdef 0123\"\n",
			want: []string{"bad.yaml:2: api.token: may hold only A-Z, a-z, 0-9 and - . _ ~ + / with = padding at the end (RFC 6750 section 2.1)"},
		},
		{
			name: "registrar max_expires must not be below min_expires",
			yaml: "registrar:\n  min_expires: 2m\n  max_expires: 90s\n",
			want: []string{"bad.yaml:3: registrar.max_expires: max_expires 1m30s is below min_expires 2m0s"},
		},
		{
			name: "raising min_expires above the default max_expires points at min_expires",
			yaml: "registrar:\n  min_expires: 2h\n",
			want: []string{"bad.yaml:2: registrar.max_expires: max_expires 1h0m0s is below min_expires 2h0m0s"},
		},
		{
			name: "registrar values must be usable",
			yaml: `registrar:
  realm: ""
  nonce_ttl: 0s
  min_expires: 1500ms
  max_expires: -1h
  failure_limit: 0
  failure_window: -1s
  block_for: 0s
  lifetime: 1h
`,
			want: []string{
				"bad.yaml:2: registrar.realm: empty realm; want a name like hotline",
				"bad.yaml:3: registrar.nonce_ttl: must be positive, got 0s",
				"bad.yaml:4: registrar.min_expires: must be whole seconds (SIP counts Expires in seconds), got 1.5s",
				"bad.yaml:5: registrar.max_expires: must be positive, got -1h0m0s",
				"bad.yaml:6: registrar.failure_limit: must be at least 1, got 0",
				"bad.yaml:7: registrar.failure_window: must be positive, got -1s",
				"bad.yaml:8: registrar.block_for: must be positive, got 0s",
				"bad.yaml:9: registrar.lifetime: unknown key (known keys: algorithms, block_for, failure_limit, failure_window, max_expires, min_expires, nonce_ttl, realm)",
			},
		},
		{
			name: "a realm is sent quoted, so quotes are refused",
			yaml: "registrar:\n  realm: 'a\"b'\n",
			want: []string{"bad.yaml:2: registrar.realm: must not contain quotes, backslashes or control characters"},
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
