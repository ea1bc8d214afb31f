package callflow

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/config"
	"github.com/hotline-dev/hotline/queue"
)

// The overload guard weighs a new call by the legs it and the calls
// already admitted will bring: a caller's own at the answer, and an
// agent's once one answers. Agents already on a call have their leg;
// callers past the agents there are get none soon.
func TestLegsComingCountsTheLegsAdmittedCallsWillBring(t *testing.T) {
	tests := []struct {
		name       string
		ivrOnly    bool
		agents     int // logged in and ready, of 5
		ringing    int // of them offered a caller
		onCall     int // of them answered
		active     int // callers' flows
		answered   int // of them with their own leg up
		wantComing int
	}{
		{name: "IVR only: the new caller's leg", ivrOnly: true, active: 40, answered: 40, wantComing: 1},
		{name: "IVR only: callers still ringing bring theirs", ivrOnly: true, active: 40, answered: 30, wantComing: 11},
		{name: "no agent logged in", active: 40, answered: 40, wantComing: 1},
		{name: "an idle agent for the new caller", agents: 3, wantComing: 2},
		{name: "waiting callers take the ready agents first", agents: 3, active: 2, answered: 2, wantComing: 1 + 2 + 1},
		{name: "more callers than agents", agents: 3, active: 10, answered: 10, wantComing: 1 + 3},
		// Two callers wait for the one agent ringing; nobody is left for
		// the new caller.
		{name: "agents on a call have their leg", agents: 3, ringing: 1, onCall: 2, active: 4, answered: 4, wantComing: 1 + 1},
		{name: "a ringing agent's leg is coming", agents: 2, ringing: 2, active: 2, answered: 2, wantComing: 1 + 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := legsEngine(t, tt.ivrOnly, tt.agents, tt.ringing, tt.onCall)
			e.active.Store(int64(tt.active))
			e.callerLegs.Store(int64(tt.answered))
			if got := e.LegsComing(); got != tt.wantComing {
				t.Errorf("LegsComing = %d, want %d", got, tt.wantComing)
			}
		})
	}
}

// legsEngine is an engine whose queue has five agents, the first
// `ready` of them logged in; of those, `ringing` are offered a caller
// and `onCall` more answered one.
func legsEngine(t *testing.T, ivrOnly bool, ready, ringing, onCall int) *Engine {
	t.Helper()
	opts := Options{Config: config.Default(), Prompts: catalogue(t), Journal: &fakeJournal{},
		NewMedia: func(string) (Media, error) { return nil, nil }}
	if ivrOnly {
		e, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	var agents []queue.AgentConfig
	for i := range 5 {
		agents = append(agents, queue.AgentConfig{User: fmt.Sprint(1001 + i), Queues: []string{"support"}})
	}
	m, err := queue.New(queue.Config{Queues: []queue.QueueConfig{{Name: "support", WrapUp: time.Second}}, Agents: agents}, nil,
		queue.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range agents[:ready] {
		if err := m.Login(a.User); err != nil {
			t.Fatal(err)
		}
	}
	for i := range ringing + onCall {
		entry, err := m.Enqueue("support", fmt.Sprint("c", i))
		if err != nil {
			t.Fatal(err)
		}
		offer := <-entry.Offers()
		if i >= ringing {
			entry.Report(offer.Agents[0], queue.Answered)
			entry.Leave(queue.LeftAnswered)
		}
	}
	if c := m.Counts(); c.Ringing != ringing || c.OnCall != onCall {
		t.Fatalf("agents %+v, want %d ringing and %d on a call", c, ringing, onCall)
	}
	opts.Queues, opts.Agents = m, &fakeDialer{}
	opts.Bridge = func(a, b Media) (func(), error) { return func() {}, nil }
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A call's own leg counts as coming while its phone rings, and as up from
// the answer until the call's flow has ended.
func TestACallersLegIsComingUntilTheAnswer(t *testing.T) {
	h := startCall(t, shanghai9am, nil)
	h.clk.waitTimer(t)
	if got := h.eng.LegsComing(); got != 2 {
		t.Errorf("while ringing: LegsComing = %d, want 2 (the new call's and the ringing one's)", got)
	}
	h.clk.advance(time.Second)
	h.eventually("answer", func() bool { _, a, _ := h.leg.state(); return a })
	h.eventually("the leg up", func() bool { return h.eng.LegsComing() == 1 })
	h.leg.callerHangsUp()
	h.finished()
	if got, up := h.eng.LegsComing(), h.eng.callerLegs.Load(); got != 1 || up != 0 {
		t.Errorf("after the call: LegsComing = %d with %d caller legs up, want 1 and 0", got, up)
	}
}
