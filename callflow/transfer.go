package callflow

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/hotline-dev/hotline/calllog"
	"github.com/hotline-dev/hotline/config"
	"github.com/hotline-dev/hotline/prompts"
	"github.com/hotline-dev/hotline/queue"
)

// Transfer is an agent's transfer request: whom to, and how to report the
// outcome back to the phone. *sip.Refer is the real one (a REFER); the
// keypad's *2 makes another.
type Transfer interface {
	User() string
	Notify(ctx context.Context, status int, reason string, final bool) error
	// ReplacesDialog names the consultation call an attended transfer
	// joins the caller to (REFER with Replaces, RFC 3891); ok is false
	// for a blind transfer.
	ReplacesDialog() (callID, toTag, fromTag string, ok bool)
}

// Transfer kinds, as recorded and counted.
const (
	transferBlind    = "blind"    // REFER without Replaces, supervised by the server
	transferAttended = "attended" // REFER with Replaces after the agent's own consultation call
	transferKeypad   = "keypad"   // *2 + number + #, consultation through the server
)

// Transfer results besides the ring results (queue.Result).
const (
	transferCompleted = calllog.TransferCompleted
	transferDeclined  = "declined"  // the target refused the call (603) or did not confirm with 1
	transferHungUp    = "hung_up"   // the target hung up during the consultation
	transferAborted   = "aborted"   // the agent took the caller back with *1
	transferAbandoned = "abandoned" // the caller hung up meanwhile
	transferNotFound  = "not_found" // Replaces named no consultation of this agent
)

// notifier reports a transfer's progress to the phone; NOTIFY failures
// are logged, the transfer goes on.
func (c *call) notifier(from string, tr Transfer) func(status int, reason string, final bool) {
	return func(status int, reason string, final bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer cancel()
		if err := tr.Notify(ctx, status, reason, final); err != nil {
			c.log.Warn("transfer NOTIFY failed", "agent", from, "status", status, "error", err)
		}
	}
}

// recordTransfer keeps one transfer in the record, the metrics and the
// journal.
func (c *call) recordTransfer(q *config.Queue, a calllog.TransferAttempt, started time.Time) {
	a.TotalMS = c.clock.Now().Sub(started).Milliseconds()
	c.rec.Transfers = append(c.rec.Transfers, a)
	c.e.opts.QueueMetrics.Transfer(q.Name, a.Kind, a.Result)
	c.e.opts.QueueMetrics.TransferTime(q.Name, time.Duration(a.TotalMS)*time.Millisecond)
	if a.ConsultMS > 0 {
		c.e.opts.QueueMetrics.ConsultTime(q.Name, time.Duration(a.ConsultMS)*time.Millisecond)
	}
	c.event("transfer_end", "from", a.From, "to", a.To, "kind", a.Kind, "result", a.Result)
}

// supervisedTransfer turns an agent's blind transfer (REFER) or keypad
// consultation (*2) into one that completes only once the target answered
// (R4): the caller hears 正在为您转接,请稍候 and music; the target rings
// for at most the queue's ring cycles; the phone is told the real outcome,
// never success at the 202. A keypad transfer first connects agent and
// target for a consultation, completed by *2 or the agent hanging up and
// abandoned by *1. With transfer_confirm the target of a blind transfer
// hears a whisper and takes the caller by pressing 1. On success the
// target's leg is returned; on failure nil, the caller hears an apology
// and is back with the same agent (the caller↔agent relay may be down
// after a consultation: the caller of this puts it back). An error means
// the caller hung up meanwhile.
func (c *call) supervisedTransfer(t *agentTalk, tr Transfer) (*ringing, error) {
	q, from := t.q, t.r
	target := tr.User()
	_, keypad := tr.(*keypadTransfer)
	kind := transferBlind
	if keypad {
		kind = transferKeypad
	}
	started := c.clock.Now()
	c.event("transfer_start", "from", from.user, "to", target, "kind", kind)
	c.log.Info("agent transfers the caller", "agent", from.user, "to", target, "kind", kind)
	notify := c.notifier(from.user, tr)
	notify(100, "Trying", false)
	stopAudio := c.transferAudio(true)

	r, targets, group := c.ringTransferTarget(q, from.user, target)
	attempt := calllog.TransferAttempt{Kind: kind, From: from.user, To: r.user, Result: string(r.result), RingMS: r.rang.Milliseconds()}
	if group {
		attempt.To = target + ":" + r.user
		if targets == 0 {
			attempt.To = target
		}
	}
	if r.result == queue.Answered {
		c.event("transfer_target_answered", "to", r.user)
		switch {
		case keypad && !legGone(from):
			consulted := c.clock.Now()
			attempt.Result = c.consult(t, r)
			attempt.ConsultMS = c.clock.Now().Sub(consulted).Milliseconds()
		case !keypad && q.TransferConfirm:
			attempt.Result = c.confirmTarget(q, r)
		default:
			attempt.Result = transferCompleted
		}
		if attempt.Result != transferCompleted {
			c.e.opts.Queues.CallEnded(r.user)
			r.drop(c)
		}
	} else if r.result == queue.Rejected {
		attempt.Result = transferDeclined
	}
	stopAudio()
	defer func() { c.recordTransfer(q, attempt, started) }()

	if attempt.Result == transferCompleted {
		notify(200, "OK", true)
		c.event("transfer_completed", "from", from.user, "to", r.user, "kind", kind)
		return r, nil
	}
	if c.stopped() {
		attempt.Result = transferAbandoned
		notify(487, "Request Terminated", true)
		return nil, context.Cause(c.ctx)
	}
	notify(failureStatus(attempt.Result))
	c.event("transfer_failed", "from", from.user, "to", target, "reason", attempt.Result)
	if !legGone(from) {
		c.event("transfer_returned_to_agent", "agent", from.user)
	}
	if attempt.Result == transferAborted {
		return nil, nil // the agent chose to take the caller back
	}
	// R4: a failed transfer never drops the caller: an apology, then the
	// same agent again.
	if a := c.e.opts.Prompts.Get(prompts.TransferFailed); a != nil {
		c.rec.Prompts = append(c.rec.Prompts, string(prompts.TransferFailed))
		if err := c.media.Play(c.ctx, a.Payload(uint8(c.payloadType.Load()))); err != nil && errors.Is(context.Cause(c.ctx), ErrCallerHungUp) {
			return nil, context.Cause(c.ctx)
		}
	}
	return nil, nil
}

// failureStatus is the SIP status a phone is told for a transfer or a
// consultation that did not reach its target (a NOTIFY sipfrag, or the
// final response to the agent's own call), with the final flag NOTIFY
// needs.
func failureStatus(result string) (status int, reason string, final bool) {
	switch result {
	case string(queue.Busy):
		return 486, "Busy Here", true
	case transferDeclined, string(queue.Rejected):
		return 603, "Decline", true
	case string(queue.NoAnswer):
		return 408, "Request Timeout", true
	case transferAborted:
		return 487, "Request Terminated", true
	}
	return 480, "Temporarily Unavailable", true
}

// transferAudio plays 正在为您转接,请稍候 (when announce) then music to
// the caller while a transfer runs (R4: never silence); the returned
// function stops it and keeps what was played in the record.
func (c *call) transferAudio(announce bool) (stop func()) {
	audioCtx, stopAudio := context.WithCancel(c.ctx)
	audioDone := make(chan struct{})
	var played []string
	go func() {
		defer close(audioDone)
		if a := c.e.opts.Prompts.Get(prompts.TransferWait); a != nil && announce {
			played = append(played, string(prompts.TransferWait))
			if c.media.Play(audioCtx, a.Payload(uint8(c.payloadType.Load()))) != nil {
				return
			}
		}
		c.musicUntil(audioCtx, c.clock.Now().Add(time.Hour), c.e.opts.Prompts.Get(prompts.Music))
	}()
	return func() {
		stopAudio()
		<-audioDone
		c.rec.Prompts = append(c.rec.Prompts, played...)
	}
}

// ringTransferTarget rings a transfer's target: one agent, or — when
// target names a queue (e.g. supervisors) — every ready member of that
// group at once (R11). Targets are claimed in the queue manager so no
// queue caller is offered them meanwhile, and one already on a call fails
// as busy without ringing (R4). It returns the winner, or the last
// failure, with how many phones rang.
func (c *call) ringTransferTarget(q *config.Queue, from, target string) (r *ringing, phones int, group bool) {
	m := c.e.opts.Queues
	targets := []string{target}
	if c.cfg.Queue(target) != nil {
		group = true
		targets = targets[:0]
		for _, a := range m.Agents() {
			if a.State == queue.Ready && a.User != from && slices.Contains(a.Queues, target) {
				targets = append(targets, a.User)
			}
		}
	}
	r = &ringing{user: target, result: queue.Failed}
	var claimed, ringable []string
	for _, u := range targets {
		switch err := m.Claim(u, q.Name); {
		case err == nil:
			claimed = append(claimed, u)
			ringable = append(ringable, u)
		case errors.Is(err, queue.ErrAgentBusy):
			r = &ringing{user: u, result: queue.Busy}
		case errors.Is(err, queue.ErrUnknownAgent):
			ringable = append(ringable, u) // an extension, not an agent
		default: // logged out: not reachable
			r = &ringing{user: u, result: queue.Failed}
		}
	}
	if len(ringable) == 0 {
		return r, 0, group
	}
	c.event("transfer_target_ringing", "to", target, "phones", strconv.Itoa(len(ringable)))
	var last *ringing
	won := c.ringFirst(q, ringable, func(x *ringing) { last = x })
	for _, u := range claimed {
		m.Unclaim(u, won != nil && won.user == u)
	}
	switch {
	case won != nil:
		r = won
	case last != nil:
		r = last
	}
	return r, len(ringable), group
}

// consult connects the agent with the answered target while the caller
// waits with music (R4's consultation): the agent hands the caller over
// with *2 or by hanging up, or takes them back with *1; the target may
// hang up. The caller↔agent relay is down from here on.
func (c *call) consult(t *agentTalk, target *ringing) (result string) {
	from := t.r
	t.unbridge()
	target.media.KeepDigits(true)
	stop, err := c.e.opts.Bridge(from.media, target.media)
	if err != nil {
		c.log.Error("consultation bridge failed", "agent", from.user, "to", target.user, "error", err)
		return string(queue.Failed)
	}
	defer stop()
	c.event("transfer_consult", "agent", from.user, "to", target.user)
	var code []byte
	key := func(k byte) string {
		if k == '*' {
			code = append(code[:0], k)
			return ""
		}
		if len(code) == 0 {
			return ""
		}
		code = append(code, k)
		done := string(code)
		code = code[:0]
		switch done {
		case featureConsult:
			return transferCompleted
		case featureAbort:
			return transferAborted
		}
		return ""
	}
	for {
		var got string
		select {
		case <-c.ctx.Done():
			return transferAbandoned
		case <-target.leg.Done():
			return transferHungUp
		case <-from.leg.Done():
			return transferCompleted // hanging up hands the caller over
		case k := <-from.media.Digits():
			got = key(k)
		case k := <-from.leg.Digits():
			got = key(k)
		}
		if got != "" {
			return got
		}
	}
}

// confirmTarget briefs a blind transfer's target — a transferred call,
// from which queue, how long the caller has waited, press 1 — and waits
// for the 1 (R4, transfer_confirm). The caller is connected only once
// confirmed.
func (c *call) confirmTarget(q *config.Queue, target *ringing) string {
	cat := c.e.opts.Prompts
	pt := target.leg.Negotiated().PayloadType
	var clips [][]byte
	add := func(ids ...prompts.ID) {
		for _, id := range ids {
			if a := cat.Get(id); a != nil {
				clips = append(clips, a.Payload(pt))
			}
		}
	}
	add(prompts.TransferWhisper)
	if a := c.e.whisperNames[q.Name]; a != nil {
		clips = append(clips, a.Payload(pt))
	}
	if waited := c.clock.Now().Sub(c.info.Arrived); waited < time.Minute {
		add(prompts.TransferWaitedUnderMinute)
	} else {
		add(prompts.TransferWaitedPre)
		add(cat.Number(int(waited / time.Minute))...)
		add(prompts.QueueWaitMinutes)
	}
	add(prompts.TransferPressOne)
	target.media.KeepDigits(true)

	ctx, cancel := context.WithCancel(c.ctx)
	whisper := target.media.Begin(ctx, false, clips...)
	whisperOver := false
	defer func() {
		cancel()
		if !whisperOver {
			<-whisper // the target hears nothing more of it once we return
		}
	}()
	// The answer window runs from the end of the whisper; a 1 pressed
	// during it counts too.
	played := whisper
	var deadline <-chan time.Time
	var timer Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var k byte
		select {
		case k = <-target.media.Digits():
		case k = <-target.leg.Digits():
		case <-played:
			played, whisperOver = nil, true
			timer = c.clock.NewTimer(q.TransferConfirmTimeout)
			deadline = timer.C()
			continue
		case <-deadline:
			c.event("transfer_target_not_confirmed", "to", target.user)
			return transferDeclined
		case <-target.leg.Done():
			return transferHungUp
		case <-c.ctx.Done():
			return transferAbandoned
		}
		if k == '1' {
			c.event("transfer_target_confirmed", "to", target.user)
			return transferCompleted
		}
	}
}

// attendedTransfer completes an attended transfer from the phone (REFER
// with Replaces, RFC 3891 and RFC 5589): the agent consulted the target
// with their own call through the server, so the target's leg is already
// answered; the caller is joined to it and the phone hears 200 by NOTIFY
// (RFC 3515 sipfrag). Nil if the named consultation is not one of this
// agent's: the caller stays with the agent.
func (c *call) attendedTransfer(t *agentTalk, tr Transfer) *ringing {
	q, from := t.q, t.r
	started := c.clock.Now()
	notify := c.notifier(from.user, tr)
	callID, toTag, fromTag, _ := tr.ReplacesDialog()
	c.event("transfer_start", "from", from.user, "to", tr.User(), "kind", transferAttended)
	c.log.Info("agent completes an attended transfer", "agent", from.user, "to", tr.User())
	notify(100, "Trying", false)
	attempt := calllog.TransferAttempt{Kind: transferAttended, From: from.user, To: tr.User()}
	target, consulted, err := c.e.takeConsultation(callID, toTag, fromTag, from.user)
	if err != nil {
		attempt.Result = transferNotFound
		c.recordTransfer(q, attempt, started)
		c.log.Info("attended transfer refused", "agent", from.user, "error", err)
		// RFC 3891 section 3: no matching dialog.
		notify(481, "Call/Transaction Does Not Exist", true)
		c.event("transfer_failed", "from", from.user, "to", tr.User(), "reason", transferNotFound)
		c.event("transfer_returned_to_agent", "agent", from.user)
		return nil
	}
	attempt.To, attempt.Result = target.user, transferCompleted
	attempt.ConsultMS = c.clock.Now().Sub(consulted).Milliseconds()
	c.event("transfer_target_answered", "to", target.user)
	notify(200, "OK", true)
	c.event("transfer_completed", "from", from.user, "to", target.user, "kind", transferAttended)
	c.recordTransfer(q, attempt, started)
	return target
}

// leaveAfterTransfer ends the transferring agent's leg: its phone usually
// hangs up on the success NOTIFY; if not, hotline does.
func (r *ringing) leaveAfterTransfer(c *call) {
	t := c.clock.NewTimer(3 * time.Second)
	defer t.Stop()
	select {
	case <-r.leg.Done():
		r.leg.Release()
		_ = r.media.Close()
	case <-t.C():
		r.drop(c)
	}
	c.event("complete_agent", "agent", r.user, "transfer", "true")
}
