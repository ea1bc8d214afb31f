package callflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline-dev/hotline/analysis"
	"github.com/hotline-dev/hotline/calllog"
	"github.com/hotline-dev/hotline/config"
	"github.com/hotline-dev/hotline/metrics"
	"github.com/hotline-dev/hotline/prompts"
	"github.com/hotline-dev/hotline/queue"
	"github.com/hotline-dev/hotline/sip"
)

// Leg is the caller's SIP leg as the flow drives it; *sip.InboundCall is
// the real one.
type Leg interface {
	Ring() error
	Answer(ctx context.Context, mediaPort int) error
	Reject(code int, reason string) error
	Hangup(ctx context.Context) error
	Done() <-chan struct{}
	// OnEnd runs f on a goroutine of its own once Done closes (at once
	// if it has).
	OnEnd(f func())
	EndCause() sip.EndCause
	FinalStatus() int
	Digits() <-chan byte
	OnMediaChange(func(sip.Offer))
	Release()
}

// Media is the caller's RTP session as the flow uses it; *media.Session is
// the real one.
type Media interface {
	LocalPort() int
	Configure(remote netip.AddrPort, payloadType, dtmfPayloadType uint8) error
	// ExpectSourceIP names the IP the phone's signalling came from, for a
	// phone whose SDP names another (NAT); before Configure.
	ExpectSourceIP(ip netip.Addr)
	Start()
	Play(ctx context.Context, clips ...[]byte) error
	Loop(ctx context.Context, clips ...[]byte) error
	// Begin starts a Play (loop false) or Loop and returns at once; the
	// channel receives what Play or Loop would have returned. The flow
	// waits for it in the same select as for keys, timers and agents,
	// with no goroutine parked on the playback.
	Begin(ctx context.Context, loop bool, clips ...[]byte) <-chan error
	// Speech analysis (R9): a leg analyser fed with the audio received,
	// and a conversation ticked every 20 ms on this leg.
	Analyse(leg *analysis.LegAnalyser)
	Converse(conv *analysis.Conversation)
	// OnSpeechEvent receives the conversation's events on the media
	// engine's goroutine, which f must not hold up.
	OnSpeechEvent(f func(analysis.Event))
	SetHold(on bool)
	// AllowQuiet suspends the RTP inactivity check while a phone on hold
	// may send nothing.
	AllowQuiet(on bool)
	// KeepDigits keeps this leg's key presses out of the bridge relay.
	KeepDigits(on bool)
	LegSummary() (analysis.LegSummary, bool)
	ConversationSummary() (analysis.ConversationSummary, bool)
	Digits() <-chan byte
	Inactive() <-chan struct{}
	// OnInactive runs f on a goroutine of its own once Inactive closes
	// (at once if it has).
	OnInactive(f func())
	Close() error
}

// MediaFactory opens the RTP session for a new call.
type MediaFactory func(callID string) (Media, error)

// Journal is where events and the record go (R6); *calllog.Store is the
// real one.
type Journal interface {
	AppendEvent(calllog.Event) error
	WriteRecord(ctx context.Context, rec calllog.Record) error
}

// CallInfo is what the flow knows of a call when it arrives.
type CallInfo struct {
	ID      string
	Caller  string // data only, never logged (R12)
	Called  string
	Arrived time.Time
	Offer   sip.Offer
}

// Options wires an Engine.
type Options struct {
	Config   *config.Config
	Prompts  *prompts.Catalogue
	NewMedia MediaFactory
	Journal  Journal
	Metrics  *metrics.Recorder // may be nil
	Clock    Clock             // nil: RealClock
	Logger   *slog.Logger      // nil: slog.Default()
	// Queues, Agents and Bridge connect callers to agents; with Queues nil
	// the flow is IVR only (no-agent notice, then the closing).
	Queues       *queue.Manager
	Agents       AgentDialer
	Bridge       Bridger
	QueueMetrics *metrics.QueueRecorder // may be nil
	// SpeechMetrics receives the R9 measures; may be nil.
	SpeechMetrics *metrics.SpeechRecorder
	// ClosingPause is the silence between "anything else?" and the thanks
	// in the closing; zero means the default of 1.5 s.
	ClosingPause time.Duration
}

// Engine runs one flow goroutine per call.
type Engine struct {
	opts     Options
	log      *slog.Logger
	stopping context.Context
	stop     context.CancelCauseFunc
	wg       sync.WaitGroup
	active   atomic.Int64
	// callerLegs counts the calls whose caller's media has started.
	callerLegs atomic.Int64
	// whisperNames are the queue names spoken to agents (rendered once).
	whisperNames map[string]*prompts.Audio
	// consults are the agents' consultation calls in progress, by the
	// agent phone's Call-ID, for attended transfers to find.
	consultMu sync.Mutex
	consults  map[string]*consultation
}

// New checks the wiring and returns an Engine ready to take calls.
func New(opts Options) (*Engine, error) {
	switch {
	case opts.Config == nil:
		return nil, errors.New("callflow: Options.Config is required")
	case opts.Prompts == nil:
		return nil, errors.New("callflow: Options.Prompts is required")
	case opts.NewMedia == nil:
		return nil, errors.New("callflow: Options.NewMedia is required")
	case opts.Journal == nil:
		return nil, errors.New("callflow: Options.Journal is required")
	}
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ClosingPause == 0 {
		opts.ClosingPause = 1500 * time.Millisecond
	}
	if m := opts.Config.Menu; m != nil {
		ids := []string{m.Prompt}
		for _, o := range m.Options {
			if o.Prompt != "" {
				ids = append(ids, o.Prompt)
			}
		}
		for _, id := range ids {
			if opts.Prompts.Get(prompts.ID(id)) == nil {
				return nil, fmt.Errorf("callflow: menu prompt %q is not in the prompt catalogue", id)
			}
		}
	}
	if opts.Queues != nil && (opts.Agents == nil || opts.Bridge == nil) {
		return nil, errors.New("callflow: Options.Agents and Options.Bridge are required with Queues")
	}
	e := &Engine{opts: opts, log: callLogger(opts.Logger), whisperNames: map[string]*prompts.Audio{}, consults: map[string]*consultation{}}
	for _, q := range opts.Config.Queues {
		if q.Whisper || q.TransferConfirm {
			e.whisperNames[q.Name] = opts.Prompts.Render(q.Name)
		}
	}
	e.stopping, e.stop = context.WithCancelCause(context.Background())
	return e, nil
}

// Active is the number of calls whose flow is running.
func (e *Engine) Active() int { return int(e.active.Load()) }

// LegsComing forecasts how many media legs the calls in progress will add
// soon, and one more call with them, for the overload guard
// (media.Engine.Overloaded). A caller's own leg starts at the answer,
// after answer.delay of ringing (R1); an agent's starts seconds later,
// once the greeting and the queue are behind the caller and the agent's
// phone has answered. So every caller not answered yet counts for a leg
// to come. Every caller not yet with an agent gets one while agents are
// ringing or ready, so each counts for one more, up to that many agents.
// The new caller counts for their own leg, and for an agent's if one is
// left for them. Agents on a call already have their leg.
func (e *Engine) LegsComing() int {
	active := e.Active()
	coming := 1 + max(active-int(e.callerLegs.Load()), 0)
	if e.opts.Queues == nil {
		return coming // IVR only: no agent legs
	}
	n := e.opts.Queues.Counts()
	withoutAgent := max(active-n.OnCall, 0)
	free := n.Ringing + n.Ready
	coming += min(withoutAgent, free)
	if free > withoutAgent {
		coming++
	}
	return coming
}

// HandleInvite runs the flow of a call offered by the SIP server; it is
// sip.Config.OnInvite and returns when the call is over and recorded.
func (e *Engine) HandleInvite(c *sip.InboundCall) {
	if c.Agent != "" {
		e.wg.Add(1)
		defer e.wg.Done()
		e.handleAgentCall(c)
		return
	}
	e.runCall(e.callFor(c))
}

// Run runs one call's flow to its end on the calling goroutine.
func (e *Engine) Run(info CallInfo, leg Leg) {
	e.runCall(newCall(e, info, leg))
}

// callFor makes the call for an inbound INVITE. It is a function of its
// own, kept out of HandleInvite, so the CallInfo it builds lives in a
// stack frame that is gone before the call's long wait starts.
//
//go:noinline
func (e *Engine) callFor(ic *sip.InboundCall) *call {
	return newCall(e, CallInfo{ID: ic.ID, Caller: ic.Caller, Called: ic.Called, Arrived: ic.Arrived, Offer: ic.Offer}, ic)
}

// runCall runs c to its end.
//
// Each call's goroutine spends its life parked several frames below here
// (runCall, run, talk, playWith, Play...; for a bridged call talk,
// serveFromQueue, converse), and the runtime halves a parked goroutine's
// stack at a GC only while it uses under a quarter of it, counting 800
// bytes of guard: under 1,248 bytes of frames for an 8 KiB stack. The
// frames stay under that, so an 8 KiB stack grown during call set-up (SIP,
// logging) drops back to 4 KiB: at thousands of calls that is megabytes.
// Work with big locals goes in helpers that return before the wait
// (begin, callFor, promptsFor, promptEnded, connectAgent).
func (e *Engine) runCall(c *call) {
	e.wg.Add(1)
	defer e.wg.Done()
	e.active.Add(1)
	defer e.active.Add(-1)
	c.run()
	if c.legUp {
		e.callerLegs.Add(-1)
	}
}

// Shutdown ends every call (BYE, reason shutdown, recorded) and waits for
// their records, or for ctx.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.stop(ErrShutdown) // every call's context is a child: this is their cause
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("callflow: shutdown: %d calls still ending: %w", e.Active(), ctx.Err())
	}
}

// configureFrom points m at the phone's SDP offer or answer o, telling it
// where the phone's signalling came from first.
func configureFrom(m Media, o sip.Offer) error {
	m.ExpectSourceIP(o.Source)
	return m.Configure(o.Remote, o.PayloadType, o.DTMFPayloadType)
}
