package queue

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// agents returns configs for users all serving queue "q".
func agents(users ...string) []AgentConfig {
	out := make([]AgentConfig, len(users))
	for i, u := range users {
		out[i] = AgentConfig{User: u, Name: "Agent " + u, Queues: []string{"q"}}
	}
	return out
}

// oneQueue is a manager with queue "q" (from qc, named "q") and agents.
func oneQueue(t testing.TB, qc QueueConfig, ag []AgentConfig) (*Manager, *fakeClock) {
	t.Helper()
	qc.Name = "q"
	clk := newFakeClock()
	m, err := New(Config{Queues: []QueueConfig{qc}, Agents: ag}, clk, WithLogger(quiet))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m, clk
}

// login logs users in one second apart, so the first is idle longest.
func login(t testing.TB, m *Manager, clk *fakeClock, users ...string) {
	t.Helper()
	for _, u := range users {
		if err := m.Login(u); err != nil {
			t.Fatalf("Login(%s): %v", u, err)
		}
		clk.Advance(time.Second)
	}
}

func enqueue(t testing.TB, m *Manager, callID string) *Entry {
	t.Helper()
	e, err := m.Enqueue("q", callID)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	return e
}

// mustOffer returns the offer waiting for e; offers are delivered
// synchronously by the call that makes them, so none waiting is a failure.
func mustOffer(t testing.TB, e *Entry) Offer {
	t.Helper()
	select {
	case o, ok := <-e.Offers():
		if !ok {
			t.Fatalf("%s: offers closed", e.CallID())
		}
		return o
	default:
		t.Fatalf("%s: no offer", e.CallID())
		return Offer{}
	}
}

func mustNoOffer(t testing.TB, e *Entry) {
	t.Helper()
	select {
	case o, ok := <-e.Offers():
		if ok {
			t.Fatalf("%s: unexpected offer %v", e.CallID(), o.Agents)
		}
	default:
	}
}

func status(t testing.TB, m *Manager, user string) AgentStatus {
	t.Helper()
	s, ok := m.Agent(user)
	if !ok {
		t.Fatalf("Agent(%s) not found", user)
	}
	return s
}

func wantState(t testing.TB, m *Manager, user string, s State, reason string) {
	t.Helper()
	got := status(t, m, user)
	if got.State != s || got.Reason != reason {
		t.Fatalf("agent %s: %s(%s), want %s(%s)", user, got.State, got.Reason, s, reason)
	}
}

// invariants checks the Manager's internal bookkeeping: an agent is
// Ringing exactly while one outstanding offer holds it, and every entry in
// a queue is live.
func invariants(m *Manager) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for u, a := range m.agents {
		if (a.state == Ringing) != (a.offer != nil || a.claim != nil) {
			return fmt.Errorf("agent %s: state %s but offer %v, claim %v", u, a.state, a.offer != nil, a.claim != nil)
		}
		if a.offer != nil && a.claim != nil {
			return fmt.Errorf("agent %s both offered and claimed", u)
		}
		if a.offer != nil {
			if a.offer.left {
				return fmt.Errorf("agent %s held by a departed entry", u)
			}
			if a.offer.offer[u] != a {
				return fmt.Errorf("agent %s not in its entry's offer", u)
			}
		}
		if a.state == LoggedOut && (a.pendingLogout || a.pendingNotReady != "") {
			return fmt.Errorf("agent %s logged out with something pending", u)
		}
		if !a.until.IsZero() && a.state != WrapUp && a.state != NotReady {
			return fmt.Errorf("agent %s: until set in state %s", u, a.state)
		}
	}
	for _, q := range m.order {
		for i, e := range q.entries {
			if e.left {
				return fmt.Errorf("departed entry still in queue %s", q.cfg.Name)
			}
			if i > 0 && q.entries[i-1].seq > e.seq {
				return fmt.Errorf("queue %s out of arrival order", q.cfg.Name)
			}
			for u, a := range e.offer {
				if a.offer != e {
					return fmt.Errorf("entry offers agent %s held elsewhere", u)
				}
			}
		}
	}
	if !slices.IsSorted(m.users) {
		return fmt.Errorf("users not sorted")
	}
	counted := map[State]int{}
	for _, a := range m.agents {
		counted[a.state]++
	}
	for _, s := range []State{LoggedOut, Ready, Ringing, OnCall, WrapUp, NotReady} {
		if counted[s] != m.inState[s] {
			return fmt.Errorf("%d agents %s, Counts says %d", counted[s], s, m.inState[s])
		}
	}
	return nil
}

func mustInvariants(t testing.TB, m *Manager) {
	t.Helper()
	if err := invariants(m); err != nil {
		t.Fatal(err)
	}
}
