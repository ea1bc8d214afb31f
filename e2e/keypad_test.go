//go:build linux

package e2e

import (
	"path/filepath"
	"testing"
	"time"
)

// R4 by keypad, for phones without a transfer button: the scripted agent
// Dan keys *2 1002 # as RFC 4733 events. The caller hears the transfer
// prompt and music — never Dan, never Bob, never the keys — while Dan
// consults Bob (a baresip phone that answers); Bob hears Dan. Dan keys
// *2: the server hangs up Dan, and the caller talks to Bob. The record
// tells a keypad transfer, completed, with its consultation time.
func TestKeypadConsultationHandsTheCallerOver(t *testing.T) {
	t.Parallel()
	s := startServer(t, "language: en\n"+featAgentsYAML("queues:\n  - {name: support, reassurance_interval: 4s}\n"))
	dir := t.TempDir()
	dan := featStartScriptedAgent(t, s, "1004", "dan-secret-444", 1000, 500)

	e, callID, done := featPlaceCall(t, s, dir, "keypad", 26*time.Second, 60*time.Second)

	s.waitAgentState("1004", "on_call", 20*time.Second)
	// Bob logs in only now, so the queue gave the caller to Dan.
	bobMic := filepath.Join(dir, "bob-1500hz.wav")
	writeToneWAV(t, bobMic, 1500, 60)
	bob := startAgent(t, s, agentOpts{user: "1002", password: "bob-secret-22", autoAnswer: true, mic: bobMic, slot: 1})
	s.waitAgentState("1002", "ready", 10*time.Second)

	dan.media.waitRemote(t, 3*time.Second)
	dan.media.tone(true)
	time.Sleep(2 * time.Second)
	dan.media.keys(t, "*21002#")
	_, consultIdx := featWaitEvent(t, s, callID, "transfer_consult", -1, 15*time.Second)
	consultAt := featEvents(t, s, callID)[consultIdx].At
	time.Sleep(4 * time.Second) // Dan briefs Bob
	dan.media.keys(t, "*2")
	_, completedIdx := featWaitEvent(t, s, callID, "transfer_completed", consultIdx, 5*time.Second)
	completedAt := featEvents(t, s, callID)[completedIdx].At

	select {
	case r := <-dan.done:
		if r.Exit != 0 {
			t.Errorf("Dan's phone: sipp exit %d: %v", r.Exit, r.firstLines())
		}
		if bye := r.find(t, false, "BYE"); bye.First == "" {
			t.Error("the server did not hang up Dan after *2")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Dan's phone got no BYE after *2 handed the caller over")
	}

	run := <-done
	callerStayedOn(t, run)
	rec := s.waitRecord(callID)
	frec, raw := featRecordOf(t, s, callID)
	if rec.Agent != "1002" || rec.HangupBy != "caller" {
		t.Errorf("record agent %q hangup_by %q, want 1002 and caller\n%s", rec.Agent, rec.HangupBy, raw)
	}
	if len(frec.Transfers) != 1 {
		t.Fatalf("transfers %+v, want one\n%s", frec.Transfers, raw)
	}
	if tr := frec.Transfers[0]; tr.Kind != "keypad" || tr.Result != "completed" || tr.From != "1004" || tr.To != "1002" || tr.ConsultMS < 3500 || tr.ConsultMS > 8000 {
		t.Errorf("transfer %+v, want keypad 1004 → 1002 completed after about 4 s of consultation", tr)
	}

	pkts := e.packets()
	during := decodedPCMU(featBetween(pkts, consultAt.Add(200*time.Millisecond), completedAt))
	if got := toneSeconds(during, 1000); got > 0.2 {
		t.Errorf("the caller heard Dan for %.1f s during the consultation; they must not", got)
	}
	if got := toneSeconds(during, 1500); got > 0.2 {
		t.Errorf("the caller heard Bob for %.1f s during the consultation; they must not", got)
	}
	if got := featDTMFHeard(decodedPCMU(featBetween(pkts, consultAt.Add(-10*time.Second), completedAt.Add(2*time.Second)))); got > 0 {
		t.Errorf("the caller heard %d windows of DTMF: feature codes must be consumed", got)
	}
	if got := featLongestSilence(featBetween(pkts, consultAt, completedAt)); got > time.Second {
		t.Errorf("the caller heard %v of silence while waiting (R4: never silence)", got)
	}
	if got := toneSeconds(decodedPCMU(featBetween(pkts, completedAt.Add(500*time.Millisecond), completedAt.Add(time.Hour))), 1500); got < 2 {
		t.Errorf("the caller heard Bob %.1f s after the hand-over, want ≥ 2 s", got)
	}
	bob.stop()
	if got := toneSeconds(bob.heard(), 1000); got < 2 {
		t.Errorf("Bob heard Dan %.1f s; the consultation must connect them", got)
	}
}
