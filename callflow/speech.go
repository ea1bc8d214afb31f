package callflow

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/hotline-dev/hotline/analysis"
	"github.com/hotline-dev/hotline/calllog"
	"github.com/hotline-dev/hotline/metrics"
	"github.com/hotline-dev/hotline/prompts"
)

// speech follows one call's R9 measures: the caller's leg from the
// answer, the IVR conversation (caller silent while no prompt plays) until
// the caller reaches an agent or the closing, then the bridged
// conversation with the agent, whose dead-air alerts go to the agent's
// phone live.
type speech struct {
	c        *call
	caller   *analysis.LegAnalyser
	agentLeg *analysis.LegAnalyser

	mu         sync.Mutex
	agent      string // agent on the line, for live alerts
	queue      string // metric label
	ivrConv    *analysis.ConversationSummary
	bridged    *analysis.ConversationSummary
	agentSum   *analysis.LegSummary
	callerSum  *analysis.LegSummary
	alertsSent int

	// Live conversation events on their way from the media engine, which
	// must not wait, to handle (see takeEvent).
	evMu      sync.Mutex
	evPending []analysis.Event
	evRunning bool // a goroutine is handling evPending
	evStopped bool
	evDropped int
	evIdle    sync.WaitGroup
}

// speechEventBuffer is how many conversation events may wait to be
// handled before new ones are dropped (and counted in the call's log).
// Dead air starts and ends at most every few seconds; handling one takes
// microseconds.
const speechEventBuffer = 8

func (c *call) startSpeech() {
	s := &speech{c: c, caller: analysis.NewLeg(), queue: metrics.IVRQueue}
	c.speech = s
	c.media.Analyse(s.caller)
	c.media.OnSpeechEvent(s.takeEvent)
	c.media.Converse(analysis.NewConversation(s.caller, nil, analysis.WithDeadAirThreshold(c.cfg.Speech.DeadAirAlert)))
}

// takeEvent takes a live conversation event from the media engine's
// goroutine. It starts a goroutine to handle the events in order, which
// ends once none waits: events come a few times a call at most, and a
// goroutine waiting for them all call long would hold a stack per call.
func (s *speech) takeEvent(ev analysis.Event) {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	if s.evStopped {
		return
	}
	if len(s.evPending) == speechEventBuffer {
		s.evDropped++
		return
	}
	s.evPending = append(s.evPending, ev)
	if !s.evRunning {
		s.evRunning = true
		s.evIdle.Add(1)
		go s.handleQueued()
	}
}

func (s *speech) handleQueued() {
	defer s.evIdle.Done()
	for {
		s.evMu.Lock()
		if len(s.evPending) == 0 {
			s.evRunning = false
			s.evMu.Unlock()
			return
		}
		ev := s.evPending[0]
		s.evPending = append(s.evPending[:0], s.evPending[1:]...)
		s.evMu.Unlock()
		s.handle(ev)
	}
}

// stopEvents detaches the call from its conversation's events and waits
// until those already queued are handled.
func (s *speech) stopEvents() {
	s.c.media.OnSpeechEvent(nil)
	s.evMu.Lock()
	s.evStopped = true
	dropped := s.evDropped
	s.evMu.Unlock()
	s.evIdle.Wait()
	if dropped > 0 {
		s.c.log.Warn("live speech events dropped: their handling fell behind", "dropped", dropped)
	}
}

// handle turns a live conversation event into journal events, counters
// and the agent's MESSAGE. Events queue behind it, so it must not block:
// the MESSAGE and any prompt go out on their own.
func (s *speech) handle(ev analysis.Event) {
	c := s.c
	s.mu.Lock()
	agent, queue := s.agent, s.queue
	s.mu.Unlock()
	switch ev {
	case analysis.DeadAirStarted:
		c.event("dead_air", "agent", agent, "threshold_ms", strconv.FormatInt(c.cfg.Speech.DeadAirAlert.Milliseconds(), 10))
		if agent == "" {
			return // IVR: recorded, nobody to alert
		}
		c.e.opts.SpeechMetrics.DeadAirAlert(queue)
		c.log.Info("dead air on a bridged call; alerting the agent", "agent", agent)
		if c.cfg.Speech.DeadAirPrompt {
			// The caller hears a reassurance over the silent line; a Play
			// takes the bridged leg's slots, the relay resumes after it.
			if a := c.e.opts.Prompts.Get(prompts.QueueReassurance); a != nil {
				c.media.Begin(c.ctx, false, a.Payload(uint8(c.payloadType.Load())))
			}
		}
		c.alertAgent(agent, "dead_air", fmt.Sprintf("通话已静音超过%d秒,请回应客户 (dead air over %d s: please speak to the caller)",
			int(c.cfg.Speech.DeadAirAlert.Seconds()), int(c.cfg.Speech.DeadAirAlert.Seconds())))
	case analysis.DeadAirEnded:
		c.event("dead_air_end", "agent", agent)
	}
}

// AgentMessenger sends a text to an agent's phone (SIP MESSAGE); the
// AgentDialer given to the engine may implement it.
type AgentMessenger interface {
	MessageAgent(ctx context.Context, user, text string) error
}

// connectAgent switches from the IVR conversation to the conversation between
// caller and agent.
func (s *speech) connectAgent(agentUser, queue string, agentMedia Media) {
	c := s.c
	if sum, ok := c.media.ConversationSummary(); ok {
		s.ivrConv = &sum
	}
	s.agentLeg = analysis.NewLeg()
	agentMedia.Analyse(s.agentLeg)
	c.media.Converse(analysis.NewConversation(s.caller, s.agentLeg, analysis.WithDeadAirThreshold(c.cfg.Speech.DeadAirAlert)))
	s.mu.Lock()
	s.agent, s.queue = agentUser, queue
	s.mu.Unlock()
}

// disconnectAgent keeps the bridged conversation's figures once the agent left.
func (s *speech) disconnectAgent(agentMedia Media) {
	c := s.c
	if sum, ok := c.media.ConversationSummary(); ok {
		s.bridged = &sum
	}
	c.media.Converse(nil)
	if sum, ok := agentMedia.LegSummary(); ok {
		s.agentSum = &sum
	}
	agentMedia.Analyse(nil)
	s.mu.Lock()
	s.agent = ""
	s.mu.Unlock()
}

// closing stops counting IVR dead air: waiting for the caller to hang up
// after the thanks is not a silence anyone should fill.
func (s *speech) closing() {
	c := s.c
	if s.bridged == nil && s.ivrConv == nil {
		if sum, ok := c.media.ConversationSummary(); ok {
			s.ivrConv = &sum
		}
	}
	c.media.Converse(nil)
}

// finish takes the caller's figures before the media closes.
func (s *speech) finish() {
	if sum, ok := s.c.media.LegSummary(); ok {
		s.callerSum = &sum
	}
	if s.bridged == nil && s.ivrConv == nil {
		if sum, ok := s.c.media.ConversationSummary(); ok {
			s.ivrConv = &sum
		}
	}
}

// record fills the call record's speech measures and the metrics.
func (s *speech) record(rec *calllog.Record) {
	if s == nil || s.callerSum == nil {
		return
	}
	c := s.c
	queue := metrics.IVRQueue
	if rec.Queue != "" {
		queue = rec.Queue
	}
	sp := &calllog.Speech{Caller: party(*s.callerSum)}
	s.pace("caller", queue, s.callerSum.Pace)
	conv := s.ivrConv
	if s.bridged != nil {
		conv = s.bridged
		if s.agentSum != nil {
			a := party(*s.agentSum)
			sp.Agent = &a
			s.pace("agent", queue, s.agentSum.Pace)
			if s.agentSum.Pace > 0 {
				c.e.opts.SpeechMetrics.AgentPace(rec.Agent, s.agentSum.Pace)
			}
		}
		sp.TalkRatio = conv.TalkRatio
		sp.AgentLongestSilenceWhileCallerTalksMS = conv.LongestNoAck.Milliseconds()
		c.e.opts.SpeechMetrics.TalkRatio(queue, conv.TalkRatio)
	}
	if conv != nil {
		sp.OvertalkMS = conv.Overtalk.Milliseconds()
		sp.DeadAirMS = conv.DeadAir.Milliseconds()
		sp.LongestDeadAirMS = conv.LongestDeadAir.Milliseconds()
		sp.DeadAirEvents = conv.DeadAirEvents
		c.e.opts.SpeechMetrics.DeadAir(queue, conv.DeadAir.Seconds())
	}
	rec.Speech = sp
}

// pace counts a party's pace and flags it when outside the band (R9).
func (s *speech) pace(who, queue string, spm float64) {
	if spm <= 0 {
		return
	}
	c := s.c
	c.e.opts.SpeechMetrics.Pace(who, queue, spm)
	dir := ""
	switch {
	case spm < float64(c.cfg.Speech.PaceMin):
		dir = "slow"
	case spm > float64(c.cfg.Speech.PaceMax):
		dir = "fast"
	}
	if dir != "" {
		c.e.opts.SpeechMetrics.PaceOutOfRange(who, queue, dir)
		c.event("pace_out_of_range", "party", who, "pace_spm", strconv.Itoa(int(spm)), "direction", dir)
	}
}

func party(l analysis.LegSummary) calllog.PartySpeech {
	return calllog.PartySpeech{TalkMS: l.Talk.Milliseconds(), SilenceMS: l.Silence.Milliseconds(),
		Segments: l.Segments, Syllables: l.Syllables, PaceSPM: l.Pace}
}
