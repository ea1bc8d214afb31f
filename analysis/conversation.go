package analysis

import (
	"fmt"
	"log/slog"
	"time"
)

// Event is what a Conversation tick reports to the server.
type Event uint8

const (
	// NoEvent means nothing to report this slot.
	NoEvent Event = iota
	// DeadAirStarted means dead air has just reached the threshold: alert
	// the agent now (R9: a long silence makes the caller think the line
	// dropped). DeadAir tells how long it has lasted.
	DeadAirStarted
	// DeadAirEnded means a dead air that raised DeadAirStarted is over:
	// somebody talked, a prompt started or the call went on hold.
	DeadAirEnded
)

// String returns the event's name as used in the call's event stream.
func (e Event) String() string {
	switch e {
	case NoEvent:
		return "none"
	case DeadAirStarted:
		return "dead_air_started"
	case DeadAirEnded:
		return "dead_air_ended"
	}
	return fmt.Sprintf("event(%d)", uint8(e))
}

// Conversation measures a connected call from its legs' voice activity:
// overtalk, dead air, the agent's silence while the caller talks, and the
// talk ratio (R9). For a bridged call give it the caller's and the agent's
// LegAnalyser; for an IVR-only call give a nil agent and report the
// server's own prompts with SetPlaying. Tick it once per 20 ms slot, after
// both legs have been given that slot's frame (Frame or Silence). It is
// not safe for concurrent use.
type Conversation struct {
	cfg           convConfig
	caller, agent *LegAnalyser

	hold, playing bool
	// Hold and playing flags of the last 64 slots, newest in bit 0, so the
	// settled accounting sees them at the same lag as the leg labels.
	holdHist, playHist uint64
	ticks              int64

	// Live dead air.
	sinceExcluded int64 // slots since hold or a prompt last applied
	alerted       bool

	tally convTally
}

// convTally is the settled accounting of a conversation.
type convTally struct {
	slots, held                  int64
	callerTalk, agentTalk, over  int64
	deadRun, deadTotal, deadLong int64
	deadEvents                   int
	// No acknowledgement: the slot where the caller's current
	// unacknowledged stretch began (-1: none), and the caller's silence
	// since they last talked.
	ackFrom, callerGap, noAck int64
}

func (t *convTally) add(cfg *convConfig, hasAgent, caller, agent, held, playing bool) {
	slot := t.slots
	t.slots++
	if held {
		t.held++
		t.deadRun = 0
		t.ackFrom = -1
		return
	}
	if caller {
		t.callerTalk++
	}
	if agent {
		t.agentTalk++
	}
	if caller && agent {
		t.over++
	}
	if !caller && !agent && !playing {
		t.deadRun++
		t.deadTotal++
		t.deadLong = max(t.deadLong, t.deadRun)
		if t.deadRun == int64(cfg.deadAir) {
			t.deadEvents++
		}
	} else {
		t.deadRun = 0
	}
	if !hasAgent {
		return
	}
	switch {
	case agent:
		t.ackFrom = -1
	case caller:
		if t.ackFrom < 0 {
			t.ackFrom = slot
		}
		t.callerGap = 0
		t.noAck = max(t.noAck, slot-t.ackFrom+1)
	case t.ackFrom >= 0:
		t.callerGap++
		if t.callerGap >= int64(cfg.turnGap) {
			t.ackFrom = -1
		}
	}
}

// NewConversation returns a Conversation over a caller leg and an agent
// leg; agent may be nil for an IVR-only call. A nil caller is treated as
// a leg that never talks. An option with an invalid value is logged and
// its default kept; use NewConversationChecked to get the error.
func NewConversation(caller, agent *LegAnalyser, opts ...ConvOption) *Conversation {
	cfg := defaultConvConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			slog.Warn("analysis: conversation option ignored", "err", err)
		}
	}
	if caller == nil {
		caller = NewLeg()
	}
	return newConversation(cfg, caller, agent)
}

// NewConversationChecked is NewConversation that returns ErrNoCaller for a
// nil caller and the first invalid option as an error wrapping
// ErrInvalidOption.
func NewConversationChecked(caller, agent *LegAnalyser, opts ...ConvOption) (*Conversation, error) {
	if caller == nil {
		return nil, ErrNoCaller
	}
	cfg := defaultConvConfig()
	for i, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("conversation option %d: %w", i, err)
		}
	}
	return newConversation(cfg, caller, agent), nil
}

func newConversation(cfg convConfig, caller, agent *LegAnalyser) *Conversation {
	return &Conversation{
		cfg:    cfg,
		caller: caller,
		agent:  agent,
		tally:  convTally{ackFrom: -1},
	}
}

// SetHold puts the call on hold or takes it off. Held time is excluded
// from overtalk, dead air and talk: the caller hears music, not silence.
func (c *Conversation) SetHold(on bool) { c.hold = on }

// SetPlaying reports that the server is playing a prompt into the call
// (an IVR prompt, a whisper, a reassurance) or has stopped. While it
// plays, nobody's silence is dead air.
func (c *Conversation) SetPlaying(on bool) { c.playing = on }

// Tick accounts one 20 ms slot and reports DeadAirStarted the moment dead
// air reaches the threshold, DeadAirEnded when such a dead air ends, and
// NoEvent otherwise. It does not allocate.
func (c *Conversation) Tick() Event {
	c.ticks++
	c.holdHist = c.holdHist<<1 | b2u(c.hold)
	c.playHist = c.playHist<<1 | b2u(c.playing)
	if c.ticks > SettleLag {
		c.tally.add(&c.cfg, c.agent != nil,
			c.caller.hist>>SettleLag&1 == 1,
			c.agent != nil && c.agent.hist>>SettleLag&1 == 1,
			c.holdHist>>SettleLag&1 == 1,
			c.playHist>>SettleLag&1 == 1)
	}
	return c.live()
}

// live runs the live dead-air detector. Its dead air is the time since the
// last talk frame of either leg (no hangover lag) or the last slot on hold
// or with a prompt, so DeadAirStarted fires at the threshold itself, not a
// hangover later. While a leg has active frames whose onset is still
// undecided it waits (at most the onset time): if they are talk, the dead
// air ended before the threshold.
func (c *Conversation) live() Event {
	if c.hold || c.playing {
		c.sinceExcluded = 0
	} else {
		c.sinceExcluded++
	}
	run := c.deadAirFrames()
	if c.alerted {
		if run < int64(c.cfg.deadAir) {
			c.alerted = false
			return DeadAirEnded
		}
		return NoEvent
	}
	pending := c.caller.pending() || (c.agent != nil && c.agent.pending())
	if run >= int64(c.cfg.deadAir) && !pending {
		c.alerted = true
		return DeadAirStarted
	}
	return NoEvent
}

func (c *Conversation) deadAirFrames() int64 {
	run := min(c.sinceExcluded, c.caller.quietFrames())
	if c.agent != nil {
		run = min(run, c.agent.quietFrames())
	}
	return run
}

// DeadAir is how long the current dead air has lasted, 0 if there is none.
func (c *Conversation) DeadAir() time.Duration {
	return time.Duration(c.deadAirFrames()) * FrameDuration
}

// Summary returns the conversation's figures so far, counting the
// unsettled slots as if the call ended now. It does not change the
// Conversation.
func (c *Conversation) Summary() ConversationSummary {
	t := c.tally
	n := int(min(c.ticks, SettleLag))
	ch := c.caller.resolved()
	var ah uint64
	if c.agent != nil {
		ah = c.agent.resolved()
	}
	for off := n - 1; off >= 0; off-- {
		t.add(&c.cfg, c.agent != nil, ch>>uint(off)&1 == 1, ah>>uint(off)&1 == 1,
			c.holdHist>>uint(off)&1 == 1, c.playHist>>uint(off)&1 == 1)
	}
	d := func(f int64) time.Duration { return time.Duration(f) * FrameDuration }
	s := ConversationSummary{
		Duration:       d(t.slots),
		Held:           d(t.held),
		CallerTalk:     d(t.callerTalk),
		AgentTalk:      d(t.agentTalk),
		Overtalk:       d(t.over),
		DeadAir:        d(t.deadTotal),
		LongestDeadAir: d(t.deadLong),
		DeadAirEvents:  t.deadEvents,
		LongestNoAck:   d(t.noAck),
		Caller:         c.caller.Summary(),
	}
	if c.agent != nil {
		s.Agent = c.agent.Summary()
		if total := t.agentTalk + t.callerTalk; total > 0 {
			s.TalkRatio = float64(t.agentTalk) / float64(total)
		}
	}
	return s
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
