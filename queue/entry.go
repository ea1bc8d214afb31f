package queue

import (
	"fmt"
	"slices"
	"time"
)

// Offer reserves agents for one caller: their state is Ringing until the
// caller's flow reports a Result for each of them (or the entry leaves).
type Offer struct {
	// Agents to ring: one for LongestIdle, every ready agent of the queue
	// (best first) for RingAll.
	Agents []string
}

// Result is the outcome of ringing one agent of an Offer; also a metric
// label for ring attempts.
type Result string

// Ring results.
const (
	// Answered: the agent picked up; the agent is OnCall until CallEnded.
	Answered Result = "answered"
	// NoAnswer: the ring budget (three ring cycles, R1) ran out. The agent
	// is paused after MaxNoAnswer in a row, else out for NoAnswerDelay.
	NoAnswer Result = "no_answer"
	// Busy: the phone answered busy (486/600); out for BusyDelay.
	Busy Result = "busy"
	// Rejected: the agent declined (603, or a 486 by a button press); out
	// for RejectDelay.
	Rejected Result = "rejected"
	// Cancelled: the ring was called off — another agent of a ring-all
	// offer answered, or the caller hung up. No penalty.
	Cancelled Result = "cancelled"
	// Failed: the agent could not be reached (no contact, timeout, 5xx);
	// treated as busy for BusyDelay.
	Failed Result = "failed"
)

// LeaveReason is why a caller left the queue; also a metric label.
type LeaveReason string

// Leave reasons.
const (
	// LeftAnswered: an agent answered.
	LeftAnswered LeaveReason = "answered"
	// LeftAbandoned: the caller hung up while waiting.
	LeftAbandoned LeaveReason = "abandoned"
	// LeftTimeout: the queue's maximum wait ran out.
	LeftTimeout LeaveReason = "timeout"
	// LeftClosed: the flow moved the caller on (no agents, shutdown).
	LeftClosed LeaveReason = "closed"
)

// LeaveInfo is what the call record and metrics keep of a caller's wait.
type LeaveInfo struct {
	// Wait is from Enqueue to Leave.
	Wait time.Duration
	// Short marks an abandon before the queue's ShortAbandon, left out of
	// the abandon rate.
	Short bool
	// PositionOnEntry is the caller's position when they joined.
	PositionOnEntry int
}

// Entry is one caller waiting in a queue. Its fields are guarded by the
// Manager's mutex.
type Entry struct {
	m        *Manager
	q        *queueState
	callID   string
	joined   time.Time
	seq      int64
	posEntry int
	offers   chan Offer

	// offer holds the agents of the outstanding Offer not yet reported.
	offer map[string]*agent
	// avoid: agent → end of the RetryAvoid window after a failed ring.
	avoid    map[string]time.Time
	answered bool
	left     bool
	info     LeaveInfo
}

// Enqueue puts a caller at the back of queue and returns their entry. If an
// agent is free the first Offer is already waiting on Offers when Enqueue
// returns. It returns ErrUnknownQueue for a queue that is not configured.
func (m *Manager) Enqueue(queue, callID string) (*Entry, error) {
	return m.enqueue(queue, callID, false)
}

// EnqueueFront puts a caller at the front of queue, ahead of everyone
// waiting in any queue: a caller whose transfer failed after the agent
// left was already served once and must not wait in line again (R4).
func (m *Manager) EnqueueFront(queue, callID string) (*Entry, error) {
	return m.enqueue(queue, callID, true)
}

func (m *Manager) enqueue(queue, callID string, front bool) (*Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.queues[queue]
	if !ok {
		return nil, fmt.Errorf("queue: enqueue in %q: %w", queue, ErrUnknownQueue)
	}
	now := m.clock.Now()
	e := &Entry{
		m: m, q: q, callID: callID, joined: now,
		posEntry: len(q.entries) + 1,
		offers:   make(chan Offer, 1),
		offer:    make(map[string]*agent),
		avoid:    make(map[string]time.Time),
	}
	if front {
		// Negative sequence numbers sort before every arrival; a later
		// front entry goes behind an earlier one.
		m.frontSeq++
		e.seq = -(1 << 62) + m.frontSeq
		at := m.frontCount(q)
		e.posEntry = at + 1
		q.entries = slices.Insert(q.entries, at, e)
	} else {
		m.seq++
		e.seq = m.seq
		q.entries = append(q.entries, e)
	}
	m.notifyLocked()
	m.matchLocked(now)
	return e, nil
}

// frontCount is how many entries of q were put at the front.
func (m *Manager) frontCount(q *queueState) int {
	n := 0
	for n < len(q.entries) && q.entries[n].seq < 0 {
		n++
	}
	return n
}

// Queue returns the queue's name.
func (e *Entry) Queue() string { return e.q.cfg.Name }

// CallID returns the caller's call ID given to Enqueue.
func (e *Entry) CallID() string { return e.callID }

// Joined returns when the caller joined the queue.
func (e *Entry) Joined() time.Time { return e.joined }

// PositionOnEntry returns the caller's position when they joined; 1 is
// first in line.
func (e *Entry) PositionOnEntry() int { return e.posEntry }

// Position returns the caller's position now (1 = first in line), for
// position announcements (R10); 0 once they left.
func (e *Entry) Position() int {
	e.m.mu.Lock()
	defer e.m.mu.Unlock()
	if e.left {
		return 0
	}
	return slices.Index(e.q.entries, e) + 1
}

// Offers delivers Offers (buffered 1). An entry has at most one
// outstanding Offer: the next comes only after a Result was reported for
// every agent of the last one, and none after an Answered. The channel is
// closed when the entry leaves.
func (e *Entry) Offers() <-chan Offer { return e.offers }

// Report gives the outcome of ringing user, one agent of the outstanding
// Offer. After a failed ring the caller is offered the next agent at once
// if one is ready (R1). Reports for agents not in the outstanding Offer
// (e.g. after Leave) are ignored.
func (e *Entry) Report(user string, r Result) {
	m := e.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.left {
		return
	}
	a, ok := e.offer[user]
	if !ok {
		m.log.Debug("ring result for an agent not offered", "queue", e.q.cfg.Name, "agent", user, "result", r)
		return
	}
	delete(e.offer, user)
	a.offer = nil
	now := m.clock.Now()
	cfg := e.q.cfg
	switch r {
	case Answered:
		e.answered = true
		a.noAnswers = 0
		a.callsTaken++
		a.callQueue = e.q
		m.setLocked(a, OnCall, "", time.Time{}, now)
	case Cancelled:
		m.releaseLocked(a, now)
	case NoAnswer:
		e.avoidLocked(a, now)
		a.noAnswers++
		if cfg.MaxNoAnswer > 0 && a.noAnswers >= cfg.MaxNoAnswer && !a.pendingLogout {
			// app_queue autopause / mod_callcenter max-no-answer: the
			// agent stays out until they make themselves ready (R1).
			a.pendingNotReady = ""
			m.setLocked(a, NotReady, ReasonRingNoAnswer, time.Time{}, now)
			m.log.Info("agent not ready after missed rings", "agent", user, "queue", cfg.Name, "missed", a.noAnswers)
		} else {
			m.backOffLocked(a, ReasonRingNoAnswer, cfg.NoAnswerDelay, now)
		}
	case Busy:
		e.avoidLocked(a, now)
		m.backOffLocked(a, ReasonBusy, cfg.BusyDelay, now)
	case Rejected:
		e.avoidLocked(a, now)
		m.backOffLocked(a, ReasonRejected, cfg.RejectDelay, now)
	default: // Failed, and anything unknown: the agent could not take it.
		if r != Failed {
			m.log.Warn("unknown ring result treated as failed", "agent", user, "result", r)
		}
		e.avoidLocked(a, now)
		m.backOffLocked(a, ReasonBusy, cfg.BusyDelay, now)
	}
	m.matchLocked(now)
}

func (e *Entry) avoidLocked(a *agent, now time.Time) {
	if d := e.q.cfg.RetryAvoid; d > 0 {
		e.avoid[a.cfg.User] = now.Add(d)
	}
}

// Leave takes the caller out of the queue and returns their wait. Any
// agent still reserved by an outstanding Offer returns to ready without
// penalty, as if Cancelled. An answered wait feeds EstimatedWait. Leave is
// idempotent: later calls return the first result.
func (e *Entry) Leave(reason LeaveReason) LeaveInfo {
	m := e.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.left {
		return e.info
	}
	now := m.clock.Now()
	q := e.q
	wait := max(0, now.Sub(e.joined))
	e.left = true
	e.info = LeaveInfo{
		Wait:            wait,
		Short:           reason == LeftAbandoned && wait < q.cfg.ShortAbandon,
		PositionOnEntry: e.posEntry,
	}
	if i := slices.Index(q.entries, e); i >= 0 {
		q.entries = slices.Delete(q.entries, i, i+1)
	}
	for user, a := range e.offer {
		delete(e.offer, user)
		a.offer = nil
		m.releaseLocked(a, now)
	}
	select { // an unread offer is void now
	case <-e.offers:
	default:
	}
	close(e.offers)
	if reason == LeftAnswered {
		q.history = append(q.history, answeredWait{at: now, wait: wait, position: e.posEntry})
		if len(q.history) > historySize {
			q.history = slices.Delete(q.history, 0, len(q.history)-historySize)
		}
	}
	m.notifyLocked()
	m.matchLocked(now)
	return e.info
}

// EstimatedWait estimates how long a caller at position (1 = next) in
// queue will wait, for announcements (R10). Zero if at least position
// agents of the queue are ready right now (or the queue is unknown).
//
// With answered history (the last 20 answered waits of the queue within
// the last hour) it is position × the average wait per place in line,
// Σ wait / Σ position-on-entry: the queue's recent pace, which already
// reflects how many agents were serving it. Without history it is
// DefaultHandleTime × position / max(1, agents logged in).
func (m *Manager) EstimatedWait(queue string, position int) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.queues[queue]
	if !ok {
		return 0
	}
	position = max(1, position)
	if q.ready() >= position {
		return 0
	}
	now := m.clock.Now()
	var sumWait time.Duration
	sumPos := 0
	for _, h := range q.history {
		if now.Sub(h.at) > historyMaxAge {
			continue
		}
		sumWait += h.wait
		sumPos += max(1, h.position)
	}
	if sumPos > 0 {
		return sumWait * time.Duration(position) / time.Duration(sumPos)
	}
	return q.cfg.DefaultHandleTime * time.Duration(position) / time.Duration(max(1, q.loggedIn()))
}
