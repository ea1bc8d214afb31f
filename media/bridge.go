package media

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Jitter buffer of each bridge direction. The far leg's packets arrive on
// its own clock and in bursts; the near leg's pacer takes one frame per
// 20 ms slot. The buffer sits in between.
const (
	// relayRing is the capacity of one direction's buffer: 120 ms, enough
	// to smooth a burst of five frames without loss.
	relayRing = 6
	// relayStart is how many frames must be buffered before relayed audio
	// starts, or restarts after an underrun: one frame of cushion against
	// jitter at the cost of 20 ms. A single frame that has already waited
	// one slot starts too, so the last frame of a talkspurt is never held
	// back.
	relayStart = 2
	// relayIdleAfter is how many empty slots in a row make the far leg count
	// as quiet (silence suppression, hold, a dead phone): from then on empty
	// slots are no longer counted as underruns, since there is nothing to
	// conceal.
	relayIdleAfter = 5
	// relayTrimWindow and relayTrimAbove bound the standing latency: if in
	// a whole second (50 slots) the buffer never held fewer than
	// relayTrimAbove+1 frames when a slot came, one frame is dropped. This
	// absorbs a far clock that runs fast (drift) and the backlog a burst
	// leaves behind, 20 ms at a time, instead of waiting for the ring to
	// overflow at 120 ms of delay.
	relayTrimWindow = 50
	relayTrimAbove  = 2
	// relayEvents is how many telephone-event packets wait for the pacer
	// per direction; a key press is seven packets, the pacer drains them
	// every 10 ms.
	relayEvents = 16
)

// Bridge relays audio and telephone-events between two sessions through the
// server (both legs anchored). Create it with Engine.Bridge.
type Bridge struct {
	a, b   *Session
	ab, ba *bridgeDir

	aToB, bToA, dropped, underruns, transcoded, events atomic.Uint64

	once sync.Once
	done chan struct{}
}

// BridgeStats are the counters of one bridge.
type BridgeStats struct {
	// AtoB and BtoA count frames relayed (sent on the other leg) each way.
	AtoB, BtoA uint64
	// Dropped counts frames discarded: the jitter buffer was full (oldest
	// dropped), a standing backlog was trimmed, a Play or Loop had the
	// receiving leg, or a telephone-event queue was full.
	Dropped uint64
	// Underruns counts slots concealed with silence because the buffer was
	// empty while the far leg was talking.
	Underruns uint64
	// Transcoded counts relayed frames converted between PCMU and PCMA.
	Transcoded uint64
	// Events counts telephone-event packets re-sent on the other leg.
	Events uint64
}

// Bridge relays audio between a and b through the server: each frame
// received on one leg is sent on the other leg's next 20 ms slot, transcoded
// (PCMU⇄PCMA, direct 256-entry tables) when the legs' codecs differ. RFC 4733
// telephone-events received on one leg are re-sent on the other leg when it
// negotiated telephone-event (with that leg's payload type, its own sequence
// numbers and timestamps, end packets repeated as received) — and still
// reported on the receiving session's Digits() channel.
//
// Only packets from the leg's latched source (symmetric RTP) are relayed, so
// a stray stream cannot be heard by the other party. Comfort noise and other
// payload types are not relayed. Payloads of any length (10 and 30 ms ptime
// are the usual others) are cut and joined into 20 ms frames.
//
// A Play or Loop on either session has priority on that session's outgoing
// slots; relayed frames for it are discarded meanwhile (counted in Dropped),
// never queued to burst out later.
//
// From the bridge on, the two sessions share one analysis lock, so a
// Conversation on one leg may read the other leg's LegAnalyser (see
// Session.Converse); the sharing outlives the bridge.
//
// It returns ErrBusy if either session is already bridged (or a and b are the
// same session) and ErrClosed if the engine or either session is closed.
func (e *Engine) Bridge(a, b *Session) (*Bridge, error) {
	switch {
	case a == nil || b == nil:
		return nil, errors.New("media: Bridge needs two sessions")
	case a.e != e || b.e != e:
		return nil, errors.New("media: Bridge of a session of another engine")
	case a == b:
		return nil, fmt.Errorf("media: bridge call %s with itself: %w", a.callID, ErrBusy)
	}
	// bridgeMu orders every two-session lock below, so Bridge(a, b) and
	// Bridge(b, a) cannot deadlock.
	e.bridgeMu.Lock()
	defer e.bridgeMu.Unlock()
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	br := &Bridge{a: a, b: b, done: make(chan struct{})}
	br.ab = newBridgeDir(br, a, b, &br.aToB)
	br.ba = newBridgeDir(br, b, a, &br.bToA)

	a.mu.Lock()
	b.mu.Lock()
	var err error
	switch {
	case a.closed || b.closed:
		err = fmt.Errorf("media: bridge calls %s and %s: %w", a.callID, b.callID, ErrClosed)
	case a.in != nil:
		err = fmt.Errorf("media: call %s is already bridged: %w", a.callID, ErrBusy)
	case b.in != nil:
		err = fmt.Errorf("media: call %s is already bridged: %w", b.callID, ErrBusy)
	default:
		a.in, a.lastRelayed = br.ba, false
		b.in, b.lastRelayed = br.ab, false
		a.ring.attachRelay(br.ab)
		b.ring.attachRelay(br.ba)
		a.out.Store(br.ab)
		b.out.Store(br.ba)
	}
	b.mu.Unlock()
	a.mu.Unlock()
	if err != nil {
		return nil, err
	}
	// From now on a Conversation on either leg may read the other leg's
	// analyser: they need one lock (see Session.Converse).
	shareAnalysisLock(a, b)
	e.log.Debug("rtp bridge up", "call_a", a.callID, "call_b", b.callID)
	return br, nil
}

// Close ends the bridge; both sessions go back to sending silence (or
// whatever Play/Loop is active). Idempotent. Closing either session also
// ends the bridge.
func (br *Bridge) Close() {
	br.once.Do(func() {
		for _, d := range [2]*bridgeDir{br.ab, br.ba} {
			s := d.from
			s.mu.Lock()
			if s.in != nil && s.in.br == br {
				s.in, s.lastRelayed = nil, false
				s.out.Store(nil)
			}
			s.ring.detachRelay(d)
			s.mu.Unlock()
		}
		close(br.done)
		st := br.Stats()
		br.a.e.log.Debug("rtp bridge down", "call_a", br.a.callID, "call_b", br.b.callID,
			"a_to_b", st.AtoB, "b_to_a", st.BtoA, "dropped", st.Dropped,
			"underruns", st.Underruns, "transcoded", st.Transcoded)
	})
}

// Done is closed when the bridge ends, by Close or by either session
// closing.
func (br *Bridge) Done() <-chan struct{} { return br.done }

// Stats of the relay: frames relayed each way, frames dropped for a full
// buffer, frames concealed (buffer empty at the slot), transcoded frames.
func (br *Bridge) Stats() BridgeStats {
	return BridgeStats{
		AtoB:       br.aToB.Load(),
		BtoA:       br.bToA.Load(),
		Dropped:    br.dropped.Load(),
		Underruns:  br.underruns.Load(),
		Transcoded: br.transcoded.Load(),
		Events:     br.events.Load(),
	}
}

// bridgeDir is one direction of a bridge: what from receives, read from
// from's received-audio ring (rxRing) by the pacer of to's shard. Its
// jitter state is guarded by that ring's mutex, since the ring's producer
// drops the direction's oldest frame when the buffer is full; mu guards
// the telephone-events.
type bridgeDir struct {
	br       *Bridge
	from, to *Session
	ring     *rxRing // from's received audio
	relayed  *atomic.Uint64

	// Jitter state, guarded by ring.mu. primed: relaying; cleared by an
	// underrun, so the buffer refills to relayStart before audio resumes.
	// waited: slots a lone frame waited.
	primed bool
	waited int
	// running: the far leg is talking, so an empty slot is an underrun.
	// empty: empty slots in a row.
	running bool
	empty   int
	// window and minDepth implement the latency trim.
	window, minDepth int

	mu             sync.Mutex
	events         [relayEvents]relayEvent
	evHead, evN    int
	evHave         bool   // consumer: a mapped event exists
	evSrc, evDstTS uint32 // consumer: source event timestamp → ours
}

// relayEvent is one telephone-event packet waiting for the pacer.
type relayEvent struct {
	ts      uint32
	marker  bool
	payload [telephoneEventSize]byte
}

func newBridgeDir(br *Bridge, from, to *Session, relayed *atomic.Uint64) *bridgeDir {
	return &bridgeDir{br: br, from: from, to: to, ring: &from.ring, relayed: relayed, minDepth: relayRing + 1}
}

// pop fills dst with the next relayed frame, converted to codec pt, and
// reports whether there was one; when there was not, the caller sends
// silence. It is called by the pacer once per slot of the receiving leg.
func (d *bridgeDir) pop(dst []byte, pt uint8) bool {
	r := d.ring
	r.mu.Lock()
	defer r.mu.Unlock()
	n := int(r.w - r.relayR)
	if !d.primed {
		if n < relayStart && (n == 0 || d.waited == 0) {
			if n > 0 {
				d.waited++
			}
			d.miss()
			return false
		}
		d.primed = true
	}
	if n == 0 {
		d.primed = false
		d.miss()
		return false
	}
	d.minDepth = min(d.minDepth, n)
	if d.window++; d.window >= relayTrimWindow {
		if d.minDepth > relayTrimAbove {
			r.relayR++
			d.br.dropped.Add(1)
		}
		d.window, d.minDepth = 0, relayRing+1
	}
	i := r.relayR % rxRingSize
	f := r.frames[i][:r.lens[i]]
	if tbl := transcodeTable(r.pts[i], pt); tbl != nil {
		for j, b := range f {
			dst[j] = tbl[b]
		}
		d.br.transcoded.Add(1)
	} else {
		copy(dst, f)
	}
	// A frame completed with silence (its packet was not continued).
	fillSilence(dst[len(f):FrameSize], silenceByte(pt))
	r.relayR++
	d.waited, d.empty, d.running = 0, 0, true
	return true
}

// miss accounts for a slot without a relayed frame; d.ring.mu is held.
func (d *bridgeDir) miss() {
	d.minDepth = 0 // the buffer ran dry: no standing backlog to trim
	if !d.running {
		return
	}
	d.br.underruns.Add(1)
	if d.empty++; d.empty >= relayIdleAfter {
		d.running, d.empty = false, 0
	}
}

// discard drops everything buffered because a Play or Loop has the
// receiving leg: relayed audio must not queue up behind a prompt and play
// late. Relaying restarts from fresh frames once the prompt is over.
func (d *bridgeDir) discard() {
	r := d.ring
	r.mu.Lock()
	if n := r.w - r.relayR; n > 0 {
		d.br.dropped.Add(uint64(n))
	}
	r.relayR = r.w
	d.primed, d.waited, d.running, d.empty = false, 0, false, 0
	d.window, d.minDepth = 0, relayRing+1
	r.mu.Unlock()
}

// pushEvent queues one telephone-event packet for the other leg, if that
// leg negotiated telephone-event, and flags it for the pacer's next tick.
func (d *bridgeDir) pushEvent(payload []byte, ts uint32, marker bool) {
	if uint8(d.to.rxConfig.Load()>>8) == 0 || len(payload) < telephoneEventSize {
		return // RFC 4733 §2.1: events go only where they were negotiated
	}
	d.mu.Lock()
	if d.evN == relayEvents {
		d.br.dropped.Add(1)
	} else {
		ev := &d.events[(d.evHead+d.evN)%relayEvents]
		ev.ts, ev.marker = ts, marker
		copy(ev.payload[:], payload)
		d.evN++
	}
	d.mu.Unlock()
	d.to.setFlag(flagEvPending, true)
	if pc := d.to.pc; pc != nil {
		pc.eventsPending.Store(true) // after the session's flag: see pacer.tick
	}
}
