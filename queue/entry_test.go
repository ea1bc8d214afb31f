package queue

import (
	"slices"
	"testing"
	"time"
)

// R1: an agent who does not answer within the ring budget is skipped at
// once and, after MaxNoAnswer misses, set not ready.
func TestRingNoAnswerOffersTheNextAgentAtOnce(t *testing.T) {
	m, clk := oneQueue(t, DefaultQueueConfig("q"), agents("1001", "1002"))
	login(t, m, clk, "1001", "1002")
	e := enqueue(t, m, "c1")
	if o := mustOffer(t, e); o.Agents[0] != "1001" {
		t.Fatalf("offered %v", o.Agents)
	}
	clk.Advance(15 * time.Second) // three ring cycles
	e.Report("1001", NoAnswer)
	if o := mustOffer(t, e); o.Agents[0] != "1002" {
		t.Fatalf("after no answer offered %v, want 1002", o.Agents)
	}
	s := status(t, m, "1001")
	if s.State != Ready || s.NoAnswers != 1 {
		t.Fatalf("1001 after one miss: %+v", s)
	}
}

func TestMissedRingsSetTheAgentNotReady(t *testing.T) {
	tests := []struct {
		name        string
		maxNoAnswer int
		misses      int
		want        State
		wantReason  string
	}{
		{"one miss of two keeps the agent ready", 2, 1, Ready, ""},
		{"two misses of two pause the agent", 2, 2, NotReady, ReasonRingNoAnswer},
		{"one miss of one pauses the agent", 1, 1, NotReady, ReasonRingNoAnswer},
		{"zero never pauses", 0, 5, Ready, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, clk := oneQueue(t, QueueConfig{MaxNoAnswer: tt.maxNoAnswer}, agents("1001"))
			login(t, m, clk, "1001")
			for i := range tt.misses {
				// A new caller each time, so RetryAvoid does not matter.
				e := enqueue(t, m, "c")
				mustOffer(t, e)
				e.Report("1001", NoAnswer)
				e.Leave(LeftAbandoned)
				if s := status(t, m, "1001"); s.NoAnswers != i+1 {
					t.Fatalf("after miss %d NoAnswers = %d", i+1, s.NoAnswers)
				}
			}
			wantState(t, m, "1001", tt.want, tt.wantReason)
			if s := status(t, m, "1001"); s.State == NotReady && !s.Until.IsZero() {
				t.Fatalf("ring-no-answer pause must last until the agent acts: %+v", s)
			}
		})
	}
}

func TestAnsweredCallResetsMissedRings(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{MaxNoAnswer: 2}, agents("1001"))
	login(t, m, clk, "1001")
	e := enqueue(t, m, "c1")
	mustOffer(t, e)
	e.Report("1001", NoAnswer)
	e.Leave(LeftAbandoned)
	e = enqueue(t, m, "c2")
	mustOffer(t, e)
	e.Report("1001", Answered)
	e.Leave(LeftAnswered)
	m.CallEnded("1001")
	if s := status(t, m, "1001"); s.NoAnswers != 0 || s.State != Ready {
		t.Fatalf("after answered call: %+v", s)
	}
}

func TestNoAnswerDelayKeepsTheAgentOutThenReady(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{MaxNoAnswer: 3, NoAnswerDelay: 5 * time.Second}, agents("1001"))
	login(t, m, clk, "1001")
	e := enqueue(t, m, "c1")
	mustOffer(t, e)
	e.Report("1001", NoAnswer)
	s := status(t, m, "1001")
	if s.State != NotReady || s.Reason != ReasonRingNoAnswer || !s.Until.Equal(clk.Now().Add(5*time.Second)) {
		t.Fatalf("after miss: %+v", s)
	}
	clk.Advance(5 * time.Second)
	m.Tick()
	// Ready again, and as the only agent logged in it is offered to the
	// same caller despite RetryAvoid.
	wantState(t, m, "1001", Ringing, "")
	mustOffer(t, e)
}

func TestSameAgentIsNotReofferedToTheSameCallerWithinRetryAvoid(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{MaxNoAnswer: -1}, agents("1001", "1002"))
	login(t, m, clk, "1001", "1002")
	if err := m.SetReady("1002", false, ""); err != nil {
		t.Fatal(err)
	}
	e := enqueue(t, m, "c1")
	mustOffer(t, e)
	e.Report("1001", NoAnswer)
	wantState(t, m, "1001", Ready, "")
	mustNoOffer(t, e)

	// Another caller may have 1001 meanwhile.
	other := enqueue(t, m, "c2")
	mustOffer(t, other)
	other.Report("1001", Cancelled)
	other.Leave(LeftAbandoned)
	mustNoOffer(t, e)

	clk.Advance(29 * time.Second)
	m.Tick()
	mustNoOffer(t, e)
	clk.Advance(time.Second)
	m.Tick()
	if o := mustOffer(t, e); o.Agents[0] != "1001" {
		t.Fatalf("after RetryAvoid offered %v", o.Agents)
	}
}

func TestOnlyAgentLoggedInIsReofferedDespiteRetryAvoid(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{MaxNoAnswer: -1}, agents("1001", "1002"))
	login(t, m, clk, "1001")
	e := enqueue(t, m, "c1")
	mustOffer(t, e)
	e.Report("1001", NoAnswer)
	if o := mustOffer(t, e); o.Agents[0] != "1001" {
		t.Fatalf("offered %v", o.Agents)
	}
}

func TestRetryAvoidLetsTheCallerBehindTakeTheAvoidedAgent(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{MaxNoAnswer: -1}, agents("1001", "1002"))
	login(t, m, clk, "1001", "1002")
	_ = m.SetReady("1002", false, "")
	first := enqueue(t, m, "c1")
	second := enqueue(t, m, "c2")
	mustOffer(t, first)
	first.Report("1001", NoAnswer)
	mustNoOffer(t, first)
	if o := mustOffer(t, second); o.Agents[0] != "1001" {
		t.Fatalf("second caller offered %v", o.Agents)
	}
	// 1002 comes back: the first caller, oldest, gets them.
	_ = m.SetReady("1002", true, "")
	if o := mustOffer(t, first); o.Agents[0] != "1002" {
		t.Fatalf("first caller offered %v", o.Agents)
	}
}

func TestFailedRingsBackOffPerCause(t *testing.T) {
	tests := []struct {
		name       string
		cfg        QueueConfig
		result     Result
		wantReason string
		wantFor    time.Duration // 0: ready at once
	}{
		{"busy backs off for BusyDelay", QueueConfig{}, Busy, ReasonBusy, 10 * time.Second},
		{"rejected backs off for RejectDelay", QueueConfig{RejectDelay: 45 * time.Second}, Rejected, ReasonRejected, 45 * time.Second},
		{"failed backs off as busy", QueueConfig{BusyDelay: 20 * time.Second}, Failed, ReasonBusy, 20 * time.Second},
		{"unknown result backs off as failed", QueueConfig{}, Result("weird"), ReasonBusy, 10 * time.Second},
		{"busy with no delay is ready at once", QueueConfig{BusyDelay: -1}, Busy, "", 0},
		{"cancelled is ready at once without penalty", QueueConfig{}, Cancelled, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, clk := oneQueue(t, tt.cfg, agents("1001"))
			login(t, m, clk, "1001")
			e := enqueue(t, m, "c1")
			mustOffer(t, e)
			e.Report("1001", tt.result)
			e.Leave(LeftAbandoned)
			s := status(t, m, "1001")
			if s.NoAnswers != 0 {
				t.Fatalf("%s counted as a missed ring", tt.result)
			}
			if tt.wantFor == 0 {
				if s.State != Ready {
					t.Fatalf("state %s(%s), want ready", s.State, s.Reason)
				}
				return
			}
			if s.State != NotReady || s.Reason != tt.wantReason || !s.Until.Equal(clk.Now().Add(tt.wantFor)) {
				t.Fatalf("after %s: %+v", tt.result, s)
			}
			next := enqueue(t, m, "c2")
			clk.Advance(tt.wantFor - time.Millisecond)
			m.Tick()
			wantState(t, m, "1001", NotReady, tt.wantReason)
			mustNoOffer(t, next)
			clk.Advance(time.Millisecond)
			m.Tick()
			wantState(t, m, "1001", Ringing, "")
			mustOffer(t, next)
		})
	}
}

func TestManualNotReadyOverridesABackOff(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{}, agents("1001"))
	login(t, m, clk, "1001")
	e := enqueue(t, m, "c1")
	mustOffer(t, e)
	e.Report("1001", Busy)
	_ = m.SetReady("1001", false, "")
	clk.Advance(time.Hour)
	m.Tick()
	wantState(t, m, "1001", NotReady, ReasonManual)
}

func TestRingAllOffersEveryReadyAgentAndLosersReturnToReady(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{Strategy: RingAll}, agents("1001", "1002", "1003", "1004"))
	login(t, m, clk, "1003", "1001", "1002", "1004")
	_ = m.SetReady("1004", false, "")
	e := enqueue(t, m, "c1")
	o := mustOffer(t, e)
	if !slices.Equal(o.Agents, []string{"1003", "1001", "1002"}) {
		t.Fatalf("offered %v, want every ready agent, longest idle first", o.Agents)
	}
	for _, u := range o.Agents {
		wantState(t, m, u, Ringing, "")
	}
	second := enqueue(t, m, "c2")
	mustNoOffer(t, second) // everyone is reserved

	e.Report("1002", Answered)
	e.Report("1001", Cancelled)
	// 1001 is free again: the second caller gets them while 1003 still rings.
	if o := mustOffer(t, second); !slices.Equal(o.Agents, []string{"1001"}) {
		t.Fatalf("second caller offered %v", o.Agents)
	}
	e.Report("1003", Cancelled)
	wantState(t, m, "1002", OnCall, "")
	for _, u := range []string{"1001", "1003"} {
		if s := status(t, m, u); s.NoAnswers != 0 {
			t.Fatalf("%s penalised for losing a ring-all: %+v", u, s)
		}
	}
	wantState(t, m, "1003", Ready, "")
	e.Leave(LeftAnswered)
	mustInvariants(t, m)
}

func TestNoNewOfferAfterAnswered(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{Strategy: RingAll}, agents("1001", "1002"))
	login(t, m, clk, "1001", "1002")
	e := enqueue(t, m, "c1")
	mustOffer(t, e)
	e.Report("1001", Answered)
	e.Report("1002", Cancelled)
	mustNoOffer(t, e)
	wantState(t, m, "1002", Ready, "")
}

func TestReportForAnAgentNotOfferedIsIgnored(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{}, agents("1001", "1002"))
	login(t, m, clk, "1001", "1002")
	e := enqueue(t, m, "c1")
	mustOffer(t, e)
	e.Report("1002", Answered)
	e.Report("nobody", NoAnswer)
	wantState(t, m, "1002", Ready, "")
	wantState(t, m, "1001", Ringing, "")
	mustInvariants(t, m)
}

func TestLeaveRecordsWaitAndShortAbandons(t *testing.T) {
	tests := []struct {
		name      string
		wait      time.Duration
		reason    LeaveReason
		wantShort bool
	}{
		{"abandon under five seconds is short", 4 * time.Second, LeftAbandoned, true},
		{"abandon at five seconds is not short", 5 * time.Second, LeftAbandoned, false},
		{"long abandon is not short", 2 * time.Minute, LeftAbandoned, false},
		{"quick timeout is not an abandon", time.Second, LeftTimeout, false},
		{"quick answer is not an abandon", time.Second, LeftAnswered, false},
		{"closed is not an abandon", 0, LeftClosed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, clk := oneQueue(t, QueueConfig{}, nil)
			enqueue(t, m, "ahead")
			e := enqueue(t, m, "c1")
			clk.Advance(tt.wait)
			info := e.Leave(tt.reason)
			want := LeaveInfo{Wait: tt.wait, Short: tt.wantShort, PositionOnEntry: 2}
			if info != want {
				t.Fatalf("Leave = %+v, want %+v", info, want)
			}
			clk.Advance(time.Minute)
			if again := e.Leave(LeftClosed); again != want {
				t.Fatalf("second Leave = %+v, want the first result", again)
			}
			if e.Position() != 0 {
				t.Fatalf("position after leave %d", e.Position())
			}
			if n, _ := m.Waiting("q"); n != 1 {
				t.Fatalf("Waiting = %d after leave", n)
			}
		})
	}
}

func TestLeaveCancelsTheOutstandingOfferWithoutPenalty(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{Strategy: RingAll, MaxNoAnswer: 1}, agents("1001", "1002"))
	login(t, m, clk, "1001", "1002")
	e := enqueue(t, m, "c1")
	// The caller hangs up before reading the offer.
	e.Leave(LeftAbandoned)
	if _, ok := <-e.Offers(); ok {
		t.Fatal("offer still readable after leave")
	}
	for _, u := range []string{"1001", "1002"} {
		s := status(t, m, u)
		if s.State != Ready || s.NoAnswers != 0 {
			t.Fatalf("%s after caller left: %+v", u, s)
		}
	}
	// Late reports from the departed caller's flow change nothing.
	e.Report("1001", NoAnswer)
	wantState(t, m, "1001", Ready, "")
	mustInvariants(t, m)
}

func TestLeaveAfterAnswerKeepsTheAgentOnCall(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{Strategy: RingAll}, agents("1001", "1002"))
	login(t, m, clk, "1001", "1002")
	e := enqueue(t, m, "c1")
	mustOffer(t, e)
	e.Report("1002", Answered)
	e.Leave(LeftAnswered) // 1001 never reported: released as cancelled
	wantState(t, m, "1002", OnCall, "")
	wantState(t, m, "1001", Ready, "")
}

func TestWaitingReportsCountAndOldest(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{}, nil)
	if n, oldest := m.Waiting("q"); n != 0 || oldest != 0 {
		t.Fatalf("empty queue: %d, %s", n, oldest)
	}
	first := enqueue(t, m, "c1")
	clk.Advance(10 * time.Second)
	enqueue(t, m, "c2")
	clk.Advance(5 * time.Second)
	if n, oldest := m.Waiting("q"); n != 2 || oldest != 15*time.Second {
		t.Fatalf("Waiting = %d, %s; want 2, 15s", n, oldest)
	}
	first.Leave(LeftAbandoned)
	if n, oldest := m.Waiting("q"); n != 1 || oldest != 5*time.Second {
		t.Fatalf("Waiting = %d, %s; want 1, 5s", n, oldest)
	}
	if n, _ := m.Waiting("nope"); n != 0 {
		t.Fatal("unknown queue has callers")
	}
}

func TestEstimatedWait(t *testing.T) {
	type answered struct {
		wait     time.Duration
		position int
	}
	tests := []struct {
		name     string
		loggedIn int // agents logged in, all on calls unless ready > 0
		ready    int
		history  []answered
		age      time.Duration // how long ago the history happened
		position int
		want     time.Duration
	}{
		{"no history: handle time per agent logged in", 2, 0, nil, 0, 3, 3 * time.Minute * 3 / 2},
		{"no history and no agents: handle time per place", 0, 0, nil, 0, 2, 6 * time.Minute},
		{"agent ready for the next caller: zero", 2, 1, nil, 0, 1, 0},
		{"fewer ready than places ahead: not zero", 2, 1, nil, 0, 2, 3 * time.Minute},
		{"history: average wait per place in line", 1, 0,
			[]answered{{30 * time.Second, 1}, {90 * time.Second, 2}}, 0, 3, 120 * time.Second}, // 120 s over 3 places = 40 s a place
		{"history older than an hour is ignored", 1, 0,
			[]answered{{30 * time.Second, 1}}, time.Hour + time.Second, 1, 3 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users := []string{"a1", "a2", "a3", "a4"}
			m, clk := oneQueue(t, QueueConfig{}, agents(users...))
			// Build history with a dedicated agent flow: a1 answers
			// each past caller placed behind position-1 others.
			if len(tt.history) > 0 {
				login(t, m, clk, "a1")
				_ = m.SetReady("a1", false, "")
				for _, h := range tt.history {
					var ahead []*Entry
					for range h.position - 1 {
						ahead = append(ahead, enqueue(t, m, "ahead"))
					}
					e := enqueue(t, m, "past")
					if e.PositionOnEntry() != h.position {
						t.Fatalf("setup position %d", e.PositionOnEntry())
					}
					for _, a := range ahead {
						a.Leave(LeftClosed)
					}
					clk.Advance(h.wait)
					_ = m.SetReady("a1", true, "")
					mustOffer(t, e)
					e.Report("a1", Answered)
					e.Leave(LeftAnswered)
					m.CallEnded("a1")
					_ = m.SetReady("a1", false, "")
				}
				_ = m.Logout("a1")
				clk.Advance(tt.age)
			}
			for i := range tt.loggedIn {
				login(t, m, clk, users[i])
				if i >= tt.ready {
					_ = m.SetReady(users[i], false, "")
				}
			}
			if got := m.EstimatedWait("q", tt.position); got != tt.want {
				t.Fatalf("EstimatedWait(q, %d) = %s, want %s", tt.position, got, tt.want)
			}
		})
	}
}

func TestEstimatedWaitUsesOnlyTheLastTwentyAnsweredCalls(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{}, agents("1001"))
	login(t, m, clk, "1001")
	_ = m.SetReady("1001", false, "")
	for i := range 25 {
		e := enqueue(t, m, "c")
		if i < 5 {
			clk.Advance(10 * time.Minute) // slow old calls, pushed out
		} else {
			clk.Advance(20 * time.Second)
		}
		_ = m.SetReady("1001", true, "")
		mustOffer(t, e)
		e.Report("1001", Answered)
		e.Leave(LeftAnswered)
		m.CallEnded("1001")
		_ = m.SetReady("1001", false, "")
	}
	if got := m.EstimatedWait("q", 2); got != 40*time.Second {
		t.Fatalf("EstimatedWait = %s, want 40s", got)
	}
	if got := m.EstimatedWait("nope", 1); got != 0 {
		t.Fatalf("unknown queue: %s", got)
	}
}
