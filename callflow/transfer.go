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

// Transfer is an agent phone's transfer request (a REFER): whom to, and
// how to report the outcome back to the phone. *sip.Refer is the real
// one.
type Transfer interface {
	User() string
	Notify(ctx context.Context, status int, reason string, final bool) error
}

// supervisedTransfer turns the agent's transfer into one that completes
// only once the target answered (R4): the caller hears 正在为您转接,请稍候
// and music; the target rings for at most the queue's ring cycles; the
// phone is told the real outcome, never success at the 202. On success
// the target's leg is returned; on failure nil, and the caller hears an
// apology and is back with the same agent. An error means the caller
// hung up meanwhile.
func (c *call) supervisedTransfer(q config.Queue, from *ringing, t Transfer) (*ringing, error) {
	target := t.User()
	started := c.clock.Now()
	c.event("transfer_start", "from", from.user, "to", target)
	c.log.Info("agent transfers the caller", "agent", from.user, "to", target)
	notify := func(status int, reason string, final bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer cancel()
		if err := t.Notify(ctx, status, reason, final); err != nil {
			c.log.Warn("transfer NOTIFY failed", "agent", from.user, "status", status, "error", err)
		}
	}
	notify(100, "Trying", false)

	audioCtx, stopAudio := context.WithCancel(c.ctx)
	audioDone := make(chan struct{})
	var played []string
	go func() {
		defer close(audioDone)
		if a := c.e.opts.Prompts.Get(prompts.TransferWait); a != nil {
			played = append(played, string(prompts.TransferWait))
			if c.media.Play(audioCtx, a.Payload(uint8(c.payloadType.Load()))) != nil {
				return
			}
		}
		c.musicUntil(audioCtx, c.clock.Now().Add(time.Hour), c.e.opts.Prompts.Get(prompts.Music))
	}()
	stop := func() {
		stopAudio()
		<-audioDone
		c.rec.Prompts = append(c.rec.Prompts, played...)
	}

	// R11: a target naming a queue (e.g. supervisors) is a group: its
	// ready members ring together; otherwise it is one agent.
	targets := []string{target}
	group := false
	if _, ok := c.cfg.QueueByName(target); ok {
		group = true
		targets = targets[:0]
		for _, a := range c.e.opts.Queues.Agents() {
			if a.State == queue.Ready && a.User != from.user && slices.Contains(a.Queues, target) {
				targets = append(targets, a.User)
			}
		}
	}
	r := &ringing{user: target, result: queue.Failed}
	if len(targets) > 0 {
		c.event("transfer_target_ringing", "to", target, "phones", strconv.Itoa(len(targets)))
		var last *ringing
		won := c.ringFirst(q, targets, func(x *ringing) { last = x })
		if won != nil {
			r = won
		} else if last != nil {
			r = last
		}
	}
	stop()

	attempt := calllog.TransferAttempt{From: from.user, To: r.user, Result: string(r.result), RingMS: r.rang.Milliseconds()}
	if group {
		attempt.To = target + ":" + r.user
		if len(targets) == 0 {
			attempt.To = target
		}
	}
	defer func() {
		attempt.TotalMS = c.clock.Now().Sub(started).Milliseconds()
		c.rec.Transfers = append(c.rec.Transfers, attempt)
		c.e.opts.QueueMetrics.Transfer(q.Name, attempt.Result)
		c.e.opts.QueueMetrics.TransferTime(q.Name, time.Duration(attempt.TotalMS)*time.Millisecond)
		c.event("transfer_end", "from", from.user, "to", attempt.To, "result", attempt.Result)
	}()
	if r.result == queue.Answered {
		attempt.Result = "completed"
		c.event("transfer_target_answered", "to", r.user)
		notify(200, "OK", true)
		c.event("transfer_completed", "from", from.user, "to", r.user)
		return r, nil
	}
	if c.stopped() {
		attempt.Result = "abandoned"
		notify(487, "Request Terminated", true)
		return nil, context.Cause(c.ctx)
	}
	status, reason := 480, "Temporarily Unavailable"
	switch r.result {
	case queue.Busy:
		status, reason = 486, "Busy Here"
	case queue.Rejected:
		status, reason = 603, "Decline"
		attempt.Result = "refused"
	case queue.NoAnswer:
		status, reason = 408, "Request Timeout"
	}
	notify(status, reason, true)
	c.event("transfer_failed", "from", from.user, "to", target, "reason", attempt.Result)
	if !legGone(from) {
		c.event("transfer_returned_to_agent", "agent", from.user)
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
