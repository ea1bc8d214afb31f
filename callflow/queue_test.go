package callflow

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/analysis"
	"github.com/hotline-dev/hotline/calllog"
	"github.com/hotline-dev/hotline/config"
	"github.com/hotline-dev/hotline/prompts"
	"github.com/hotline-dev/hotline/queue"
	"github.com/hotline-dev/hotline/sip"
)

// fakeAgentLeg is an agent's phone: it answers when the test says so.
type fakeAgentLeg struct {
	answer     chan struct{}
	done       chan struct{}
	once       sync.Once
	hungUp     bool
	mu         sync.Mutex
	onMedia    func(sip.Offer)
	onTransfer func(Transfer)
	keys       chan byte // SIP INFO keys from the phone
}

func (l *fakeAgentLeg) OnMediaChange(f func(sip.Offer)) { l.mu.Lock(); l.onMedia = f; l.mu.Unlock() }
func (l *fakeAgentLeg) OnTransfer(f func(Transfer))     { l.mu.Lock(); l.onTransfer = f; l.mu.Unlock() }
func (l *fakeAgentLeg) Digits() <-chan byte             { return l.keys }

// fakeTransfer is the agent phone's REFER; it keeps the NOTIFYs. With
// replaces set it is an attended transfer naming that consultation.
type fakeTransfer struct {
	to       string
	replaces string // Call-ID of the consultation; "" for a blind transfer
	tag      string // the phone's tag on that consultation
	mu       sync.Mutex
	notified []int
}

func (f *fakeTransfer) User() string { return f.to }
func (f *fakeTransfer) ReplacesDialog() (callID, toTag, fromTag string, ok bool) {
	return f.replaces, "hotline-tag", f.tag, f.replaces != ""
}
func (f *fakeTransfer) Notify(_ context.Context, status int, _ string, _ bool) error {
	f.mu.Lock()
	f.notified = append(f.notified, status)
	f.mu.Unlock()
	return nil
}
func (f *fakeTransfer) statuses() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.notified)
}

// reoffer is the agent's phone sending a re-INVITE: hold (sendonly) or
// resume (sendrecv).
func (l *fakeAgentLeg) reoffer(hold bool) {
	l.mu.Lock()
	f := l.onMedia
	l.mu.Unlock()
	dir := sip.SendRecv
	if hold {
		dir = sip.SendOnly
	}
	f(sip.Offer{Remote: netip.MustParseAddrPort("127.0.0.1:40002"), Direction: dir})
}

func (l *fakeAgentLeg) WaitAnswer(ctx context.Context, _ func(int)) error {
	select {
	case <-l.answer:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
func (l *fakeAgentLeg) Negotiated() sip.Offer { return sip.Offer{PayloadType: 0} }
func (l *fakeAgentLeg) Hangup(context.Context) error {
	l.hungUp = true
	l.agentHangsUp()
	return nil
}
func (l *fakeAgentLeg) Done() <-chan struct{} { return l.done }
func (l *fakeAgentLeg) Release()              {}
func (l *fakeAgentLeg) agentHangsUp()         { l.once.Do(func() { close(l.done) }) }

type fakeDialer struct {
	mu       sync.Mutex
	legs     map[string]*fakeAgentLeg
	later    map[string][]*fakeAgentLeg // legs for later calls to the same phone
	rung     []string
	messages []string
}

func (d *fakeDialer) MessageAgent(_ context.Context, user, text string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.messages = append(d.messages, user+": "+text)
	return nil
}

func (d *fakeDialer) messagesSoFar() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.messages)
}

func (d *fakeDialer) DialAgent(_ context.Context, a AgentCall) (AgentLeg, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rung = append(d.rung, a.User)
	if next := d.later[a.User]; len(next) > 0 {
		d.later[a.User] = next[1:]
		return next[0], nil
	}
	return d.legs[a.User], nil
}

func (d *fakeDialer) rungSoFar() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.rung)
}

// R1 for agents, R7 with an agent: Alice never answers; after three ring
// cycles Bob is rung and answers; Bob hangs up first, the caller hears the
// closing and is not hung up on; Alice is not ready after her miss.
func TestQueueRingsNextAgentAfterThreeRingsAndCallerOutlastsAgent(t *testing.T) {
	cfg := config.Default()
	cfg.Agents = []config.Agent{{User: "1001", Password: "x"}, {User: "1002", Password: "y"}}
	cfg.Queues[0].MaxNoAnswer = 1
	cfg.Speech.DeadAirPrompt = true
	h := &harness{t: t, clk: newFakeClock(shanghai9am), leg: newFakeLeg(), journal: &fakeJournal{}, done: make(chan struct{})}
	h.media = newFakeMedia(catalogue(t))
	m, err := queue.New(queue.Config{
		Queues: []queue.QueueConfig{{Name: "support", MaxNoAnswer: 1, WrapUp: time.Second}},
		Agents: []queue.AgentConfig{{User: "1001", Queues: []string{"support"}}, {User: "1002", Queues: []string{"support"}}},
	}, h.clk)
	if err != nil {
		t.Fatal(err)
	}
	m.Login("1001")
	h.clk.advance(time.Second) // Alice has been idle longest
	m.Login("1002")
	alice := &fakeAgentLeg{answer: make(chan struct{}), done: make(chan struct{})}
	bob := &fakeAgentLeg{answer: make(chan struct{}), done: make(chan struct{})}
	close(bob.answer)
	dialer := &fakeDialer{legs: map[string]*fakeAgentLeg{"1001": alice, "1002": bob}}
	bridged := make(chan struct{}, 1)
	eng, err := New(Options{
		Config: cfg, Prompts: catalogue(t), Journal: h.journal, Clock: h.clk, Queues: m, Agents: dialer,
		NewMedia: func(id string) (Media, error) {
			if id == "q-1" {
				return h.media, nil // the caller's leg; agents' legs get their own
			}
			return newFakeMedia(catalogue(t)), nil
		},
		Bridge: func(a, b Media) (func(), error) {
			bridged <- struct{}{}
			return func() {}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.eng = eng
	info := CallInfo{ID: "q-1", Caller: "13800138000", Called: "100", Arrived: h.clk.Now(),
		Offer: sip.Offer{PayloadType: 0, Direction: sip.SendRecv}}
	go func() { eng.Run(info, h.leg); close(h.done) }()

	h.clk.waitTimer(t)
	h.clk.advance(time.Second) // answer
	h.eventually("Alice rung", func() bool { return slices.Equal(dialer.rungSoFar(), []string{"1001"}) })
	// Three ring cycles of 5 s: still Alice's turn just before 15 s.
	h.clk.advance(14 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if got := dialer.rungSoFar(); len(got) != 1 {
		t.Fatalf("rung %v before Alice's three rings were up", got)
	}
	h.clk.advance(time.Second)
	select {
	case <-bridged:
	case <-time.After(3 * time.Second):
		t.Fatalf("caller never bridged; rung %v, events %v", dialer.rungSoFar(), h.journal.eventTypes())
	}
	if st, _ := m.Agent("1001"); st.State != queue.NotReady || st.Reason != queue.ReasonRingNoAnswer {
		t.Errorf("Alice is %s (%s), want not_ready (ring-no-answer)", st.State, st.Reason)
	}
	// R9: dead air on the bridged call alerts the agent's phone live.
	h.eventually("connected", func() bool { return slices.Contains(h.journal.eventTypes(), "connected") })
	if !h.media.speechEvent(analysis.DeadAirStarted) {
		t.Fatal("the call does not listen for speech events")
	}
	h.eventually("dead-air MESSAGE to Bob", func() bool {
		m := dialer.messagesSoFar()
		return len(m) == 1 && strings.HasPrefix(m[0], "1002: ")
	})
	h.eventually("the caller reassured over the silence", func() bool {
		return slices.Contains(h.media.playedIDs(), prompts.QueueReassurance)
	})
	h.clk.advance(5 * time.Second)
	bob.agentHangsUp()
	h.eventually("closing pause", func() bool {
		return slices.Contains(h.media.playedIDs(), prompts.ClosingAnythingElse) && h.clk.pending() > 0
	})
	h.clk.advance(1500 * time.Millisecond)
	h.eventually("closing after the agent left", func() bool {
		return slices.Contains(h.media.playedIDs(), prompts.ClosingThanks)
	})
	if _, _, hungUp := h.leg.state(); hungUp {
		t.Fatal("the caller was hung up on when the agent left (R7)")
	}
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.HangupBy != calllog.HangupAgent || rec.EndedBy != calllog.HangupCaller || rec.Agent != "1002" {
		t.Fatalf("record hangup_by %q ended_by %q agent %q", rec.HangupBy, rec.EndedBy, rec.Agent)
	}
	if len(rec.RingAttempts) != 2 || rec.RingAttempts[0].Result != "no_answer" || rec.RingAttempts[0].RingMS != 15000 || rec.RingAttempts[1].Result != "answered" {
		t.Fatalf("ring attempts %+v", rec.RingAttempts)
	}
	if rec.TalkTime != 5*time.Second || rec.QueueResult != "answered" || rec.QueuePosition != 1 {
		t.Fatalf("talk %v result %q position %d", rec.TalkTime, rec.QueueResult, rec.QueuePosition)
	}
	if rec.Speech == nil || rec.Speech.Agent == nil {
		t.Errorf("record has no speech measures for both parties: %+v", rec.Speech)
	}
	if !slices.Contains(h.journal.eventTypes(), "dead_air") {
		t.Error("no dead_air event in the journal")
	}
	if st, _ := m.Agent("1002"); st.State != queue.WrapUp {
		t.Errorf("Bob is %s after the call, want wrap_up", st.State)
	}
}

// R3: the agent holds the caller from the phone. The caller hears the
// hold prompt with the promise, then music and reassurance; past the
// promise an apology while the agent's phone gets a MESSAGE; on resume
// the music stops and the record counts the hold.
func TestAgentHoldKeepsTheCallerInformedAndAlertsPastThePromise(t *testing.T) {
	cfg := config.Default()
	cfg.Agents = []config.Agent{{User: "1002", Password: "y"}}
	cfg.Queues[0].HoldPromise = time.Minute
	cfg.Queues[0].ReassuranceInterval = 20 * time.Second
	h := &harness{t: t, clk: newFakeClock(shanghai9am), leg: newFakeLeg(), journal: &fakeJournal{}, done: make(chan struct{})}
	h.media = newFakeMedia(catalogue(t))
	m, err := queue.New(queue.Config{Queues: []queue.QueueConfig{{Name: "support"}},
		Agents: []queue.AgentConfig{{User: "1002", Queues: []string{"support"}}}}, h.clk)
	if err != nil {
		t.Fatal(err)
	}
	m.Login("1002")
	bob := &fakeAgentLeg{answer: make(chan struct{}), done: make(chan struct{})}
	close(bob.answer)
	dialer := &fakeDialer{legs: map[string]*fakeAgentLeg{"1002": bob}}
	bridged := make(chan struct{}, 1)
	eng, err := New(Options{Config: cfg, Prompts: catalogue(t), Journal: h.journal, Clock: h.clk, Queues: m, Agents: dialer,
		NewMedia: func(id string) (Media, error) {
			if id == "h-1" {
				return h.media, nil
			}
			return newFakeMedia(catalogue(t)), nil
		},
		Bridge: func(a, b Media) (func(), error) { bridged <- struct{}{}; return func() {}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	info := CallInfo{ID: "h-1", Caller: "13800138000", Arrived: h.clk.Now(), Offer: sip.Offer{Direction: sip.SendRecv}}
	go func() { eng.Run(info, h.leg); close(h.done) }()
	h.clk.waitTimer(t)
	h.clk.advance(time.Second)
	select {
	case <-bridged:
	case <-time.After(3 * time.Second):
		t.Fatalf("never bridged: %v", h.journal.eventTypes())
	}

	h.eventually("the flow listens to the agent's re-offers", func() bool {
		bob.mu.Lock()
		defer bob.mu.Unlock()
		return bob.onMedia != nil
	})
	bob.reoffer(true)
	h.eventually("hold promise", func() bool {
		p := h.media.playedIDs()
		return slices.Contains(p, prompts.HoldPre) && slices.Contains(p, prompts.HoldOneMinute) && h.clk.pending() > 0
	})
	if !h.media.held {
		t.Error("the caller's conversation is not marked on hold (hold is not dead air)")
	}
	h.clk.advance(20 * time.Second) // reassurance
	h.eventually("reassurance during hold", func() bool {
		return slices.Contains(h.media.playedIDs(), prompts.QueueReassurance) && h.clk.pending() > 0
	})
	h.clk.advance(40 * time.Second) // the minute is up
	h.eventually("apology past the promise", func() bool { return slices.Contains(h.media.playedIDs(), prompts.HoldApology) })
	h.eventually("MESSAGE to the agent", func() bool {
		for _, msg := range dialer.messagesSoFar() {
			if strings.HasPrefix(msg, "1002: ") && strings.Contains(msg, "promise") {
				return true
			}
		}
		return false
	})
	h.clk.advance(5 * time.Second)
	bob.reoffer(false)
	h.eventually("unhold", func() bool { return slices.Contains(h.journal.eventTypes(), "unhold") })
	if h.media.held {
		t.Error("still marked on hold after the resume")
	}
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.HoldCount != 1 || rec.HoldsOverPromise != 1 || rec.HoldTotal != 65*time.Second || rec.LongestHold != 65*time.Second {
		t.Fatalf("record holds %d over %d total %v longest %v, want 1, 1, 65s, 65s", rec.HoldCount, rec.HoldsOverPromise, rec.HoldTotal, rec.LongestHold)
	}
}

// transferHarness bridges a caller to Alice (1001); Bob (1002) is the
// transfer target, answering when the test closes bob.answer.
func transferHarness(t *testing.T) (*harness, *fakeAgentLeg, *fakeAgentLeg, *fakeDialer, chan struct{}) {
	return transferHarnessWith(t, nil)
}

// transferHarnessWith is transferHarness with the configuration changed
// by tweak first.
func transferHarnessWith(t *testing.T, tweak func(*config.Config)) (*harness, *fakeAgentLeg, *fakeAgentLeg, *fakeDialer, chan struct{}) {
	cfg := config.Default()
	cfg.Agents = []config.Agent{{User: "1001", Password: "x"}, {User: "1002", Password: "y"}, {User: "2001", Password: "z"}}
	sup := config.NewQueue("supervisors")
	cfg.Queues = append(cfg.Queues, sup)
	if tweak != nil {
		tweak(cfg)
	}
	h := &harness{t: t, clk: newFakeClock(shanghai9am), leg: newFakeLeg(), journal: &fakeJournal{}, done: make(chan struct{})}
	h.media = newFakeMedia(catalogue(t))
	m, err := queue.New(queue.Config{Queues: []queue.QueueConfig{{Name: "support"}, {Name: "supervisors"}},
		Agents: []queue.AgentConfig{{User: "1001", Queues: []string{"support"}}, {User: "1002", Queues: []string{"support"}},
			{User: "2001", Queues: []string{"supervisors"}}}}, h.clk)
	if err != nil {
		t.Fatal(err)
	}
	m.Login("1001")
	m.Login("2001") // a supervisor, serving only the supervisors group
	m.Login("1002") // idle for less time than Alice, so Alice gets the caller
	h.queues = m
	alice := &fakeAgentLeg{answer: make(chan struct{}), done: make(chan struct{}), keys: make(chan byte, 8)}
	close(alice.answer)
	bob := &fakeAgentLeg{answer: make(chan struct{}), done: make(chan struct{})}
	supervisor := &fakeAgentLeg{answer: make(chan struct{}), done: make(chan struct{})}
	close(supervisor.answer)
	dialer := &fakeDialer{legs: map[string]*fakeAgentLeg{"1001": alice, "1002": bob, "2001": supervisor}}
	bridged := make(chan struct{}, 16)
	eng, err := New(Options{Config: cfg, Prompts: catalogue(t), Journal: h.journal, Clock: h.clk, Queues: m, Agents: dialer,
		NewMedia: func(id string) (Media, error) {
			if id == "t-1" {
				return h.media, nil
			}
			m := newFakeMedia(catalogue(t))
			h.mediaMu.Lock()
			if h.legMedia == nil {
				h.legMedia = map[string]*fakeMedia{}
			}
			h.legMedia[id] = m
			h.mediaMu.Unlock()
			return m, nil
		},
		Bridge: func(a, b Media) (func(), error) {
			h.mediaMu.Lock()
			h.bridges = append(h.bridges, [2]Media{a, b})
			h.mediaMu.Unlock()
			bridged <- struct{}{}
			return func() {}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	h.eng = eng
	go func() {
		eng.Run(CallInfo{ID: "t-1", Caller: "13800138000", Arrived: h.clk.Now(), Offer: sip.Offer{Direction: sip.SendRecv}}, h.leg)
		close(h.done)
	}()
	h.clk.waitTimer(t)
	h.clk.advance(time.Second)
	select {
	case <-bridged:
	case <-time.After(3 * time.Second):
		t.Fatalf("never bridged: %v", h.journal.eventTypes())
	}
	h.eventually("the flow listens to transfers", func() bool {
		alice.mu.Lock()
		defer alice.mu.Unlock()
		return alice.onTransfer != nil
	})
	return h, alice, bob, dialer, bridged
}

// R4: a blind transfer from the phone completes only once the target
// answered; the phone hears the real outcome by NOTIFY.
func TestSupervisedTransferCompletesWhenTheTargetAnswers(t *testing.T) {
	h, alice, bob, _, bridged := transferHarness(t)
	tr := &fakeTransfer{to: "1002"}
	alice.onTransfer(tr)
	h.eventually("caller hears the transfer prompt", func() bool { return slices.Contains(h.media.playedIDs(), prompts.TransferWait) })
	if got := tr.statuses(); !slices.Equal(got, []int{100}) {
		t.Fatalf("NOTIFYs %v before the target answered, want only 100", got)
	}
	close(bob.answer)
	h.eventually("success NOTIFY", func() bool { return slices.Equal(tr.statuses(), []int{100, 200}) })
	alice.agentHangsUp() // the phone hangs up on the success NOTIFY
	select {
	case <-bridged:
	case <-time.After(3 * time.Second):
		t.Fatalf("caller never bridged to the target: %v", h.journal.eventTypes())
	}
	h.eventually("connected to Bob", func() bool { return strings.Count(strings.Join(h.journal.eventTypes(), ","), "connected") == 2 })
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.Agent != "1002" || len(rec.Transfers) != 1 || rec.Transfers[0].Result != "completed" || rec.Transfers[0].To != "1002" {
		t.Fatalf("record agent %q transfers %+v", rec.Agent, rec.Transfers)
	}
	if rec.HangupBy != calllog.HangupCaller {
		t.Fatalf("hangup_by %q: the first agent leaving on a transfer is not the agent hanging up first", rec.HangupBy)
	}
	events := strings.Join(h.journal.eventTypes(), ",")
	for _, want := range []string{"transfer_start", "transfer_target_ringing", "transfer_target_answered", "transfer_completed", "transfer_end"} {
		if !strings.Contains(events, want) {
			t.Errorf("no %s event in %s", want, events)
		}
	}
}

// R4: when the target does not answer within three ring cycles, the phone
// is told, and the caller hears an apology and is back with the agent —
// never dropped.
func TestFailedTransferReturnsTheCallerToTheAgent(t *testing.T) {
	h, alice, _, _, _ := transferHarness(t)
	tr := &fakeTransfer{to: "1002"}
	alice.onTransfer(tr)
	h.eventually("target ringing", func() bool {
		return strings.Count(strings.Join(h.journal.eventTypes(), ","), "agent_ringing") == 2 && h.clk.pending() > 0
	})
	h.clk.advance(15 * time.Second)
	h.eventually("apology", func() bool { return slices.Contains(h.media.playedIDs(), prompts.TransferFailed) })
	if got := tr.statuses(); !slices.Equal(got, []int{100, 408}) {
		t.Fatalf("NOTIFYs %v, want 100 then 408", got)
	}
	if _, _, hungUp := h.leg.state(); hungUp {
		t.Fatal("the caller was dropped by a failed transfer")
	}
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.Agent != "1001" || len(rec.Transfers) != 1 || rec.Transfers[0].Result != "no_answer" || rec.Transfers[0].RingMS != 15000 {
		t.Fatalf("record agent %q transfers %+v", rec.Agent, rec.Transfers)
	}
	events := strings.Join(h.journal.eventTypes(), ",")
	for _, want := range []string{"transfer_failed", "transfer_returned_to_agent"} {
		if !strings.Contains(events, want) {
			t.Errorf("no %s event in %s", want, events)
		}
	}
}

// R11: escalation to a group. A transfer to "supervisors" (a queue name)
// rings the ready members of that group; the supervisor who answers gets
// the caller.
func TestTransferToAGroupRingsItsReadyMembers(t *testing.T) {
	h, alice, _, dialer, bridged := transferHarness(t)
	tr := &fakeTransfer{to: "supervisors"}
	alice.onTransfer(tr)
	h.eventually("success NOTIFY", func() bool { return slices.Equal(tr.statuses(), []int{100, 200}) })
	alice.agentHangsUp()
	select {
	case <-bridged:
	case <-time.After(3 * time.Second):
		t.Fatalf("caller never bridged to the supervisor: %v", h.journal.eventTypes())
	}
	if got := dialer.rungSoFar(); !slices.Equal(got, []string{"1001", "2001"}) {
		t.Fatalf("rung %v, want Alice then the supervisor 2001", got)
	}
	h.eventually("connected to the supervisor", func() bool {
		return strings.Count(strings.Join(h.journal.eventTypes(), ","), "connected") == 2
	})
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.Agent != "2001" || len(rec.Transfers) != 1 || rec.Transfers[0].To != "supervisors:2001" || rec.Transfers[0].Result != "completed" {
		t.Fatalf("record agent %q transfers %+v", rec.Agent, rec.Transfers)
	}
}

// R3 on a phone without a hold button: the agent keys *3 (here by SIP
// INFO) to hold and again to resume; the keys are events for the server.
func TestAgentFeatureCodeStar3TogglesHold(t *testing.T) {
	h, alice, _, _, _ := transferHarness(t)
	alice.keys <- '*'
	alice.keys <- '3'
	h.eventually("hold prompt", func() bool { return slices.Contains(h.media.playedIDs(), prompts.HoldPre) })
	if !h.media.held {
		t.Fatal("*3 did not put the caller on hold")
	}
	h.clk.advance(10 * time.Second)
	alice.keys <- '*'
	alice.keys <- '3'
	h.eventually("unhold", func() bool { return slices.Contains(h.journal.eventTypes(), "unhold") })
	alice.keys <- '7' // a stray key: consumed, nothing happens
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.HoldCount != 1 || rec.HoldTotal != 10*time.Second {
		t.Fatalf("record holds %d for %v, want 1 for 10s", rec.HoldCount, rec.HoldTotal)
	}
	if n := strings.Count(strings.Join(h.journal.eventTypes(), ","), "agent_feature_code"); n != 2 {
		t.Fatalf("%d feature-code events, want 2", n)
	}
}

// R4's guarantee: the transferring agent hangs up while the target rings
// and the target never answers. The caller is not dropped: the agent is
// rung back and talks to the caller again.
func TestFailedTransferAfterTheAgentLeftRingsTheAgentBack(t *testing.T) {
	h, alice, _, dialer, bridged := transferHarness(t)
	aliceAgain := &fakeAgentLeg{answer: make(chan struct{}), done: make(chan struct{}), keys: make(chan byte, 8)}
	close(aliceAgain.answer)
	dialer.mu.Lock()
	dialer.later = map[string][]*fakeAgentLeg{"1001": {aliceAgain}}
	dialer.mu.Unlock()
	tr := &fakeTransfer{to: "1002"}
	alice.onTransfer(tr)
	h.eventually("target ringing", func() bool {
		return strings.Count(strings.Join(h.journal.eventTypes(), ","), "agent_ringing") == 2 && h.clk.pending() > 0
	})
	alice.agentHangsUp()
	h.clk.advance(15 * time.Second)
	select {
	case <-bridged:
	case <-time.After(3 * time.Second):
		t.Fatalf("caller never reconnected: %v", h.journal.eventTypes())
	}
	if got := dialer.rungSoFar(); !slices.Equal(got, []string{"1001", "1002", "1001"}) {
		t.Fatalf("rung %v, want Alice, Bob, then Alice again", got)
	}
	if _, _, hungUp := h.leg.state(); hungUp {
		t.Fatal("the caller was dropped")
	}
	h.eventually("returned to agent", func() bool { return slices.Contains(h.journal.eventTypes(), "returned_to_agent") })
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.Agent != "1001" || len(rec.Transfers) != 1 || rec.Transfers[0].Result != "no_answer" || rec.HangupBy != calllog.HangupCaller {
		t.Fatalf("record agent %q transfers %+v hangup_by %q", rec.Agent, rec.Transfers, rec.HangupBy)
	}
}

// R7 when the agent's phone goes silent mid-talk: the server ends the
// agent's leg, the caller hears the closing and still hangs up last, and
// the agent is freed for the next caller.
func TestAgentWhosePhoneGoesSilentIsHungUpAndTheCallerHearsTheClosing(t *testing.T) {
	h, alice, _, _, _ := transferHarness(t)
	h.eventually("connected", func() bool { return slices.Contains(h.journal.eventTypes(), "connected") })
	h.clk.advance(3 * time.Second)
	h.mediaOf("t-1/1001").goInactive()
	h.eventually("the agent's leg hung up", func() bool {
		select {
		case <-alice.done:
			return true
		default:
			return false
		}
	})
	h.eventually("closing after the agent's phone went silent", func() bool {
		return slices.Contains(h.media.playedIDs(), prompts.ClosingAnythingElse)
	})
	if _, _, hungUp := h.leg.state(); hungUp {
		t.Fatal("the caller was hung up on when the agent's phone went silent (R7)")
	}
	if st, _ := h.queues.Agent("1001"); st.State == queue.OnCall {
		t.Errorf("Alice is still %s after her leg ended", st.State)
	}
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.HangupBy != calllog.HangupAgent || rec.EndedBy != calllog.HangupCaller || rec.Agent != "1001" || rec.TalkTime != 3*time.Second {
		t.Fatalf("record hangup_by %q ended_by %q agent %q talk %v", rec.HangupBy, rec.EndedBy, rec.Agent, rec.TalkTime)
	}
	if !slices.Contains(h.journal.eventTypes(), "complete_agent") {
		t.Errorf("no complete_agent event: %v", h.journal.eventTypes())
	}
}

// An agent answered but the server could not relay the audio: the agent
// is hung up and freed, and the caller hears the apology and the closing,
// never silence and never a hang-up (R7).
func TestBridgeFailureHangsUpTheAgentAndTheCallerHearsTheApology(t *testing.T) {
	cfg := config.Default()
	cfg.Agents = []config.Agent{{User: "1001", Password: "x"}}
	h := &harness{t: t, clk: newFakeClock(shanghai9am), leg: newFakeLeg(), journal: &fakeJournal{}, done: make(chan struct{})}
	h.media = newFakeMedia(catalogue(t))
	m, err := queue.New(queue.Config{Queues: []queue.QueueConfig{{Name: "support"}},
		Agents: []queue.AgentConfig{{User: "1001", Queues: []string{"support"}}}}, h.clk)
	if err != nil {
		t.Fatal(err)
	}
	m.Login("1001")
	alice := &fakeAgentLeg{answer: make(chan struct{}), done: make(chan struct{})}
	close(alice.answer)
	eng, err := New(Options{Config: cfg, Prompts: catalogue(t), Journal: h.journal, Clock: h.clk, Queues: m,
		Agents: &fakeDialer{legs: map[string]*fakeAgentLeg{"1001": alice}},
		NewMedia: func(id string) (Media, error) {
			if id == "b-1" {
				return h.media, nil
			}
			return newFakeMedia(catalogue(t)), nil
		},
		Bridge: func(a, b Media) (func(), error) { return nil, errors.New("no relay") },
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		eng.Run(CallInfo{ID: "b-1", Caller: "13800138000", Arrived: h.clk.Now(), Offer: sip.Offer{Direction: sip.SendRecv}}, h.leg)
		close(h.done)
	}()
	h.clk.waitTimer(t)
	h.clk.advance(time.Second)
	h.eventually("the apology after the failed bridge", func() bool {
		return slices.Contains(h.media.playedIDs(), prompts.NoAgent)
	})
	select {
	case <-alice.done:
	default:
		t.Fatal("the agent's leg was left up after the bridge failed")
	}
	if st, _ := m.Agent("1001"); st.State == queue.OnCall {
		t.Errorf("Alice is still %s after the failed bridge", st.State)
	}
	h.eventually("closing pause", func() bool {
		return slices.Contains(h.media.playedIDs(), prompts.ClosingAnythingElse) && h.clk.pending() > 0
	})
	h.clk.advance(1500 * time.Millisecond)
	h.eventually("thanks played", func() bool { return slices.Contains(h.media.playedIDs(), prompts.ClosingThanks) })
	if _, _, hungUp := h.leg.state(); hungUp {
		t.Fatal("the caller was hung up on after the failed bridge (R7)")
	}
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.EndedBy != calllog.HangupCaller || rec.Agent != "1001" || rec.TalkTime != 0 {
		t.Fatalf("record ended_by %q agent %q talk %v", rec.EndedBy, rec.Agent, rec.TalkTime)
	}
}
