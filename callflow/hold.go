package callflow

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hotline-dev/hotline/config"
	"github.com/hotline-dev/hotline/prompts"
)

// holdState is one hold of the caller by the agent (R3).
type holdState struct {
	started time.Time
	cancel  context.CancelFunc
	done    chan struct{}
	played  []string
	over    bool // passed its promise
}

// startHold: the agent's phone put the call on hold. The caller at once
// hears the hold prompt with the promised time (请您稍等一分钟), then
// music with a reassurance every reassurance_interval — never silence.
// Past the promise the caller hears an apology and the agent's phone gets
// a MESSAGE, again every hold_alert_interval.
func (c *call) startHold(q *config.Queue, r *ringing) *holdState {
	h := &holdState{started: c.clock.Now(), done: make(chan struct{})}
	c.rec.HoldCount++
	c.media.SetHold(true) // hold is not dead air
	r.media.AllowQuiet(true)
	c.e.opts.QueueMetrics.Hold(q.Name)
	c.event("hold", "agent", r.user, "promise_ms", strconv.FormatInt(q.HoldPromise.Milliseconds(), 10))
	c.log.Info("agent put the caller on hold", "agent", r.user)
	ctx, cancel := context.WithCancel(c.ctx)
	h.cancel = cancel
	go func() {
		defer close(h.done)
		c.holdAudio(ctx, q, r, h)
	}()
	return h
}

// endHold: the agent resumed (or left); the music stops at once.
func (c *call) endHold(q *config.Queue, r *ringing, h *holdState) {
	h.cancel()
	<-h.done
	c.rec.Prompts = append(c.rec.Prompts, h.played...)
	d := c.clock.Now().Sub(h.started)
	c.rec.HoldTotal += d
	c.rec.LongestHold = max(c.rec.LongestHold, d)
	r.media.AllowQuiet(false)
	c.media.SetHold(false)
	c.e.opts.QueueMetrics.HoldEnded(q.Name, d)
	c.event("unhold", "agent", r.user, "hold_ms", strconv.FormatInt(d.Milliseconds(), 10))
}

func (c *call) holdAudio(ctx context.Context, q *config.Queue, r *ringing, h *holdState) {
	cat := c.e.opts.Prompts
	play := func(ids ...prompts.ID) bool { return c.playBeside(ctx, &h.played, ids...) }
	if !play(cat.HoldPromise(q.HoldPromise)...) {
		return
	}
	music := cat.Get(prompts.Music)
	nextReassure := c.clock.Now().Add(q.ReassuranceInterval)
	nextAlert := h.started.Add(q.HoldPromise)
	for {
		due := nextReassure
		if nextAlert.Before(due) {
			due = nextAlert
		}
		if !c.musicUntil(ctx, due, music) {
			return
		}
		now := c.clock.Now()
		if !now.Before(nextAlert) {
			if !h.over {
				h.over = true
				c.rec.HoldsOverPromise++
				c.e.opts.QueueMetrics.HoldOverPromise(q.Name)
				c.event("hold_over_promise", "agent", r.user)
			}
			c.alertAgent(r.user, "hold_over_promise", fmt.Sprintf("客户已等待超过%d秒,请尽快回到通话 (caller on hold past the %d s promise)",
				int(now.Sub(h.started).Seconds()), int(q.HoldPromise.Seconds())))
			if !play(prompts.HoldApology) {
				return
			}
			nextAlert = c.clock.Now().Add(q.HoldAlertInterval)
			continue
		}
		if !play(prompts.QueueReassurance) {
			return
		}
		nextReassure = c.clock.Now().Add(q.ReassuranceInterval)
	}
}

// alertAgent sends a text to the agent's phone without holding up the
// call (SIP MESSAGE, RFC 3428).
func (c *call) alertAgent(agent, kind, text string) {
	d, ok := c.e.opts.Agents.(AgentMessenger)
	if !ok {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.MessageAgent(ctx, agent, text); err != nil {
			c.log.Warn("MESSAGE to the agent failed", "agent", agent, "alert", kind, "error", err)
			return
		}
		c.log.Info("MESSAGE delivered to the agent's phone", "agent", agent, "alert", kind)
	}()
}
