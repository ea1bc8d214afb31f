package callflow

import (
	"context"
	"strconv"
	"time"

	"github.com/hotline-dev/hotline/config"
	"github.com/hotline-dev/hotline/prompts"
	"github.com/hotline-dev/hotline/sip"
)

// Agent feature codes, keyed on the phone's keypad during a call. They
// are for the server and never relayed to the caller.
const (
	// featureHold (*3) holds the caller or takes them off hold (R3), for
	// phones without a hold button.
	featureHold = "*3"
	// featureConsult (*2 + number + #) holds the caller and connects the
	// agent to a colleague or group for a consultation (R4); during it
	// *2 hands the caller over and *1 takes them back.
	featureConsult = "*2"
	// featureAbort (*1) ends a consultation and returns to the caller.
	featureAbort = "*1"
)

// agentTalk is a caller talking to an agent through the server, and
// whatever happens meanwhile: holds, transfers, feature codes. It belongs
// to the call's flow goroutine.
type agentTalk struct {
	c *call
	q *config.Queue
	// r is the agent the caller talks to now; a transfer replaces it.
	r *ringing
	// stopBridge ends the caller↔agent relay; nil while there is none (a
	// keypad consultation took the agent's leg).
	stopBridge func()
	connected  time.Time
	hold       *holdState
	code       []byte // a feature code being keyed
	holds      chan bool
	transfers  chan Transfer
	// freed: CallEnded already ran for r.
	freed bool
}

// connectAgent bridges the caller to r, the agent who answered; false if
// the bridge failed and r was hung up.
func (c *call) connectAgent(q *config.Queue, r *ringing) (*agentTalk, bool) {
	c.rec.Agent = r.user
	c.rec.WrapUp = q.WrapUp
	t := &agentTalk{c: c, q: q, r: r, holds: make(chan bool, 4), transfers: make(chan Transfer, 1)}
	if q.Whisper {
		c.whisper(r, q.Name)
	}
	if err := t.bridge(); err != nil {
		c.log.Error("bridge failed", "agent", r.user, "error", err)
		r.drop(c)
		return t, false
	}
	t.connected = c.clock.Now()
	c.speech.connectAgent(r.user, q.Name, r.media)
	c.event("connected", "agent", r.user, "queue", q.Name)
	c.log.Info("caller connected to agent", "agent", r.user, "queue", q.Name)
	t.listen(r)
	return t, true
}

// leave ends a hold still in force and, unless a transfer already did,
// the agent's part of the call.
func (t *agentTalk) leave() {
	t.resume()
	if !t.freed {
		t.endAgent(t.r.user)
	}
}

// converse waits for the caller or the agent to go, and serves the
// agent's holds, feature codes and transfers meanwhile. It is where a
// bridged call spends its life, so it keeps only the select's own state:
// every case's work is in a function that returns before the next wait.
func (t *agentTalk) converse() (queueOutcome, prompts.ID, error) {
	for {
		var inactive <-chan struct{}
		if t.hold == nil {
			inactive = t.r.media.Inactive() // a held phone may send nothing
		}
		select {
		case <-t.c.ctx.Done():
			return t.callerLeft()
		case k := <-t.r.media.Digits():
			if out, end := t.keyed(k); end {
				return out, "", nil
			}
		case k := <-t.r.leg.Digits():
			if out, end := t.keyed(k); end {
				return out, "", nil
			}
		case on := <-t.holds:
			t.holdOrResume(on)
		case tr := <-t.transfers:
			if out, end := t.transfer(tr); end {
				return out, "", nil
			}
		case <-t.r.leg.Done():
			return t.agentLeft(false)
		case <-inactive:
			return t.agentLeft(true)
		}
	}
}

// keyed takes one of the agent's key presses; a completed *2 code runs
// its transfer.
func (t *agentTalk) keyed(k byte) (out queueOutcome, end bool) {
	if tr := t.key(k); tr != nil {
		return t.transfer(tr)
	}
	return 0, false
}

// holdOrResume follows the agent's phone putting the call on hold or
// taking it off (R3).
func (t *agentTalk) holdOrResume(on bool) {
	switch {
	case on && t.hold == nil:
		t.hold = t.c.startHold(t.q, t.r)
	case !on && t.hold != nil:
		t.resume()
	}
}

// callerLeft: the caller hung up while talking to the agent.
func (t *agentTalk) callerLeft() (queueOutcome, prompts.ID, error) {
	c := t.c
	t.resume()
	t.finish()
	t.r.drop(c)
	c.event("complete_caller", "agent", t.r.user, "talk_ms", strconv.FormatInt(c.rec.TalkTime.Milliseconds(), 10))
	return notServed, "", context.Cause(c.ctx)
}

// agentLeft: the agent hung up, or (silent) their phone's RTP stopped
// and the server ended their leg. R7: the caller is not hung up on.
func (t *agentTalk) agentLeft(silent bool) (queueOutcome, prompts.ID, error) {
	c := t.c
	if silent {
		t.finish()
		t.r.drop(c)
		c.log.Warn("agent's RTP stopped; ending the agent leg", "agent", t.r.user)
	} else {
		t.resume()
		t.finish()
		t.r.leg.Release()
		t.r.media.Close()
	}
	c.agentHungUpFirst = true
	c.event("complete_agent", "agent", t.r.user, "talk_ms", strconv.FormatInt(c.rec.TalkTime.Milliseconds(), 10))
	return talkedAgentLeft, "", nil
}

// bridge relays caller and the current agent through the server.
func (t *agentTalk) bridge() error {
	stop, err := t.c.e.opts.Bridge(t.c.media, t.r.media)
	if err != nil {
		return err
	}
	t.stopBridge = stop
	return nil
}

// unbridge ends the caller↔agent relay, if any.
func (t *agentTalk) unbridge() {
	if t.stopBridge != nil {
		t.stopBridge()
		t.stopBridge = nil
	}
}

// resume ends a hold in force, if any.
func (t *agentTalk) resume() {
	if t.hold != nil {
		t.c.endHold(t.q, t.r, t.hold)
		t.hold = nil
	}
}

// endAgent ends an agent's part of the call: wrap-up, then ready.
func (t *agentTalk) endAgent(user string) {
	t.c.e.opts.Queues.CallEnded(user)
	t.c.e.opts.QueueMetrics.WrapUp(t.q.Name, t.q.WrapUp)
}

// finish ends the conversation with the current agent.
func (t *agentTalk) finish() {
	c := t.c
	c.speech.disconnectAgent(t.r.media)
	t.unbridge()
	c.rec.TalkTime = c.clock.Now().Sub(t.connected)
	c.e.opts.QueueMetrics.Talked(t.q.Name, c.rec.TalkTime)
}

// listen routes r's phone's hold, resume and transfer requests to the
// flow.
func (t *agentTalk) listen(r *ringing) {
	c := t.c
	// The agent's keys are feature codes for the server, never relayed
	// to the caller.
	r.media.KeepDigits(true)
	r.leg.OnMediaChange(func(o sip.Offer) {
		if !o.Remote.Addr().IsUnspecified() {
			if err := configureFrom(r.media, o); err != nil {
				c.log.Warn("agent media re-configure failed", "error", err)
			}
		}
		select {
		case t.holds <- o.OnHold():
		default:
		}
	})
	r.leg.OnTransfer(func(tr Transfer) {
		select {
		case t.transfers <- tr:
		default:
			_ = tr.Notify(context.Background(), 491, "Request Pending", true)
		}
	})
}

// key collects an agent's key presses (RFC 4733 or SIP INFO) into
// feature codes, none of them relayed to the caller: *3 holds or resumes
// (R3); *2 + number + # asks for a consultation transfer (R4), returned
// for the flow to run. A stray key is consumed and does nothing.
func (t *agentTalk) key(k byte) Transfer {
	c := t.c
	code := t.code
	switch {
	case k == '*' && (len(code) < 2 || string(code[:2]) != featureConsult):
		t.code = append(code[:0], k)
		return nil
	case len(code) == 0:
		return nil
	case len(code) >= 2 && string(code[:2]) == featureConsult:
		if k != '#' {
			if len(code) < 2+32 {
				t.code = append(code, k)
			}
			return nil
		}
		number := string(code[2:])
		t.code = code[:0]
		c.event("agent_feature_code", "agent", t.r.user, "code", featureConsult)
		if number == "" {
			return nil
		}
		return &keypadTransfer{to: number}
	}
	t.code = append(code, k)
	done := string(t.code)
	if done == featureConsult {
		return nil // the number follows
	}
	t.code = t.code[:0]
	c.event("agent_feature_code", "agent", t.r.user, "code", done)
	if done == featureHold {
		if t.hold == nil {
			t.hold = c.startHold(t.q, t.r)
		} else {
			t.resume()
		}
	}
	return nil
}

// transfer runs one transfer the agent asked for and carries its result
// into the conversation: the caller talks to the target, is back with
// the same agent, with the agent rung back, or (end) leaves the talk to
// queue again or hear the closing.
func (t *agentTalk) transfer(tr Transfer) (out queueOutcome, end bool) {
	c, q := t.c, t.q
	t.resume()
	var next *ringing
	if _, _, _, attended := tr.ReplacesDialog(); attended {
		next = c.attendedTransfer(t, tr)
	} else {
		var err error
		if next, err = c.supervisedTransfer(t, tr); err != nil {
			return 0, false // the caller hung up meanwhile: the loop sees it
		}
	}
	from := t.r
	switch {
	case next == nil && !legGone(from):
		// Failed: the caller is back with the same agent.
		if t.stopBridge == nil {
			if err := t.bridge(); err != nil {
				c.log.Error("bridge back to the agent failed", "agent", from.user, "error", err)
			}
		}
		return 0, false
	case next == nil:
		// R4's guarantee: the agent left during the failed transfer.
		// Ring them back; failing that, the caller goes back to the
		// front of the queue. Never dropped.
		c.event("transfer_agent_gone", "agent", from.user)
		c.speech.disconnectAgent(from.media)
		t.unbridge()
		t.endAgent(from.user)
		from.leg.Release()
		from.media.Close()
		// R3/R10: never silence while the agent is rung back; the
		// apology already said so, music fills the ringing.
		stopAudio := c.transferAudio(false)
		back := c.ringBack(q, from.user)
		stopAudio()
		if back == nil {
			t.freed = true
			if c.stopped() {
				return notServed, true
			}
			c.event("returned_to_queue", "queue", q.Name)
			c.rec.TalkTime = c.clock.Now().Sub(t.connected)
			return requeued, true
		}
		c.event("returned_to_agent", "agent", back.user)
		t.r = back
	default:
		// The caller now talks to the target: the first agent's part
		// of the call is over.
		c.speech.disconnectAgent(from.media)
		t.unbridge()
		t.endAgent(from.user)
		if _, keypad := tr.(*keypadTransfer); keypad && !legGone(from) {
			from.drop(c) // *2 handed the caller over: the server hangs up
			c.event("complete_agent", "agent", from.user, "transfer", "true")
		} else {
			from.leaveAfterTransfer(c)
		}
		t.r = next
	}
	if err := t.bridge(); err != nil {
		c.log.Error("bridge to the transfer target failed", "agent", t.r.user, "error", err)
		t.r.drop(c)
		c.agentHungUpFirst = true
		return talkedAgentLeft, true
	}
	c.speech.connectAgent(t.r.user, q.Name, t.r.media)
	c.rec.Agent = t.r.user
	t.listen(t.r)
	c.event("connected", "agent", t.r.user, "queue", q.Name, "transfer", "true")
	return 0, false
}

// ringBack rings an agent who hung up during a transfer that then
// failed, up to the queue's ring_back_attempts times (R4); nil if they
// never answer.
func (c *call) ringBack(q *config.Queue, user string) *ringing {
	for range q.RingBackAttempts {
		if c.stopped() {
			return nil
		}
		claimed := c.e.opts.Queues.Claim(user, q.Name) == nil
		back := c.ringFirst(q, []string{user}, func(x *ringing) {
			c.event("ring_back", "agent", x.user, "result", string(x.result))
		})
		if claimed {
			c.e.opts.Queues.Unclaim(user, back != nil)
		}
		if back != nil {
			return back
		}
	}
	return nil
}

// keypadTransfer is a consultation asked for with *2 + number + #: no
// REFER, so nothing to notify.
type keypadTransfer struct{ to string }

func (k *keypadTransfer) User() string { return k.to }
func (k *keypadTransfer) Notify(context.Context, int, string, bool) error {
	return nil
}
func (k *keypadTransfer) ReplacesDialog() (callID, toTag, fromTag string, ok bool) {
	return "", "", "", false
}
