package callflow

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/calllog"
	"github.com/hotline-dev/hotline/config"
	"github.com/hotline-dev/hotline/prompts"
	"github.com/hotline-dev/hotline/queue"
)

// keys sends an agent's key presses by SIP INFO.
func keys(l *fakeAgentLeg, s string) {
	for i := range len(s) {
		l.keys <- s[i]
	}
}

func waitBridged(t *testing.T, h *harness, bridged chan struct{}, what string) {
	t.Helper()
	select {
	case <-bridged:
	case <-time.After(3 * time.Second):
		t.Fatalf("%s: never bridged: %v", what, h.journal.eventTypes())
	}
}

func eventsOf(h *harness) string { return strings.Join(h.journal.eventTypes(), ",") }

// R4 on a phone without a transfer button: *2 1002 # holds the caller
// with the transfer prompt and music, connects Alice to Bob for a
// consultation, and *2 hands the caller over: the server hangs up Alice,
// the caller talks to Bob.
func TestKeypadConsultationCompletesWithStar2(t *testing.T) {
	h, alice, bob, _, bridged := transferHarness(t)
	keys(alice, "*21002#")
	h.eventually("caller hears the transfer prompt", func() bool { return slices.Contains(h.media.playedIDs(), prompts.TransferWait) })
	h.eventually("Bob rings", func() bool { return strings.Count(eventsOf(h), "agent_ringing") == 2 })
	if st, _ := h.queues.Agent("1002"); st.State != queue.Ringing {
		t.Fatalf("Bob is %s while rung for a transfer, want ringing (no queue offers meanwhile)", st.State)
	}
	h.clk.advance(4 * time.Second)
	close(bob.answer)
	waitBridged(t, h, bridged, "consultation")
	aliceMedia, bobMedia := h.mediaOf("t-1/1001"), h.mediaOf("t-1/1002")
	if !h.bridgedLast(aliceMedia, bobMedia) {
		t.Fatal("the consultation did not connect Alice with Bob")
	}
	h.clk.advance(20 * time.Second) // they talk
	keys(alice, "*2")
	waitBridged(t, h, bridged, "hand-over")
	if !h.bridgedLast(h.media, bobMedia) {
		t.Fatal("the caller was not connected to Bob")
	}
	h.eventually("Alice hung up by the server", func() bool {
		select {
		case <-alice.done:
			return alice.hungUp
		default:
			return false
		}
	})
	if st, _ := h.queues.Agent("1002"); st.State != queue.OnCall {
		t.Fatalf("Bob is %s on the transferred call, want on_call", st.State)
	}
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.Agent != "1002" || len(rec.Transfers) != 1 {
		t.Fatalf("record agent %q transfers %+v", rec.Agent, rec.Transfers)
	}
	tr := rec.Transfers[0]
	if tr.Kind != "keypad" || tr.Result != "completed" || tr.To != "1002" || tr.RingMS != 4000 || tr.ConsultMS != 20000 {
		t.Fatalf("transfer %+v, want keypad completed to 1002 after 4 s ringing and 20 s consulting", tr)
	}
	if rec.HangupBy != calllog.HangupCaller {
		t.Fatalf("hangup_by %q", rec.HangupBy)
	}
	if slices.Contains(h.media.playedIDs(), prompts.TransferFailed) {
		t.Fatal("the caller heard the failure apology on a completed transfer")
	}
}

// *1 during the consultation takes the caller back: the target is hung
// up, the caller is with Alice again, and no apology is needed.
func TestKeypadConsultationAbortedWithStar1(t *testing.T) {
	h, alice, bob, _, bridged := transferHarness(t)
	keys(alice, "*21002#")
	h.eventually("Bob rings", func() bool { return strings.Count(eventsOf(h), "agent_ringing") == 2 })
	close(bob.answer)
	waitBridged(t, h, bridged, "consultation")
	keys(alice, "*1")
	waitBridged(t, h, bridged, "back to Alice")
	if !h.bridgedLast(h.media, h.mediaOf("t-1/1001")) {
		t.Fatal("the caller is not with Alice again")
	}
	if !bob.hungUp {
		t.Fatal("Bob was not hung up after the abort")
	}
	h.eventually("Bob free again", func() bool {
		st, _ := h.queues.Agent("1002")
		return st.State == queue.Ready || st.State == queue.WrapUp
	})
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.Agent != "1001" || len(rec.Transfers) != 1 || rec.Transfers[0].Result != "aborted" || rec.Transfers[0].Kind != "keypad" {
		t.Fatalf("record agent %q transfers %+v", rec.Agent, rec.Transfers)
	}
	if slices.Contains(h.media.playedIDs(), prompts.TransferFailed) {
		t.Fatal("an abort is the agent's choice: no failure apology")
	}
}

// R4: the target hanging up during the consultation fails the transfer:
// the caller hears the apology and is back with Alice.
func TestKeypadConsultationTargetHangsUp(t *testing.T) {
	h, alice, bob, _, bridged := transferHarness(t)
	keys(alice, "*21002#")
	h.eventually("Bob rings", func() bool { return strings.Count(eventsOf(h), "agent_ringing") == 2 })
	close(bob.answer)
	waitBridged(t, h, bridged, "consultation")
	bob.agentHangsUp()
	h.eventually("apology", func() bool { return slices.Contains(h.media.playedIDs(), prompts.TransferFailed) })
	waitBridged(t, h, bridged, "back to Alice")
	if !h.bridgedLast(h.media, h.mediaOf("t-1/1001")) {
		t.Fatal("the caller is not with Alice again")
	}
	h.leg.callerHangsUp()
	rec := h.finished()
	if len(rec.Transfers) != 1 || rec.Transfers[0].Result != "hung_up" {
		t.Fatalf("transfers %+v, want one hung_up", rec.Transfers)
	}
	if !strings.Contains(eventsOf(h), "transfer_returned_to_agent") {
		t.Fatalf("no transfer_returned_to_agent in %s", eventsOf(h))
	}
}

// R4 with transfer_confirm: the target hears who is coming and takes the
// caller by pressing 1; only then is the caller connected.
func TestTransferTargetConfirmsWithOne(t *testing.T) {
	h, alice, bob, _, bridged := transferHarnessWith(t, func(c *config.Config) { c.Queues[0].TransferConfirm = true })
	tr := &fakeTransfer{to: "1002"}
	alice.onTransfer(tr)
	h.eventually("Bob rings", func() bool { return strings.Count(eventsOf(h), "agent_ringing") == 2 })
	close(bob.answer)
	bobMedia := h.mediaOf("t-1/1002")
	h.eventually("Bob hears the whisper", func() bool {
		p := bobMedia.playedIDs()
		return slices.Contains(p, prompts.TransferWhisper) && slices.Contains(p, prompts.TransferPressOne)
	})
	if got := tr.statuses(); !slices.Equal(got, []int{100}) {
		t.Fatalf("NOTIFYs %v before Bob confirmed, want only 100", got)
	}
	bobMedia.digits <- '1'
	h.eventually("success NOTIFY", func() bool { return slices.Equal(tr.statuses(), []int{100, 200}) })
	alice.agentHangsUp()
	waitBridged(t, h, bridged, "to Bob")
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.Agent != "1002" || rec.Transfers[0].Result != "completed" || !strings.Contains(eventsOf(h), "transfer_target_confirmed") {
		t.Fatalf("agent %q transfers %+v events %s", rec.Agent, rec.Transfers, eventsOf(h))
	}
}

// A target who answers but does not press 1 in time declines: Bob is hung
// up, the caller hears the apology and stays with Alice.
func TestTransferTargetThatDoesNotConfirmDeclines(t *testing.T) {
	h, alice, bob, _, _ := transferHarnessWith(t, func(c *config.Config) { c.Queues[0].TransferConfirm = true })
	tr := &fakeTransfer{to: "1002"}
	alice.onTransfer(tr)
	h.eventually("Bob rings", func() bool { return strings.Count(eventsOf(h), "agent_ringing") == 2 })
	close(bob.answer)
	bobMedia := h.mediaOf("t-1/1002")
	h.eventually("Bob hears the whisper", func() bool { return slices.Contains(bobMedia.playedIDs(), prompts.TransferPressOne) })
	bobMedia.digits <- '5' // not a confirmation
	h.eventually("the answer window is running", func() bool { return h.clk.pending() > 0 })
	h.clk.advance(10 * time.Second)
	h.eventually("decline NOTIFY", func() bool { return slices.Equal(tr.statuses(), []int{100, 603}) })
	h.eventually("apology", func() bool { return slices.Contains(h.media.playedIDs(), prompts.TransferFailed) })
	if !bob.hungUp {
		t.Fatal("Bob was not hung up")
	}
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.Agent != "1001" || rec.Transfers[0].Result != "declined" {
		t.Fatalf("agent %q transfers %+v", rec.Agent, rec.Transfers)
	}
}

// R4: a target already on a call is busy: the phone is not rung, the
// transfer fails at once and the caller stays with Alice.
func TestTransferToABusyAgentFailsWithoutRinging(t *testing.T) {
	h, alice, _, dialer, _ := transferHarness(t)
	if err := h.queues.Claim("1002", "support"); err != nil {
		t.Fatal(err)
	}
	h.queues.Unclaim("1002", true) // Bob is on another call
	tr := &fakeTransfer{to: "1002"}
	alice.onTransfer(tr)
	h.eventually("busy NOTIFY", func() bool { return slices.Equal(tr.statuses(), []int{100, 486}) })
	if got := dialer.rungSoFar(); slices.Contains(got, "1002") {
		t.Fatalf("rang %v: a busy agent's phone must not ring", got)
	}
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.Transfers[0].Result != "busy" {
		t.Fatalf("transfers %+v", rec.Transfers)
	}
}

// R4, attended from the softphone: Alice consulted Bob with her own call
// through the server and sends REFER with Replaces naming it. The caller
// is joined to Bob's answered leg; NOTIFY says 200.
func TestAttendedTransferJoinsTheCallerToTheConsultedTarget(t *testing.T) {
	h, alice, bob, _, bridged := transferHarness(t)
	close(bob.answer)
	bobMedia := newFakeMedia(catalogue(t))
	con := &consultation{callID: "consult-1", phoneTag: "alice-tag", agent: "1001", answered: h.clk.Now(),
		take: make(chan chan *ringing), done: make(chan struct{})}
	h.eng.consultMu.Lock()
	h.eng.consults[con.callID] = con
	h.eng.consultMu.Unlock()
	go func() {
		reply := <-con.take
		reply <- &ringing{user: "1002", leg: bob, media: bobMedia, result: queue.Answered}
	}()
	h.clk.advance(30 * time.Second) // the consultation
	alice.reoffer(true)             // the caller was on hold meanwhile
	h.eventually("hold", func() bool { return slices.Contains(h.journal.eventTypes(), "hold") })

	wrong := &fakeTransfer{to: "1002", replaces: "consult-1", tag: "someone-else"}
	alice.onTransfer(wrong)
	h.eventually("481 for a dialog that is not Alice's", func() bool { return slices.Equal(wrong.statuses(), []int{100, 481}) })

	tr := &fakeTransfer{to: "1002", replaces: "consult-1", tag: "alice-tag"}
	alice.onTransfer(tr)
	h.eventually("success NOTIFY", func() bool { return slices.Equal(tr.statuses(), []int{100, 200}) })
	alice.agentHangsUp()
	waitBridged(t, h, bridged, "to Bob")
	if !h.bridgedLast(h.media, bobMedia) {
		t.Fatal("the caller was not joined to Bob's leg")
	}
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.Agent != "1002" || len(rec.Transfers) != 2 {
		t.Fatalf("record agent %q transfers %+v", rec.Agent, rec.Transfers)
	}
	if got := rec.Transfers[1]; got.Kind != "attended" || got.Result != "completed" || got.ConsultMS != 30000 {
		t.Fatalf("transfer %+v, want attended completed after 30 s of consultation", got)
	}
	if rec.Transfers[0].Result != "not_found" || rec.HoldCount != 1 || rec.HangupBy != calllog.HangupCaller {
		t.Fatalf("record %+v", rec)
	}
}

// R4's last resort: the agent hung up during a transfer that failed and
// does not answer the ring-back: the caller goes back to the front of the
// queue, never dropped.
func TestFailedTransferWithTheAgentGoneRequeuesAtTheFront(t *testing.T) {
	h, alice, _, dialer, _ := transferHarness(t)
	aliceAgain := &fakeAgentLeg{answer: make(chan struct{}), done: make(chan struct{}), keys: make(chan byte, 8)}
	dialer.mu.Lock()
	dialer.later = map[string][]*fakeAgentLeg{"1001": {aliceAgain}}
	dialer.mu.Unlock()
	tr := &fakeTransfer{to: "1002"}
	alice.onTransfer(tr)
	h.eventually("target ringing", func() bool { return strings.Count(eventsOf(h), "agent_ringing") == 2 && h.clk.pending() > 0 })
	alice.agentHangsUp()
	h.clk.advance(15 * time.Second) // Bob never answers
	h.eventually("Alice rung back", func() bool { return strings.Count(eventsOf(h), "agent_ringing") == 3 && h.clk.pending() > 0 })
	h.clk.advance(15 * time.Second) // nor does Alice
	h.eventually("back in the queue", func() bool { return strings.Contains(eventsOf(h), "returned_to_queue") })
	h.eventually("enqueued again", func() bool { return strings.Count(eventsOf(h), "enqueued") == 2 })
	if _, _, hungUp := h.leg.state(); hungUp {
		t.Fatal("the caller was dropped")
	}
	h.leg.callerHangsUp()
	rec := h.finished()
	if len(rec.Transfers) != 1 || rec.Transfers[0].Result != "no_answer" || rec.HangupBy != calllog.HangupCaller {
		t.Fatalf("transfers %+v hangup_by %q", rec.Transfers, rec.HangupBy)
	}
}
