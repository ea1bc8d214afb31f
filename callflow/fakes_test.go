package callflow

import (
	"context"
	"net/netip"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/analysis"
	"github.com/hotline-dev/hotline/calllog"
	"github.com/hotline-dev/hotline/prompts"
	"github.com/hotline-dev/hotline/sip"
)

// fakeClock fires timers only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	added  chan struct{}
}

type fakeTimer struct {
	clk  *fakeClock
	at   time.Time
	c    chan time.Time
	done bool
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, added: make(chan struct{}, 1024)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	t := &fakeTimer{clk: f, at: f.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.done = true
		t.c <- f.now
	} else {
		f.timers = append(f.timers, t)
	}
	f.mu.Unlock()
	f.added <- struct{}{}
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// pending is the number of armed timers.
func (f *fakeClock) pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.timers {
		if !t.done {
			n++
		}
	}
	return n
}

// waitTimer blocks until some timer is armed (the flow is waiting on it).
func (f *fakeClock) waitTimer(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for f.pending() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("flow never started a timer")
		}
		time.Sleep(time.Millisecond)
	}
}

// advance moves time on, firing due timers in order.
func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	sort.Slice(f.timers, func(i, j int) bool { return f.timers[i].at.Before(f.timers[j].at) })
	var keep []*fakeTimer
	for _, t := range f.timers {
		if t.done {
			continue
		}
		if !t.at.After(f.now) {
			t.done = true
			t.c <- t.at
			continue
		}
		keep = append(keep, t)
	}
	f.timers = keep
	f.mu.Unlock()
}

type fakeLeg struct {
	mu       sync.Mutex
	onEnd    func()
	rang     bool
	answered bool
	port     int
	rejected int
	hungUp   bool
	final    int
	done     chan struct{}
	once     sync.Once
	cause    sip.EndCause
	digits   chan byte
	released chan struct{}
	onMedia  func(sip.Offer)
}

func newFakeLeg() *fakeLeg {
	return &fakeLeg{done: make(chan struct{}), digits: make(chan byte, 8), released: make(chan struct{})}
}

func (l *fakeLeg) Ring() error { l.mu.Lock(); l.rang = true; l.mu.Unlock(); return nil }
func (l *fakeLeg) Answer(ctx context.Context, port int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.done:
		return sip.ErrCallEnded
	default:
	}
	l.answered, l.port, l.final = true, port, 200
	return nil
}
func (l *fakeLeg) Reject(code int, reason string) error {
	l.mu.Lock()
	l.rejected, l.final = code, code
	l.mu.Unlock()
	return nil
}
func (l *fakeLeg) Hangup(ctx context.Context) error {
	l.mu.Lock()
	l.hungUp = true
	l.mu.Unlock()
	l.end(sip.EndLocal)
	return nil
}

// callerHangsUp is the caller's BYE (or CANCEL before the answer).
func (l *fakeLeg) callerHangsUp() {
	l.mu.Lock()
	if !l.answered && l.final == 0 {
		l.final = 487
	}
	l.mu.Unlock()
	l.end(sip.EndBye)
}

func (l *fakeLeg) end(c sip.EndCause) {
	l.once.Do(func() {
		l.mu.Lock()
		l.cause = c
		close(l.done)
		f := l.onEnd
		l.mu.Unlock()
		if f != nil {
			go f()
		}
	})
}

func (l *fakeLeg) OnEnd(f func()) {
	l.mu.Lock()
	l.onEnd = f
	ended := l.cause != ""
	l.mu.Unlock()
	if ended {
		go f()
	}
}

func (l *fakeLeg) Done() <-chan struct{} { return l.done }
func (l *fakeLeg) EndCause() sip.EndCause {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cause
}
func (l *fakeLeg) FinalStatus() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.final
}
func (l *fakeLeg) Digits() <-chan byte { return l.digits }
func (l *fakeLeg) OnMediaChange(f func(sip.Offer)) {
	l.mu.Lock()
	l.onMedia = f
	l.mu.Unlock()
}
func (l *fakeLeg) Release() { close(l.released) }

func (l *fakeLeg) state() (rang, answered, hungUp bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rang, l.answered, l.hungUp
}

// fakeMedia plays instantly and tells the test which prompts it played.
type fakeMedia struct {
	cat      *prompts.Catalogue
	mu       sync.Mutex
	played   []prompts.ID
	started  bool
	closed   bool
	remote   netip.AddrPort
	digits   chan byte
	inactive chan struct{}
	// block makes Play wait for the context (a long prompt).
	block bool
	// speech analysis as the flow drives it
	leg        *analysis.LegAnalyser
	conv       *analysis.Conversation
	convs      int // conversations attached over the call
	onEvent    func(analysis.Event)
	onInactive func()
	held       bool
}

func newFakeMedia(cat *prompts.Catalogue) *fakeMedia {
	return &fakeMedia{cat: cat, digits: make(chan byte, 8), inactive: make(chan struct{})}
}

func (m *fakeMedia) LocalPort() int { return 10002 }
func (m *fakeMedia) Configure(remote netip.AddrPort, pt, dtmf uint8) error {
	m.mu.Lock()
	m.remote = remote
	m.mu.Unlock()
	return nil
}
func (m *fakeMedia) ExpectSourceIP(netip.Addr) {}
func (m *fakeMedia) Start()                    { m.mu.Lock(); m.started = true; m.mu.Unlock() }
func (m *fakeMedia) Play(ctx context.Context, clips ...[]byte) error {
	m.mu.Lock()
	for _, clip := range clips {
		for _, id := range prompts.IDs() {
			if a := m.cat.Get(id); a != nil && len(clip) > 0 && &a.Payload(0)[0] == &clip[0] {
				m.played = append(m.played, id)
			}
		}
	}
	block := m.block
	m.mu.Unlock()
	if block {
		<-ctx.Done()
		return context.Cause(ctx)
	}
	return ctx.Err()
}
func (m *fakeMedia) Begin(ctx context.Context, loop bool, clips ...[]byte) <-chan error {
	result := make(chan error, 1)
	go func() {
		if loop {
			result <- m.Loop(ctx, clips...)
		} else {
			result <- m.Play(ctx, clips...)
		}
	}()
	return result
}
func (m *fakeMedia) Loop(ctx context.Context, clips ...[]byte) error {
	<-ctx.Done()
	return context.Cause(ctx)
}
func (m *fakeMedia) Analyse(l *analysis.LegAnalyser) { m.mu.Lock(); m.leg = l; m.mu.Unlock() }
func (m *fakeMedia) Converse(c *analysis.Conversation) {
	m.mu.Lock()
	m.conv = c
	if c != nil {
		m.convs++
	}
	m.mu.Unlock()
}
func (m *fakeMedia) OnSpeechEvent(f func(analysis.Event)) { m.mu.Lock(); m.onEvent = f; m.mu.Unlock() }

// speechEvent delivers ev as the media engine does: to the function
// registered with OnSpeechEvent, if any, and reports whether there was one.
func (m *fakeMedia) speechEvent(ev analysis.Event) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.onEvent == nil {
		return false
	}
	m.onEvent(ev)
	return true
}

func (m *fakeMedia) OnInactive(f func()) { m.mu.Lock(); m.onInactive = f; m.mu.Unlock() }

// goInactive is the RTP inactivity timeout firing.
func (m *fakeMedia) goInactive() {
	close(m.inactive)
	m.mu.Lock()
	f := m.onInactive
	m.mu.Unlock()
	if f != nil {
		go f()
	}
}
func (m *fakeMedia) SetHold(on bool)    { m.mu.Lock(); m.held = on; m.mu.Unlock() }
func (m *fakeMedia) AllowQuiet(on bool) {}
func (m *fakeMedia) KeepDigits(on bool) {}
func (m *fakeMedia) LegSummary() (analysis.LegSummary, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leg == nil {
		return analysis.LegSummary{}, false
	}
	return m.leg.Summary(), true
}
func (m *fakeMedia) ConversationSummary() (analysis.ConversationSummary, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conv == nil {
		return analysis.ConversationSummary{}, false
	}
	return m.conv.Summary(), true
}
func (m *fakeMedia) Digits() <-chan byte       { return m.digits }
func (m *fakeMedia) Inactive() <-chan struct{} { return m.inactive }
func (m *fakeMedia) Close() error              { m.mu.Lock(); m.closed = true; m.mu.Unlock(); return nil }
func (m *fakeMedia) playedIDs() []prompts.ID {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]prompts.ID(nil), m.played...)
}

// fakeJournal keeps events and records in memory.
type fakeJournal struct {
	mu      sync.Mutex
	events  []calllog.Event
	records []calllog.Record
}

func (j *fakeJournal) AppendEvent(ev calllog.Event) error {
	j.mu.Lock()
	j.events = append(j.events, ev)
	j.mu.Unlock()
	return nil
}

func (j *fakeJournal) WriteRecord(ctx context.Context, rec calllog.Record) error {
	j.mu.Lock()
	j.records = append(j.records, rec)
	j.mu.Unlock()
	return nil
}

func (j *fakeJournal) recordCount() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.records)
}

func (j *fakeJournal) eventTypes() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []string
	for _, e := range j.events {
		out = append(out, e.Type)
	}
	return out
}
