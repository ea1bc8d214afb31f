//go:build linux

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// R4, attended from the softphone (RFC 5589): Alice (linphonec) answers a
// queued caller, holds them, calls Bob through the server (her phone
// authenticates the call with her digest credentials), consults him, and
// transfers with `transfer A --to-call B`: a REFER whose Refer-To carries
// Replaces naming the consultation (RFC 3891). The caller is joined to
// Bob's already-answered leg, Alice's phone gets NOTIFY 200 and both of
// her calls end; the record tells an attended transfer, completed.
func TestAttendedTransferFromLinphone(t *testing.T) {
	t.Parallel()
	s := startServer(t, "language: en\n"+`api: {token: "`+apiToken+`"}
agents:
  - {user: "1001", name: "Alice", password: "alice-secret-1"}
  - {user: "1002", name: "Bob", password: "bob-secret-22", algorithms: [MD5]}
queues:
  - {name: support, reassurance_interval: 4s}
`)
	dir := t.TempDir()
	aliceMic, bobMic := filepath.Join(dir, "alice-1khz.wav"), filepath.Join(dir, "bob-1500hz.wav")
	writeToneWAV(t, aliceMic, 1000, 90)
	writeToneWAV(t, bobMic, 1500, 90)
	alice := startLinphone(t, s, linphoneOpts{user: "1001", name: "Alice", password: "alice-secret-1", mic: aliceMic})

	earPort := s.rtpMin + 180
	e := listenEar(t, earPort)
	sc := scenario(t, dir, "caller_hangs_up.xml", hangsUp{Ear: earPort, Codecs: "0"})
	done := make(chan sippRun, 1)
	go func() { done <- runSipp(t, s, sc, 80*time.Second, "-d", "40000") }()

	custCall := alice.waitIncoming(30 * time.Second)
	alice.answer()
	alice.waitCallState(custCall, "StreamsRunning", 5*time.Second)
	s.waitAgentState("1001", "on_call", 5*time.Second)
	// Bob logs in only now, so the queue gave the caller to Alice.
	bob := startAgent(t, s, agentOpts{user: "1002", password: "bob-secret-22", autoAnswer: true, mic: bobMic, slot: 1})
	s.waitAgentState("1002", "ready", 10*time.Second)
	time.Sleep(2 * time.Second) // Alice talks to the caller

	alice.pause(custCall)
	alice.waitCallState(custCall, "Paused", 5*time.Second)
	heldAt := time.Now()
	consult := alice.call(fmt.Sprintf("sip:1002@127.0.0.1:%d", s.sipPort))
	alice.waitCallState(consult, "StreamsRunning", 15*time.Second)
	s.waitAgentState("1002", "on_call", 5*time.Second)
	time.Sleep(4 * time.Second) // Alice briefs Bob
	alice.transferAttended(custCall, consult)
	joinedAt := time.Now()

	// Both of Alice's calls end: the consultation by the server, then the
	// customer call by Alice's phone once the NOTIFY 200 came. linphonec
	// prints the first on its console; for the second it prints that the
	// call "has been transfered, you can safely close the call", sends
	// the BYE, and only sometimes reports the call ended, so that one is
	// read from its SIP log: the BYE on the REFER's dialog, answered 200.
	alice.waitEnded(10 * time.Second)
	alice.waitByeAnswered(alice.sentRequest("REFER").header("Call-ID"), 10*time.Second)
	var notified bool
	for _, m := range alice.sipMessages() {
		if !m.Sent && strings.HasPrefix(m.First, "NOTIFY") && strings.Contains(m.body(), "SIP/2.0 200") {
			notified = true
		}
		if !m.Sent && strings.HasPrefix(m.First, "NOTIFY") && strings.Contains(m.body(), "SIP/2.0 5") {
			t.Errorf("the transfer was refused: %s", m.body())
		}
	}
	if !notified {
		t.Error("Alice's phone never got NOTIFY SIP/2.0 200 OK (RFC 3515 sipfrag)")
	}

	run := <-done
	callerStayedOn(t, run)
	callID := run.find(t, true, "INVITE").header("Call-ID")
	rec := s.waitRecord(callID)
	frec, raw := featRecordOf(t, s, callID)
	if rec.Agent != "1002" || rec.HangupBy != "caller" {
		t.Errorf("record agent %q hangup_by %q, want 1002 and caller\n%s", rec.Agent, rec.HangupBy, raw)
	}
	if len(frec.Transfers) != 1 {
		t.Fatalf("transfers %+v, want one\n%s", frec.Transfers, raw)
	}
	if tr := frec.Transfers[0]; tr.Kind != "attended" || tr.Result != "completed" || tr.From != "1001" || tr.To != "1002" || tr.ConsultMS < 3000 {
		t.Errorf("transfer %+v, want attended 1001 → 1002 completed after ≥ 3 s of consultation", tr)
	}
	if frec.HoldCount != 1 {
		t.Errorf("hold count %d, want 1 (Alice held the caller while consulting)\n%s", frec.HoldCount, raw)
	}

	pkts := e.packets()
	if got := featLongestSilence(featBetween(pkts, heldAt.Add(500*time.Millisecond), joinedAt)); got > time.Second {
		t.Errorf("the caller heard %v of silence while held for the consultation (R3)", got)
	}
	if got := toneSeconds(decodedPCMU(featBetween(pkts, heldAt.Add(500*time.Millisecond), joinedAt)), 1500); got > 0.2 {
		t.Errorf("the caller heard Bob %.1f s before the transfer", got)
	}
	if got := toneSeconds(decodedPCMU(featBetween(pkts, joinedAt.Add(time.Second), joinedAt.Add(time.Hour))), 1500); got < 2 {
		t.Errorf("the caller heard Bob %.1f s after the transfer, want ≥ 2 s", got)
	}
	bob.stop()
	if got := toneSeconds(bob.heard(), 1000); got < 2 {
		t.Errorf("Bob heard Alice %.1f s during the consultation, want ≥ 2 s", got)
	}
}
