package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// R4 from the agent's softphone: Alice blind-transfers the caller
// (baresip's transfer is a REFER). hotline supervises it: the caller is
// connected to Bob only once Bob answered; if Bob does not answer within
// three ring cycles the caller is back with Alice, never dropped.
func TestTransferFromTheSoftphone(t *testing.T) {
	t.Parallel()
	for _, bobAnswers := range []bool{true, false} {
		t.Run(fmt.Sprintf("target answers %v", bobAnswers), func(t *testing.T) {
			t.Parallel()
			s := startServer(t, "language: en\nring: {on: 1s, off: 1s}\n"+agentsYAML(""))
			dir := t.TempDir()
			mic := filepath.Join(dir, "mic.wav")
			writeToneWAV(t, mic, 1000, 60)
			alice := startAgent(t, s, agentOpts{user: "1001", password: "alice-secret-1", autoAnswer: true, mic: mic, slot: 0})
			s.waitAgentState("1001", "ready", 10*time.Second)
			// Bob is kept out of the queue's offers by being not ready,
			// so the caller reaches Alice first.
			startAgent(t, s, agentOpts{user: "1002", password: "bob-secret-22", autoAnswer: bobAnswers, mic: mic, slot: 1})
			s.waitAgentState("1002", "ready", 10*time.Second)
			s.setAgent(t, "1002", "not-ready")

			listenEar(t, s.rtpMin+180)
			sc := scenario(t, dir, "caller_hangs_up.xml", hangsUp{Ear: s.rtpMin + 180, Codecs: "0"})
			done := make(chan sippRun, 1)
			go func() { done <- runSipp(t, s, sc, 60*time.Second, "-d", "22000") }()
			s.waitAgentState("1001", "on_call", 20*time.Second)
			time.Sleep(time.Second)
			alice.commandWith("transfer", fmt.Sprintf("sip:1002@127.0.0.1:%d", s.sipPort))
			run := <-done
			if run.Exit != 0 {
				t.Fatalf("sipp exit %d (the caller must never be dropped): %v\n%s", run.Exit, run.firstLines(), run.Output)
			}
			rec := s.waitRecord(run.find(t, true, "INVITE").header("Call-ID"))
			if len(rec.Transfers) != 1 {
				t.Fatalf("record transfers %+v, want one", rec.Transfers)
			}
			tr := rec.Transfers[0]
			if bobAnswers {
				if tr.Result != "completed" || rec.Agent != "1002" || rec.HangupBy != "caller" {
					t.Errorf("transfer %+v agent %q hangup_by %q, want completed to 1002, caller hung up", tr, rec.Agent, rec.HangupBy)
				}
			} else {
				if tr.Result != "no_answer" || rec.Agent != "1001" || tr.RingMS < 5800 || tr.RingMS > 7500 {
					t.Errorf("transfer %+v agent %q, want no_answer after three 2 s ring cycles, back with 1001", tr, rec.Agent)
				}
				if !contains(rec.Prompts, "transfer_failed") {
					t.Errorf("the caller heard no apology after the failed transfer: %v", rec.Prompts)
				}
			}
		})
	}
}
