package queue

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Manager holds every queue and agent and matches waiting callers to ready
// agents. Create it with New; it is safe for concurrent use.
type Manager struct {
	clock Clock
	log   *slog.Logger

	mu       sync.Mutex
	queues   map[string]*queueState
	order    []*queueState // config order, for Queues and fair matching
	agents   map[string]*agent
	users    []string // sorted, for Agents
	seq      int64    // arrival order of entries across all queues
	frontSeq int64    // order of the entries put at the front (EnqueueFront)
	watchers []chan struct{}
	// inState counts the agents in each state, for Counts; every change
	// of an agent's state goes through moveLocked.
	inState map[State]int
}

type queueState struct {
	cfg     QueueConfig
	entries []*Entry // waiting callers, arrival order
	agents  []*agent // agents serving the queue
	history []answeredWait
}

// answeredWait is one caller's wait until an agent answered, for
// EstimatedWait.
type answeredWait struct {
	at       time.Time // when the caller left the queue
	wait     time.Duration
	position int // position on entry
}

type agent struct {
	cfg    AgentConfig
	queues []*queueState

	state  State
	reason string
	since  time.Time
	// until ends a wrap-up or a timed not-ready (back-off) on Tick; zero
	// when the state has no scheduled end.
	until time.Time
	// idleSince orders LongestIdle: the end of the last call, or login.
	idleSince time.Time
	// offer is the entry whose outstanding Offer reserves the agent; while
	// the agent is Ringing exactly one of offer and claim is set.
	offer *Entry
	// callQueue is the queue of the current or last call; its WrapUp applies.
	callQueue *queueState
	// pendingNotReady is a not-ready reason asked for while the agent was
	// ringing, on a call or in wrap-up; it applies once that is over.
	pendingNotReady string
	// pendingLogout: the agent un-registered while ringing or on a call.
	pendingLogout bool
	callsTaken    int
	noAnswers     int // consecutive missed rings
	// claim is set while the agent rings for a call outside the queue's
	// offers (a transfer, a colleague's call); it keeps what to go back
	// to if the agent does not answer.
	claim *claim
}

// claim is an agent's state before Claim, restored by Unclaim.
type claim struct {
	queue        *queueState
	state        State
	reason       string
	until, since time.Time
}

// Option configures a Manager.
type Option func(*Manager) error

// WithLogger sets the logger for state changes. Log lines name agents and
// queues, never callers (R12). The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(m *Manager) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidConfig)
		}
		m.log = l
		return nil
	}
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// New validates cfg and returns a Manager with every agent logged out. Names
// must be unique, every queue an agent serves must exist and strategies must
// be known; problems wrap ErrInvalidConfig. A nil clock means the wall clock.
func New(cfg Config, clock Clock, opts ...Option) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if clock == nil {
		clock = wallClock{}
	}
	m := &Manager{
		clock:   clock,
		log:     slog.Default(),
		queues:  make(map[string]*queueState, len(cfg.Queues)),
		agents:  make(map[string]*agent, len(cfg.Agents)),
		inState: map[State]int{LoggedOut: len(cfg.Agents)},
	}
	for _, o := range opts {
		if err := o(m); err != nil {
			return nil, err
		}
	}
	now := clock.Now()
	for _, qc := range cfg.Queues {
		q := &queueState{cfg: qc.withDefaults()}
		m.queues[qc.Name] = q
		m.order = append(m.order, q)
	}
	for _, ac := range cfg.Agents {
		ac.Queues = slices.Clone(ac.Queues)
		a := &agent{cfg: ac, state: LoggedOut, since: now}
		for _, name := range ac.Queues {
			q := m.queues[name]
			a.queues = append(a.queues, q)
			q.agents = append(q.agents, a)
		}
		m.agents[ac.User] = a
		m.users = append(m.users, ac.User)
	}
	slices.Sort(m.users)
	return m, nil
}

func (m *Manager) agentLocked(user string) (*agent, error) {
	a, ok := m.agents[user]
	if !ok {
		return nil, fmt.Errorf("queue: agent %q: %w", user, ErrUnknownAgent)
	}
	return a, nil
}

// Login logs the agent in (ready) when the registrar accepts a REGISTER.
// Logging in again is a no-op, except that it withdraws a logout still
// waiting for the agent's call to end.
func (m *Manager) Login(user string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.agentLocked(user)
	if err != nil {
		return err
	}
	if a.state != LoggedOut {
		a.pendingLogout = false
		return nil
	}
	now := m.clock.Now()
	a.idleSince = now
	a.noAnswers = 0
	m.setLocked(a, Ready, "", time.Time{}, now)
	m.log.Info("agent logged in", "agent", user)
	m.matchLocked(now)
	return nil
}

// Logout logs the agent out when they un-register or their registration
// expires. An agent ringing or on a call stays so until that ends, then is
// logged out; in any other state the logout is immediate.
func (m *Manager) Logout(user string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.agentLocked(user)
	if err != nil {
		return err
	}
	now := m.clock.Now()
	switch a.state {
	case LoggedOut:
		return nil
	case Ringing, OnCall:
		a.pendingLogout = true
		m.notifyLocked()
	default:
		a.pendingNotReady = ""
		m.setLocked(a, LoggedOut, "", time.Time{}, now)
		m.log.Info("agent logged out", "agent", user)
		// With one agent fewer logged in, RetryAvoid's "only agent logged
		// in" exception may now let a waiting caller have the one left.
		m.matchLocked(now)
	}
	return nil
}

// SetReady makes the agent ready (ready=true) or not ready with reason
// (ready=false; "" means ReasonManual). Ready ends a not-ready or a wrap-up
// at once and clears the missed-ring count. Not ready applies at once to a
// ready or not-ready agent; one ringing, on a call or in wrap-up goes not
// ready when that is over. It returns ErrLoggedOut for a logged-out agent.
func (m *Manager) SetReady(user string, ready bool, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.agentLocked(user)
	if err != nil {
		return err
	}
	if a.state == LoggedOut {
		return fmt.Errorf("queue: agent %q: %w", user, ErrLoggedOut)
	}
	now := m.clock.Now()
	if ready {
		m.readyLocked(a, now)
	} else {
		if reason == "" {
			reason = ReasonManual
		}
		m.notReadyLocked(a, reason, now)
	}
	return nil
}

// ToggleReady flips an agent between ready and not ready (manual), for the
// agent's *0 feature code. It returns the state the toggle leads to, Ready
// or NotReady; for an agent ringing, on a call or in wrap-up that state is
// reached once the call is over.
func (m *Manager) ToggleReady(user string) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.agentLocked(user)
	if err != nil {
		return "", err
	}
	now := m.clock.Now()
	switch a.state {
	case LoggedOut:
		return "", fmt.Errorf("queue: agent %q: %w", user, ErrLoggedOut)
	case Ready:
		m.notReadyLocked(a, ReasonManual, now)
		return NotReady, nil
	case NotReady:
		m.readyLocked(a, now)
		return Ready, nil
	default: // Ringing, OnCall, WrapUp: toggle what follows the call.
		if a.pendingNotReady != "" {
			a.pendingNotReady = ""
			m.notifyLocked()
			return Ready, nil
		}
		a.pendingNotReady = ReasonManual
		m.notifyLocked()
		return NotReady, nil
	}
}

func (m *Manager) readyLocked(a *agent, now time.Time) {
	a.pendingNotReady = ""
	a.noAnswers = 0
	switch a.state {
	case NotReady, WrapUp:
		m.setLocked(a, Ready, "", time.Time{}, now)
		m.matchLocked(now)
	default:
		m.notifyLocked()
	}
}

func (m *Manager) notReadyLocked(a *agent, reason string, now time.Time) {
	switch a.state {
	case Ready:
		m.setLocked(a, NotReady, reason, time.Time{}, now)
	case NotReady:
		// A manual pause overrides a timed back-off: it ends only when the
		// agent asks.
		if a.reason != reason || !a.until.IsZero() {
			m.setLocked(a, NotReady, reason, time.Time{}, now)
		}
	default: // Ringing, OnCall, WrapUp
		a.pendingNotReady = reason
		m.notifyLocked()
	}
}

// CallEnded tells the Manager the agent's bridged call is over: the agent
// goes to wrap-up for the call's queue's WrapUp, then ready (or to a
// not-ready or logout asked for during the call). Calls for an agent not on
// a call are ignored.
func (m *Manager) CallEnded(user string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.agents[user]
	if !ok || a.state != OnCall {
		return
	}
	now := m.clock.Now()
	a.idleSince = now
	var wrap time.Duration
	if a.callQueue != nil {
		wrap = a.callQueue.cfg.WrapUp
	}
	if wrap > 0 && !a.pendingLogout {
		m.setLocked(a, WrapUp, "", now.Add(wrap), now)
		return
	}
	m.releaseLocked(a, now)
	m.matchLocked(now)
}

// releaseLocked ends a ring, a call or a wrap-up: the agent goes where they
// asked to go meanwhile, or ready.
func (m *Manager) releaseLocked(a *agent, now time.Time) {
	switch {
	case a.pendingLogout:
		a.pendingLogout = false
		a.pendingNotReady = ""
		m.setLocked(a, LoggedOut, "", time.Time{}, now)
		m.log.Info("agent logged out", "agent", a.cfg.User)
	case a.pendingNotReady != "":
		r := a.pendingNotReady
		a.pendingNotReady = ""
		m.setLocked(a, NotReady, r, time.Time{}, now)
	default:
		m.setLocked(a, Ready, "", time.Time{}, now)
	}
}

// backOffLocked ends a failed ring: out of offers for d with reason, unless
// the agent asked for something else meanwhile.
func (m *Manager) backOffLocked(a *agent, reason string, d time.Duration, now time.Time) {
	if a.pendingLogout || a.pendingNotReady != "" || d <= 0 {
		m.releaseLocked(a, now)
		return
	}
	m.setLocked(a, NotReady, reason, now.Add(d), now)
}

func (m *Manager) setLocked(a *agent, s State, reason string, until, now time.Time) {
	if a.state != s || a.reason != reason {
		a.since = now
	}
	m.moveLocked(a, s)
	a.reason, a.until = reason, until
	m.notifyLocked()
}

// moveLocked puts a in state s, keeping Counts right.
func (m *Manager) moveLocked(a *agent, s State) {
	m.inState[a.state]--
	m.inState[s]++
	a.state = s
}

// StateCounts is how many agents are in each state.
type StateCounts struct {
	LoggedOut, Ready, Ringing, OnCall, WrapUp, NotReady int
}

// Counts says how many agents are in each state. Unlike Agents it copies
// nothing, so it can be asked for every new call.
func (m *Manager) Counts() StateCounts {
	m.mu.Lock()
	defer m.mu.Unlock()
	return StateCounts{
		LoggedOut: m.inState[LoggedOut], Ready: m.inState[Ready], Ringing: m.inState[Ringing],
		OnCall: m.inState[OnCall], WrapUp: m.inState[WrapUp], NotReady: m.inState[NotReady],
	}
}

// AgentStatus is one agent as the registrar, `hotline agents` and metrics
// see them.
type AgentStatus struct {
	User, Name string
	State      State
	// Reason is set for NotReady.
	Reason string
	// Since is when the agent entered State; time in state is now − Since.
	Since  time.Time
	Queues []string
	// CallsTaken counts answered offers since the Manager started.
	CallsTaken int
	// NoAnswers counts consecutive missed rings; an answered call or the
	// agent making themselves ready resets it.
	NoAnswers int
	// Until is when a wrap-up or a timed not-ready (busy, rejected,
	// no-answer back-off) ends; zero if the state has no scheduled end.
	Until time.Time
	// PendingReason is a not-ready reason that applies once the current
	// ring, call or wrap-up is over; "" if none.
	PendingReason string
	// LogoutPending: the agent un-registered during a ring or call and is
	// logged out when it ends.
	LogoutPending bool
}

func (a *agent) status() AgentStatus {
	return AgentStatus{
		User: a.cfg.User, Name: a.cfg.Name, State: a.state, Reason: a.reason,
		Since: a.since, Queues: slices.Clone(a.cfg.Queues),
		CallsTaken: a.callsTaken, NoAnswers: a.noAnswers, Until: a.until,
		PendingReason: a.pendingNotReady, LogoutPending: a.pendingLogout,
	}
}

// Agents returns every configured agent, sorted by user.
func (m *Manager) Agents() []AgentStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]AgentStatus, 0, len(m.users))
	for _, u := range m.users {
		out = append(out, m.agents[u].status())
	}
	return out
}

// AgentStates counts the configured agents in each state. Unlike Agents
// it copies nothing per agent, so a metrics scrape over thousands of
// agents allocates one small map.
func (m *Manager) AgentStates() map[State]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	counts := make(map[State]int, 8)
	for _, a := range m.agents {
		counts[a.state]++
	}
	return counts
}

// Agent returns one agent; false if user is not configured.
func (m *Manager) Agent(user string) (AgentStatus, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.agents[user]
	if !ok {
		return AgentStatus{}, false
	}
	return a.status(), true
}

// Queues returns the queue names in configuration order.
func (m *Manager) Queues() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, len(m.order))
	for i, q := range m.order {
		out[i] = q.cfg.Name
	}
	return out
}

// LoggedIn counts the agents serving queue in any state but LoggedOut; 0
// for an unknown queue. The flow uses it for the "no agents logged in"
// behaviour.
func (m *Manager) LoggedIn(queue string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.queues[queue]
	if !ok {
		return 0
	}
	return q.loggedIn()
}

func (q *queueState) loggedIn() int {
	n := 0
	for _, a := range q.agents {
		if a.state != LoggedOut {
			n++
		}
	}
	return n
}

func (q *queueState) ready() int {
	n := 0
	for _, a := range q.agents {
		if a.state == Ready {
			n++
		}
	}
	return n
}

// Waiting returns how many callers are in queue and how long the oldest
// has waited; zeros for an unknown or empty queue.
func (m *Manager) Waiting(queue string) (count int, oldest time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.queues[queue]
	if !ok || len(q.entries) == 0 {
		return 0, 0
	}
	return len(q.entries), max(0, m.clock.Now().Sub(q.entries[0].joined))
}

// Watch returns a channel that receives, without blocking the Manager and
// coalesced, whenever an agent state or a queue changes — for metrics and
// UIs that then read Agents and Waiting. Each call adds a watcher for the
// Manager's lifetime, so long-lived consumers should call it once.
func (m *Manager) Watch() <-chan struct{} {
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	m.watchers = append(m.watchers, ch)
	m.mu.Unlock()
	return ch
}

func (m *Manager) notifyLocked() {
	for _, w := range m.watchers {
		select {
		case w <- struct{}{}:
		default: // a signal is already pending; coalesce.
		}
	}
}

// Tick ends wrap-ups and back-off delays that are due at clock.Now() and
// matches waiting callers again (which also honours RetryAvoid windows that
// have run out). The owner calls it periodically, e.g. every 250 ms; timed
// transitions happen only here, so tests drive them with a fake clock.
func (m *Manager) Tick() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	for _, u := range m.users {
		a := m.agents[u]
		if a.until.IsZero() || now.Before(a.until) {
			continue
		}
		switch a.state {
		case WrapUp:
			m.releaseLocked(a, now)
		case NotReady:
			m.setLocked(a, Ready, "", time.Time{}, now)
		default:
			a.until = time.Time{}
		}
	}
	m.matchLocked(now)
}

// matchLocked offers ready agents to waiting callers without an outstanding
// offer, oldest arrival first across all queues (an agent serving several
// queues takes the caller who has waited longest). A caller whose queue has
// no agent it may be offered is skipped, so the next one behind can still
// be served by an agent the first must avoid.
func (m *Manager) matchLocked(now time.Time) {
	var waiting []*Entry
	for _, q := range m.order {
		// Callers of a queue with nobody ready cannot be served now; skip
		// them so a Tick with every agent busy stays cheap.
		if len(q.entries) == 0 || q.ready() == 0 {
			continue
		}
		for _, e := range q.entries {
			if !e.answered && len(e.offer) == 0 {
				waiting = append(waiting, e)
			}
		}
	}
	slices.SortFunc(waiting, func(x, y *Entry) int { return cmp.Compare(x.seq, y.seq) })
	for _, e := range waiting {
		picked := e.q.pick(e, now)
		if len(picked) == 0 {
			continue
		}
		names := make([]string, len(picked))
		for i, a := range picked {
			names[i] = a.cfg.User
			a.offer = e
			e.offer[a.cfg.User] = a
			m.setLocked(a, Ringing, "", time.Time{}, now)
		}
		// The channel holds at most one offer and the entry had none
		// outstanding; drop a stale unread one rather than block.
		select {
		case <-e.offers:
		default:
		}
		e.offers <- Offer{Agents: names}
		m.log.Debug("agents offered", "queue", e.q.cfg.Name, "agents", names)
	}
}

// pick chooses the agents to offer e by the queue's strategy: the one idle
// longest, or for ring_all every one ready, longest idle first. It runs
// under the manager's lock for every caller matched, so longest idle is
// one scan for the first in that order, not a sort of every ready agent:
// with thousands of agents a sort cost a slice of them and tens of
// thousands of comparisons per call, and its recursion grew the calling
// flow's stack.
func (q *queueState) pick(e *Entry, now time.Time) []*agent {
	onlyOne := q.loggedIn() == 1
	offerable := func(a *agent) bool {
		if a.state != Ready {
			return false
		}
		until, avoided := e.avoid[a.cfg.User]
		return !avoided || !now.Before(until) || onlyOne
	}
	if q.cfg.Strategy != RingAll {
		var best *agent
		for _, a := range q.agents {
			if offerable(a) && (best == nil || longestIdleFirst(a, best) < 0) {
				best = a
			}
		}
		if best == nil {
			return nil
		}
		return []*agent{best}
	}
	var ok []*agent
	for _, a := range q.agents {
		if offerable(a) {
			ok = append(ok, a)
		}
	}
	slices.SortFunc(ok, longestIdleFirst)
	return ok
}

// longestIdleFirst orders agents for LongestIdle: idle longest, then lower
// penalty, then lower user name, so the choice is deterministic.
func longestIdleFirst(x, y *agent) int {
	if c := x.idleSince.Compare(y.idleSince); c != 0 {
		return c
	}
	if c := cmp.Compare(x.cfg.Penalty, y.cfg.Penalty); c != 0 {
		return c
	}
	return cmp.Compare(x.cfg.User, y.cfg.User)
}

// Claim reserves an agent for a call that does not come from a queue
// offer: a transfer target or a colleague's direct call (R4, R11). The
// agent must be logged in and neither ringing nor on a call; ErrAgentBusy
// says they are, and the transfer must fail as busy rather than ring a
// phone already in use. A claimed agent is Ringing and gets no queue
// offers until Unclaim. queue names the queue whose wrap-up applies if
// the agent answers; "" means the agent's first queue.
func (m *Manager) Claim(user, queue string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.agentLocked(user)
	if err != nil {
		return err
	}
	switch a.state {
	case LoggedOut:
		return fmt.Errorf("queue: claim agent %q: %w", user, ErrLoggedOut)
	case Ringing, OnCall:
		return fmt.Errorf("queue: claim agent %q: %w", user, ErrAgentBusy)
	}
	q := m.queues[queue]
	if q == nil && len(a.queues) > 0 {
		q = a.queues[0]
	}
	a.claim = &claim{queue: q, state: a.state, reason: a.reason, until: a.until, since: a.since}
	m.setLocked(a, Ringing, "", time.Time{}, m.clock.Now())
	return nil
}

// Unclaim ends a Claim. An agent who answered is OnCall until CallEnded
// (then wrap-up, as for a queue call); otherwise the agent goes back to
// the state they had, with no penalty: a missed transfer is not a missed
// queue call. A logout or not-ready asked for meanwhile applies now.
func (m *Manager) Unclaim(user string, answered bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.agents[user]
	if !ok || a.claim == nil {
		return
	}
	cl := a.claim
	a.claim = nil
	now := m.clock.Now()
	if answered {
		a.callQueue = cl.queue
		m.setLocked(a, OnCall, "", time.Time{}, now)
		return
	}
	switch {
	case a.pendingLogout, a.pendingNotReady != "":
		m.releaseLocked(a, now)
	default:
		m.moveLocked(a, cl.state)
		a.reason, a.until = cl.reason, cl.until
		a.since = cl.since
		m.notifyLocked()
	}
	m.matchLocked(now)
}
