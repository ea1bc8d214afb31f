package callflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hotline-dev/hotline/config"
	"github.com/hotline-dev/hotline/queue"
	"github.com/hotline-dev/hotline/sip"
)

// ErrNoConsultation is why an attended transfer names no consultation
// the server can join the caller to.
var ErrNoConsultation = errors.New("no such consultation of this agent")

// consultation is an agent's own call through the server to a colleague
// or a group (R4's consultation before an attended transfer, R11's
// escalation): the agent's phone called in, the server rang the target
// and relays the two. An attended transfer (REFER with Replaces) takes the
// target's answered leg from it.
type consultation struct {
	callID   string // the agent phone's Call-ID
	phoneTag string // the agent phone's From tag
	agent    string
	answered time.Time
	// take hands the target's leg to an attended transfer: the
	// consultation stops its relay, sends the leg on the reply channel
	// and ends the agent's consultation call.
	take chan chan *ringing
	done chan struct{}
}

// HandleAgentCall serves an authenticated agent's own call through the
// server: a feature code (*0) or a consultation with a colleague, an
// agent or a group named by the dialled user.
func (e *Engine) handleAgentCall(ic *sip.InboundCall) {
	if len(ic.Called) > 0 && ic.Called[0] == '*' {
		e.runFeature(ic)
		return
	}
	e.runConsultation(ic)
}

// runConsultation rings the colleague or group the agent dialled, for at
// most the ring cycles of the target's queue (R1), answers the agent's
// phone once the target answered and relays the two until one hangs up or
// an attended transfer takes the target.
func (e *Engine) runConsultation(ic *sip.InboundCall) {
	log := e.log.With("call_id", ic.ID, "agent", ic.Agent)
	defer ic.Release()
	if e.opts.Queues == nil {
		_ = ic.Reject(404, "Not Found")
		return
	}
	target := ic.Called
	q, ok := e.consultQueue(target)
	switch {
	case target == ic.Agent:
		_ = ic.Reject(486, "Busy Here")
		return
	case !ok:
		log.Info("agent called an unknown colleague or group", "to", target)
		_ = ic.Reject(404, "Not Found")
		return
	}
	name := ic.Agent
	if a, ok := e.opts.Config.AgentByUser(ic.Agent); ok && a.Name != "" {
		name = a.Name
	}
	c := newCall(e, CallInfo{ID: ic.ID, Caller: ic.Agent, Called: target, Arrived: ic.Arrived, Offer: ic.Offer}, ic)
	c.unrecorded, c.shownAs = true, name
	c.ctx, c.cancel = context.WithCancelCause(e.stopping)
	defer c.cancel(nil)
	// As for a customer's call (see call.watch): functions, not a
	// goroutine parked for the whole consultation.
	ic.OnEnd(func() { c.cancel(ErrCallerHungUp) })
	if err := ic.Ring(); err != nil {
		return
	}
	log.Info("agent consults a colleague", "to", target)
	r, _, _ := c.ringTransferTarget(q, ic.Agent, target)
	if r.result != queue.Answered {
		status, reason, _ := failureStatus(string(r.result))
		log.Info("consultation not answered", "to", target, "result", r.result)
		_ = ic.Reject(status, reason)
		return
	}
	endTarget := func() {
		r.drop(c)
		e.opts.Queues.CallEnded(r.user)
	}
	m, err := e.opts.NewMedia(ic.ID)
	if err != nil {
		log.Error("no media for the consultation", "error", err)
		_ = ic.Reject(503, "Service Unavailable")
		endTarget()
		return
	}
	defer m.Close()
	if err := ic.Answer(c.ctx, m.LocalPort()); err != nil {
		log.Info("consultation answer failed", "error", err)
		endTarget()
		return
	}
	if err := configureFrom(m, ic.Offer); err != nil {
		log.Warn("consultation media", "error", err)
	}
	ic.OnMediaChange(func(o sip.Offer) {
		if !o.Remote.Addr().IsUnspecified() {
			_ = configureFrom(m, o)
		}
	})
	m.Start()
	stop, err := e.opts.Bridge(m, r.media)
	if err != nil {
		log.Error("consultation bridge failed", "error", err)
		endTarget()
		hangup(ic)
		return
	}
	con := &consultation{callID: ic.ID, phoneTag: ic.PhoneTag(), agent: ic.Agent, answered: c.clock.Now(),
		take: make(chan chan *ringing), done: make(chan struct{})}
	e.consultMu.Lock()
	e.consults[ic.ID] = con
	e.consultMu.Unlock()
	defer func() {
		e.consultMu.Lock()
		delete(e.consults, ic.ID)
		e.consultMu.Unlock()
		close(con.done)
	}()
	log.Info("agent and colleague connected", "to", r.user)
	select {
	case reply := <-con.take:
		// R4: the caller is joined to the answered target; the agent's
		// consultation call is over.
		stop()
		reply <- r
		hangup(ic)
		log.Info("consultation handed to the caller", "to", r.user)
	case <-ic.Done():
		stop()
		endTarget()
	case <-r.leg.Done():
		stop()
		endTarget()
		hangup(ic)
	case <-c.ctx.Done():
		stop()
		endTarget()
		hangup(ic)
	}
}

// consultQueue is the queue whose rules a consultation of target follows:
// the group itself, or the agent's first queue.
func (e *Engine) consultQueue(target string) (*config.Queue, bool) {
	if q := e.opts.Config.Queue(target); q != nil {
		return q, true
	}
	a, ok := e.opts.Config.AgentByUser(target)
	if !ok {
		return nil, false
	}
	for _, name := range e.opts.Config.AgentQueues(a) {
		if q := e.opts.Config.Queue(name); q != nil {
			return q, true
		}
	}
	return nil, false
}

// takeConsultation hands an attended transfer the target's leg of the
// agent's consultation named by callID and tags (RFC 3891 section 3: the
// Call-ID and both tags name the dialog; the phone's tag must be one of
// them). Only the agent who placed the consultation may take it.
func (e *Engine) takeConsultation(callID, toTag, fromTag, agent string) (*ringing, time.Time, error) {
	e.consultMu.Lock()
	con := e.consults[callID]
	e.consultMu.Unlock()
	switch {
	case con == nil:
		return nil, time.Time{}, fmt.Errorf("consultation %q: %w", callID, ErrNoConsultation)
	case con.agent != agent:
		return nil, time.Time{}, fmt.Errorf("consultation %q belongs to another agent: %w", callID, ErrNoConsultation)
	case con.phoneTag != "" && !slices.Contains([]string{toTag, fromTag}, con.phoneTag):
		return nil, time.Time{}, fmt.Errorf("consultation %q: tags %q/%q do not name it: %w", callID, toTag, fromTag, ErrNoConsultation)
	}
	reply := make(chan *ringing, 1)
	select {
	case con.take <- reply:
		return <-reply, con.answered, nil
	case <-con.done:
		return nil, time.Time{}, fmt.Errorf("consultation %q ended: %w", callID, ErrNoConsultation)
	}
}

// hangup ends a leg the server may hang up (an agent's own call).
func hangup(ic *sip.InboundCall) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	_ = ic.Hangup(ctx)
}
