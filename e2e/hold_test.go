//go:build linux

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// R3 from the agent's softphone: baresip holds the call (re-INVITE
// sendonly). The caller at once hears the hold prompt with its promise,
// then music; past the promise an apology, and the agent's phone gets a
// MESSAGE. baresip resumes and the record counts the hold.
func TestAgentHoldFromTheSoftphone(t *testing.T) {
	t.Parallel()
	s := startServer(t, "language: en\n"+agentsYAML(`queues:
  - {name: support, hold_promise: 4s, hold_alert_interval: 30s, reassurance_interval: 30s}
`))
	dir := t.TempDir()
	mic := filepath.Join(dir, "agent-1khz.wav")
	writeToneWAV(t, mic, 1000, 60)
	bob := startAgent(t, s, agentOpts{user: "1002", password: "bob-secret-22", autoAnswer: true, mic: mic, slot: 1})
	s.waitAgentState("1002", "ready", 10*time.Second)
	e := listenEar(t, s.rtpMin+180)
	sc := scenario(t, dir, "caller_hangs_up.xml", hangsUp{Ear: s.rtpMin + 180, Codecs: "0"})
	done := make(chan sippRun, 1)
	go func() { done <- runSipp(t, s, sc, 60*time.Second, "-d", "24000") }()

	s.waitAgentState("1002", "on_call", 20*time.Second)
	time.Sleep(time.Second)
	bob.command("hold")
	time.Sleep(7 * time.Second) // past the 4 s promise
	bob.command("resume")
	run := <-done
	if run.Exit != 0 {
		t.Fatalf("sipp exit %d: %v\n%s", run.Exit, run.firstLines(), run.Output)
	}
	rec := s.waitRecord(run.find(t, true, "INVITE").header("Call-ID"))
	if rec.HoldCount != 1 || rec.HoldsOverPromise != 1 || rec.HoldMS < 5500 || rec.HoldMS > 8500 {
		t.Errorf("record holds %d over promise %d hold %d ms, want 1, 1, ~7 s", rec.HoldCount, rec.HoldsOverPromise, rec.HoldMS)
	}
	cat := catalogue(t, "en")
	pkts := e.packets()
	if _, _, err := findClip(pkts, pcmu(cat, "hold_pre", "hold_one_minute")); err != nil {
		t.Errorf("the caller did not hear the hold prompt with its promise: %v", err)
	}
	// The resume stops the hold audio at once, so the apology may be cut
	// short: its first second must have been heard.
	if _, _, err := findClip(pkts, pcmu(cat, "hold_apology")[:50*160]); err != nil {
		t.Errorf("the caller did not hear the apology past the promise: %v", err)
	}
	if err := checkContinuity(pkts, 80*time.Millisecond); err != nil {
		t.Errorf("the caller's stream broke around the hold: %v", err)
	}
	if !strings.Contains(s.logBuf.String(), "agent=1002 alert=hold_over_promise") {
		t.Error("no MESSAGE delivered to the agent's phone past the promise")
	}
	if got := s.metric(`hotline_holds_over_promise_total{queue="support"}`); got != 1 {
		t.Errorf("holds over promise = %v, want 1", got)
	}
}
