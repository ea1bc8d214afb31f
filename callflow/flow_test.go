package callflow

import (
	"errors"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/calllog"
	"github.com/hotline-dev/hotline/config"
	"github.com/hotline-dev/hotline/prompts"
	"github.com/hotline-dev/hotline/queue"
	"github.com/hotline-dev/hotline/sip"
)

var (
	catOnce sync.Once
	cat     *prompts.Catalogue
	catErr  error
)

func catalogue(t *testing.T) *prompts.Catalogue {
	t.Helper()
	catOnce.Do(func() { cat, catErr = prompts.Load(prompts.Options{Language: "zh-CN"}) })
	if catErr != nil {
		t.Fatalf("prompts: %v", catErr)
	}
	return cat
}

type harness struct {
	t       *testing.T
	clk     *fakeClock
	leg     *fakeLeg
	media   *fakeMedia
	journal *fakeJournal
	eng     *Engine
	done    chan struct{}

	queues   *queue.Manager // with agents, for transfer tests
	mediaMu  sync.Mutex
	legMedia map[string]*fakeMedia // agent legs' media by session name
	bridges  [][2]Media            // every Bridge call, in order
}

// mediaOf returns the media the flow opened under id (e.g. "t-1/1002"),
// waiting for it to exist.
func (h *harness) mediaOf(id string) *fakeMedia {
	h.t.Helper()
	var m *fakeMedia
	h.eventually("media "+id+" opened", func() bool {
		h.mediaMu.Lock()
		defer h.mediaMu.Unlock()
		m = h.legMedia[id]
		return m != nil
	})
	return m
}

// bridgedLast reports whether the latest bridge joined a and b.
func (h *harness) bridgedLast(a, b Media) bool {
	h.mediaMu.Lock()
	defer h.mediaMu.Unlock()
	if len(h.bridges) == 0 {
		return false
	}
	p := h.bridges[len(h.bridges)-1]
	return (p[0] == a && p[1] == b) || (p[0] == b && p[1] == a)
}

// shanghai9am is a Monday morning in the default timezone.
var shanghai9am = time.Date(2026, 11, 23, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))

func startCall(t *testing.T, at time.Time, mutate func(*config.Config)) *harness {
	t.Helper()
	cfg := config.Default()
	if mutate != nil {
		mutate(cfg)
	}
	h := &harness{t: t, clk: newFakeClock(at), leg: newFakeLeg(), journal: &fakeJournal{}, done: make(chan struct{})}
	h.media = newFakeMedia(catalogue(t))
	eng, err := New(Options{
		Config: cfg, Prompts: catalogue(t), Journal: h.journal, Clock: h.clk,
		NewMedia: func(string) (Media, error) { return h.media, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	h.eng = eng
	info := CallInfo{ID: "call-1", Caller: "13800138000", Called: "100", Arrived: at,
		Offer: sip.Offer{Remote: netip.MustParseAddrPort("127.0.0.1:40000"), PayloadType: 0, DTMFPayloadType: 101, Direction: sip.SendRecv}}
	go func() { eng.Run(info, h.leg); close(h.done) }()
	return h
}

func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("never happened: %s (events %v)", what, h.journal.eventTypes())
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *harness) finished() calllog.Record {
	h.t.Helper()
	select {
	case <-h.done:
	case <-time.After(3 * time.Second):
		h.t.Fatalf("flow did not end (events %v)", h.journal.eventTypes())
	}
	if n := h.journal.recordCount(); n != 1 {
		h.t.Fatalf("%d call records, want exactly 1", n)
	}
	return h.journal.records[0]
}

// toClosingWait runs a call through answer, greeting and closing to the
// point where it waits for the caller to hang up.
func (h *harness) toClosingWait() {
	h.t.Helper()
	h.clk.waitTimer(h.t)
	h.clk.advance(time.Second) // answer delay
	h.eventually("closing pause", func() bool { return slices.Contains(h.journal.eventTypes(), "closing") && h.clk.pending() > 0 })
	h.clk.advance(1500 * time.Millisecond) // closing pause
	h.eventually("thanks played", func() bool {
		return slices.Contains(h.media.playedIDs(), prompts.ClosingThanks) && h.clk.pending() > 0
	})
}

func TestAnswersAtEndOfFirstRingBurstNotBefore(t *testing.T) {
	h := startCall(t, shanghai9am, nil)
	h.clk.waitTimer(t)
	if rang, answered, _ := h.leg.state(); !rang || answered {
		t.Fatalf("at arrival: rang=%v answered=%v, want ringing and not answered (R1)", rang, answered)
	}
	h.clk.advance(999 * time.Millisecond)
	time.Sleep(10 * time.Millisecond)
	if _, answered, _ := h.leg.state(); answered {
		t.Fatal("answered before the 1 s answer delay")
	}
	h.clk.advance(time.Millisecond)
	h.eventually("answer", func() bool { _, a, _ := h.leg.state(); return a })
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.AnswerDelay != time.Second || rec.AnswerRings != 1 {
		t.Fatalf("answer delay %v in ring %d, want 1s in ring 1", rec.AnswerDelay, rec.AnswerRings)
	}
	if !h.media.started {
		t.Fatal("media never started")
	}
}

func TestAnswerDelayCountsFromTheInviteNotFromTheFlow(t *testing.T) {
	h := startCall(t, shanghai9am, func(c *config.Config) { c.Answer.Delay = 14 * time.Second })
	h.clk.waitTimer(t)
	h.clk.advance(14 * time.Second)
	h.eventually("answer", func() bool { _, a, _ := h.leg.state(); return a })
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.AnswerRings != 3 {
		t.Fatalf("answered 14 s after the INVITE counted in ring %d, want 3", rec.AnswerRings)
	}
}

func TestGreetingFollowsLocalTimeOfDay(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	tests := []struct {
		at   time.Time
		want prompts.ID
		part string
	}{
		{time.Date(2026, 11, 23, 5, 0, 0, 0, cst), prompts.GreetMorning, "morning"},
		{time.Date(2026, 11, 23, 10, 59, 0, 0, cst), prompts.GreetMorning, "morning"},
		{time.Date(2026, 11, 23, 11, 0, 0, 0, cst), prompts.GreetNoon, "noon"},
		{time.Date(2026, 11, 23, 15, 30, 0, 0, cst), prompts.GreetAfternoon, "afternoon"},
		{time.Date(2026, 11, 23, 21, 0, 0, 0, cst), prompts.GreetEvening, "evening"},
		{time.Date(2026, 11, 23, 4, 59, 0, 0, cst), prompts.GreetEvening, "evening"},
		// 01:30 UTC is 09:30 in Shanghai: the configured zone decides.
		{time.Date(2026, 11, 23, 1, 30, 0, 0, time.UTC), prompts.GreetMorning, "morning"},
	}
	for _, tt := range tests {
		t.Run(tt.at.Format("15:04 MST"), func(t *testing.T) {
			h := startCall(t, tt.at, nil)
			h.clk.waitTimer(t)
			h.clk.advance(time.Second)
			h.eventually("greeting", func() bool { return len(h.media.playedIDs()) >= 3 })
			h.leg.callerHangsUp()
			rec := h.finished()
			got := h.media.playedIDs()[:3]
			if want := []prompts.ID{tt.want, prompts.Company, prompts.OfferHelp}; !slices.Equal(got, want) {
				t.Fatalf("greeting %v, want %v (R2)", got, want)
			}
			if rec.Greeting != tt.part {
				t.Fatalf("record greeting %q, want %q", rec.Greeting, tt.part)
			}
		})
	}
}

func TestCallerHangsUpFirstAndOnlyThenTheRecordIsWritten(t *testing.T) {
	h := startCall(t, shanghai9am, nil)
	h.toClosingWait()
	want := []prompts.ID{prompts.GreetMorning, prompts.Company, prompts.OfferHelp, prompts.NoAgent, prompts.ClosingAnythingElse, prompts.ClosingThanks}
	if got := h.media.playedIDs(); !slices.Equal(got, want) {
		t.Fatalf("played %v, want %v", got, want)
	}
	h.clk.advance(29 * time.Second)
	time.Sleep(10 * time.Millisecond)
	if _, _, hungUp := h.leg.state(); hungUp {
		t.Fatal("hotline hung up before the closing safety timeout (R7)")
	}
	if h.journal.recordCount() != 0 {
		t.Fatal("record written while the caller is still on the line (R6)")
	}
	h.leg.callerHangsUp()
	rec := h.finished()
	if _, _, hungUp := h.leg.state(); hungUp {
		t.Fatal("hotline sent BYE although the caller hung up")
	}
	if rec.HangupBy != calllog.HangupCaller || rec.HangupReason != "bye" || rec.Disposition != calllog.DispositionCompleted || rec.SIPStatus != 200 {
		t.Fatalf("record %+v, want caller/bye/completed/200", rec)
	}
	if !slices.Equal(rec.Prompts, []string{"greet_morning", "company", "offer_help", "no_agent", "closing_anything_else", "closing_thanks"}) {
		t.Fatalf("record prompts %v", rec.Prompts)
	}
	if !h.media.closed {
		t.Fatal("media not closed")
	}
}

func TestClosingSafetyTimeoutEndsTheCallFromOurSide(t *testing.T) {
	h := startCall(t, shanghai9am, func(c *config.Config) { c.Closing.SafetyTimeout = 3 * time.Second })
	h.toClosingWait()
	h.clk.advance(3 * time.Second)
	rec := h.finished()
	if _, _, hungUp := h.leg.state(); !hungUp {
		t.Fatal("no BYE after the safety timeout")
	}
	if rec.HangupBy != calllog.HangupSystem || rec.HangupReason != "closing timeout" || rec.Disposition != calllog.DispositionCompleted {
		t.Fatalf("record %s/%s/%s, want system/closing timeout/completed", rec.HangupBy, rec.HangupReason, rec.Disposition)
	}
}

func TestCancelWhileRingingIsRecordedAsAbandoned(t *testing.T) {
	h := startCall(t, shanghai9am, nil)
	h.clk.waitTimer(t)
	h.leg.callerHangsUp()
	rec := h.finished()
	if _, answered, _ := h.leg.state(); answered {
		t.Fatal("answered a cancelled call")
	}
	if rec.Disposition != calllog.DispositionAbandonedRinging || rec.HangupBy != calllog.HangupCaller || rec.HangupReason != "cancel" || rec.SIPStatus != 487 {
		t.Fatalf("record %+v, want abandoned_ringing by caller, 487", rec)
	}
	if len(h.media.playedIDs()) != 0 {
		t.Fatal("played prompts to a cancelled call")
	}
}

func TestCallerHangingUpMidPromptStopsTheFlowAtOnce(t *testing.T) {
	h := startCall(t, shanghai9am, nil)
	h.media.block = true
	h.clk.waitTimer(t)
	h.clk.advance(time.Second)
	h.eventually("greeting playing", func() bool { return len(h.media.playedIDs()) > 0 })
	h.leg.callerHangsUp()
	rec := h.finished()
	if rec.HangupBy != calllog.HangupCaller {
		t.Fatalf("hangup_by %q", rec.HangupBy)
	}
	if slices.Contains(h.media.playedIDs(), prompts.NoAgent) {
		t.Fatal("flow carried on after the caller hung up")
	}
}

func TestRTPTimeoutEndsAVanishedCall(t *testing.T) {
	h := startCall(t, shanghai9am, nil)
	h.media.block = true
	h.clk.waitTimer(t)
	h.clk.advance(time.Second)
	h.eventually("greeting playing", func() bool { return len(h.media.playedIDs()) > 0 })
	h.media.goInactive()
	rec := h.finished()
	if _, _, hungUp := h.leg.state(); !hungUp {
		t.Fatal("no BYE on RTP timeout")
	}
	if rec.HangupBy != calllog.HangupSystem || rec.HangupReason != "rtp timeout" || rec.Disposition != calllog.DispositionFailed {
		t.Fatalf("record %s/%s/%s", rec.HangupBy, rec.HangupReason, rec.Disposition)
	}
}

func withMenu(c *config.Config) {
	c.Menu = &config.Menu{Prompt: "menu", Timeout: 5 * time.Second, MaxRepeats: 3, Options: map[string]config.MenuOption{
		"1": {Action: config.ActionRepeatGreeting},
		"2": {Action: config.ActionPlay, Prompt: "hours"},
		"0": {Action: config.ActionClose},
	}}
}

func TestMenuDigitsTriggerTheirActions(t *testing.T) {
	tests := []struct {
		name  string
		keys  string
		after []prompts.ID // what follows the first menu prompt
	}{
		{"1 repeats the greeting", "1", []prompts.ID{prompts.GreetMorning, prompts.Company, prompts.OfferHelp, prompts.Menu}},
		{"2 plays the hours", "2", []prompts.ID{prompts.Hours, prompts.Menu}},
		{"0 goes straight to the closing", "0", []prompts.ID{prompts.ClosingAnythingElse}},
		{"9 is not a choice", "9", []prompts.ID{prompts.InvalidChoice, prompts.Menu}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startCall(t, shanghai9am, withMenu)
			h.clk.waitTimer(t)
			h.clk.advance(time.Second)
			h.eventually("menu prompt", func() bool { return slices.Contains(h.media.playedIDs(), prompts.Menu) })
			h.media.digits <- tt.keys[0]
			h.eventually("action", func() bool {
				p := h.media.playedIDs()
				i := slices.Index(p, prompts.Menu)
				return len(p) >= i+1+len(tt.after) && slices.Equal(p[i+1:i+1+len(tt.after)], tt.after)
			})
			h.leg.callerHangsUp()
			rec := h.finished()
			if rec.Digits != tt.keys {
				t.Fatalf("record digits %q, want %q", rec.Digits, tt.keys)
			}
			if tt.keys == "0" && slices.Contains(h.media.playedIDs(), prompts.NoAgent) {
				t.Fatal("close action still played the no-agent notice")
			}
		})
	}
}

func TestMenuTimeoutCarriesOnToTheNoAgentNotice(t *testing.T) {
	h := startCall(t, shanghai9am, withMenu)
	h.clk.waitTimer(t)
	h.clk.advance(time.Second)
	h.eventually("menu waiting for a key", func() bool {
		return slices.Contains(h.media.playedIDs(), prompts.Menu) && h.clk.pending() > 0
	})
	h.clk.advance(5 * time.Second)
	h.eventually("no-agent notice", func() bool { return slices.Contains(h.media.playedIDs(), prompts.NoAgent) })
	h.leg.callerHangsUp()
	if rec := h.finished(); rec.Digits != "" {
		t.Fatalf("digits %q", rec.Digits)
	}
}

func TestSIPInfoDigitsWorkLikeRFC4733(t *testing.T) {
	h := startCall(t, shanghai9am, withMenu)
	h.clk.waitTimer(t)
	h.clk.advance(time.Second)
	h.eventually("menu", func() bool { return slices.Contains(h.media.playedIDs(), prompts.Menu) })
	h.leg.digits <- '2'
	h.eventually("hours", func() bool { return slices.Contains(h.media.playedIDs(), prompts.Hours) })
	h.leg.callerHangsUp()
	if rec := h.finished(); rec.Digits != "2" {
		t.Fatalf("digits %q", rec.Digits)
	}
}

func TestShutdownEndsAnsweredCallsWithReason(t *testing.T) {
	h := startCall(t, shanghai9am, nil)
	h.toClosingWait()
	go h.eng.Shutdown(t.Context())
	rec := h.finished()
	if rec.HangupBy != calllog.HangupSystem || rec.HangupReason != "shutdown" || rec.Disposition != calllog.DispositionInterrupted {
		t.Fatalf("record %s/%s/%s", rec.HangupBy, rec.HangupReason, rec.Disposition)
	}
}

func TestNoMediaPortRejectsWith503AndRecordsIt(t *testing.T) {
	cfg := config.Default()
	j := &fakeJournal{}
	leg := newFakeLeg()
	eng, err := New(Options{Config: cfg, Prompts: catalogue(t), Journal: j, Clock: newFakeClock(shanghai9am),
		NewMedia: func(string) (Media, error) { return nil, errors.New("media: no free RTP ports") }})
	if err != nil {
		t.Fatal(err)
	}
	eng.Run(CallInfo{ID: "c", Arrived: shanghai9am}, leg)
	if leg.rejected != 503 || len(j.records) != 1 || j.records[0].Disposition != calllog.DispositionRejected {
		t.Fatalf("rejected=%d records=%+v", leg.rejected, j.records)
	}
}

func TestRingsAt(t *testing.T) {
	cycle := 5 * time.Second
	for _, tt := range []struct {
		d    time.Duration
		want int
	}{{0, 1}, {time.Second, 1}, {5 * time.Second, 1}, {5*time.Second + time.Millisecond, 2}, {15 * time.Second, 3}, {16 * time.Second, 4}} {
		if got := ringsAt(tt.d, cycle); got != tt.want {
			t.Errorf("ringsAt(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

// A call holds one goroutine, its flow, for its whole life: a hotline
// carries thousands at once, and each goroutine's stack is memory they
// all hold. Hang-up, RTP inactivity, shutdown and live speech events
// reach the flow without a goroutine of their own waiting for them.
func TestACallHoldsOneGoroutine(t *testing.T) {
	h := startCall(t, shanghai9am, nil)
	h.media.block = true
	h.clk.waitTimer(t)
	h.clk.advance(time.Second)
	h.eventually("greeting playing", func() bool { return len(h.media.playedIDs()) > 0 })
	during := runtime.NumGoroutine()
	h.leg.callerHangsUp()
	h.finished()
	// The flow's goroutine (here the harness's) ends with the call, and
	// with it the only goroutine the call held.
	h.eventually("the call's goroutines ended", func() bool { return runtime.NumGoroutine() <= during-1 })
	if after := runtime.NumGoroutine(); during-after != 1 {
		t.Errorf("the call held %d goroutines, want 1", during-after)
	}
}
