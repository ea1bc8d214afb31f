package e2e

import (
	"strings"
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
	sdp := "v=0\no=caller 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n"
	sc := scenario(t, t.TempDir(), "refused.xml", struct {
		Status    int
		Why, CSeq string
		Body      string
	}{503, "at capacity", "1", indent(sdp)})
	start := time.Now()
	// A media port of its own: the first sipp holds the default one.
	run := runSippOn(t, s, sc, 15*time.Second, freeSIPPort(t), s.rtpMin+160)
	var refusal sipMsg
	for _, m := range run.Msgs {
		if !m.Sent && strings.HasPrefix(m.First, "SIP/2.0 5") {
			refusal = m
			break
		}
	}
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
	r := <-first
	if r.Exit != 0 {
		t.Fatalf("the call already up was disturbed: sipp exit %d: %v", r.Exit, r.firstLines())
	}
	rec := s.waitRecord(r.find(t, true, "INVITE").header("Call-ID"))
	if rec.Disposition != "completed" {
		t.Errorf("first call record %+v, want completed", rec)
	}
}
