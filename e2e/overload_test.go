//go:build linux

package e2e

import (
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Overload: past limits.max_calls a new call is refused at once with 503
// and Retry-After (RFC 3261 section 21.5.4), counted for supervisors,
// while the call already up carries on untouched and is recorded (R1
// holds for every call accepted; R6).
func TestCallsPastCapacityAreRefusedWithRetryAfter(t *testing.T) {
	t.Parallel()
	s := startServer(t, "limits:\n  max_calls: 1\n  retry_after: 7s\nclosing:\n  safety_timeout: 4s\n")
	first := callStaysUp(t, s)
	start := time.Now()
	run, refusal := placeRefusedCall(t, s, "at capacity")
	if !strings.HasPrefix(refusal.First, "SIP/2.0 503") || refusal.header("Retry-After") != "7" {
		t.Fatalf("second call got %q with Retry-After %q, want 503 with Retry-After 7 (sipp exit %d: %v)",
			refusal.First, refusal.header("Retry-After"), run.Exit, run.firstLines())
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the refusal took %v; it must come at once", took)
	}
	if got := s.metric("hotline_calls_refused_overload_total"); got != 1 {
		t.Errorf("hotline_calls_refused_overload_total = %v, want 1", got)
	}
	completedUndisturbed(t, s, first)
}

// With no capacity configured, a server whose audio keeps falling behind
// refuses new calls with 503 and Retry-After until its pacer keeps time
// again (limits.max_media_lateness, on by default). Here the server gets
// 40 ms of every 100 (SIGSTOP and SIGCONT), as a starved machine or a CPU
// quota would give it: the call up has frames later than 20 ms all the
// time. A new call is refused at once and counted; the call already up
// carries on and is recorded; once the server has the CPU again, a new call
// is answered again (R1).
func TestNewCallsAreRefusedWhileTheAudioIsBehind(t *testing.T) {
	t.Parallel()
	s := startServer(t, "closing:\n  safety_timeout: 4s\n")
	first := callStaysUp(t, s)
	time.Sleep(2 * time.Second) // answered after the 1 s ring; its audio is flowing

	starved := throttle(t, s.cmd.Process.Pid, 60*time.Millisecond, 40*time.Millisecond)
	time.Sleep(2 * time.Second) // over a second of late audio
	run, refusal := placeRefusedCall(t, s, "audio behind")
	starved()
	if !strings.HasPrefix(refusal.First, "SIP/2.0 503") || refusal.header("Retry-After") != "5" {
		t.Fatalf("a call while the audio was behind got %q with Retry-After %q, want 503 with Retry-After 5 (sipp exit %d: %v)",
			refusal.First, refusal.header("Retry-After"), run.Exit, run.firstLines())
	}
	if w := refusal.header("Warning"); !strings.Contains(w, "audio behind") {
		t.Errorf("the 503's Warning %q does not say the audio is behind", w)
	}
	if got := s.metric("hotline_calls_refused_overload_total"); got != 1 {
		t.Errorf("hotline_calls_refused_overload_total = %v, want 1", got)
	}

	// With the CPU back, a second on time ends the refusals.
	time.Sleep(2 * time.Second)
	earAgain := s.rtpMin + 184
	listenEar(t, earAgain)
	again := runSippOn(t, s, scenario(t, t.TempDir(), "caller_hangs_up.xml", hangsUp{Ear: earAgain, Codecs: "0"}),
		30*time.Second, freeSIPPort(t), s.rtpMin+170, "-d", "1000")
	if again.Exit != 0 {
		t.Fatalf("a call after the audio caught up was not served: sipp exit %d: %v", again.Exit, again.firstLines())
	}
	if got := s.metric("hotline_calls_refused_overload_total"); got != 1 {
		t.Errorf("hotline_calls_refused_overload_total = %v after the audio caught up, want still 1", got)
	}

	completedUndisturbed(t, s, first)
}

// throttle stops and continues process pid in turn (stopped for off, then
// running for on) until the returned function is called, which leaves it
// running. The test's cleanup calls it too.
func throttle(t *testing.T, pid int, off, on time.Duration) (stop func()) {
	t.Helper()
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer syscall.Kill(pid, syscall.SIGCONT)
		for {
			select {
			case <-quit:
				return
			default:
			}
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				return
			}
			time.Sleep(off)
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				return
			}
			time.Sleep(on)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(quit); <-done }) }
	t.Cleanup(stop)
	return stop
}

// callStaysUp places a call that stays until hotline's BYE (the closing's
// safety timeout) and waits until it is active; the channel gets its run.
func callStaysUp(t *testing.T, s *server) <-chan sippRun {
	t.Helper()
	ear := s.rtpMin + 180
	listenEar(t, ear)
	first := make(chan sippRun, 1)
	go func() {
		sc := scenario(t, t.TempDir(), "caller_stays.xml", struct{ Ear, WaitBye int }{ear, 40000})
		first <- runSipp(t, s, sc, 50*time.Second)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for s.metric("hotline_calls_active") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the first call never became active")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return first
}

// placeRefusedCall places a call that expects a 503 (why names the cause
// in the scenario) and returns the run and the 5xx it got, if any.
func placeRefusedCall(t *testing.T, s *server, why string) (sippRun, sipMsg) {
	t.Helper()
	sdp := "v=0\no=caller 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n"
	sc := scenario(t, t.TempDir(), "refused.xml", struct {
		Status    int
		Why, CSeq string
		Body      string
	}{503, why, "1", indent(sdp)})
	// A media port of its own: the call that stays holds the default one.
	run := runSippOn(t, s, sc, 15*time.Second, freeSIPPort(t), s.rtpMin+160)
	for _, m := range run.Msgs {
		if !m.Sent && strings.HasPrefix(m.First, "SIP/2.0 5") {
			return run, m
		}
	}
	return run, sipMsg{}
}

// completedUndisturbed waits for the call that stayed up: it must end as
// the scenario expects and be recorded as completed (R6).
func completedUndisturbed(t *testing.T, s *server, first <-chan sippRun) {
	t.Helper()
	r := <-first
	if r.Exit != 0 {
		t.Fatalf("the call already up was disturbed: sipp exit %d: %v", r.Exit, r.firstLines())
	}
	rec := s.waitRecord(r.find(t, true, "INVITE").header("Call-ID"))
	if rec.Disposition != "completed" {
		t.Errorf("first call record %+v, want completed", rec)
	}
}
