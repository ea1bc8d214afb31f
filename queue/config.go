package queue

import (
	"fmt"
	"time"
)

// Clock is the Manager's only source of time. callflow.Clock satisfies it;
// tests use a fake that they advance by hand.
type Clock interface {
	Now() time.Time
}

// State is an agent's state, as shown by Agents and used as a metric label.
type State string

// Agent states, after mod_callcenter's status/state pair folded into one.
const (
	// LoggedOut: not registered; never offered.
	LoggedOut State = "logged_out"
	// Ready: waiting for a caller; offered by the queue's strategy.
	Ready State = "ready"
	// Ringing: reserved by an Offer; the caller's flow is ringing the phone.
	Ringing State = "ringing"
	// OnCall: talking to a caller.
	OnCall State = "on_call"
	// WrapUp: the call ended; the agent finishes notes for the queue's WrapUp.
	WrapUp State = "wrap_up"
	// NotReady: logged in but not offered; AgentStatus.Reason says why.
	NotReady State = "not_ready"
)

// Reasons an agent is NotReady.
const (
	// ReasonRingNoAnswer: the agent missed MaxNoAnswer offers in a row
	// (app_queue autopause, R1), or is sitting out NoAnswerDelay.
	ReasonRingNoAnswer = "ring-no-answer"
	// ReasonManual: the agent asked for it (feature code or HTTP API).
	ReasonManual = "manual"
	// ReasonBusy: the phone was busy or unreachable; clears after BusyDelay.
	ReasonBusy = "busy"
	// ReasonRejected: the agent declined the call; clears after RejectDelay.
	ReasonRejected = "rejected"
)

// Strategy chooses which ready agents an Offer reserves.
type Strategy string

// Strategies.
const (
	// LongestIdle offers the one ready agent idle longest since their last
	// call ended (or since login); ties go to the lower penalty, then to the
	// lower user name.
	LongestIdle Strategy = "longest_idle"
	// RingAll offers every ready agent of the queue at once; the caller's
	// flow rings them all and the first to answer takes the call.
	RingAll Strategy = "ring_all"
)

// Defaults applied by New to zero fields of a QueueConfig.
const (
	// DefaultBusyDelay is QueueConfig.BusyDelay's default.
	DefaultBusyDelay = 10 * time.Second
	// DefaultRejectDelay is QueueConfig.RejectDelay's default.
	DefaultRejectDelay = 10 * time.Second
	// DefaultRetryAvoid is QueueConfig.RetryAvoid's default.
	DefaultRetryAvoid = 30 * time.Second
	// DefaultShortAbandon is QueueConfig.ShortAbandon's default (the
	// 5 s short abandon supervisors exclude from the abandon rate).
	DefaultShortAbandon = 5 * time.Second
	// DefaultHandleTime is QueueConfig.DefaultHandleTime's default.
	DefaultHandleTime = 3 * time.Minute
	// DefaultMaxNoAnswer is the MaxNoAnswer of DefaultQueueConfig.
	DefaultMaxNoAnswer = 2

	defaultStrategy = LongestIdle
	historySize     = 20        // answered waits kept per queue for EstimatedWait
	historyMaxAge   = time.Hour // older answered waits no longer count
)

// QueueConfig is one queue.
//
// A zero duration means the documented default; a negative one means none
// (no delay, no avoid window, no short abandons). MaxNoAnswer is taken as
// given, since 0 must mean "never pause": 0 or less never pauses an agent
// for missed rings. DefaultQueueConfig returns every default, MaxNoAnswer 2
// included.
type QueueConfig struct {
	// Name identifies the queue; also a metric label.
	Name string
	// Strategy defaults to LongestIdle.
	Strategy Strategy
	// WrapUp is the time after a call before the agent is ready again
	// (app_queue wrapuptime, mod_callcenter wrap-up-time). Default 0.
	WrapUp time.Duration
	// NoAnswerDelay keeps an agent who missed a ring out of offers for this
	// long (no-answer-delay-time). Default 0.
	NoAnswerDelay time.Duration
	// BusyDelay keeps a busy or unreachable agent out of offers
	// (busy-delay-time). Default 10 s.
	BusyDelay time.Duration
	// RejectDelay keeps an agent who declined out of offers
	// (reject-delay-time). Default 10 s.
	RejectDelay time.Duration
	// RetryAvoid: a caller is not offered an agent again within this time
	// after a failed ring of that agent for that caller, unless that agent
	// is the only one of the queue logged in. Default 30 s.
	RetryAvoid time.Duration
	// ShortAbandon: abandons with a shorter wait are flagged short and left
	// out of the abandon rate. Default 5 s.
	ShortAbandon time.Duration
	// MaxNoAnswer consecutive missed rings set the agent not ready
	// (ring-no-answer) until they make themselves ready (max-no-answer,
	// autopause). 0 never pauses; DefaultQueueConfig sets 2.
	MaxNoAnswer int
	// DefaultHandleTime drives the estimated wait before the queue has any
	// answered history. Default 3 min.
	DefaultHandleTime time.Duration
}

// AgentConfig is one agent.
type AgentConfig struct {
	// User is the SIP user the agent registers as; the agent's key.
	User string
	// Name is the display name.
	Name string
	// Queues the agent serves.
	Queues []string
	// Penalty breaks ties in LongestIdle: lower is preferred.
	Penalty int
}

// Config is every queue and agent.
type Config struct {
	// Queues in the order Queues reports them.
	Queues []QueueConfig
	// Agents, each serving some of Queues.
	Agents []AgentConfig
}

// DefaultQueueConfig returns a longest-idle queue with every default filled
// in, MaxNoAnswer 2 included.
func DefaultQueueConfig(name string) QueueConfig {
	return QueueConfig{Name: name, MaxNoAnswer: DefaultMaxNoAnswer}.withDefaults()
}

// withDefaults resolves zero (default) and negative (none) durations.
func (c QueueConfig) withDefaults() QueueConfig {
	if c.Strategy == "" {
		c.Strategy = defaultStrategy
	}
	c.WrapUp = orDefault(c.WrapUp, 0)
	c.NoAnswerDelay = orDefault(c.NoAnswerDelay, 0)
	c.BusyDelay = orDefault(c.BusyDelay, DefaultBusyDelay)
	c.RejectDelay = orDefault(c.RejectDelay, DefaultRejectDelay)
	c.RetryAvoid = orDefault(c.RetryAvoid, DefaultRetryAvoid)
	c.ShortAbandon = orDefault(c.ShortAbandon, DefaultShortAbandon)
	c.DefaultHandleTime = orDefault(c.DefaultHandleTime, DefaultHandleTime)
	if c.MaxNoAnswer < 0 {
		c.MaxNoAnswer = 0
	}
	return c
}

func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	default:
		return d
	}
}

// validate reports the first problem that would make the queues unservable.
func (c Config) validate() error {
	queues := make(map[string]bool, len(c.Queues))
	for i, q := range c.Queues {
		if q.Name == "" {
			return fmt.Errorf("%w: queue %d has no name", ErrInvalidConfig, i)
		}
		if queues[q.Name] {
			return fmt.Errorf("%w: queue %q defined twice", ErrInvalidConfig, q.Name)
		}
		queues[q.Name] = true
		switch q.Strategy {
		case "", LongestIdle, RingAll:
		default:
			return fmt.Errorf("%w: queue %q: unknown strategy %q (want %s or %s)",
				ErrInvalidConfig, q.Name, q.Strategy, LongestIdle, RingAll)
		}
	}
	users := make(map[string]bool, len(c.Agents))
	for i, a := range c.Agents {
		if a.User == "" {
			return fmt.Errorf("%w: agent %d has no user", ErrInvalidConfig, i)
		}
		if users[a.User] {
			return fmt.Errorf("%w: agent %q defined twice", ErrInvalidConfig, a.User)
		}
		users[a.User] = true
		seen := make(map[string]bool, len(a.Queues))
		for _, q := range a.Queues {
			if !queues[q] {
				return fmt.Errorf("%w: agent %q: unknown queue %q", ErrInvalidConfig, a.User, q)
			}
			if seen[q] {
				return fmt.Errorf("%w: agent %q: queue %q listed twice", ErrInvalidConfig, a.User, q)
			}
			seen[q] = true
		}
	}
	return nil
}
