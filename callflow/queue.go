package callflow

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/calllog"
	"github.com/hotline-dev/hotline/config"
	"github.com/hotline-dev/hotline/prompts"
	"github.com/hotline-dev/hotline/queue"
	"github.com/hotline-dev/hotline/sip"
)

// AgentLeg is the leg to an agent's phone; *sip.OutboundCall is the real
// one.
type AgentLeg interface {
	WaitAnswer(ctx context.Context, onProgress func(status int)) error
	Negotiated() sip.Offer
	// OnMediaChange sees every re-offer from the agent's phone (hold,
	// resume, a new address).
	OnMediaChange(func(sip.Offer))
	// OnTransfer sees the phone's transfer requests (REFER).
	OnTransfer(func(Transfer))
	// Digits delivers the keys the phone sent by SIP INFO.
	Digits() <-chan byte
	Hangup(ctx context.Context) error
	Done() <-chan struct{}
	Release()
}

// AgentCall says whom to ring and what the agent's phone shows.
type AgentCall struct {
	User      string // agent to ring
	Caller    string // the caller's number, shown on the agent's phone
	Queue     string // shown as the caller's display name
	MediaPort int    // hotline's RTP port for the agent leg
}

// AgentDialer rings an agent's registered phone; cmd wires the registrar
// and the SIP server behind it.
type AgentDialer interface {
	DialAgent(ctx context.Context, a AgentCall) (AgentLeg, error)
}

// Bridger relays audio between the caller's and the agent's media through
// the server; the returned function ends the relay.
type Bridger func(caller, agent Media) (stop func(), err error)

var (
	errRingTimeout       = errors.New("agent did not answer within the ring budget")
	errAnsweredElsewhere = errors.New("another agent answered")
)

// queueOutcome is how a caller's time in a queue ended, for the flow.
type queueOutcome int

const (
	// talkedAgentLeft: the agent hung up first; the caller hears the
	// closing and hangs up last (R7).
	talkedAgentLeft queueOutcome = iota
	// notServed: no agent; the caller hears the apology, then the closing.
	notServed
	// requeued: a transfer failed after its agent left and the agent
	// could not be rung back: the caller waits in the queue again.
	requeued
)

// serveFromQueue queues the caller for an agent, then the caller and the
// agent who answered talk through the server. A caller whose agent left
// during a failed transfer and could not be rung back waits again, at the
// front of the queue (R4).
//
// The wait returns before the talk begins, so that the talk, which is most
// of a bridged call's life, waits on a shallow stack: the runtime halves a
// parked goroutine's stack only while it uses less than a quarter of it.
func (c *call) serveFromQueue(name string) (queueOutcome, prompts.ID, error) {
	q := c.cfg.Queue(name)
	if q == nil {
		q = &config.Queue{} // enqueueing fails: the caller is not served
	}
	front := false
	for {
		won, sorry, err := c.waitInQueue(name, q, front)
		if err != nil || won == nil {
			return notServed, sorry, err
		}
		// The talk, here rather than in a function of its own: one frame
		// fewer under converse's wait.
		t, connected := c.connectAgent(q, won)
		outcome, sorry, err := notServed, prompts.NoAgent, error(nil)
		if connected {
			outcome, sorry, err = t.converse()
		}
		t.leave()
		if err != nil || outcome != requeued {
			return outcome, sorry, err
		}
		front = true
	}
}

// waitInQueue is R10 and R1 for agents: the caller waits hearing music,
// reassurance, position and estimated wait, while agents are rung one
// after another (at most ring_cycles rings each) until one answers, and
// returns the agent who did. Without one (nil) the caller hears sorry, if
// anything, and then the closing.
//
// front puts the caller at the front of the queue: a caller back from a
// failed transfer whose agent could not be rung back (R4).
func (c *call) waitInQueue(name string, q *config.Queue, front bool) (*ringing, prompts.ID, error) {
	m := c.e.opts.Queues
	c.rec.Queue = name
	if m.LoggedIn(name) == 0 && q.OnNoAgents == config.OnNoAgentsClose {
		c.rec.QueueResult = "no_agents"
		c.e.opts.QueueMetrics.Left(name, "no_agents", 0)
		c.event("queue_no_agents", "queue", name)
		return nil, prompts.NoAgent, nil
	}
	enqueue := m.Enqueue
	if front {
		enqueue = m.EnqueueFront
	}
	entry, err := enqueue(name, c.info.ID)
	if err != nil {
		c.log.Error("enqueue failed", "queue", name, "error", err)
		c.rec.QueueResult = "closed"
		return nil, prompts.NoAgent, nil
	}
	c.rec.QueuePosition = entry.PositionOnEntry()
	c.e.opts.QueueMetrics.Joined(name)
	c.event("enqueued", "queue", name, "position", strconv.Itoa(entry.PositionOnEntry()))

	audio := c.startQueueAudio(entry, q)
	maxWait := c.clock.NewTimer(q.MaxWait)
	defer maxWait.Stop()
	for {
		select {
		case <-c.ctx.Done():
			audio.stop()
			info := entry.Leave(queue.LeftAbandoned)
			result := "abandoned"
			if info.Short {
				result = "short_abandoned"
			}
			c.leftQueue(name, result, info)
			c.event("abandoned", "queue", name, "wait_ms", strconv.FormatInt(info.Wait.Milliseconds(), 10),
				"position", strconv.Itoa(entry.Position()), "short", strconv.FormatBool(info.Short))
			return nil, "", context.Cause(c.ctx)
		case <-maxWait.C():
			audio.stop()
			c.leftQueue(name, "timeout", entry.Leave(queue.LeftTimeout))
			c.event("queue_timeout", "queue", name)
			return nil, prompts.QueueTimeout, nil
		case offer := <-entry.Offers():
			won := c.ringOffer(entry, q, offer)
			if won == nil {
				continue // the caller keeps waiting; the manager offers the next agent
			}
			audio.stop()
			c.leftQueue(name, "answered", entry.Leave(queue.LeftAnswered))
			return won, "", nil
		}
	}
}

func (c *call) leftQueue(name, result string, info queue.LeaveInfo) {
	c.rec.QueueWait = info.Wait
	c.rec.QueueResult = result
	c.e.opts.QueueMetrics.Left(name, result, info.Wait)
}

// ringing is one agent leg being rung, and then talked to.
type ringing struct {
	user   string
	leg    AgentLeg
	media  Media
	result queue.Result
	rang   time.Duration
}

func (r *ringing) drop(c *call) {
	if r.leg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		_ = r.leg.Hangup(ctx)
		cancel()
		r.leg.Release()
	}
	if r.media != nil {
		_ = r.media.Close()
	}
}

// ringOffer rings the offered agents (one, or all for ring_all) for at
// most the queue's ring cycles (R1); the first to answer wins. Every
// result is reported to the queue and recorded.
func (c *call) ringOffer(entry *queue.Entry, q *config.Queue, offer queue.Offer) *ringing {
	return c.ringFirst(q, offer.Agents, func(r *ringing) { c.attempt(entry, q.Name, r) })
}

// ringFirst rings users at once for at most the queue's ring cycles and
// returns the first to answer (nil if none); report sees every other
// result as it comes, then the winner's.
func (c *call) ringFirst(q *config.Queue, users []string, report func(*ringing)) *ringing {
	ringCtx, stop := context.WithCancelCause(c.ctx)
	defer stop(nil)
	budget := c.clock.NewTimer(time.Duration(q.RingCycles) * c.cfg.Ring.Cycle())
	defer budget.Stop()
	go func() {
		select {
		case <-budget.C():
			stop(errRingTimeout)
		case <-ringCtx.Done():
		}
	}()

	results := make(chan *ringing, len(users))
	for _, user := range users {
		go func() { results <- c.ringAgent(ringCtx, q.Name, user) }()
	}
	var won *ringing
	for range users {
		r := <-results
		if r.result == queue.Answered {
			if won == nil {
				won = r
				stop(errAnsweredElsewhere)
				continue
			}
			r.drop(c) // a second phone picked up too late
			r.result = queue.Cancelled
		}
		report(r)
	}
	if won != nil {
		report(won)
	}
	return won
}

func (c *call) attempt(entry *queue.Entry, queueName string, r *ringing) {
	entry.Report(r.user, r.result)
	c.rec.RingAttempts = append(c.rec.RingAttempts, calllog.RingAttempt{Agent: r.user, RingMS: r.rang.Milliseconds(), Result: string(r.result)})
	c.e.opts.QueueMetrics.RingAttempt(queueName, string(r.result))
	if r.result == queue.NoAnswer {
		c.event("ring_no_answer", "agent", r.user, "ring_ms", strconv.FormatInt(r.rang.Milliseconds(), 10))
	} else if r.result != queue.Answered {
		c.event("ring_result", "agent", r.user, "result", string(r.result))
	}
}

// ringAgent places the leg to one agent and follows it to its answer.
func (c *call) ringAgent(ctx context.Context, queueName, user string) *ringing {
	r := &ringing{user: user, result: queue.Failed}
	start := c.clock.Now()
	defer func() { r.rang = c.clock.Now().Sub(start) }()
	m, err := c.e.opts.NewMedia(c.info.ID + "/" + user)
	if err != nil {
		c.log.Warn("no media for the agent leg", "agent", user, "error", err)
		return r
	}
	shown := queueName
	if c.shownAs != "" {
		shown = c.shownAs
	}
	leg, err := c.e.opts.Agents.DialAgent(ctx, AgentCall{User: user, Caller: c.info.Caller, Queue: shown, MediaPort: m.LocalPort()})
	if err != nil {
		c.log.Info("agent not reachable", "agent", user, "error", err)
		m.Close()
		return r
	}
	c.event("agent_ringing", "agent", user)
	err = leg.WaitAnswer(ctx, nil)
	if err == nil {
		ans := leg.Negotiated()
		if cerr := configureFrom(m, ans); cerr != nil {
			c.log.Warn("agent media", "agent", user, "error", cerr)
		}
		m.Start()
		r.leg, r.media, r.result = leg, m, queue.Answered
		return r
	}
	leg.Release()
	m.Close()
	var de *sip.DialError
	switch cause := context.Cause(ctx); {
	case errors.As(err, &de):
		r.result = resultOfStatus(de.Status)
	case errors.Is(cause, errRingTimeout):
		r.result = queue.NoAnswer
	case ctx.Err() != nil:
		r.result = queue.Cancelled
	}
	return r
}

// resultOfStatus maps an agent phone's final answer to a queue result,
// after FreeSWITCH mod_callcenter's busy / reject / no-answer causes.
func resultOfStatus(status int) queue.Result {
	switch status {
	case 486, 600:
		return queue.Busy
	case 603:
		return queue.Rejected
	case 408, 480, 487:
		return queue.NoAnswer
	}
	return queue.Failed
}

// whisper tells the agent which queue the call comes from before the
// caller is connected; the caller keeps hearing nothing new meanwhile.
func (c *call) whisper(r *ringing, queueName string) {
	cat := c.e.opts.Prompts
	pt := r.leg.Negotiated().PayloadType
	clips := [][]byte{cat.Get(prompts.WhisperCall).Payload(pt)}
	if a := c.e.whisperNames[queueName]; a != nil {
		clips = append(clips, a.Payload(pt))
	}
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	whisper := r.media.Begin(ctx, false, clips...)
	select {
	case <-whisper:
	case <-r.leg.Done():
		cancel()
		<-whisper
	}
}

// queueAudio plays to a waiting caller: the welcome with position and
// estimated wait, then music, a reassurance every reassurance_interval and
// position and wait every announce_interval (R10). It runs beside the
// flow, which rings agents meanwhile.
type queueAudio struct {
	stopOnce sync.Once
	cancel   context.CancelFunc
	done     chan struct{}
	played   []string
	c        *call
}

func (c *call) startQueueAudio(entry *queue.Entry, q *config.Queue) *queueAudio {
	ctx, cancel := context.WithCancel(c.ctx)
	a := &queueAudio{cancel: cancel, done: make(chan struct{}), c: c}
	go func() {
		defer close(a.done)
		a.run(ctx, entry, q)
	}()
	return a
}

// stop ends the queue audio and merges what it played into the record.
func (a *queueAudio) stop() {
	a.stopOnce.Do(func() {
		a.cancel()
		<-a.done
		a.c.rec.Prompts = append(a.c.rec.Prompts, a.played...)
	})
}

func (a *queueAudio) run(ctx context.Context, entry *queue.Entry, q *config.Queue) {
	c := a.c
	cat := c.e.opts.Prompts
	metrics := c.e.opts.QueueMetrics
	play := func(kind string, ids ...prompts.ID) bool {
		metrics.Announced(q.Name, kind)
		return c.playBeside(ctx, &a.played, ids...)
	}
	positionAndWait := func() []prompts.ID {
		pos := entry.Position()
		var ids []prompts.ID
		if pos > 1 {
			ids = append(ids, cat.Position(pos-1)...)
		}
		return append(ids, cat.EstimatedWait(c.e.opts.Queues.EstimatedWait(q.Name, pos))...)
	}

	// An agent free right now: say so rather than "all agents are busy".
	if c.e.opts.Queues.EstimatedWait(q.Name, entry.Position()) == 0 {
		if !play("welcome", prompts.QueueConnecting) {
			return
		}
	} else {
		welcome := []prompts.ID{prompts.QueueWelcome}
		if q.AnnounceInterval > 0 {
			welcome = append(welcome, positionAndWait()...)
		}
		if !play("welcome", welcome...) {
			return
		}
	}
	now := c.clock.Now()
	nextReassure := now.Add(q.ReassuranceInterval)
	nextAnnounce := time.Time{}
	if q.AnnounceInterval > 0 {
		nextAnnounce = now.Add(q.AnnounceInterval)
	}
	music := cat.Get(prompts.Music)
	for {
		due := nextReassure
		if !nextAnnounce.IsZero() && nextAnnounce.Before(due) {
			due = nextAnnounce
		}
		if !c.musicUntil(ctx, due, music) {
			return
		}
		now := c.clock.Now()
		if !nextAnnounce.IsZero() && !now.Before(nextAnnounce) {
			if !play("position", positionAndWait()...) {
				return
			}
			nextAnnounce = c.clock.Now().Add(q.AnnounceInterval)
		} else {
			if !play("reassurance", prompts.QueueReassurance) {
				return
			}
		}
		if !now.Before(nextReassure) {
			nextReassure = c.clock.Now().Add(q.ReassuranceInterval)
		}
	}
}

// musicUntil loops the hold music to the caller until due (on the flow's
// clock) or ctx; it reports whether the call goes on.
func (c *call) musicUntil(ctx context.Context, due time.Time, music *prompts.Audio) bool {
	mctx, stopMusic := context.WithCancel(ctx)
	musicDone := c.media.Begin(mctx, true, music.Payload(uint8(c.payloadType.Load())))
	t := c.clock.NewTimer(due.Sub(c.clock.Now()))
	select {
	case <-t.C():
	case <-ctx.Done():
	}
	t.Stop()
	stopMusic()
	<-musicDone
	return ctx.Err() == nil
}

// playBeside plays prompts to the caller from an audio goroutine running
// beside the flow (queue or hold audio); the IDs it plays are collected
// in played, which the flow merges into the record once that goroutine
// has stopped. It reports whether the audio may go on.
func (c *call) playBeside(ctx context.Context, played *[]string, ids ...prompts.ID) bool {
	pt := uint8(c.payloadType.Load())
	clips := make([][]byte, 0, len(ids))
	for _, id := range ids {
		if a := c.e.opts.Prompts.Get(id); a != nil {
			clips = append(clips, a.Payload(pt))
			*played = append(*played, string(id))
		}
	}
	return c.media.Play(ctx, clips...) == nil
}

// legGone reports whether the agent's leg has ended.
func legGone(r *ringing) bool {
	select {
	case <-r.leg.Done():
		return true
	default:
		return false
	}
}
