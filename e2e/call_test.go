//go:build linux

package e2e

import (
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/prompts"
)

func catalogue(t *testing.T, lang string) *prompts.Catalogue {
	t.Helper()
	cat, err := prompts.Load(prompts.Options{Language: lang})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func pcmu(cat *prompts.Catalogue, ids ...prompts.ID) []byte {
	var b []byte
	for _, id := range ids {
		b = append(b, cat.Get(id).Payload(0)...)
	}
	return b
}

type hangsUp struct {
	Ear       int
	Codecs    string
	PCAP      string
	AfterPCAP int
	// PCAPAtAnswer replays PCAP from the ACK on, during the -d pause.
	PCAPAtAnswer bool
}

// R1, R2, R6, R7 on one ordinary call: ringing at once, answered at the end
// of the first ring burst, the greeting heard whole and unbroken, the
// caller hangs up first, and only then is the call recorded.
func TestCallerIsAnsweredGreetedAndRecordedAfterHangingUp(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	earPort := s.rtpMin + 180
	e := listenEar(t, earPort)
	sc := scenario(t, t.TempDir(), "caller_hangs_up.xml", hangsUp{Ear: earPort, Codecs: "0 8"})

	// While the caller is still on the line, there must be no record (R6).
	var recordsDuringCall atomic.Int32
	recordsDuringCall.Store(-1)
	go func() {
		time.Sleep(5 * time.Second)
		recordsDuringCall.Store(int32(len(s.calls())))
	}()
	run := runSipp(t, s, sc, 40*time.Second, "-d", "11500")
	if run.Exit != 0 {
		t.Fatalf("sipp exit %d: %v\n%s", run.Exit, run.firstLines(), run.Output)
	}
	invite := run.find(t, true, "INVITE")
	ringing := run.find(t, false, "SIP/2.0 180")
	ok := run.find(t, false, "SIP/2.0 200")

	// R1: ringing at once, answer after the configured 1 s ring and within
	// three ring cycles (15 s).
	if d := ringing.At.Sub(invite.At); d > 200*time.Millisecond {
		t.Errorf("180 Ringing %v after the INVITE, want ≤ 200 ms", d)
	}
	if d := ok.At.Sub(invite.At); d < 950*time.Millisecond || d > 15*time.Second {
		t.Errorf("200 OK %v after the INVITE, want the 1 s answer delay and ≤ 15 s", d)
	}
	sdp := ok.body()
	for _, want := range []string{"m=audio ", "RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "c=IN IP4 127.0.0.1"} {
		if !strings.Contains(sdp, want) {
			t.Errorf("answer SDP lacks %q:\n%s", want, sdp)
		}
	}

	// R2: the greeting arrives whole, unbroken, not silent.
	cat := catalogue(t, "zh-CN")
	pkts := e.packets()
	if len(pkts) == 0 {
		t.Fatal("the caller heard nothing")
	}
	if pkts[0].At.Before(ok.At.Add(-50 * time.Millisecond)) {
		t.Errorf("audio before the answer")
	}
	if err := checkContinuity(pkts, 60*time.Millisecond); err != nil {
		t.Errorf("stream not continuous: %v", err)
	}
	var start, frames int
	var greeting []byte
	var variant prompts.ID
	for _, g := range []prompts.ID{prompts.GreetMorning, prompts.GreetNoon, prompts.GreetAfternoon, prompts.GreetEvening} {
		clip := pcmu(cat, g, prompts.Company, prompts.OfferHelp)
		if i, n, err := findClip(pkts, clip); err == nil {
			start, frames, greeting, variant = i, n, clip, g
			break
		}
	}
	if greeting == nil {
		t.Fatalf("no greeting variant found whole in %d received packets", len(pkts))
	}
	want := time.Duration(len(greeting)/160) * 20 * time.Millisecond
	heard := pkts[start+frames-1].At.Sub(pkts[start].At) + 20*time.Millisecond
	if diff := heard - want; diff < -100*time.Millisecond || diff > 100*time.Millisecond {
		t.Errorf("greeting heard for %v, it lasts %v (want within 100 ms)", heard, want)
	}
	if d := pkts[start].At.Sub(ok.At); d > 500*time.Millisecond {
		t.Errorf("greeting started %v after the answer", d)
	}
	if rms := rmsPCMU(greeting); rms < 500 {
		t.Errorf("greeting RMS %.0f: silent", rms)
	}

	if n := recordsDuringCall.Load(); n != 0 {
		t.Errorf("%d records while the caller was still on the line, want 0 (R6)", n)
	}
	rec := s.waitRecord(invite.header("Call-ID"))
	if rec.HangupBy != "caller" || rec.HangupReason != "bye" || rec.Disposition != "completed" || rec.SIPStatus != 200 {
		t.Errorf("record says %s/%s/%s/%d, want caller/bye/completed/200", rec.HangupBy, rec.HangupReason, rec.Disposition, rec.SIPStatus)
	}
	if rec.AnswerDelayMS < 950 || rec.AnswerDelayMS > 1500 || rec.AnswerRings != 1 {
		t.Errorf("record answer delay %d ms in ring %d, want ~1000 ms in ring 1", rec.AnswerDelayMS, rec.AnswerRings)
	}
	if rec.Caller != "13800138000" || rec.Called != "100" {
		t.Errorf("record caller %q called %q", rec.Caller, rec.Called)
	}
	if len(rec.Prompts) < 3 || rec.Prompts[0] != string(variant) || rec.Prompts[1] != "company" || rec.Prompts[2] != "offer_help" {
		t.Errorf("record prompts %v, want %s, company, offer_help first", rec.Prompts, variant)
	}
	if got := s.metric(`hotline_calls_answered_within_three_rings_total`); got != 1 {
		t.Errorf("answered within three rings = %v, want 1", got)
	}
	if got := s.metric(`hotline_hangups_total{party="caller",reason="bye"}`); got != 1 {
		t.Errorf("caller hangups = %v, want 1", got)
	}
}

// R7: a caller who stays on the line after the closing is released by
// hotline only once the safety timeout has run out after the last prompt.
func TestCallerWhoStaysIsReleasedOnlyAfterTheSafetyTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t, "language: en\nclosing:\n  safety_timeout: 2s\n")
	earPort := s.rtpMin + 180
	e := listenEar(t, earPort)
	sc := scenario(t, t.TempDir(), "caller_stays.xml", struct{ Ear, WaitBye int }{earPort, 60000})
	run := runSipp(t, s, sc, 70*time.Second)
	if run.Exit != 0 {
		t.Fatalf("sipp exit %d: %v\n%s", run.Exit, run.firstLines(), run.Output)
	}
	bye := run.find(t, false, "BYE")
	cat := catalogue(t, "en")
	pkts := e.packets()
	i, n, err := findClip(pkts, pcmu(cat, prompts.ClosingThanks))
	if err != nil {
		t.Fatalf("closing thanks not heard: %v", err)
	}
	lastPrompt := pkts[i+n-1].At.Add(20 * time.Millisecond)
	if d := bye.At.Sub(lastPrompt); d < 1900*time.Millisecond || d > 2600*time.Millisecond {
		t.Errorf("BYE came %v after the last prompt, want the 2 s safety timeout", d)
	}
	rec := s.waitRecord(bye.header("Call-ID"))
	if rec.HangupBy != "system" || rec.HangupReason != "closing timeout" || rec.Disposition != "completed" {
		t.Errorf("record says %s/%s/%s, want system/closing timeout/completed", rec.HangupBy, rec.HangupReason, rec.Disposition)
	}
	if !slices.Contains(rec.Prompts, "closing_anything_else") || !slices.Contains(rec.Prompts, "closing_thanks") {
		t.Errorf("record prompts %v lack the closing", rec.Prompts)
	}
}

// An RFC 4733 key press during the menu triggers the configured action.
func TestRFC4733DigitTriggersTheMenuAction(t *testing.T) {
	t.Parallel()
	s := startServer(t, `menu:
  timeout: 5s
  options:
    "1": {action: repeat_greeting}
    "2": {action: play, prompt: hours}
    "0": {action: close}
`)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "dtmf2.pcap")
	// The phone sends audio from the answer on; the key press comes nine
	// seconds in, during the menu.
	writeDTMFPcap(t, pcap, '2', 101, 450)
	earPort := s.rtpMin + 180
	listenEar(t, earPort)
	sc := scenario(t, dir, "caller_hangs_up.xml", hangsUp{Ear: earPort, Codecs: "0", PCAP: pcap, PCAPAtAnswer: true})
	// The greeting lasts about 9 s: the key arrives during the menu prompt.
	run := runSipp(t, s, sc, 40*time.Second, "-d", "14000")
	if run.Exit != 0 {
		t.Fatalf("sipp exit %d: %v\n%s", run.Exit, run.firstLines(), run.Output)
	}
	rec := s.waitRecord(run.find(t, true, "INVITE").header("Call-ID"))
	if rec.Digits != "2" {
		t.Fatalf("record digits %q, want one key press \"2\" (end packets collapsed)", rec.Digits)
	}
	m := slices.Index(rec.Prompts, "menu")
	if m < 0 || m+1 >= len(rec.Prompts) || rec.Prompts[m+1] != "hours" {
		t.Fatalf("record prompts %v, want the hours prompt right after the menu", rec.Prompts)
	}
	if got := s.metric(`hotline_menu_actions_total{action="play"}`); got != 1 {
		t.Errorf("menu play actions = %v, want 1", got)
	}
}

// CANCEL while ringing: 487, and the call is recorded as abandoned.
func TestCancelWhileRingingIsAnswered487AndRecordedAbandoned(t *testing.T) {
	t.Parallel()
	s := startServer(t, "answer:\n  delay: 4s\n")
	sc := scenario(t, t.TempDir(), "caller_cancels.xml", struct{ Ear int }{s.rtpMin + 180})
	run := runSipp(t, s, sc, 20*time.Second)
	if run.Exit != 0 {
		t.Fatalf("sipp exit %d: %v\n%s", run.Exit, run.firstLines(), run.Output)
	}
	run.find(t, false, "SIP/2.0 487")
	rec := s.waitRecord(run.find(t, true, "INVITE").header("Call-ID"))
	if rec.Disposition != "abandoned_ringing" || rec.HangupBy != "caller" || rec.HangupReason != "cancel" || rec.SIPStatus != 487 || rec.Answer != "" {
		t.Errorf("record %+v, want abandoned_ringing by caller (cancel), 487, never answered", rec)
	}
}

// Bad input gets a clear answer and the server carries on serving.
func TestBadRequestsAreRefusedAndTheNextCallSucceeds(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	sdp := func(m string) string {
		return "v=0\no=caller 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n" + m + "\n"
	}
	tests := []struct {
		name   string
		status int
		cseq   string
		body   string
	}{
		{"offer without PCMU or PCMA", 488, "1", sdp("m=audio 4000 RTP/AVP 18\na=rtpmap:18 G729/8000")},
		{"offer with only video", 488, "1", sdp("m=video 4000 RTP/AVP 96\na=rtpmap:96 H264/90000")},
		{"unparsable SDP", 400, "1", "this is not SDP\n"},
		{"malformed CSeq", 400, "abc", sdp("m=audio 4000 RTP/AVP 0")},
	}
	for _, tt := range tests {
		sc := scenario(t, t.TempDir(), "refused.xml", struct {
			Status    int
			Why, CSeq string
			Body      string
		}{tt.status, tt.name, tt.cseq, indent(tt.body)})
		run := runSipp(t, s, sc, 15*time.Second)
		got := ""
		for _, m := range run.Msgs {
			if !m.Sent && strings.HasPrefix(m.First, "SIP/2.0 ") && !strings.HasPrefix(m.First, "SIP/2.0 100") {
				got = m.First
				break
			}
		}
		if !strings.HasPrefix(got, "SIP/2.0 "+itoa(tt.status)) {
			t.Errorf("%s: got %q, want %d (sipp exit %d: %v)", tt.name, got, tt.status, run.Exit, run.firstLines())
		}
	}
	// Garbage on UDP is dropped and counted.
	conn, err := net.Dial("udp", "127.0.0.1:"+itoa(s.sipPort))
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("\x16\x03\x01 definitely not SIP"))
	conn.Close()
	time.Sleep(200 * time.Millisecond)
	if got := s.metric("hotline_sip_datagrams_dropped_total"); got < 1 {
		t.Errorf("dropped datagrams = %v, want ≥ 1", got)
	}
	if got := s.metric("hotline_sip_malformed_requests_total"); got < 2 {
		t.Errorf("malformed requests = %v, want ≥ 2", got)
	}

	// The next call, over TCP this time, still succeeds.
	earPort := s.rtpMin + 180
	listenEar(t, earPort)
	sc := scenario(t, t.TempDir(), "caller_hangs_up.xml", hangsUp{Ear: earPort, Codecs: "8 0"})
	run := runSipp(t, s, sc, 20*time.Second, "-t", "t1", "-d", "2000")
	ok := run.find(t, false, "SIP/2.0 200")
	if !strings.Contains(ok.body(), "a=rtpmap:8 PCMA/8000") {
		t.Errorf("PCMA-first offer answered with:\n%s", ok.body())
	}
	rec := s.waitRecord(run.find(t, true, "INVITE").header("Call-ID"))
	if rec.Disposition != "completed" || rec.HangupBy != "caller" {
		t.Errorf("call after the bad requests: %+v", rec)
	}
}

func indent(body string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		b.WriteString("      " + l + "\n")
	}
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

// A session refresh by re-INVITE is answered and the call carries on: the
// caller still hangs up first, and hears unbroken audio across it.
func TestReInviteRefreshKeepsTheCall(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	earPort := s.rtpMin + 180
	e := listenEar(t, earPort)
	sc := scenario(t, t.TempDir(), "caller_refreshes.xml", hangsUp{Ear: earPort, Codecs: "0"})
	run := runSipp(t, s, sc, 30*time.Second, "-d", "2000")
	if run.Exit != 0 {
		t.Fatalf("sipp exit %d: %v\n%s", run.Exit, run.firstLines(), run.Output)
	}
	var oks []sipMsg
	for _, m := range run.Msgs {
		if !m.Sent && strings.HasPrefix(m.First, "SIP/2.0 200") && strings.Contains(m.header("CSeq"), "INVITE") {
			oks = append(oks, m)
		}
	}
	if len(oks) < 2 {
		t.Fatalf("re-INVITE not answered with 200: %v", run.firstLines())
	}
	if a, b := oks[0].body(), oks[len(oks)-1].body(); a != b {
		t.Errorf("unchanged re-offer changed the answer (RFC 3264 section 8):\n%s\n---\n%s", a, b)
	}
	rec := s.waitRecord(run.find(t, true, "INVITE").header("Call-ID"))
	if rec.HangupBy != "caller" || rec.Disposition != "completed" {
		t.Errorf("record %s/%s, want the caller to have hung up a completed call", rec.HangupBy, rec.Disposition)
	}
	if err := checkContinuity(e.packets(), 80*time.Millisecond); err != nil {
		t.Errorf("audio broke across the refresh: %v", err)
	}
}
