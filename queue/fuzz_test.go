package queue

import (
	"slices"
	"testing"
	"time"
)

// FuzzOperations drives the Manager with arbitrary sequences of agent,
// caller and clock operations and checks after every step that it neither
// panics nor loses track of an agent: ringing agents are held by exactly one
// live offer, an entry never has two offers outstanding, and none follows
// an answer.
func FuzzOperations(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 6, 0, 7, 1, 7, 0, 8, 0, 9, 9})
	f.Add([]byte{0, 0, 0, 1, 0, 2, 6, 1, 6, 1, 7, 3, 7, 4, 3, 0, 5, 1, 9, 200})
	f.Add([]byte{6, 0, 6, 1, 0, 0, 1, 0, 7, 0, 0, 1, 4, 1, 9, 9, 8, 1, 8, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		clk := newFakeClock()
		m, err := New(Config{
			Queues: []QueueConfig{
				{Name: "q", MaxNoAnswer: 2, WrapUp: 2 * time.Second},
				{Name: "all", Strategy: RingAll, NoAnswerDelay: time.Second},
			},
			Agents: []AgentConfig{
				{User: "a", Queues: []string{"q"}},
				{User: "b", Queues: []string{"q", "all"}},
				{User: "c", Queues: []string{"all"}},
				{User: "d", Queues: []string{"q", "all"}, Penalty: 1},
			},
		}, clk, WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		users := []string{"a", "b", "c", "d", "nobody"}
		queues := []string{"q", "all", "nope"}
		results := []Result{Answered, NoAnswer, Busy, Rejected, Cancelled, Failed, "bogus"}
		type caller struct {
			e        *Entry
			pending  []string
			answered bool
			left     bool
		}
		var callers []*caller
		pickCaller := func(b byte) *caller {
			if len(callers) == 0 {
				return nil
			}
			return callers[int(b)%len(callers)]
		}
		for i := 0; i+1 < len(data) && i < 400; i += 2 {
			op, arg := data[i]%10, data[i+1]
			user := users[int(arg)%len(users)]
			switch op {
			case 0:
				_ = m.Login(user)
			case 1:
				_ = m.Logout(user)
			case 2:
				_ = m.SetReady(user, true, "")
			case 3:
				_ = m.SetReady(user, false, "")
			case 4:
				_, _ = m.ToggleReady(user)
			case 5:
				m.CallEnded(user)
			case 6:
				if e, err := m.Enqueue(queues[int(arg)%len(queues)], "c"); err == nil {
					callers = append(callers, &caller{e: e})
				}
			case 7:
				c := pickCaller(arg)
				if c == nil {
					break
				}
				r := results[int(arg/8)%len(results)]
				u, offered := user, len(c.pending) > 0
				if offered {
					u = c.pending[0]
					c.pending = c.pending[1:]
				}
				c.e.Report(u, r)
				if r == Answered && offered && !c.left {
					c.answered = true
				}
			case 8:
				if c := pickCaller(arg); c != nil {
					c.e.Leave(LeaveReason([]string{"answered", "abandoned", "timeout", "closed"}[arg%4]))
					c.left, c.pending = true, nil
				}
			case 9:
				clk.Advance(time.Duration(arg) * 100 * time.Millisecond)
				m.Tick()
			}
			for _, c := range callers {
				if c.left {
					continue
				}
				select {
				case o := <-c.e.Offers():
					if len(c.pending) > 0 || c.answered {
						t.Fatalf("step %d: offer %v while %v outstanding (answered %v)", i, o.Agents, c.pending, c.answered)
					}
					if len(o.Agents) == 0 || slices.Contains(o.Agents, "") {
						t.Fatalf("step %d: bad offer %v", i, o.Agents)
					}
					c.pending = o.Agents
				default:
				}
			}
			if err := invariants(m); err != nil {
				t.Fatalf("step %d (op %d): %v", i, op, err)
			}
		}
	})
}
