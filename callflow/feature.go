package callflow

import (
	"context"
	"time"

	"github.com/hotline-dev/hotline/prompts"
	"github.com/hotline-dev/hotline/queue"
	"github.com/hotline-dev/hotline/sip"
)

// FeatureToggleReady is the code an agent dials from the phone to switch
// between ready and not ready.
const FeatureToggleReady = "*0"

// runFeature serves an authenticated agent's feature-code call: it
// changes the agent's state, answers, says the new state and hangs up.
// Feature calls are agents' own calls, not customers': no call record,
// and hotline may hang up first.
func (e *Engine) runFeature(c *sip.InboundCall) {
	log := e.log.With("call_id", c.ID, "agent", c.Agent)
	defer c.Release()
	if c.Called != FeatureToggleReady || e.opts.Queues == nil {
		log.Info("unknown feature code", "code", c.Called)
		_ = c.Reject(404, "Not Found")
		return
	}
	state, err := e.opts.Queues.ToggleReady(c.Agent)
	if err != nil {
		log.Warn("feature code refused", "error", err)
		_ = c.Reject(480, "Temporarily Unavailable")
		return
	}
	log.Info("agent changed state from the phone", "state", state)
	m, err := e.opts.NewMedia(c.ID)
	if err != nil {
		_ = c.Reject(503, "Service Unavailable")
		return
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.OnEnd(cancel) // the phone hung up: stop answering or playing
	if err := c.Answer(ctx, m.LocalPort()); err != nil {
		return
	}
	if err := configureFrom(m, c.Offer); err != nil {
		log.Warn("media configure", "error", err)
	}
	m.Start()
	id := prompts.AgentNotReady
	if state == queue.Ready {
		id = prompts.AgentReady
	}
	if a := e.opts.Prompts.Get(id); a != nil {
		_ = m.Play(ctx, a.Payload(c.Offer.PayloadType))
	}
	byeCtx, done := context.WithTimeout(context.Background(), 4*time.Second)
	defer done()
	_ = c.Hangup(byeCtx)
}
