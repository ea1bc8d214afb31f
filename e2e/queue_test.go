//go:build linux

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// R1 for agents and R10: two agents logged in from baresip; the first
// never answers, so after three ring cycles the caller is offered to the
// second, who answers. The caller hears queue audio all along, then talks
// with the agent both ways through the server, and hangs up first.
func TestQueuedCallerGoesToTheNextAgentAfterThreeRings(t *testing.T) {
	t.Parallel()
	s := startServer(t, "language: en\nring: {on: 1s, off: 1s}\n"+agentsYAML(`queues:
  - {name: support, max_no_answer: 1, reassurance_interval: 4s, announce_interval: 0s}
`))
	dir := t.TempDir()
	agentMic := filepath.Join(dir, "agent-1khz.wav")
	writeToneWAV(t, agentMic, 1000, 60)
	// Alice logs in first, so she has been idle longest and is rung first.
	startAgent(t, s, agentOpts{user: "1001", password: "alice-secret-1", autoAnswer: false, mic: agentMic, slot: 0})
	s.waitAgentState("1001", "ready", 10*time.Second)
	bob := startAgent(t, s, agentOpts{user: "1002", password: "bob-secret-22", autoAnswer: true, mic: agentMic, slot: 1})
	s.waitAgentState("1002", "ready", 10*time.Second)

	earPort := s.rtpMin + 180
	e := listenEar(t, earPort)
	e.speak(t, 600)
	sc := scenario(t, dir, "caller_hangs_up.xml", hangsUp{Ear: earPort, Codecs: "0"})
	// en greeting ~5 s, Alice rings 3 × 2 s, then Bob answers; talk ~5 s.
	run := runSipp(t, s, sc, 60*time.Second, "-d", "18000")
	if run.Exit != 0 {
		t.Fatalf("sipp exit %d: %v\n%s", run.Exit, run.firstLines(), run.Output)
	}
	rec := s.waitRecord(run.find(t, true, "INVITE").header("Call-ID"))
	if rec.Queue != "support" || rec.QueueResult != "answered" || rec.Agent != "1002" {
		t.Fatalf("record queue %q result %q agent %q, want support/answered/1002", rec.Queue, rec.QueueResult, rec.Agent)
	}
	if len(rec.RingAttempts) != 2 || rec.RingAttempts[0].Agent != "1001" || rec.RingAttempts[0].Result != "no_answer" ||
		rec.RingAttempts[1].Agent != "1002" || rec.RingAttempts[1].Result != "answered" {
		t.Fatalf("ring attempts %+v, want 1001 no_answer then 1002 answered", rec.RingAttempts)
	}
	if ms := rec.RingAttempts[0].RingMS; ms < 5800 || ms > 7000 {
		t.Errorf("Alice rang %d ms, want three 2 s ring cycles (R1)", ms)
	}
	if rec.HangupBy != "caller" || rec.TalkMS < 2000 || rec.WrapUpMS != 10000 {
		t.Errorf("record hangup_by %q talk %d ms wrap-up %d ms, want caller, ≥ 2 s, the queue's 10 s", rec.HangupBy, rec.TalkMS, rec.WrapUpMS)
	}
	if st, reason := s.agentState("1001"); st != "not_ready" || reason != "ring-no-answer" {
		t.Errorf("Alice is %s (%s), want not_ready (ring-no-answer)", st, reason)
	}

	// What the caller heard: never silent for more than 1 s while queued,
	// then the agent's voice (the 1 kHz tone).
	pkts := e.packets()
	if err := checkContinuity(pkts, 80*time.Millisecond); err != nil {
		t.Errorf("caller's stream: %v", err)
	}
	heard := decodedPCMU(pkts)
	connectedAt := -1
	for i := 0; i+800 <= len(heard); i += 800 {
		if toneShare(heard[i:i+800], 1000) > 0.5 && rms16(heard[i:i+800]) > 300 {
			connectedAt = i
			break
		}
	}
	if connectedAt < 0 {
		t.Fatal("the caller never heard the agent")
	}
	silentRun, longest := 0, 0
	answeredAt := 8000 // skip the first second (answer)
	for i := answeredAt; i+160 <= connectedAt; i += 160 {
		if rms16(heard[i:i+160]) < 50 {
			silentRun++
			longest = max(longest, silentRun)
		} else {
			silentRun = 0
		}
	}
	if longest*20 > 1000 {
		t.Errorf("caller heard %d ms of silence while queued (R10: never left in silence)", longest*20)
	}
	if got := toneSeconds(heard, 1000); got < 2 {
		t.Errorf("caller heard the agent for %.1f s, want ≥ 2 s", got)
	}
	if got := toneSeconds(bob.heard(), 600); got < 2 {
		t.Errorf("agent heard the caller for %.1f s, want ≥ 2 s", got)
	}
	if got := s.metric(`hotline_agent_ring_attempts_total{queue="support",result="no_answer"}`); got != 1 {
		t.Errorf("no-answer ring attempts = %v, want 1", got)
	}
}

// R7 with an agent: when the agent hangs up first, the caller is not hung
// up on. The caller hears the closing and hangs up; no BYE reaches the
// caller before that.
func TestAgentHangsUpFirstCallerHearsClosingAndHangsUpLast(t *testing.T) {
	t.Parallel()
	s := startServer(t, "language: en\n"+agentsYAML(""))
	dir := t.TempDir()
	agentMic := filepath.Join(dir, "agent-1khz.wav")
	writeToneWAV(t, agentMic, 1000, 60)
	bob := startAgent(t, s, agentOpts{user: "1002", password: "bob-secret-22", autoAnswer: true, mic: agentMic, slot: 1})
	s.waitAgentState("1002", "ready", 10*time.Second)

	earPort := s.rtpMin + 180
	e := listenEar(t, earPort)
	sc := scenario(t, dir, "caller_hangs_up.xml", hangsUp{Ear: earPort, Codecs: "0"})
	done := make(chan sippRun, 1)
	go func() { done <- runSipp(t, s, sc, 60*time.Second, "-d", "22000") }()

	s.waitAgentState("1002", "on_call", 20*time.Second)
	time.Sleep(2 * time.Second)
	bob.command("hangup")
	run := <-done
	if run.Exit != 0 {
		t.Fatalf("sipp exit %d (a BYE from hotline would abort the caller's scenario): %v\n%s", run.Exit, run.firstLines(), run.Output)
	}
	for _, m := range run.Msgs {
		if !m.Sent && strings.HasPrefix(m.First, "BYE") {
			t.Fatal("hotline sent BYE to the caller (R7)")
		}
	}
	rec := s.waitRecord(run.find(t, true, "INVITE").header("Call-ID"))
	if rec.HangupBy != "agent" || rec.EndedBy != "caller" || rec.Agent != "1002" {
		t.Fatalf("record hangup_by %q ended_by %q agent %q, want agent/caller/1002", rec.HangupBy, rec.EndedBy, rec.Agent)
	}
	cat := catalogue(t, "en")
	if _, _, err := findClip(e.packets(), pcmu(cat, "closing_thanks")); err != nil {
		t.Errorf("the caller did not hear the closing after the agent left: %v", err)
	}
	if st, _ := s.agentState("1002"); st != "wrap_up" && st != "ready" {
		t.Errorf("agent is %s after the call, want wrap_up or ready", st)
	}
}

// A caller who hangs up while queued is recorded as abandoned with the
// wait; with no agent logged in and on_no_agents: close, the caller hears
// the no-agent notice and the closing.
func TestQueueAbandonAndNoAgentsBehaviour(t *testing.T) {
	t.Parallel()
	t.Run("abandoned while waiting", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "language: en\n"+agentsYAML("queues:\n  - {name: support, on_no_agents: wait}\n"))
		sc := scenario(t, t.TempDir(), "caller_hangs_up.xml", hangsUp{Ear: s.rtpMin + 180, Codecs: "0"})
		listenEar(t, s.rtpMin+180)
		run := runSipp(t, s, sc, 30*time.Second, "-d", "12000")
		rec := s.waitRecord(run.find(t, true, "INVITE").header("Call-ID"))
		if rec.QueueResult != "abandoned" || rec.QueueWaitMS < 3000 || rec.QueuePosition != 1 || rec.HangupBy != "caller" {
			t.Fatalf("record %+v, want abandoned after waiting, position 1", rec)
		}
		if got := s.metric(`hotline_queue_wait_seconds_count{outcome="abandoned",queue="support"}`); got != 1 {
			t.Errorf("abandoned waits = %v, want 1", got)
		}
	})
	t.Run("no agent logged in", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "language: en\nclosing: {safety_timeout: 2s}\n"+agentsYAML(""))
		sc := scenario(t, t.TempDir(), "caller_stays.xml", struct{ Ear, WaitBye int }{s.rtpMin + 180, 60000})
		listenEar(t, s.rtpMin+180)
		run := runSipp(t, s, sc, 70*time.Second)
		rec := s.waitRecord(run.find(t, true, "INVITE").header("Call-ID"))
		if rec.QueueResult != "no_agents" || !contains(rec.Prompts, "no_agent") || !contains(rec.Prompts, "closing_thanks") {
			t.Fatalf("record %+v, want no_agents, the no-agent notice and the closing", rec)
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
