package queue

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// holders records which caller holds which agent, from reading an offer
// until the ring's result (or, if answered, until the call ended), so a
// second offer of a held agent is caught as it is read.
type holders struct {
	mu   sync.Mutex
	by   map[string]string
	errs []string
}

func (h *holders) take(caller string, users []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, u := range users {
		if other, ok := h.by[u]; ok {
			h.errs = append(h.errs, fmt.Sprintf("agent %s offered to %s while held by %s", u, caller, other))
		}
		h.by[u] = caller
	}
}

func (h *holders) drop(user string) {
	h.mu.Lock()
	delete(h.by, user)
	h.mu.Unlock()
}

func (h *holders) fail(format string, args ...any) {
	h.mu.Lock()
	h.errs = append(h.errs, fmt.Sprintf(format, args...))
	h.mu.Unlock()
}

// Many callers enqueue, ring, report and leave at once while agents toggle
// and the clock runs: no agent is ever in two offers, the bookkeeping stays
// consistent, and every caller who waits is eventually answered.
func TestConcurrentCallersNeverShareAnAgentAndAllGetServed(t *testing.T) {
	for _, strategy := range []Strategy{LongestIdle, RingAll} {
		t.Run(string(strategy), func(t *testing.T) {
			const callers = 150
			users := []string{"a1", "a2", "a3", "a4", "a5", "a6"}
			m, clk := oneQueue(t, QueueConfig{
				Strategy: strategy, MaxNoAnswer: -1, RetryAvoid: 2 * time.Second,
				BusyDelay: time.Second, RejectDelay: time.Second, NoAnswerDelay: 200 * time.Millisecond,
				WrapUp: 300 * time.Millisecond,
			}, agents(users...))
			for _, u := range users {
				if err := m.Login(u); err != nil {
					t.Fatal(err)
				}
			}
			h := &holders{by: map[string]string{}}
			stop := make(chan struct{})
			var bg sync.WaitGroup

			// The owner's ticker, on a fast fake clock.
			bg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					clk.Advance(50 * time.Millisecond)
					m.Tick()
					if err := invariants(m); err != nil {
						h.fail("invariants: %v", err)
					}
					time.Sleep(200 * time.Microsecond)
				}
			})
			// An agent toggling ready, and readers of every figure.
			bg.Go(func() {
				r := rand.New(rand.NewPCG(1, 2))
				for {
					select {
					case <-stop:
						return
					default:
					}
					_, _ = m.ToggleReady(users[r.IntN(len(users))])
					_ = m.Agents()
					_, _ = m.Waiting("q")
					_ = m.EstimatedWait("q", 3)
					time.Sleep(time.Millisecond)
				}
			})

			var served, abandoned atomic.Int64
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(i), 99))
					id := fmt.Sprintf("c%d", i)
					e, err := m.Enqueue("q", id)
					if err != nil {
						h.fail("enqueue: %v", err)
						return
					}
					var abandon <-chan time.Time
					if r.IntN(5) == 0 {
						abandon = time.After(time.Duration(r.IntN(20)) * time.Millisecond)
					}
					deadline := time.After(20 * time.Second)
					for {
						select {
						case <-abandon:
							e.Leave(LeftAbandoned)
							abandoned.Add(1)
							return
						case <-deadline:
							h.fail("%s never answered (position %d)", id, e.Position())
							e.Leave(LeftTimeout)
							return
						case o, ok := <-e.Offers():
							if !ok {
								h.fail("%s: offers closed while waiting", id)
								return
							}
							if len(o.Agents) == 0 {
								h.fail("%s: empty offer", id)
							}
							h.take(id, o.Agents)
							time.Sleep(time.Duration(r.IntN(300)) * time.Microsecond) // ringing
							winner := ""
							if r.IntN(3) > 0 {
								winner = o.Agents[r.IntN(len(o.Agents))]
							}
							for _, u := range o.Agents {
								if u == winner {
									continue
								}
								res := []Result{NoAnswer, Busy, Rejected, Failed, Cancelled}[r.IntN(5)]
								if winner != "" {
									res = Cancelled
								}
								h.drop(u)
								e.Report(u, res)
							}
							if winner == "" {
								continue
							}
							e.Report(winner, Answered)
							e.Leave(LeftAnswered)
							served.Add(1)
							time.Sleep(time.Duration(r.IntN(500)) * time.Microsecond) // talking
							h.drop(winner)
							m.CallEnded(winner)
							return
						}
					}
				})
			}
			wg.Wait()
			close(stop)
			bg.Wait()

			for _, err := range h.errs {
				t.Error(err)
			}
			if got := served.Load() + abandoned.Load(); got != callers {
				t.Errorf("served %d + abandoned %d != %d callers", served.Load(), abandoned.Load(), callers)
			}
			if n, _ := m.Waiting("q"); n != 0 {
				t.Errorf("%d callers still waiting", n)
			}
			// Once every delay has run out, nobody is left ringing or on a call.
			clk.Advance(time.Minute)
			m.Tick()
			for _, s := range m.Agents() {
				if s.State != Ready && s.State != NotReady {
					t.Errorf("agent %s left %s", s.User, s.State)
				}
				if s.State == NotReady && s.Reason != ReasonManual {
					t.Errorf("agent %s not ready (%s) after every delay ended", s.User, s.Reason)
				}
			}
			mustInvariants(t, m)
			t.Logf("%s: served %d, abandoned %d", strategy, served.Load(), abandoned.Load())
		})
	}
}
