package callflow

import (
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/config"
	"github.com/hotline-dev/hotline/queue"
	"github.com/hotline-dev/hotline/sip"
)

// growStack uses about depth × 600 bytes of the calling goroutine's
// stack, as sipgo's and slog's deep paths do during a call's set-up.
//
//go:noinline
func growStack(depth int) byte {
	var pad [512]byte
	pad[depth%len(pad)] = byte(depth)
	if depth == 0 {
		return pad[0]
	}
	return growStack(depth-1) + pad[depth%len(pad)]
}

// TestParkedBridgedCallsGiveBackTheStackSetUpGrew: a bridged call spends
// its life parked in the talk, and its goroutine's stack is memory each
// of thousands of calls holds. Set-up may grow the stack to 8 KiB; the
// frames the talk waits in must stay under a quarter of that (with the
// runtime's 800-byte guard, 1,248 bytes) so that a GC halves it back to
// 4 KiB (see Engine.runCall). Here the bridge grows each call's stack
// to 32 KiB, further than real set-up does so that the stacks dominate
// what is measured, and after four GCs they must be back near 4 KiB.
//
// Stack sizes are a property of the build hotline ships, so this test
// skips under the race detector; `make unit` runs it once more without.
func TestParkedBridgedCallsGiveBackTheStackSetUpGrew(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's build has other frame sizes; run without -race")
	}
	const calls = 64
	cfg := config.Default()
	var agents []queue.AgentConfig
	legs := map[string]*fakeAgentLeg{}
	for i := range calls {
		user := fmt.Sprint(1001 + i)
		cfg.Agents = append(cfg.Agents, config.Agent{User: user, Password: "x"})
		agents = append(agents, queue.AgentConfig{User: user, Queues: []string{"support"}})
		leg := &fakeAgentLeg{answer: make(chan struct{}), done: make(chan struct{})}
		close(leg.answer)
		legs[user] = leg
	}
	clk := newFakeClock(shanghai9am)
	m, err := queue.New(queue.Config{Queues: []queue.QueueConfig{{Name: "support"}}, Agents: agents}, clk,
		queue.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		m.Login(a.User)
	}
	journal := &fakeJournal{}
	eng, err := New(Options{Config: cfg, Prompts: catalogue(t), Journal: journal, Clock: clk, Queues: m,
		Agents: &fakeDialer{legs: legs}, Logger: slog.New(slog.DiscardHandler),
		NewMedia: func(string) (Media, error) { return newFakeMedia(catalogue(t)), nil },
		Bridge: func(a, b Media) (func(), error) {
			growStack(34) // about 20 KiB: the stack grows to 32 KiB
			return func() {}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clk: clk, journal: journal}

	runtime.GC()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	callers := make([]*fakeLeg, calls)
	for i := range calls {
		callers[i] = newFakeLeg()
		info := CallInfo{ID: fmt.Sprint("s-", i), Caller: "13800138000", Arrived: clk.Now(), Offer: sip.Offer{Direction: sip.SendRecv}}
		// As HandleInvite does: the call is made first, so the goroutine
		// starts with no CallInfo on its stack.
		go eng.runCall(newCall(eng, info, callers[i]))
	}
	h.eventually("every call ringing", func() bool { return clk.pending() >= calls })
	clk.advance(time.Second) // the answer delay
	connected := func() int {
		n := 0
		for _, typ := range journal.eventTypes() {
			if typ == "connected" {
				n++
			}
		}
		return n
	}
	h.eventually("every caller talking to an agent", func() bool { return connected() == calls })
	time.Sleep(50 * time.Millisecond) // into converse's select

	// A GC halves a stack at most once: 32, 16, 8, then 4 KiB.
	var parked runtime.MemStats
	for range 4 {
		runtime.GC()
	}
	runtime.ReadMemStats(&parked)
	perCall := float64(int64(parked.StackInuse)-int64(before.StackInuse)) / calls
	t.Logf("stack in use per parked bridged call: %.0f bytes", perCall)

	for _, c := range callers {
		c.callerHangsUp()
	}
	h.eventually("every call recorded", func() bool { return journal.recordCount() == calls })
	// Stacks freed by the calls' short-lived goroutines stay in the
	// runtime's stack pools beside the calls' stacks, about 4 KiB a call
	// here; a call parked too deep to be halved would keep 16 KiB.
	if perCall > 12*1024 {
		t.Errorf("%.0f bytes of stack per parked bridged call: the frames the talk waits in are too deep for a GC to halve an 8 KiB stack", perCall)
	}
}
