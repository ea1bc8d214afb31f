package callflow

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hotline-dev/hotline/calllog"
	"github.com/hotline-dev/hotline/config"
	"github.com/hotline-dev/hotline/prompts"
	"github.com/hotline-dev/hotline/sip"
)

// errBargeIn stops a prompt when the caller presses a key during it.
var errBargeIn = errors.New("caller pressed a key")

// call is one call's state, owned by its flow goroutine.
type call struct {
	e     *Engine
	cfg   *config.Config
	clock Clock
	info  CallInfo
	leg   Leg
	media Media
	log   *slog.Logger

	// ctx is the call's, a child of the engine's: Shutdown ends it with
	// ErrShutdown as its cause.
	ctx    context.Context
	cancel context.CancelCauseFunc

	payloadType atomic.Uint32 // codec of the prompts; follows re-offers
	answered    bool
	// legUp: the caller's media started at the answer (Engine.callerLegs).
	legUp bool
	// agentHungUpFirst: the agent left a bridged call before the caller.
	agentHungUpFirst bool
	speech           *speech // R9 measures, from the answer on
	rec              calllog.Record
	// unrecorded marks an agent's own call (a consultation): no events,
	// no record; it is not a customer's call.
	unrecorded bool
	// shownAs, when set, is the display name agents' phones show for
	// this call instead of the queue name.
	shownAs string
}

func anySlice(kv []string) []any {
	out := make([]any, len(kv))
	for i, v := range kv {
		out[i] = v
	}
	return out
}

func newCall(e *Engine, info CallInfo, leg Leg) *call {
	c := &call{
		e: e, cfg: e.opts.Config, clock: e.opts.Clock, info: info, leg: leg,
		log: e.log.With("call_id", info.ID),
		rec: calllog.Record{CallID: info.ID, Caller: info.Caller, Called: info.Called, Arrival: info.Arrived},
	}
	c.payloadType.Store(uint32(info.Offer.PayloadType))
	return c
}

func (c *call) event(typ string, kv ...string) {
	if c.unrecorded {
		c.log.Debug("event", append([]any{"event", typ}, anySlice(kv)...)...)
		return
	}
	var data map[string]string
	if len(kv) > 1 {
		data = make(map[string]string, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			data[kv[i]] = kv[i+1]
		}
	}
	if err := c.e.opts.Journal.AppendEvent(calllog.Event{CallID: c.info.ID, At: c.clock.Now(), Type: typ, Data: data}); err != nil {
		c.log.Error("journal event lost", "event", typ, "error", err)
	}
}

// run is the whole life of the call, top to bottom. Its frame is under
// every wait of the call, so the set-up is a helper and there are no
// defers: a panic in a flow ends the process anyway.
func (c *call) run() {
	if c.begin() {
		if c.ring() && c.answer() {
			c.talk()
		}
		c.finish()
	}
	c.cancel(nil)
}

// begin records the arrival, gives the call its context and media and
// watches for its end; false if it was refused instead (shutting down, no
// media port).
//
//go:noinline
func (c *call) begin() bool {
	c.arrived()
	c.ctx, c.cancel = context.WithCancelCause(c.e.stopping)
	select {
	case <-c.e.stopping.Done():
		c.reject(503, "Service Unavailable", "shutdown")
		return false
	default:
	}
	m, err := c.e.opts.NewMedia(c.info.ID)
	if err != nil {
		c.log.Error("no media session for the call", "error", err)
		c.reject(503, "Service Unavailable", "no media port")
		return false
	}
	c.media = m
	c.watch()
	return true
}

// arrived counts and records the call's arrival (a helper, so its event's
// arguments take no room in run's frame: see Engine.runCall).
//
//go:noinline
func (c *call) arrived() {
	c.e.opts.Metrics.CallArrived()
	c.event(calllog.EventArrival, calllog.DataCaller, c.info.Caller, calllog.DataCalled, c.info.Called, "codec", codecName(c.info.Offer.PayloadType))
}

// watch turns the ways a call can end from outside into the flow's
// context cause; the first one wins (the engine's shutdown comes through
// the context's parent). Each is a function run when it
// happens, not a goroutine parked on it for the whole call: a goroutine's
// stack (2–4 KiB) and its parked select are memory each of thousands of
// calls would hold. Live speech events (R9) come the same way (see
// speech.takeEvent).
//
//go:noinline
func (c *call) watch() {
	c.leg.OnEnd(func() { c.cancel(ErrCallerHungUp) })
	c.media.OnInactive(func() { c.cancel(ErrRTPTimeout) })
}

func (c *call) stopped() bool { return c.ctx.Err() != nil }

// sleep waits d on the injected clock, or until the call ends.
func (c *call) sleep(d time.Duration) error {
	if d <= 0 {
		return c.ctx.Err()
	}
	t := c.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-c.ctx.Done():
		return context.Cause(c.ctx)
	}
}

// ring sends 180 and lets the phone ring for the answer delay, counted
// from the INVITE's arrival so time spent queued in the server counts
// against R1's three-ring budget.
func (c *call) ring() bool {
	if err := c.leg.Ring(); err != nil {
		c.log.Info("ringing failed", "error", err)
		return false
	}
	c.event("ringing")
	delay := c.cfg.Answer.Delay - c.clock.Now().Sub(c.info.Arrived)
	return c.sleep(delay) == nil
}

func (c *call) answer() bool {
	if err := c.leg.Answer(c.ctx, c.media.LocalPort()); err != nil {
		c.log.Info("answer failed", "error", err)
		if !c.stopped() && c.leg.FinalStatus() == 200 {
			// 200 sent, no ACK (RFC 3261 section 13.3.1.4): end with BYE.
			c.answered = true
			c.cancel(errNoACK)
		}
		return false
	}
	c.answered = true
	now := c.clock.Now()
	c.rec.Answer = now
	c.rec.AnswerDelay = now.Sub(c.info.Arrived)
	c.rec.AnswerRings = ringsAt(c.rec.AnswerDelay, c.cfg.Ring.Cycle())
	budget := 3 * c.cfg.Ring.Cycle()
	c.e.opts.Metrics.CallAnswered(c.rec.AnswerDelay, c.rec.AnswerDelay <= budget)
	c.event(calllog.EventAnswered, "delay_ms", strconv.FormatInt(c.rec.AnswerDelay.Milliseconds(), 10), "rings", strconv.Itoa(c.rec.AnswerRings))
	if c.rec.AnswerDelay > budget {
		c.log.Warn("answered later than three rings (R1)", "delay", c.rec.AnswerDelay)
	}

	off := c.info.Offer
	if err := configureFrom(c.media, off); err != nil {
		c.log.Error("media configure failed", "error", err)
	}
	c.leg.OnMediaChange(func(o sip.Offer) {
		c.payloadType.Store(uint32(o.PayloadType))
		if err := configureFrom(c.media, o); err != nil {
			c.log.Warn("media re-configure failed", "error", err)
		}
	})
	c.media.Start()
	c.legUp = true
	c.e.callerLegs.Add(1)
	c.startSpeech()
	return true
}

var errNoACK = errors.New("no ack")

// ringsAt is the ring cycle in which an answer after d fell: 1 for the
// first cycle, and so on (R1 allows up to 3).
func ringsAt(d, cycle time.Duration) int {
	if cycle <= 0 {
		return 1
	}
	return max(1, int(math.Ceil(float64(d)/float64(cycle))))
}

// talk is the answered part: greeting (R2), menu, the no-agent notice,
// closing, then waiting for the caller to hang up first (R7).
func (c *call) talk() {
	if c.greet() != nil {
		return
	}
	closeNow, queueName := false, c.cfg.Routing.DefaultQueue
	if c.cfg.Menu != nil {
		var chosen string
		var err error
		if closeNow, chosen, err = c.menu(); err != nil {
			return
		}
		if chosen != "" {
			queueName = chosen
		}
	}
	if !closeNow {
		apology := prompts.NoAgent
		if queueName != "" && c.e.opts.Queues != nil {
			outcome, sorry, err := c.serveFromQueue(queueName)
			if err != nil {
				return
			}
			apology = sorry
			if outcome == talkedAgentLeft {
				apology = ""
			}
		}
		if apology != "" && c.play(apology) != nil {
			return
		}
	}
	c.event("closing")
	c.speech.closing()
	if c.play(prompts.ClosingAnythingElse) != nil || c.sleep(c.e.opts.ClosingPause) != nil || c.play(prompts.ClosingThanks) != nil {
		return
	}
	// R7: the caller hangs up first. Only the safety timeout after the
	// last prompt lets hotline end the call.
	if c.sleep(c.cfg.Closing.SafetyTimeout) == nil {
		c.cancel(ErrClosingTimeout)
	}
}

// greet plays 早上好/中午好/下午好/晚上好 + company + offer of help (R2).
func (c *call) greet() error {
	part := c.cfg.PartOfDay(c.clock.Now())
	if c.rec.Greeting == "" {
		c.rec.Greeting = string(part)
	}
	return c.play(greetingFor(part), prompts.Company, prompts.OfferHelp)
}

func greetingFor(p config.DayPart) prompts.ID {
	switch p {
	case config.Morning:
		return prompts.GreetMorning
	case config.Noon:
		return prompts.GreetNoon
	case config.Afternoon:
		return prompts.GreetAfternoon
	default:
		return prompts.GreetEvening
	}
}

// play plays prompts back to back, with no gap between them.
func (c *call) play(ids ...prompts.ID) error {
	_, _, err := c.playWith(false, ids...)
	return err
}

// playWith plays prompts; with bargeIn a key press stops them and is
// returned.
func (c *call) playWith(bargeIn bool, ids ...prompts.ID) (byte, bool, error) {
	if c.stopped() {
		return 0, false, context.Cause(c.ctx)
	}
	clips, joined, n := c.promptsFor(ids)

	var key byte
	var pressed bool
	var err error
	if !bargeIn {
		err = c.media.Play(c.ctx, clips...)
	} else {
		key, pressed, err = c.playUntilKey(clips)
	}
	switch {
	case pressed:
		c.promptEnded(joined, "barge_in", 0)
		return key, true, nil
	case err != nil:
		c.promptEnded(joined, "stopped", 0)
		return 0, false, context.Cause(c.ctx)
	}
	c.promptEnded(joined, "done", n)
	return 0, false, nil
}

// promptsFor looks up the prompts' audio in the call's codec, records
// them as played (R6) and journals the start; joined names them for the
// journal and n counts those found. Kept out of playWith, whose frame
// the call's goroutine holds while the prompts play (see Engine.runCall).
//
//go:noinline
func (c *call) promptsFor(ids []prompts.ID) (clips [][]byte, joined string, n int) {
	pt := uint8(c.payloadType.Load())
	clips = make([][]byte, 0, len(ids))
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		a := c.e.opts.Prompts.Get(id)
		if a == nil {
			c.log.Error("prompt missing from catalogue", "prompt", id)
			continue
		}
		clips = append(clips, a.Payload(pt))
		names = append(names, string(id))
	}
	joined = strings.Join(names, ",")
	c.rec.Prompts = append(c.rec.Prompts, names...)
	c.event(calllog.EventPromptStart, calllog.DataPrompt, joined)
	return clips, joined, len(names)
}

// promptEnded journals how a playback ended and counts the n prompts
// played to the end.
//
//go:noinline
func (c *call) promptEnded(joined, result string, n int) {
	c.event("prompt_end", calllog.DataPrompt, joined, "result", result)
	for range n {
		c.e.opts.Metrics.PromptPlayed()
	}
}

func (c *call) playUntilKey(clips [][]byte) (byte, bool, error) {
	pctx, stop := context.WithCancelCause(c.ctx)
	defer stop(nil)
	done := c.media.Begin(pctx, false, clips...)
	select {
	case err := <-done:
		return 0, false, err
	case k := <-c.media.Digits():
		stop(errBargeIn)
		<-done
		return c.key(k), true, nil
	case k := <-c.leg.Digits():
		stop(errBargeIn)
		<-done
		return c.key(k), true, nil
	}
}

// key records a key press (R6: digits are part of the record).
func (c *call) key(k byte) byte {
	c.rec.Digits += string(k)
	c.e.opts.Metrics.Digit()
	c.event(calllog.EventDTMF, calllog.DataDigit, string(k))
	c.log.Info("dtmf", "key", string(k))
	return k
}

// waitKey waits up to d for a key press.
func (c *call) waitKey(d time.Duration) (byte, bool, error) {
	t := c.clock.NewTimer(d)
	defer t.Stop()
	select {
	case k := <-c.media.Digits():
		return c.key(k), true, nil
	case k := <-c.leg.Digits():
		return c.key(k), true, nil
	case <-t.C():
		return 0, false, nil
	case <-c.ctx.Done():
		return 0, false, context.Cause(c.ctx)
	}
}

// menu offers the configured choices; it returns closeNow when the caller
// chose to end the call, or the queue the caller chose.
func (c *call) menu() (closeNow bool, queueName string, err error) {
	m := c.cfg.Menu
	for round := 0; round < m.MaxRepeats; round++ {
		key, pressed, err := c.playWith(true, prompts.ID(m.Prompt))
		if err != nil {
			return false, "", err
		}
		if !pressed {
			if key, pressed, err = c.waitKey(m.Timeout); err != nil {
				return false, "", err
			}
		}
		if !pressed {
			c.e.opts.Metrics.MenuAction("timeout")
			c.event("menu", "action", "timeout")
			return false, "", nil
		}
		opt, ok := m.Options[string(key)]
		if !ok {
			c.e.opts.Metrics.MenuAction("invalid")
			c.event("menu", "key", string(key), "action", "invalid")
			if err := c.play(prompts.InvalidChoice); err != nil {
				return false, "", err
			}
			continue
		}
		c.e.opts.Metrics.MenuAction(opt.Action)
		c.event("menu", "key", string(key), "action", opt.Action)
		switch opt.Action {
		case config.ActionRepeatGreeting:
			err = c.greet()
		case config.ActionPlay:
			err = c.play(prompts.ID(opt.Prompt))
		case config.ActionClose:
			return true, "", nil
		case config.ActionQueue:
			return false, opt.Queue, nil
		}
		if err != nil {
			return false, "", err
		}
	}
	return false, "", nil
}

// reject refuses a call before it is answered.
func (c *call) reject(code int, reason, why string) {
	if err := c.leg.Reject(code, reason); err != nil {
		c.log.Info("reject failed", "status", code, "error", err)
	}
	c.rec.HangupBy, c.rec.HangupReason = calllog.HangupSystem, "rejected"
	c.rec.EndedBy = calllog.HangupSystem
	c.rec.Disposition = calllog.DispositionRejected
	c.event("rejected", "status", strconv.Itoa(code), "why", why)
	c.writeRecord()
}

// finish ends the call's leg if hotline must (never at a normal end: R7),
// then writes the record once the caller's leg is over (R6).
func (c *call) finish() {
	if c.speech != nil {
		// No dead-air event is journalled after the call's end.
		c.speech.stopEvents()
	}
	cause := context.Cause(c.ctx)
	switch {
	case !c.answered && errors.Is(cause, ErrCallerHungUp):
		c.rec.HangupBy, c.rec.HangupReason = calllog.HangupCaller, "cancel"
		c.rec.Disposition = calllog.DispositionAbandonedRinging
		c.event("cancelled")
	case !c.answered:
		// Shutdown while ringing, or the leg failed before the answer.
		if c.leg.FinalStatus() == 0 {
			_ = c.leg.Reject(503, "Service Unavailable")
		}
		c.rec.HangupBy, c.rec.HangupReason = calllog.HangupSystem, reasonOf(cause)
		c.rec.Disposition = calllog.DispositionInterrupted
	case errors.Is(cause, ErrCallerHungUp):
		c.rec.HangupBy, c.rec.HangupReason = calllog.HangupCaller, "bye"
		c.rec.Disposition = calllog.DispositionCompleted
	default:
		c.rec.HangupBy, c.rec.HangupReason = calllog.HangupSystem, reasonOf(cause)
		c.rec.Disposition = calllog.DispositionCompleted
		if !errors.Is(cause, ErrClosingTimeout) {
			c.rec.Disposition = calllog.DispositionFailed
		}
		if errors.Is(cause, ErrShutdown) {
			c.rec.Disposition = calllog.DispositionInterrupted
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		if err := c.leg.Hangup(ctx); err != nil {
			c.log.Info("BYE to the caller failed", "error", err)
		}
		cancel()
	}
	if c.rec.EndedBy == "" {
		c.rec.EndedBy = c.rec.HangupBy
	}
	if c.agentHungUpFirst {
		// R7: the agent left first; the record says so, and who then
		// ended the caller's leg.
		c.rec.HangupBy = calllog.HangupAgent
	}
	c.event("hangup", "party", c.rec.HangupBy, "reason", c.rec.HangupReason)
	c.log.Info("call ended", "hangup_by", c.rec.HangupBy, "reason", c.rec.HangupReason, "disposition", c.rec.Disposition)
	if c.speech != nil {
		c.speech.finish()
		c.speech.record(&c.rec)
	}
	if c.media != nil {
		if err := c.media.Close(); err != nil {
			c.log.Warn("media close", "error", err)
		}
	}
	c.writeRecord()
}

func reasonOf(cause error) string {
	switch {
	case errors.Is(cause, ErrClosingTimeout):
		return "closing timeout"
	case errors.Is(cause, ErrRTPTimeout):
		return "rtp timeout"
	case errors.Is(cause, ErrShutdown):
		return "shutdown"
	case errors.Is(cause, errNoACK):
		return "no ack"
	case cause == nil:
		return "failed"
	}
	return cause.Error()
}

func (c *call) writeRecord() {
	c.rec.End = c.clock.Now()
	c.rec.SIPStatus = c.leg.FinalStatus()
	c.e.opts.Metrics.CallEnded(c.rec.Disposition, c.rec.HangupBy, c.rec.HangupReason)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.e.opts.Journal.WriteRecord(ctx, c.rec); err != nil {
		c.log.Error("call record not written", "error", err)
	}
	c.leg.Release()
}

func codecName(pt uint8) string {
	if pt == sip.PayloadPCMA {
		return "PCMA"
	}
	return "PCMU"
}
