//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loadReport is the part of bench/loadgen's -json output the smoke test
// checks.
type loadReport struct {
	Calls, Answered, Completed, Refused, Failed int
	FailReasons                                 map[string]int
	NoAudio2s                                   int
	HotlineAlive                                bool
	HotlineErrors                               int
	HotlineNice                                 string
	GOGC                                        float64
	AgentsRegistered, AgentsFailed              int
	AgentLegs, AgentLegsAnswered                int
	AgentRTPSent, AgentRTPReceived              uint64
	AgentRTPLost                                int64
	PerCall                                     []struct {
		CallID       string  `json:"call_id"`
		Outcome      string  `json:"outcome"`
		Reason       string  `json:"reason"`
		Invite200MS  float64 `json:"invite_200_ms"`
		FirstAudioMS float64 `json:"first_audio_ms"`
		RTPReceived  uint64  `json:"rtp_received"`
	}
}

// TestLoadSmoke runs the load generator at a small scale against a hotline
// it starts: 200 IVR callers at 50 calls a second, each holding 20 s in the
// queue with music and reassurance. It checks correctness only, not speed:
// every call answered within three rings (R1), audio from the 200 OK on,
// and a call record for every call with the caller hanging up (R6, R7).
func TestLoadSmoke(t *testing.T) {
	const (
		calls = 200
		hold  = 20 * time.Second
	)
	rep, work := runLoadgen(t, "-mode", "ivr", "-calls", fmt.Sprint(calls), "-cps", "50", "-hold", hold.String(), "-timeout", "60s")

	if rep.Calls != calls || rep.Answered != calls || rep.Completed != calls || rep.Failed != 0 || rep.Refused != 0 {
		t.Fatalf("calls %d: answered %d, completed %d, refused %d, failed %d %v; want all %d answered and completed",
			rep.Calls, rep.Answered, rep.Completed, rep.Refused, rep.Failed, rep.FailReasons, calls)
	}
	if !rep.HotlineAlive {
		t.Fatal("hotline was not running at the end of the load")
	}
	// process.nice: started by root (as the suite runs), hotline runs all
	// its threads, those started under load included, at the default -10.
	if os.Geteuid() == 0 && !strings.HasPrefix(rep.HotlineNice, "-10 on all ") {
		t.Errorf("hotline's threads run at nice %q, want -10 on all of them (process.nice)", rep.HotlineNice)
	}
	// process.gc_percent: the built-in default reaches the runtime, as
	// hotline's own go_gc_gogc_percent series shows (GOGC in the suite's
	// environment, which hotline inherits, would be kept over it).
	if os.Getenv("GOGC") == "" && rep.GOGC != 50 {
		t.Errorf("hotline's GC target is %v %%, want the default process.gc_percent 50", rep.GOGC)
	}
	// R1: answered within three rings of the default cadence (1 s on,
	// 4 s off).
	const threeRings = 3 * 5 * time.Second
	// Frames of the hold (20 ms each); at least 80 % must arrive.
	minPackets := uint64(0.8 * float64(hold/(20*time.Millisecond)))
	byID := map[string]bool{}
	for _, c := range rep.PerCall {
		byID[c.CallID] = true
		if c.Invite200MS < 0 || c.Invite200MS > float64(threeRings.Milliseconds()) {
			t.Errorf("call %s: INVITE→200 %.0f ms, want within three rings (%v)", c.CallID, c.Invite200MS, threeRings)
		}
		if c.FirstAudioMS < 0 || c.FirstAudioMS > 2000 {
			t.Errorf("call %s: first RTP %.0f ms after the 200 OK, want within 2 s", c.CallID, c.FirstAudioMS)
		}
		if c.RTPReceived < minPackets {
			t.Errorf("call %s: received %d RTP packets in a %v hold, want at least %d", c.CallID, c.RTPReceived, hold, minPackets)
		}
	}
	if len(byID) != calls {
		t.Fatalf("loadgen reported %d distinct calls, want %d", len(byID), calls)
	}

	// R6/R7: every call has its record, and the caller hung up.
	for _, r := range loadRecords(t, work, byID, calls) {
		if r.HangupBy != "caller" {
			t.Errorf("record %s: hangup_by %q (%s), want caller", r.CallID, r.HangupBy, r.HangupReason)
		}
		if r.AnswerRings < 1 || r.AnswerRings > 3 {
			t.Errorf("record %s: answered after %d rings, want 1-3 (R1)", r.CallID, r.AnswerRings)
		}
	}
}

// TestLoadSmokeBridged runs the load generator's bridged mode at a small
// scale: 105 agents register with digest and answer with audio, and 100
// callers at 25 a second are each put through to one of them and talk
// for 15 s. It checks correctness only: every caller answered and put
// through to an agent of their own, every agent's leg with hotline's
// audio for its whole talk, and every call's record naming the agent,
// with the caller hanging up (R6, R7). What the relay carries is checked
// by the softphone tests (linphone_test.go, feature_test.go).
func TestLoadSmokeBridged(t *testing.T) {
	const (
		calls  = 100
		agents = 105
		hold   = 15 * time.Second
	)
	rep, work := runLoadgen(t, "-mode", "bridged", "-calls", fmt.Sprint(calls), "-agents", fmt.Sprint(agents),
		"-cps", "25", "-hold", hold.String(), "-timeout", "60s")
	if rep.Calls != calls || rep.Answered != calls || rep.Completed != calls || rep.Failed != 0 || rep.Refused != 0 {
		t.Fatalf("calls %d: answered %d, completed %d, refused %d, failed %d %v; want all %d answered and completed",
			rep.Calls, rep.Answered, rep.Completed, rep.Refused, rep.Failed, rep.FailReasons, calls)
	}
	if rep.AgentsRegistered != agents || rep.AgentsFailed != 0 {
		t.Fatalf("agents: %d registered, %d failed; want all %d registered", rep.AgentsRegistered, rep.AgentsFailed, agents)
	}
	if rep.AgentLegs != calls || rep.AgentLegsAnswered != calls {
		t.Fatalf("agent legs: %d offered, %d answered; want %d of each", rep.AgentLegs, rep.AgentLegsAnswered, calls)
	}
	if !rep.HotlineAlive || rep.HotlineErrors != 0 {
		t.Fatalf("hotline alive %t with %d ERROR lines in its log", rep.HotlineAlive, rep.HotlineErrors)
	}
	// The callers' side: each heard hotline from the 200 OK on (greeting,
	// queue, then its agent), at least 80 % of the call's 20 ms frames.
	minPackets := uint64(0.8 * float64(hold/(20*time.Millisecond)))
	byID := map[string]bool{}
	for _, c := range rep.PerCall {
		byID[c.CallID] = true
		if c.FirstAudioMS < 0 || c.FirstAudioMS > 2000 {
			t.Errorf("call %s: first RTP %.0f ms after the 200 OK, want within 2 s", c.CallID, c.FirstAudioMS)
		}
		if c.RTPReceived < minPackets {
			t.Errorf("call %s: received %d RTP packets in a %v talk, want at least %d", c.CallID, c.RTPReceived, hold, minPackets)
		}
	}
	agentOf := map[string]string{}
	var talk time.Duration
	for _, r := range loadRecords(t, work, byID, calls) {
		talk += time.Duration(r.TalkMS) * time.Millisecond
		if r.TalkMS < 2000 {
			t.Errorf("record %s: talked %d ms with agent %q, want the rest of the call after greeting and queue", r.CallID, r.TalkMS, r.Agent)
		}
		if r.HangupBy != "caller" || r.QueueResult != "answered" || r.Agent == "" {
			t.Errorf("record %s: hangup_by %q, queue_result %q, agent %q; want caller, answered and the agent",
				r.CallID, r.HangupBy, r.QueueResult, r.Agent)
		}
		if other, dup := agentOf[r.Agent]; dup && r.Agent != "" {
			t.Errorf("agent %s talked to %s and %s at once", r.Agent, other, r.CallID)
		}
		agentOf[r.Agent] = r.CallID
	}
	t.Logf("talk %v in all; agents sent %d, received %d", talk, rep.AgentRTPSent, rep.AgentRTPReceived)
	// Every agent's leg had hotline's audio for its whole talk (its
	// caller's, relayed, or silence between): at least 80 % of the talks'
	// 20 ms frames, none lost.
	if want := uint64(0.8 * float64(talk/(20*time.Millisecond))); rep.AgentRTPReceived < want || rep.AgentRTPLost != 0 {
		t.Errorf("agents received %d RTP packets (%d lost) in %v of talk, want at least %d and none lost",
			rep.AgentRTPReceived, rep.AgentRTPLost, talk, want)
	}
}

// runLoadgen builds bench/loadgen and runs it with args against a hotline
// it starts in a work directory of the test's, within 75 s, and returns
// its JSON report and that directory.
func runLoadgen(t *testing.T, args ...string) (loadReport, string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "loadgen")
	if out, err := exec.Command("go", "build", "-o", bin, "../bench/loadgen").CombinedOutput(); err != nil {
		t.Fatalf("building bench/loadgen: %v\n%s", err, out)
	}
	work := filepath.Join(dir, "run")
	jsonPath := filepath.Join(dir, "report.json")
	ctx, cancel := context.WithTimeout(context.Background(), 75*time.Second)
	defer cancel()
	args = append([]string{"-hotline", hotlineBin}, args...)
	args = append(args, "-audio", "../prompts/audio/zh-CN", "-workdir", work, "-json", jsonPath, "-quiet")
	cmd := exec.CommandContext(ctx, bin, args...)
	// loadgen stops hotline itself (TERM, then KILL); if the test's own
	// deadline strikes first, CommandContext kills loadgen by PID.
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("loadgen: %v\n%s\nhotline log tail:\n%s", err, out, logTail(filepath.Join(work, "hotline.log")))
	}
	t.Logf("loadgen:\n%s", out)
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep loadReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("loadgen -json: %v", err)
	}
	return rep, work
}

// loadRecords reads the call records of a loadgen run's hotline and
// returns those of the calls in byID, failing unless there are want.
func loadRecords(t *testing.T, work string, byID map[string]bool, want int) []record {
	t.Helper()
	recOut, err := exec.Command(hotlineBin, "calls", "--json", "--last", "1000", "--db", filepath.Join(work, "hotline.db")).Output()
	if err != nil {
		t.Fatalf("hotline calls: %v", err)
	}
	var recs []record
	if err := json.Unmarshal(recOut, &recs); err != nil {
		t.Fatalf("hotline calls --json: %v", err)
	}
	var ours []record
	for _, r := range recs {
		if byID[r.CallID] {
			ours = append(ours, r)
		}
	}
	if len(ours) != want {
		t.Fatalf("%d call records for the %d calls", len(ours), want)
	}
	return ours
}

// logTail is the end of the log at path, for a failure message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
