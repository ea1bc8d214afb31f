package config

import (
	"log/slog"
	"slices"
	"time"
)

// Agent is a person who logs in from a SIP softphone by registering with
// the built-in registrar (SIP digest authentication, RFC 8760).
//
// At least one credential is set. HA1MD5 and HA1SHA256 are the digest HA1
// values, hex of H(user:realm:password) (RFC 8760 section 3), so they are
// bound to Registrar.Realm: changing the realm invalidates them. Validation
// stores them in lower case.
type Agent struct {
	User      string   `yaml:"user"`       // digest username; unique, [A-Za-z0-9._-]+
	Name      string   `yaml:"name"`       // display name; validation fills in User when empty
	Password  string   `yaml:"password"`   // digest password in the clear
	HA1MD5    string   `yaml:"ha1_md5"`    // 32 hex digits
	HA1SHA256 string   `yaml:"ha1_sha256"` // 64 hex digits
	Queues    []string `yaml:"queues"`     // names of the queues served; empty = every queue (see Config.AgentQueues)
	// Algorithms overrides Registrar.Algorithms for this agent's phone
	// (e.g. [MD5] for a phone that cannot answer an SHA-256 challenge).
	Algorithms []string `yaml:"algorithms"`
	Penalty    int      `yaml:"penalty"` // >= 0; lower is offered calls first when agents tie
}

// LogValue leaves the credentials out, so an agent can be logged whole
// without leaking its password or HA1 (R12).
func (a Agent) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("user", a.User),
		slog.String("name", a.Name),
		slog.Any("queues", a.Queues),
		slog.Int("penalty", a.Penalty),
	)
}

// Registrar configures SIP registration and digest authentication of
// agents (R12: agent registration requires digest auth).
type Registrar struct {
	Realm string `yaml:"realm"` // digest realm; part of every HA1
	// Algorithms are the digest algorithms offered, preferred first
	// (RFC 8760): SHA-256 and MD5.
	Algorithms []string `yaml:"algorithms"`
	// NonceTTL is how long a nonce handed out in a challenge stays usable.
	NonceTTL time.Duration `yaml:"nonce_ttl"`
	// MinExpires and MaxExpires bound the registration lifetime a softphone
	// may ask for; whole seconds, since Expires is counted in seconds
	// (RFC 3261 section 10.2.8 for 423 Interval Too Brief).
	MinExpires time.Duration `yaml:"min_expires"`
	MaxExpires time.Duration `yaml:"max_expires"`
	// FailureLimit failed authentications from one source address within
	// FailureWindow block that source for BlockFor.
	FailureLimit  int           `yaml:"failure_limit"`
	FailureWindow time.Duration `yaml:"failure_window"`
	BlockFor      time.Duration `yaml:"block_for"`
}

// Queue is a waiting line of callers served by agents (R10). Its names and
// timers follow Asterisk app_queue and FreeSWITCH mod_callcenter.
type Queue struct {
	Name     string `yaml:"name"`     // unique, [a-z0-9_-]+; may be a metric label
	Strategy string `yaml:"strategy"` // StrategyLongestIdle or StrategyRingAll
	// RingCycles is how many ring cycles (Config.Ring.Cycle) an agent's
	// phone rings before the caller is offered to the next agent; at most
	// three (R1).
	RingCycles int `yaml:"ring_cycles"`
	// MaxNoAnswer consecutive ring-no-answers set the agent not ready;
	// 0 never does.
	MaxNoAnswer int `yaml:"max_no_answer"`
	// WrapUp is after-call work before the agent is offered calls again.
	WrapUp time.Duration `yaml:"wrap_up"`
	// NoAnswerDelay, BusyDelay and RejectDelay keep an agent from being
	// offered calls for a while after a ring-no-answer, a busy reply or a
	// declined call.
	NoAnswerDelay time.Duration `yaml:"no_answer_delay"`
	BusyDelay     time.Duration `yaml:"busy_delay"`
	RejectDelay   time.Duration `yaml:"reject_delay"`
	// RetryAvoid keeps the same agent from being rung again for the same
	// caller within this time.
	RetryAvoid time.Duration `yaml:"retry_avoid"`
	// ShortAbandon: a caller who hangs up after waiting less than this is a
	// short abandon, left out of the abandon rate.
	ShortAbandon time.Duration `yaml:"short_abandon"`
	// ReassuranceInterval is the period of the reassurance prompt while
	// waiting (R10); > 0, a caller is never left in plain music.
	ReassuranceInterval time.Duration `yaml:"reassurance_interval"`
	// AnnounceInterval is the period of the position and estimated wait
	// announcement; 0 = never.
	AnnounceInterval time.Duration `yaml:"announce_interval"`
	MaxWait          time.Duration `yaml:"max_wait"`     // longest wait before OnMaxWait
	OnMaxWait        string        `yaml:"on_max_wait"`  // OnMaxWaitClose
	OnNoAgents       string        `yaml:"on_no_agents"` // OnNoAgentsClose or OnNoAgentsWait
	Whisper          bool          `yaml:"whisper"`      // play the queue name to the agent before connecting
	// HoldPromise is the time an agent's hold promises the caller
	// (请您稍等一分钟, R3). Once a hold passes it, the caller hears an
	// apology and the agent's phone gets a MESSAGE, again every
	// HoldAlertInterval.
	HoldPromise       time.Duration `yaml:"hold_promise"`
	HoldAlertInterval time.Duration `yaml:"hold_alert_interval"`
	// TransferConfirm: a blind transfer's target hears a short whisper
	// (queue, the caller's wait) and takes the caller by pressing 1 within
	// TransferConfirmTimeout; otherwise the transfer fails as declined and
	// the caller goes back to the agent (R4).
	TransferConfirm        bool          `yaml:"transfer_confirm"`
	TransferConfirmTimeout time.Duration `yaml:"transfer_confirm_timeout"`
	// RingBackAttempts is how often the server rings an agent who hung up
	// during a transfer that then failed, before the caller goes back to
	// the front of the queue (R4; Asterisk's atxfercallbackretries).
	RingBackAttempts int `yaml:"ring_back_attempts"`
}

// Queue strategies: which ready agent is offered a caller.
const (
	StrategyLongestIdle = "longest_idle" // the ready agent idle longest (ties: lower penalty first)
	StrategyRingAll     = "ring_all"     // every ready agent at once; the first to answer takes the call
)

// What a queue does with a caller who waited Queue.MaxWait.
const (
	OnMaxWaitClose = "close" // apologise and go to the closing (R7)
)

// What a queue does with a caller when none of its agents is logged in.
const (
	OnNoAgentsClose = "close" // play the no-agent notice, then the closing
	OnNoAgentsWait  = "wait"  // queue anyway, until an agent logs in or MaxWait passes
)

// Per-queue defaults, used by NewQueue and for the keys a file's queue
// leaves out.
const (
	DefaultQueueStrategy            = StrategyLongestIdle
	DefaultQueueRingCycles          = 3
	DefaultQueueWrapUp              = 10 * time.Second
	DefaultQueueMaxNoAnswer         = 2
	DefaultQueueNoAnswerDelay       = 0 * time.Second
	DefaultQueueBusyDelay           = 10 * time.Second
	DefaultQueueRejectDelay         = 10 * time.Second
	DefaultQueueRetryAvoid          = 30 * time.Second
	DefaultQueueShortAbandon        = 5 * time.Second
	DefaultQueueReassuranceInterval = 30 * time.Second
	DefaultQueueAnnounceInterval    = 60 * time.Second
	DefaultQueueMaxWait             = 10 * time.Minute
	DefaultQueueOnMaxWait           = OnMaxWaitClose
	DefaultQueueOnNoAgents          = OnNoAgentsClose
)

// NewQueue returns a queue named name with the per-queue defaults, the
// values a file's queue item takes for the keys it leaves out.
func NewQueue(name string) Queue {
	return Queue{
		Name:                name,
		Strategy:            DefaultQueueStrategy,
		RingCycles:          DefaultQueueRingCycles,
		MaxNoAnswer:         DefaultQueueMaxNoAnswer,
		WrapUp:              DefaultQueueWrapUp,
		NoAnswerDelay:       DefaultQueueNoAnswerDelay,
		BusyDelay:           DefaultQueueBusyDelay,
		RejectDelay:         DefaultQueueRejectDelay,
		RetryAvoid:          DefaultQueueRetryAvoid,
		ShortAbandon:        DefaultQueueShortAbandon,
		ReassuranceInterval: DefaultQueueReassuranceInterval,
		AnnounceInterval:    DefaultQueueAnnounceInterval,
		MaxWait:             DefaultQueueMaxWait,
		OnMaxWait:           DefaultQueueOnMaxWait,
		OnNoAgents:          DefaultQueueOnNoAgents,
		HoldPromise:         time.Minute,
		HoldAlertInterval:   30 * time.Second,

		TransferConfirmTimeout: 10 * time.Second,
		RingBackAttempts:       1,
	}
}

// Routing says where callers go after the greeting and menu.
type Routing struct {
	// DefaultQueue is the queue callers join after the greeting (and the
	// menu, unless an option chose another); "" = none: callers hear the
	// no-agent notice and the closing.
	DefaultQueue string `yaml:"default_queue"`
}

// API configures the agent HTTP API (/api/agents) on HTTP.Listen.
type API struct {
	// Token is the bearer token (RFC 6750) the API requires; empty disables
	// the API. When set it is at least MinAPITokenLength characters.
	Token string `yaml:"token"`
}

// LogValue hides the token itself and tells only whether the API is on.
func (a API) LogValue() slog.Value {
	return slog.GroupValue(slog.Bool("enabled", a.Token != ""))
}

// MinAPITokenLength is the shortest API token accepted: 16 characters of
// a random hex or base64 string are 64 to 96 bits, beyond guessing.
const MinAPITokenLength = 16

// Queue returns the queue named name, or nil when there is none. It points
// into the configuration, which is never changed once loaded: callers
// read it and must not modify it. A call's flow keeps it instead of a
// copy, so that the queue's settings take no room on its stack.
func (c *Config) Queue(name string) *Queue {
	for i := range c.Queues {
		if c.Queues[i].Name == name {
			return &c.Queues[i]
		}
	}
	return nil
}

// QueueByName returns the queue named name, or false when there is none.
func (c *Config) QueueByName(name string) (Queue, bool) {
	for _, q := range c.Queues {
		if q.Name == name {
			return q, true
		}
	}
	return Queue{}, false
}

// AgentByUser returns the agent whose SIP user is user, or false.
func (c *Config) AgentByUser(user string) (Agent, bool) {
	for _, a := range c.Agents {
		if a.User == user {
			return a, true
		}
	}
	return Agent{}, false
}

// AgentQueues returns the names of the queues a serves: its own list, or
// every configured queue (in configuration order) when the list is empty.
// The slice is the caller's to keep or change.
func (c *Config) AgentQueues(a Agent) []string {
	if len(a.Queues) > 0 {
		return slices.Clone(a.Queues)
	}
	names := make([]string, len(c.Queues))
	for i, q := range c.Queues {
		names[i] = q.Name
	}
	return names
}
