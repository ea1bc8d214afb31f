package media

import (
	"sync"

	"github.com/hotline-dev/hotline/analysis"
)

// Speech analysis in the media path (DOMAIN.md R9). Three goroutines touch
// it, and none of them gets a goroutine or timer of its own:
//   - the receive path (the session's receive goroutine with a port per
//     call, the shard's pacer with a shared port) puts the received audio,
//     still G.711, into the session's ring of received frames (rxRing),
//     which the bridge relay reads too;
//   - the pacer, in each 20 ms slot of the session (right after sending the
//     slot's frame), decodes one frame from the ring into the leg analyser —
//     or reports the slot as silence — and then ticks the conversation;
//   - the call flow attaches and detaches analysers, sets hold and reads
//     summaries.
//
// The analysers are not safe for concurrent use, and a Conversation on the
// caller's session reads the agent's LegAnalyser, which the agent session's
// slot writes. So analysis state is guarded by an analysisLock that every
// session starts with alone and that Engine.Bridge makes common to both
// legs, for as long as they live: whichever session's slot or flow call
// touches an analyser of the pair, it holds the one lock. The lock is held
// for one Frame and one Tick (a few microseconds) and contended only by the
// two legs of one call and their flow.
const (
	// analysisJitterSlots is how many slots in a row may find the ring empty
	// before further empty slots count as silence: packets that arrive in
	// bursts leave empty slots that their later frames make up for, and
	// counting those as silence would inflate silence and shift the leg's
	// time against the real one.
	analysisJitterSlots = 3
)

// analysisLock guards the sessionAnalysis of every session that points to
// it (Session.alock).
type analysisLock struct {
	mu sync.Mutex
	// members are the sessions that use this lock; only Engine.Bridge,
	// under Engine.bridgeMu, reads or changes it.
	members []*Session
}

// sessionAnalysis is a session's analysis state, guarded by its analysis
// lock.
type sessionAnalysis struct {
	leg  *analysis.LegAnalyser
	conv *analysis.Conversation
	// onEvent receives the conversation's events (OnSpeechEvent).
	onEvent func(analysis.Event)
	// empty counts slots in a row that found no received frame, up to
	// analysisJitterSlots.
	empty int
}

// lockAnalysis locks and returns the session's analysis lock. Bridge may
// move the session to another lock while it waits, so it checks it got the
// current one.
func (s *Session) lockAnalysis() *analysisLock {
	for {
		l := s.alock.Load()
		l.mu.Lock()
		if s.alock.Load() == l {
			return l
		}
		l.mu.Unlock()
	}
}

// shareAnalysisLock makes a and b — and every session that already shares
// a lock with either — use one analysis lock from now on. The caller holds
// e.bridgeMu, so no one else ever holds two analysis locks and taking both
// here cannot deadlock. Sharing is never undone: a Conversation may still
// read the other leg's analyser after the bridge ends, until the flow
// detaches it.
func shareAnalysisLock(a, b *Session) {
	la, lb := a.alock.Load(), b.alock.Load()
	if la == lb {
		return
	}
	if len(la.members) < len(lb.members) {
		la, lb = lb, la
	}
	la.mu.Lock()
	lb.mu.Lock()
	for _, m := range lb.members {
		m.alock.Store(la)
	}
	la.members = append(la.members, lb.members...)
	lb.members = nil
	lb.mu.Unlock()
	la.mu.Unlock()
}

// Analyse attaches a leg analyser to the session: every 20 ms of audio
// received on the session (decoded from PCMU/PCMA; other ptimes re-framed
// into 160-sample frames) is fed to it once per 20 ms slot of this
// session's pacer; slots with no received audio feed Silence — but tolerate
// jitter: only after the receive buffer has been empty for 3 consecutive
// slots do further empty slots count as Silence(1) each (so bursty arrival
// does not inflate silence). Comfort noise (PT 13) and telephone-events
// count as no audio. nil detaches. Safe to call at any time from any
// goroutine.
//
// Only audio from the latched source (symmetric RTP) is analysed, as only
// it is relayed on a bridge. Attaching starts from an empty receive buffer.
// Once Analyse(nil) returns, the engine no longer touches the old analyser.
func (s *Session) Analyse(leg *analysis.LegAnalyser) {
	l := s.lockAnalysis()
	s.an.leg = leg
	s.an.empty = 0
	// Frames decoded for a previous analyser must not reach this one.
	s.ring.attachAnalysis(s.analysisGen.Add(1), leg != nil)
	s.setFlag(flagAnalysing, leg != nil)
	s.setFlag(flagAnalysisOn, leg != nil || s.an.conv != nil)
	l.mu.Unlock()
}

// Converse attaches a conversation ticked once per 20 ms slot of this
// session, right after this session's own analyser was fed in that slot.
// Before each tick the session sets conv.SetPlaying(true) while this
// session is sending its own prompt/music (an active Play or Loop) and
// false otherwise. Events other than analysis.NoEvent go to the function
// given to OnSpeechEvent. nil detaches (and stops ticking). Safe from any
// goroutine.
//
// A Conversation over two legs (caller and agent) goes on the caller's
// session while the agent's LegAnalyser is attached, with Analyse, to the
// agent's session. Its Tick reads the agent analyser, which the agent
// session's slot writes; that is safe because the two sessions share one
// analysis lock from the moment Engine.Bridge joins them (and ever after).
// So attach such a Conversation, or the agent's analyser, only once the
// sessions are bridged; before that they are guarded by different locks.
// The agent's frame of a slot is the one of the agent session's latest
// slot, up to 20 ms away, since each session keeps its own slot phase.
//
// A conversation attached here starts off hold (see SetHold). Once
// Converse(nil) returns, the engine no longer touches the old conversation.
func (s *Session) Converse(conv *analysis.Conversation) {
	l := s.lockAnalysis()
	s.an.conv = conv
	s.setFlag(flagAnalysisOn, s.an.leg != nil || conv != nil)
	l.mu.Unlock()
}

// OnSpeechEvent registers f to receive the attached conversation's events
// (dead air started and ended); nil unregisters. f runs on the pacer's
// goroutine, in the 20 ms slot that produced the event, with the session's
// analysis lock held: it must return at once (hand the event to another
// goroutine) and must not call back into the session. Once OnSpeechEvent
// returns, the old f is no longer called.
func (s *Session) OnSpeechEvent(f func(analysis.Event)) {
	l := s.lockAnalysis()
	s.an.onEvent = f
	l.mu.Unlock()
}

// SetHold forwards to the attached conversation under the session's
// analysis lock (hold excluded from dead air). Without a conversation it
// does nothing; the next one attached starts off hold.
func (s *Session) SetHold(on bool) {
	l := s.lockAnalysis()
	if s.an.conv != nil {
		s.an.conv.SetHold(on)
	}
	l.mu.Unlock()
}

// LegSummary returns the attached analyser's summary under the lock (zero
// value and false when none is attached).
func (s *Session) LegSummary() (analysis.LegSummary, bool) {
	l := s.lockAnalysis()
	defer l.mu.Unlock()
	if s.an.leg == nil {
		return analysis.LegSummary{}, false
	}
	return s.an.leg.Summary(), true
}

// ConversationSummary returns the attached conversation's summary under
// the lock (zero value and false when none is attached).
func (s *Session) ConversationSummary() (analysis.ConversationSummary, bool) {
	l := s.lockAnalysis()
	defer l.mu.Unlock()
	if s.an.conv == nil {
		return analysis.ConversationSummary{}, false
	}
	return s.an.conv.Summary(), true
}

// playing reports whether the session is sending its own audio now.
func (s *Session) playing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.play != nil || s.tailSet
}

// analyse is the analysis part of one 20 ms slot of s, run by the pacer
// after the slot's frame was sent; playing says that frame was the
// session's own prompt or music. It feeds the leg analyser one received
// frame (or, past the jitter allowance, one frame of silence) and then
// ticks the conversation. It allocates nothing and makes no syscall.
func (p *pacer) analyse(s *Session, playing bool) {
	l := s.lockAnalysis()
	a := &s.an
	if a.leg != nil {
		switch {
		case s.ring.popAnalysis(&p.pcm):
			a.empty = 0
			a.leg.Frame(p.pcm[:])
		case a.empty < analysisJitterSlots:
			a.empty++ // maybe late, not silent: its frame may still come
		default:
			a.leg.Silence(1)
		}
	}
	if c := a.conv; c != nil {
		c.SetPlaying(playing)
		if ev := c.Tick(); ev != analysis.NoEvent && a.onEvent != nil {
			a.onEvent(ev)
		}
	}
	l.mu.Unlock()
}
