package queue

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestNewValidatesConfig(t *testing.T) {
	q := func(name string) QueueConfig { return QueueConfig{Name: name} }
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"accepts queues and agents", Config{Queues: []QueueConfig{q("a"), {Name: "b", Strategy: RingAll}},
			Agents: []AgentConfig{{User: "1001", Queues: []string{"a", "b"}}}}, true},
		{"accepts no queues at all", Config{}, true},
		{"refuses a queue without a name", Config{Queues: []QueueConfig{q("")}}, false},
		{"refuses a queue defined twice", Config{Queues: []QueueConfig{q("a"), q("a")}}, false},
		{"refuses an unknown strategy", Config{Queues: []QueueConfig{{Name: "a", Strategy: "random"}}}, false},
		{"refuses an agent without a user", Config{Queues: []QueueConfig{q("a")},
			Agents: []AgentConfig{{Queues: []string{"a"}}}}, false},
		{"refuses an agent defined twice", Config{Queues: []QueueConfig{q("a")},
			Agents: []AgentConfig{{User: "1"}, {User: "1"}}}, false},
		{"refuses an agent in a missing queue", Config{Queues: []QueueConfig{q("a")},
			Agents: []AgentConfig{{User: "1", Queues: []string{"b"}}}}, false},
		{"refuses an agent listing a queue twice", Config{Queues: []QueueConfig{q("a")},
			Agents: []AgentConfig{{User: "1", Queues: []string{"a", "a"}}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, newFakeClock(), WithLogger(quiet))
			if tt.ok && err != nil {
				t.Fatalf("New: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New: %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestDefaultsFillZeroFieldsAndNegativeMeansNone(t *testing.T) {
	d := DefaultQueueConfig("q")
	want := QueueConfig{Name: "q", Strategy: LongestIdle, BusyDelay: 10 * time.Second, RejectDelay: 10 * time.Second,
		RetryAvoid: 30 * time.Second, ShortAbandon: 5 * time.Second, MaxNoAnswer: 2, DefaultHandleTime: 3 * time.Minute}
	if d != want {
		t.Fatalf("DefaultQueueConfig = %+v, want %+v", d, want)
	}
	n := QueueConfig{Name: "q", BusyDelay: -1, RetryAvoid: -1, ShortAbandon: -1, MaxNoAnswer: -3}.withDefaults()
	if n.BusyDelay != 0 || n.RetryAvoid != 0 || n.ShortAbandon != 0 || n.MaxNoAnswer != 0 {
		t.Fatalf("negative values not turned into none: %+v", n)
	}
}

func TestLongestIdleAgentGetsTheCaller(t *testing.T) {
	tests := []struct {
		name    string
		agents  []AgentConfig
		prepare func(t *testing.T, m *Manager, clk *fakeClock)
		want    string
	}{
		{
			name:   "the agent logged in first when nobody has taken a call",
			agents: agents("1001", "1002", "1003"),
			prepare: func(t *testing.T, m *Manager, clk *fakeClock) {
				login(t, m, clk, "1002", "1003", "1001")
			},
			want: "1002",
		},
		{
			name:   "the agent whose last call ended earliest",
			agents: agents("1001", "1002", "1003"),
			prepare: func(t *testing.T, m *Manager, clk *fakeClock) {
				login(t, m, clk, "1001", "1002", "1003")
				// 1001 then 1002 take calls; 1003 has idled since login,
				// longer than both.
				for _, u := range []string{"1001", "1002"} {
					e := enqueue(t, m, "c-"+u)
					o := mustOffer(t, e)
					if o.Agents[0] != u {
						t.Fatalf("setup: offered %v, want %s", o.Agents, u)
					}
					e.Report(u, Answered)
					e.Leave(LeftAnswered)
				}
				clk.Advance(time.Minute)
				m.CallEnded("1002")
				clk.Advance(time.Minute)
				m.CallEnded("1001")
				clk.Advance(time.Minute)
				if err := m.SetReady("1003", false, ""); err != nil {
					t.Fatal(err)
				}
			},
			want: "1002",
		},
		{
			name: "the lower penalty when idle equally long",
			agents: []AgentConfig{
				{User: "1001", Queues: []string{"q"}, Penalty: 2},
				{User: "1002", Queues: []string{"q"}, Penalty: 1},
				{User: "1003", Queues: []string{"q"}, Penalty: 3},
			},
			prepare: func(t *testing.T, m *Manager, clk *fakeClock) {
				for _, u := range []string{"1001", "1002", "1003"} {
					if err := m.Login(u); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: "1002",
		},
		{
			name:   "the lower user when idle and penalty are equal",
			agents: agents("1003", "1001", "1002"),
			prepare: func(t *testing.T, m *Manager, clk *fakeClock) {
				for _, u := range []string{"1003", "1002", "1001"} {
					if err := m.Login(u); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: "1001",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, clk := oneQueue(t, QueueConfig{}, tt.agents)
			tt.prepare(t, m, clk)
			e := enqueue(t, m, "caller")
			o := mustOffer(t, e)
			if !slices.Equal(o.Agents, []string{tt.want}) {
				t.Fatalf("offered %v, want [%s]", o.Agents, tt.want)
			}
			wantState(t, m, tt.want, Ringing, "")
			mustInvariants(t, m)
		})
	}
}

func TestCallersAreServedInArrivalOrder(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{}, agents("1001", "1002"))
	var es []*Entry
	for _, id := range []string{"c1", "c2", "c3"} {
		es = append(es, enqueue(t, m, id))
		clk.Advance(time.Second)
	}
	for i, e := range es {
		if e.PositionOnEntry() != i+1 || e.Position() != i+1 {
			t.Fatalf("%s: position on entry %d, now %d, want %d", e.CallID(), e.PositionOnEntry(), e.Position(), i+1)
		}
		mustNoOffer(t, e)
	}
	login(t, m, clk, "1001")
	if o := mustOffer(t, es[0]); o.Agents[0] != "1001" {
		t.Fatalf("first caller offered %v", o.Agents)
	}
	mustNoOffer(t, es[1])
	login(t, m, clk, "1002")
	if o := mustOffer(t, es[1]); o.Agents[0] != "1002" {
		t.Fatalf("second caller offered %v", o.Agents)
	}
	mustNoOffer(t, es[2])
	// 1001 answers c1; when that call ends c3 is next.
	es[0].Report("1001", Answered)
	es[0].Leave(LeftAnswered)
	mustNoOffer(t, es[2])
	m.CallEnded("1001")
	if o := mustOffer(t, es[2]); o.Agents[0] != "1001" {
		t.Fatalf("third caller offered %v", o.Agents)
	}
	mustInvariants(t, m)
}

func TestAgentServingTwoQueuesTakesTheCallerWaitingLongest(t *testing.T) {
	clk := newFakeClock()
	m, err := New(Config{
		Queues: []QueueConfig{{Name: "sales"}, {Name: "support"}},
		Agents: []AgentConfig{{User: "1001", Queues: []string{"sales", "support"}}},
	}, clk, WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	support, _ := m.Enqueue("support", "early")
	clk.Advance(time.Second)
	sales, _ := m.Enqueue("sales", "late")
	if err := m.Login("1001"); err != nil {
		t.Fatal(err)
	}
	mustOffer(t, support)
	mustNoOffer(t, sales)
}

func TestPositionsMoveUpAsCallersAheadLeave(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{}, agents("1001"))
	var es []*Entry
	for _, id := range []string{"c1", "c2", "c3", "c4"} {
		es = append(es, enqueue(t, m, id))
		clk.Advance(time.Second)
	}
	es[1].Leave(LeftAbandoned)
	want := []int{1, 0, 2, 3}
	for i, e := range es {
		if got := e.Position(); got != want[i] {
			t.Fatalf("%s: position %d, want %d", e.CallID(), got, want[i])
		}
	}
	es[0].Leave(LeftTimeout)
	if es[2].Position() != 1 || es[3].Position() != 2 {
		t.Fatalf("positions %d %d, want 1 2", es[2].Position(), es[3].Position())
	}
	if es[3].PositionOnEntry() != 4 {
		t.Fatalf("position on entry changed to %d", es[3].PositionOnEntry())
	}
}

func TestEnqueueInUnknownQueueFails(t *testing.T) {
	m, _ := oneQueue(t, QueueConfig{}, nil)
	if _, err := m.Enqueue("nope", "c"); !errors.Is(err, ErrUnknownQueue) {
		t.Fatalf("Enqueue: %v, want ErrUnknownQueue", err)
	}
}

func TestWrapUpThenReady(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{WrapUp: 20 * time.Second}, agents("1001"))
	login(t, m, clk, "1001")
	e := enqueue(t, m, "c1")
	mustOffer(t, e)
	e.Report("1001", Answered)
	wantState(t, m, "1001", OnCall, "")
	e.Leave(LeftAnswered)
	next := enqueue(t, m, "c2")
	clk.Advance(time.Minute)
	m.CallEnded("1001")
	s := status(t, m, "1001")
	if s.State != WrapUp || !s.Until.Equal(clk.Now().Add(20*time.Second)) || s.CallsTaken != 1 {
		t.Fatalf("after call: %+v", s)
	}
	clk.Advance(19 * time.Second)
	m.Tick()
	wantState(t, m, "1001", WrapUp, "")
	mustNoOffer(t, next)
	clk.Advance(time.Second)
	m.Tick()
	wantState(t, m, "1001", Ringing, "")
	mustOffer(t, next)
}

func TestNoWrapUpMeansReadyAtOnce(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{}, agents("1001"))
	login(t, m, clk, "1001")
	e := enqueue(t, m, "c1")
	mustOffer(t, e)
	e.Report("1001", Answered)
	e.Leave(LeftAnswered)
	m.CallEnded("1001")
	wantState(t, m, "1001", Ready, "")
}

func TestManualNotReadyDuringCallAppliesAfterTheCall(t *testing.T) {
	for _, wrap := range []time.Duration{0, 10 * time.Second} {
		t.Run("wrap-up "+wrap.String(), func(t *testing.T) {
			m, clk := oneQueue(t, QueueConfig{WrapUp: wrap}, agents("1001"))
			login(t, m, clk, "1001")
			e := enqueue(t, m, "c1")
			mustOffer(t, e)
			e.Report("1001", Answered)
			e.Leave(LeftAnswered)
			if err := m.SetReady("1001", false, ""); err != nil {
				t.Fatal(err)
			}
			s := status(t, m, "1001")
			if s.State != OnCall || s.PendingReason != ReasonManual {
				t.Fatalf("during call: %+v", s)
			}
			m.CallEnded("1001")
			if wrap > 0 {
				wantState(t, m, "1001", WrapUp, "")
				clk.Advance(wrap)
				m.Tick()
			}
			wantState(t, m, "1001", NotReady, ReasonManual)
			next := enqueue(t, m, "c2")
			mustNoOffer(t, next)
		})
	}
}

func TestToggleReady(t *testing.T) {
	tests := []struct {
		name      string
		prepare   func(t *testing.T, m *Manager, e *Entry)
		want      State // returned
		wantState State // state right after
		wantAfter State // state after the call, if one is running
	}{
		{"ready becomes not ready", func(t *testing.T, m *Manager, e *Entry) {}, NotReady, NotReady, ""},
		{"not ready becomes ready", func(t *testing.T, m *Manager, e *Entry) {
			_ = m.SetReady("1001", false, ReasonManual)
		}, Ready, Ready, ""},
		{"ring-no-answer pause becomes ready", func(t *testing.T, m *Manager, e *Entry) {
			_ = m.SetReady("1001", false, ReasonRingNoAnswer)
		}, Ready, Ready, ""},
		{"on a call: not ready after the call", func(t *testing.T, m *Manager, e *Entry) {
			e.Report("1001", Answered)
		}, NotReady, OnCall, NotReady},
		{"on a call, toggled twice: ready after the call", func(t *testing.T, m *Manager, e *Entry) {
			e.Report("1001", Answered)
			if s, _ := m.ToggleReady("1001"); s != NotReady {
				t.Fatalf("first toggle %s", s)
			}
		}, Ready, OnCall, Ready},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, clk := oneQueue(t, QueueConfig{}, agents("1001"))
			login(t, m, clk, "1001")
			var e *Entry
			if tt.wantAfter != "" {
				e = enqueue(t, m, "c1")
				mustOffer(t, e)
			}
			tt.prepare(t, m, e)
			got, err := m.ToggleReady("1001")
			if err != nil || got != tt.want {
				t.Fatalf("ToggleReady = %s, %v; want %s", got, err, tt.want)
			}
			if s := status(t, m, "1001"); s.State != tt.wantState {
				t.Fatalf("state %s, want %s", s.State, tt.wantState)
			}
			if tt.wantAfter != "" {
				e.Leave(LeftAnswered)
				m.CallEnded("1001")
				if s := status(t, m, "1001"); s.State != tt.wantAfter {
					t.Fatalf("after call %s, want %s", s.State, tt.wantAfter)
				}
			}
		})
	}
}

func TestReadyAndToggleRefuseLoggedOutAndUnknownAgents(t *testing.T) {
	m, _ := oneQueue(t, QueueConfig{}, agents("1001"))
	if err := m.SetReady("1001", true, ""); !errors.Is(err, ErrLoggedOut) {
		t.Fatalf("SetReady logged out: %v", err)
	}
	if _, err := m.ToggleReady("1001"); !errors.Is(err, ErrLoggedOut) {
		t.Fatalf("ToggleReady logged out: %v", err)
	}
	for name, err := range map[string]error{
		"Login":       m.Login("9999"),
		"Logout":      m.Logout("9999"),
		"SetReady":    m.SetReady("9999", true, ""),
		"ToggleReady": func() error { _, err := m.ToggleReady("9999"); return err }(),
	} {
		if !errors.Is(err, ErrUnknownAgent) {
			t.Errorf("%s unknown agent: %v, want ErrUnknownAgent", name, err)
		}
	}
	if _, ok := m.Agent("9999"); ok {
		t.Error("Agent(9999) found")
	}
	m.CallEnded("9999") // ignored, no panic
}

func TestLoginIsIdempotentAndStartsIdleTime(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{}, agents("1001"))
	wantState(t, m, "1001", LoggedOut, "")
	login(t, m, clk, "1001")
	s1 := status(t, m, "1001")
	login(t, m, clk, "1001")
	s2 := status(t, m, "1001")
	if s1.State != Ready || s2.State != Ready || !s1.Since.Equal(t0) || !s2.Since.Equal(t0) {
		t.Fatalf("after logins: %+v, %+v", s1, s2)
	}
	if got := m.LoggedIn("q"); got != 1 {
		t.Fatalf("LoggedIn = %d", got)
	}
	if err := m.Logout("1001"); err != nil {
		t.Fatal(err)
	}
	if err := m.Logout("1001"); err != nil {
		t.Fatal(err)
	}
	wantState(t, m, "1001", LoggedOut, "")
	if got := m.LoggedIn("q"); got != 0 {
		t.Fatalf("LoggedIn after logout = %d", got)
	}
}

func TestLogoutWhileRinging(t *testing.T) {
	tests := []struct {
		name      string
		result    Result
		wantAfter State // after the ring's result
	}{
		{"answered: on call, then logged out when the call ends", Answered, OnCall},
		{"not answered: logged out", NoAnswer, LoggedOut},
		{"cancelled: logged out", Cancelled, LoggedOut},
		{"failed: logged out", Failed, LoggedOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, clk := oneQueue(t, DefaultQueueConfig("q"), agents("1001", "1002"))
			login(t, m, clk, "1001", "1002")
			if err := m.SetReady("1002", false, ""); err != nil {
				t.Fatal(err)
			}
			e := enqueue(t, m, "c1")
			mustOffer(t, e)
			if err := m.Logout("1001"); err != nil {
				t.Fatal(err)
			}
			s := status(t, m, "1001")
			if s.State != Ringing || !s.LogoutPending {
				t.Fatalf("after logout while ringing: %+v", s)
			}
			e.Report("1001", tt.result)
			wantState(t, m, "1001", tt.wantAfter, "")
			if tt.result == Answered {
				e.Leave(LeftAnswered)
				m.CallEnded("1001")
				wantState(t, m, "1001", LoggedOut, "")
			}
			mustInvariants(t, m)
		})
	}
}

func TestLogoutOnCallSkipsWrapUpAndLoginAgainCancelsIt(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{WrapUp: time.Minute}, agents("1001"))
	login(t, m, clk, "1001")
	e := enqueue(t, m, "c1")
	mustOffer(t, e)
	e.Report("1001", Answered)
	e.Leave(LeftAnswered)

	_ = m.Logout("1001")
	wantState(t, m, "1001", OnCall, "")
	m.CallEnded("1001")
	wantState(t, m, "1001", LoggedOut, "")

	login(t, m, clk, "1001")
	e = enqueue(t, m, "c2")
	mustOffer(t, e)
	e.Report("1001", Answered)
	_ = m.Logout("1001")
	_ = m.Login("1001") // the phone re-registered
	m.CallEnded("1001")
	wantState(t, m, "1001", WrapUp, "")
}

func TestLogoutInWrapUpOrNotReadyIsImmediate(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{WrapUp: time.Minute}, agents("1001", "1002"))
	login(t, m, clk, "1001", "1002")
	e := enqueue(t, m, "c1")
	mustOffer(t, e)
	e.Report("1001", Answered)
	m.CallEnded("1001")
	_ = m.SetReady("1002", false, "")
	_ = m.Logout("1001")
	_ = m.Logout("1002")
	wantState(t, m, "1001", LoggedOut, "")
	wantState(t, m, "1002", LoggedOut, "")
	if s := status(t, m, "1001"); !s.Until.IsZero() {
		t.Fatalf("logged out agent keeps a deadline: %+v", s)
	}
}

func TestAgentsListsEveryAgentSortedWithTimeInState(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{}, agents("1003", "1001", "1002"))
	login(t, m, clk, "1002")
	got := m.Agents()
	var users []string
	for _, a := range got {
		users = append(users, a.User)
	}
	if !slices.Equal(users, []string{"1001", "1002", "1003"}) {
		t.Fatalf("users %v", users)
	}
	if got[1].State != Ready || !got[1].Since.Equal(t0) || got[1].Name != "Agent 1002" || !slices.Equal(got[1].Queues, []string{"q"}) {
		t.Fatalf("1002: %+v", got[1])
	}
	got[1].Queues[0] = "mutated"
	if s := status(t, m, "1002"); s.Queues[0] != "q" {
		t.Fatal("Agents shares the queue slice with the manager")
	}
	if !slices.Equal(m.Queues(), []string{"q"}) {
		t.Fatalf("Queues = %v", m.Queues())
	}
}

// The agents gauge is read on every metrics scrape; counting must agree
// with Agents and must not copy each agent (thousands on a large floor).
func TestAgentStatesCountsEveryAgentWithoutCopyingThem(t *testing.T) {
	users := make([]string, 500)
	for i := range users {
		users[i] = fmt.Sprintf("%04d", 1000+i)
	}
	m, clk := oneQueue(t, QueueConfig{}, agents(users...))
	login(t, m, clk, "1000", "1001", "1002")
	enqueue(t, m, "c1") // one ready agent is offered the caller and rings
	want := map[State]int{}
	for _, a := range m.Agents() {
		want[a.State]++
	}
	got := m.AgentStates()
	if !maps.Equal(got, want) {
		t.Fatalf("AgentStates = %v, Agents says %v", got, want)
	}
	if got[LoggedOut] != 497 || got[Ringing] != 1 || got[Ready] != 2 {
		t.Fatalf("AgentStates = %v, want 497 logged out, 1 ringing, 2 ready", got)
	}
	if allocs := testing.AllocsPerRun(20, func() { m.AgentStates() }); allocs > 2 {
		t.Fatalf("AgentStates allocates %v times over 500 agents, want one map", allocs)
	}
}

func TestWatchSignalsChangesWithoutBlocking(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{}, agents("1001"))
	w := m.Watch()
	select {
	case <-w:
		t.Fatal("signal before any change")
	default:
	}
	login(t, m, clk, "1001")
	e := enqueue(t, m, "c1") // several changes coalesce into one signal
	select {
	case <-w:
	default:
		t.Fatal("no signal after changes")
	}
	select {
	case <-w:
		t.Fatal("signals not coalesced")
	default:
	}
	e.Leave(LeftAbandoned)
	select {
	case <-w:
	default:
		t.Fatal("no signal after leave")
	}
}

// Counts follows every agent through a queue call and a transfer claim:
// what the overload forecast reads for each new call.
func TestCountsFollowAgentsThroughCallsAndClaims(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{WrapUp: 10 * time.Second}, agents("1001", "1002", "1003"))
	want := func(step string, c StateCounts) {
		t.Helper()
		mustInvariants(t, m)
		if got := m.Counts(); got != c {
			t.Fatalf("%s: Counts = %+v, want %+v", step, got, c)
		}
	}
	want("new", StateCounts{LoggedOut: 3})
	login(t, m, clk, "1001", "1002")
	want("two logged in", StateCounts{LoggedOut: 1, Ready: 2})
	e := enqueue(t, m, "c1")
	o := mustOffer(t, e)
	want("offered", StateCounts{LoggedOut: 1, Ready: 1, Ringing: 1})
	e.Report(o.Agents[0], Answered)
	e.Leave(LeftAnswered)
	want("answered", StateCounts{LoggedOut: 1, Ready: 1, OnCall: 1})
	if err := m.Claim("1002", "q"); err != nil {
		t.Fatal(err)
	}
	want("claimed", StateCounts{LoggedOut: 1, Ringing: 1, OnCall: 1})
	m.Unclaim("1002", false)
	want("claim missed", StateCounts{LoggedOut: 1, Ready: 1, OnCall: 1})
	m.CallEnded(o.Agents[0])
	want("call ended", StateCounts{LoggedOut: 1, Ready: 1, WrapUp: 1})
	if err := m.SetReady("1002", false, ReasonManual); err != nil {
		t.Fatal(err)
	}
	_ = m.Logout(o.Agents[0])
	want("not ready, logged out", StateCounts{LoggedOut: 2, NotReady: 1})
}

// TestPickOffersTheFirstAgentInLongestIdleOrder checks the one-scan choice
// of LongestIdle against a sort of every offerable agent, over agents with
// tied idle times and penalties, some not ready and some avoided.
func TestPickOffersTheFirstAgentInLongestIdleOrder(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(7, 11))
	for trial := range 300 {
		q := &queueState{cfg: QueueConfig{Name: "q", Strategy: LongestIdle}}
		e := &Entry{q: q, avoid: map[string]time.Time{}}
		for range 1 + rng.IntN(40) {
			a := &agent{
				cfg:       AgentConfig{User: fmt.Sprintf("%04d", rng.IntN(10000)), Penalty: rng.IntN(3)},
				state:     []State{Ready, Ready, Ready, OnCall, LoggedOut}[rng.IntN(5)],
				idleSince: now.Add(-time.Duration(rng.IntN(4)) * time.Minute),
			}
			if rng.IntN(6) == 0 {
				e.avoid[a.cfg.User] = now.Add(time.Duration(rng.IntN(3)-1) * time.Second)
			}
			q.agents = append(q.agents, a)
		}
		var want []*agent
		for _, a := range q.agents {
			until, avoided := e.avoid[a.cfg.User]
			if a.state == Ready && (!avoided || !now.Before(until) || q.loggedIn() == 1) {
				want = append(want, a)
			}
		}
		slices.SortStableFunc(want, longestIdleFirst)
		got := q.pick(e, now)
		if len(want) == 0 {
			if len(got) != 0 {
				t.Fatalf("trial %d: picked %s with nobody offerable", trial, got[0].cfg.User)
			}
			continue
		}
		if len(got) != 1 || longestIdleFirst(got[0], want[0]) != 0 {
			t.Fatalf("trial %d: picked %v, want %s (idle since %v, penalty %d)", trial, got, want[0].cfg.User, want[0].idleSince, want[0].cfg.Penalty)
		}

		q.cfg.Strategy = RingAll
		all := q.pick(e, now)
		if len(all) != len(want) {
			t.Fatalf("trial %d: ring_all offered %d agents, want %d", trial, len(all), len(want))
		}
		for i := range all {
			if longestIdleFirst(all[i], want[i]) != 0 {
				t.Fatalf("trial %d: ring_all order at %d: %s, want %s", trial, i, all[i].cfg.User, want[i].cfg.User)
			}
		}
	}
}

// TestPickAmongThousandsOfAgentsAllocatesOnlyTheOffer: the choice runs
// under the manager's lock for every caller; it must not copy the agents.
func TestPickAmongThousandsOfAgentsAllocatesOnlyTheOffer(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	q := &queueState{cfg: QueueConfig{Name: "q", Strategy: LongestIdle}}
	for i := range 2000 {
		q.agents = append(q.agents, &agent{cfg: AgentConfig{User: fmt.Sprintf("a%04d", i)}, state: Ready,
			idleSince: now.Add(-time.Duration((i*7919)%2000) * time.Second)})
	}
	e := &Entry{q: q, avoid: map[string]time.Time{}}
	var got []*agent
	allocs := testing.AllocsPerRun(20, func() { got = q.pick(e, now) })
	if allocs > 1 {
		t.Errorf("pick among 2,000 ready agents: %.0f allocations, want at most 1 (the offer)", allocs)
	}
	if len(got) != 1 || got[0].idleSince != now.Add(-1999*time.Second) {
		t.Errorf("picked %v, want the agent idle 1,999 s", got)
	}
}
