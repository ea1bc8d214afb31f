package queue

import (
	"errors"
	"testing"
	"time"
)

// R4: a transfer target is reserved while it rings, so the queue never
// offers that phone a caller at the same time.
func TestClaimedAgentGetsNoQueueOffers(t *testing.T) {
	m, clk := oneQueue(t, DefaultQueueConfig("q"), agents("1001"))
	login(t, m, clk, "1001")
	if err := m.Claim("1001", "q"); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	wantState(t, m, "1001", Ringing, "")
	e := enqueue(t, m, "c1")
	select {
	case o := <-e.Offers():
		t.Fatalf("a claimed agent was offered to a caller: %v", o.Agents)
	default:
	}
	mustInvariants(t, m)
	m.Unclaim("1001", false)
	if o := mustOffer(t, e); o.Agents[0] != "1001" {
		t.Fatalf("after the claim ended offered %v", o.Agents)
	}
}

func TestClaimOfABusyAgentFails(t *testing.T) {
	tests := []struct {
		name  string
		setup func(m *Manager, clk *fakeClock)
		want  error
	}{
		{"ringing for a caller", func(m *Manager, clk *fakeClock) { mustOffer(t, enqueue(t, m, "c1")) }, ErrAgentBusy},
		{"on a call", func(m *Manager, clk *fakeClock) {
			e := enqueue(t, m, "c1")
			mustOffer(t, e)
			e.Report("1001", Answered)
		}, ErrAgentBusy},
		{"already claimed", func(m *Manager, clk *fakeClock) { _ = m.Claim("1001", "") }, ErrAgentBusy},
		{"logged out", func(m *Manager, clk *fakeClock) { _ = m.Logout("1001") }, ErrLoggedOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, clk := oneQueue(t, DefaultQueueConfig("q"), agents("1001"))
			login(t, m, clk, "1001")
			tt.setup(m, clk)
			if err := m.Claim("1001", "q"); !errors.Is(err, tt.want) {
				t.Fatalf("Claim = %v, want %v", err, tt.want)
			}
		})
	}
	m, _ := oneQueue(t, DefaultQueueConfig("q"), agents("1001"))
	if err := m.Claim("nobody", "q"); !errors.Is(err, ErrUnknownAgent) {
		t.Fatalf("Claim of an unknown user = %v", err)
	}
}

// A transfer target who answers is on a call and gets the queue's
// wrap-up when it ends, like a queue call.
func TestAnsweredClaimIsACallWithWrapUp(t *testing.T) {
	m, clk := oneQueue(t, QueueConfig{WrapUp: 10 * time.Second}, agents("1001"))
	login(t, m, clk, "1001")
	if err := m.Claim("1001", ""); err != nil {
		t.Fatal(err)
	}
	mustInvariants(t, m)
	m.Unclaim("1001", true)
	wantState(t, m, "1001", OnCall, "")
	mustInvariants(t, m)
	m.CallEnded("1001")
	wantState(t, m, "1001", WrapUp, "")
	clk.Advance(10 * time.Second)
	m.Tick()
	wantState(t, m, "1001", Ready, "")
}

// A missed transfer is no penalty: the agent is back in the state they
// had, a not-ready colleague stays not ready, and a logout asked for
// while ringing applies.
func TestUnansweredClaimRestoresTheAgent(t *testing.T) {
	m, clk := oneQueue(t, DefaultQueueConfig("q"), agents("1001", "1002", "1003"))
	login(t, m, clk, "1001", "1002", "1003")
	if err := m.SetReady("1002", false, ReasonManual); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"1001", "1002", "1003"} {
		if err := m.Claim(u, "q"); err != nil {
			t.Fatalf("Claim(%s): %v", u, err)
		}
	}
	_ = m.Logout("1003")
	for _, u := range []string{"1001", "1002", "1003"} {
		m.Unclaim(u, false)
	}
	wantState(t, m, "1001", Ready, "")
	wantState(t, m, "1002", NotReady, ReasonManual)
	wantState(t, m, "1003", LoggedOut, "")
	if s := status(t, m, "1001"); s.NoAnswers != 0 {
		t.Fatalf("a missed transfer counted as a missed ring: %+v", s)
	}
}

// R4: a caller whose transfer failed after the agent left goes back to
// the front of the queue, ahead of callers who arrived earlier.
func TestEnqueueFrontServesTheReturningCallerFirst(t *testing.T) {
	m, clk := oneQueue(t, DefaultQueueConfig("q"), agents("1001"))
	login(t, m, clk, "1001")
	if err := m.SetReady("1001", false, ReasonManual); err != nil {
		t.Fatal(err)
	}
	first := enqueue(t, m, "early")
	second := enqueue(t, m, "later")
	back, err := m.EnqueueFront("q", "returning")
	if err != nil {
		t.Fatal(err)
	}
	back2, _ := m.EnqueueFront("q", "returning-2")
	if got := []int{back.Position(), back2.Position(), first.Position(), second.Position()}; !equal(got, []int{1, 2, 3, 4}) {
		t.Fatalf("positions returning, returning-2, early, later = %v", got)
	}
	if err := m.SetReady("1001", true, ""); err != nil {
		t.Fatal(err)
	}
	if o := mustOffer(t, back); o.Agents[0] != "1001" {
		t.Fatalf("the returning caller was not offered first: %v", o.Agents)
	}
	select {
	case <-first.Offers():
		t.Fatal("the earlier arrival was offered before the returning caller")
	default:
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
