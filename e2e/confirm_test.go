//go:build linux

package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/calllog"
)

// This file checks R4's "before letting go, confirm that the target
// picked up" with queues[].transfer_confirm: the target of a blind
// transfer first hears a whisper (a transferred call, from which queue,
// how long the caller waited, press 1) and takes the caller only by
// pressing 1. The target is the scripted agent Dan (sipp answering, his
// media a socket that keeps what it hears and keys RFC 4733 events); the
// transferring agent is Alice on baresip.

// confTimeout is the queue's transfer_confirm_timeout in these tests.
const confTimeout = 3 * time.Second

// confCall is one call of this file: the server, Alice's phone watched
// through its control socket, Dan, the caller's ear and sipp run.
type confCall struct {
	s          *server
	alice      *agentPhone
	alicePhone *xferPhone
	dan        *featScriptedAgent
	ear        *ear
	callID     string
	caller     chan sippRun
}

// confStart starts the server with transfer_confirm, Alice (1001, 1 kHz
// voice, answers on her own) and Dan (1004, 1.5 kHz voice, answers after
// half a second; not ready, so the queue gives the caller to Alice), then
// a caller who stays callMS after the answer, and waits until Alice
// talks to them.
func confStart(t *testing.T, callMS int) *confCall {
	t.Helper()
	s := startServer(t, "language: en\nring: {on: 1s, off: 1s}\n"+featAgentsYAML(fmt.Sprintf(`queues:
  - {name: support, transfer_confirm: true, transfer_confirm_timeout: %s, reassurance_interval: 4s}
`, confTimeout)))
	dir := t.TempDir()
	aliceMic := filepath.Join(dir, "alice-1khz.wav")
	writeToneWAV(t, aliceMic, 1000, 60)
	c := &confCall{s: s}
	c.alice = startAgent(t, s, agentOpts{user: "1001", password: "alice-secret-1", autoAnswer: true, mic: aliceMic, slot: 0})
	s.waitAgentState("1001", "ready", 10*time.Second)
	c.alicePhone = xferWatch(t, c.alice)
	c.dan = featStartScriptedAgent(t, s, "1004", "dan-secret-444", 1500, 500)
	s.setAgent(t, "1004", "not-ready")

	c.ear, c.callID, c.caller = featPlaceCall(t, s, dir, "confirm", time.Duration(callMS)*time.Millisecond, 60*time.Second)
	s.waitAgentState("1001", "on_call", 20*time.Second)
	return c
}

// transferToDan has Alice blind-transfer the caller to Dan and waits
// until Dan picked up; Dan talks from then on. It returns when he did.
func (c *confCall) transferToDan(t *testing.T) (startAt, answeredAt time.Time) {
	t.Helper()
	time.Sleep(1500 * time.Millisecond) // the caller talks to Alice
	c.alicePhone.command("transfer", fmt.Sprintf("sip:1004@127.0.0.1:%d", c.s.sipPort))
	start, _ := featWaitEvent(t, c.s, c.callID, "transfer_start", -1, 5*time.Second)
	answered, _ := featWaitEvent(t, c.s, c.callID, "transfer_target_answered", -1, 10*time.Second)
	c.dan.media.waitRemote(t, 3*time.Second)
	c.dan.media.tone(true)
	return start.At, answered.At
}

// confHeard returns what Dan's phone has received so far.
func confHeard(a *featureAgentRTP) []rtpIn {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]rtpIn(nil), a.heard...)
}

// confVoiced is how long of pkts is audio that is not silence (20 ms
// PCMU frames above a whisper's quietest syllables).
func confVoiced(pkts []rtpIn) time.Duration {
	n := 0
	for _, p := range pkts {
		if p.PT == 0 && rmsPCMU(p.Payload) >= 100 {
			n++
		}
	}
	return time.Duration(n) * 20 * time.Millisecond
}

// confCallerSafe checks what the caller must never get during the
// confirmation: BYE (R7), silence (R4), the target's voice before the
// transfer is decided, or the whisper meant for the target.
func confCallerSafe(t *testing.T, c *confCall, run sippRun, evs []calllog.Event, startAt, decidedAt time.Time) []rtpIn {
	t.Helper()
	callerStayedOn(t, run)
	pkts := c.ear.packets()
	if got := toneSeconds(decodedPCMU(featBetween(pkts, startAt.Add(-1500*time.Millisecond), startAt)), 1000); got < 1 {
		t.Errorf("the caller heard Alice %.1f s in the 1.5 s before the transfer, want ≥ 1 s", got)
	}
	waiting := featBetween(pkts, startAt.Add(200*time.Millisecond), decidedAt)
	if got := toneSeconds(decodedPCMU(waiting), 1500); got > 0.2 {
		t.Errorf("the caller heard Dan %.1f s before the transfer was decided; he must confirm first", got)
	}
	if got := toneSeconds(decodedPCMU(waiting), 1000); got > 0.2 {
		t.Errorf("the caller heard Alice %.1f s while the transfer ran", got)
	}
	if got := featLongestSilence(waiting); got > time.Second {
		t.Errorf("the caller heard %v of silence while Dan was briefed (R4: never silence)", got)
	}
	cat := catalogue(t, "en")
	if _, n, err := findClip(pkts, pcmu(cat, "transfer_whisper")); err == nil || n > 5 {
		t.Errorf("the caller heard the whisper meant for the target (%d frames of it)", n)
	}
	if err := featContinuity(pkts, evs); err != nil {
		t.Errorf("the caller's stream broke: %v", err)
	}
	return pkts
}

// R4 with transfer_confirm: Alice blind-transfers the caller to Dan, who
// answers. Dan hears the whisper — not silence, not the caller — and
// keys 1 (RFC 4733); only then is the caller connected to him, having
// heard the transfer prompt and music meanwhile, never Dan. Alice's
// phone is told 200 OK; the record tells a completed blind transfer and
// the event stream the confirmation.
func TestBlindTransferConfirmedByTarget(t *testing.T) {
	t.Parallel()
	c := confStart(t, 18000)
	startAt, answeredAt := c.transferToDan(t)

	// Dan listens to at least 2 s of the whisper before he keys 1.
	deadline := time.Now().Add(6 * time.Second)
	for confVoiced(confHeard(c.dan.media)) < 2*time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("Dan heard %v of audio in the 6 s after he answered, want the whisper", confVoiced(confHeard(c.dan.media)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	beforeKey := confHeard(c.dan.media)
	c.dan.media.keys(t, "1")
	confirmed, ci := featWaitEvent(t, c.s, c.callID, "transfer_target_confirmed", -1, 5*time.Second)
	if confirmed.Data["to"] != "1004" {
		t.Errorf("transfer_target_confirmed %v, want to 1004", confirmed.Data)
	}
	completed, _ := featWaitEvent(t, c.s, c.callID, "transfer_completed", ci, 5*time.Second)
	if ev := c.alicePhone.waitEvent("CALL_CLOSED", 5*time.Second); ev.Param != "Call transfered" {
		t.Errorf("Alice's call closed with %q, want baresip's %q (its reaction to NOTIFY with sipfrag 2xx)", ev.Param, "Call transfered")
	}

	run := <-c.caller
	select {
	case r := <-c.dan.done:
		if r.Exit != 0 {
			t.Errorf("Dan's sipp exit %d: %v", r.Exit, r.firstLines())
		}
	case <-time.After(15 * time.Second):
		t.Error("Dan's phone got no BYE after the caller hung up")
	}
	rec := c.s.waitRecord(c.callID)
	frec, raw := featRecordOf(t, c.s, c.callID)
	if len(frec.Transfers) != 1 {
		t.Fatalf("record transfers %+v, want one\n%s", frec.Transfers, raw)
	}
	if tr := frec.Transfers[0]; tr.Kind != "blind" || tr.From != "1001" || tr.To != "1004" || tr.Result != "completed" {
		t.Errorf("transfer %+v, want blind 1001 → 1004 completed\n%s", tr, raw)
	}
	if rec.Agent != "1004" || rec.HangupBy != "caller" {
		t.Errorf("record agent %q hangup_by %q, want Dan (1004) and the caller hanging up first (R7)\n%s", rec.Agent, rec.HangupBy, raw)
	}
	evs := featEvents(t, c.s, c.callID)
	start := featEventIndex(evs, "transfer_start", -1, nil)
	answered := featEventIndex(evs, "transfer_target_answered", start, nil)
	conf := featEventIndex(evs, "transfer_target_confirmed", answered, nil)
	done := featEventIndex(evs, "transfer_completed", conf, nil)
	conn := featEventIndex(evs, "connected", done, func(e calllog.Event) bool { return e.Data["agent"] == "1004" })
	if start < 0 || answered < 0 || conf < 0 || done < 0 || conn < 0 {
		t.Fatalf("events want transfer_start, transfer_target_answered, transfer_target_confirmed, transfer_completed, connected (1004) in order; got:%s", featEventList(evs))
	}
	if featEventIndex(evs, "transfer_target_not_confirmed", -1, nil) >= 0 {
		t.Errorf("the confirmed transfer also timed out:%s", featEventList(evs))
	}

	// What Dan heard before he keyed: the whisper, from its start.
	cat := catalogue(t, "en")
	if _, _, err := findClip(beforeKey, pcmu(cat, "transfer_whisper")); err != nil {
		t.Errorf("Dan did not hear the whisper's opening (a transferred call from queue …): %v", err)
	}
	if got := toneSeconds(decodedPCMU(beforeKey), 1000); got > 0.2 {
		t.Errorf("Dan heard Alice %.1f s before he took the call", got)
	}
	t.Logf("Dan heard %v of whisper before keying 1, %v after answering", confVoiced(beforeKey), confirmed.At.Sub(answeredAt).Round(10*time.Millisecond))

	pkts := confCallerSafe(t, c, run, evs, startAt, completed.At)
	if got := toneSeconds(decodedPCMU(featBetween(pkts, completed.At.Add(500*time.Millisecond), completed.At.Add(time.Hour))), 1500); got < 2 {
		t.Errorf("the caller heard Dan %.1f s after he confirmed, want ≥ 2 s", got)
	}
	if got := toneSeconds(decodedPCMU(featBetween(pkts, completed.At.Add(500*time.Millisecond), completed.At.Add(time.Hour))), 1000); got > 0.2 {
		t.Errorf("the caller still heard Alice %.1f s after the transfer", got)
	}
}

// R4 with transfer_confirm when the target does not take the call: Dan
// answers and hears the whisper but never keys 1. transfer_confirm_timeout
// after the whisper ended hotline hangs Dan up (BYE), Alice's phone is
// told 603 Decline, the record says declined, and the caller hears the
// apology and then Alice again — never Dan, never silence, never dropped.
// (baresip 1.0 hangs up when told a transfer failed, so Alice is rung
// back.)
func TestBlindTransferUnconfirmedByTargetReturnsTheCaller(t *testing.T) {
	t.Parallel()
	c := confStart(t, 27000)
	startAt, _ := c.transferToDan(t)

	notConfirmed, nci := featWaitEvent(t, c.s, c.callID, "transfer_target_not_confirmed", -1, 15*time.Second)
	failed, _ := featWaitEvent(t, c.s, c.callID, "transfer_failed", nci, 5*time.Second)
	if failed.Data["reason"] != "declined" {
		t.Errorf("transfer_failed %v, want reason declined", failed.Data)
	}
	var danRun sippRun
	select {
	case danRun = <-c.dan.done:
	case <-time.After(10 * time.Second):
		t.Fatal("hotline did not hang up Dan after he let the confirmation time out")
	}
	if danRun.Exit != 0 {
		t.Errorf("Dan's sipp exit %d: %v", danRun.Exit, danRun.firstLines())
	}
	bye := danRun.find(t, false, "BYE")
	if d := bye.At.Sub(notConfirmed.At); d < -100*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("Dan got BYE %v after the confirmation timed out, want at once", d)
	}
	if ev := c.alicePhone.waitEvent("TRANSFER_FAILED", 5*time.Second); ev.Param != "603 Decline" {
		t.Errorf("Alice's phone reports the transfer failed with %q, want 603 Decline", ev.Param)
	}

	// The timeout runs from the end of the whisper (its last clip, "press
	// 1 to take the call").
	cat := catalogue(t, "en")
	heard := confHeard(c.dan.media)
	if i, n, err := findClip(heard, pcmu(cat, "transfer_press_one")); err != nil {
		t.Errorf("Dan did not hear the whisper end with \"press 1\": %v", err)
	} else if d := notConfirmed.At.Sub(heard[i+n-1].At); d < confTimeout-300*time.Millisecond || d > confTimeout+time.Second {
		t.Errorf("the confirmation timed out %v after the whisper ended, want transfer_confirm_timeout (%v)", d.Round(10*time.Millisecond), confTimeout)
	} else {
		t.Logf("the confirmation timed out %v after the whisper ended; Dan got BYE %v later", d.Round(10*time.Millisecond), bye.At.Sub(notConfirmed.At).Round(time.Millisecond))
	}
	if _, _, err := findClip(heard, pcmu(cat, "transfer_whisper")); err != nil {
		t.Errorf("Dan did not hear the whisper's opening: %v", err)
	}

	run := <-c.caller
	rec := c.s.waitRecord(c.callID)
	frec, raw := featRecordOf(t, c.s, c.callID)
	if len(frec.Transfers) != 1 {
		t.Fatalf("record transfers %+v, want one\n%s", frec.Transfers, raw)
	}
	if tr := frec.Transfers[0]; tr.Kind != "blind" || tr.From != "1001" || tr.To != "1004" || tr.Result != "declined" {
		t.Errorf("transfer %+v, want blind 1001 → 1004 declined\n%s", tr, raw)
	}
	if rec.Agent != "1001" || rec.HangupBy != "caller" {
		t.Errorf("record agent %q hangup_by %q, want Alice (1001) and the caller hanging up first (R7)\n%s", rec.Agent, rec.HangupBy, raw)
	}
	evs := featEvents(t, c.s, c.callID)
	answered := featEventIndex(evs, "transfer_target_answered", -1, nil)
	nc := featEventIndex(evs, "transfer_target_not_confirmed", answered, nil)
	fail := featEventIndex(evs, "transfer_failed", nc, nil)
	if answered < 0 || nc < 0 || fail < 0 {
		t.Fatalf("events want transfer_target_answered, transfer_target_not_confirmed, transfer_failed in order; got:%s", featEventList(evs))
	}
	if i := featEventIndex(evs, "transfer_target_confirmed", -1, nil); i >= 0 {
		t.Errorf("a confirmation was recorded although Dan never keyed 1:%s", featEventList(evs))
	}
	if i := featEventIndex(evs, "connected", answered, func(e calllog.Event) bool { return e.Data["agent"] == "1004" }); i >= 0 {
		t.Errorf("the caller was connected to Dan although he never confirmed:%s", featEventList(evs))
	}

	pkts := confCallerSafe(t, c, run, evs, startAt, failed.At)
	after := featBetween(pkts, failed.At, failed.At.Add(time.Hour))
	i, n, err := findClip(after, pcmu(cat, "transfer_failed"))
	if err != nil {
		t.Fatalf("the caller did not hear the apology after the transfer failed (R4): %v", err)
	}
	if late := after[i].At.Sub(failed.At); late > 500*time.Millisecond {
		t.Errorf("the apology began %v after the transfer failed, want at once", late)
	}
	back := decodedPCMU(featBetween(after, after[i+n-1].At, failed.At.Add(time.Hour)))
	if got := toneSeconds(back, 1000); got < 2 {
		t.Errorf("the caller heard Alice %.1f s after the apology, want ≥ 2 s (R4: back with the same agent)", got)
	}
	if got := toneSeconds(decodedPCMU(pkts), 1500); got > 0.2 {
		t.Errorf("the caller heard Dan %.1f s although he never took the call", got)
	}
	if got := featLongestSilence(after); got > time.Second {
		t.Errorf("the caller heard %v of silence after the failed transfer (never silence)", got)
	}
}
