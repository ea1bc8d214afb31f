package media

import (
	"sync"
	"sync/atomic"
)

// rxRingSize is how many received 20 ms frames a session keeps: 160 ms,
// more than any burst a working network delivers at once. The relay reads
// at most relayRing of them (its own latency bound); the analysis reads
// all of them.
const rxRingSize = 8

// rxRing is a session's received audio, in whole 20 ms frames as they
// came (still G.711), on its way from the receive path (the one producer)
// to its two readers:
//   - the relay: the other leg's pacer sends each frame in its next slot
//     (bridgeDir, while the session is a leg of a bridge);
//   - the analysis: this session's pacer decodes each frame for the leg
//     analyser (while one is attached).
//
// One ring with a read position per reader, rather than a buffer per
// reader, because a hotline holds thousands of legs: each received
// payload is copied once and each leg keeps one set of frames (1.3 KiB),
// not two. A mutex, because a reader that falls behind loses its oldest
// frame, which is its own end: uncontended it costs tens of nanoseconds
// per frame, and the shared transport keeps both legs of a call on one
// pacer goroutine.
//
// Positions count frames since the session began (uint32, wrapping; the
// ring's size divides 2^32, so a position's slot survives the wrap).
type rxRing struct {
	// Producer side, owned by the receive path: a frame being assembled
	// from payloads that are not 160 bytes, allocated for the first such
	// payload (most phones send 20 ms). Field order packs the struct: a
	// Session must fit its size class (TestASessionFitsThe1792ByteSizeClass).
	partial    *[FrameSize]byte
	nextTS     uint32 // RTP timestamp that continues the partial frame
	partialGen uint32 // analyser generation of the partial frame's first payload
	partialN   int32
	partialPT  uint8
	// partialMixed: the partial frame spans two analyser generations.
	partialMixed bool

	// analysing says a leg analyser is attached, of generation gen
	// (Session.analysisGen); guarded by mu, and here to pack the struct.
	analysing bool

	mu     sync.Mutex
	frames [rxRingSize][FrameSize]byte
	// pts and lens are each frame's codec and how many of its samples
	// came in; the rest of the frame is silence. analysable says the frame
	// was received entirely for the analyser attached now.
	pts        [rxRingSize]uint8
	lens       [rxRingSize]uint8
	analysable [rxRingSize]bool
	w          uint32 // frames committed
	// The analysis's read position, and the generation it reads for.
	anR uint32
	gen uint32
	// The relay's read position and, while the session is a leg of a
	// bridge, the direction that reads it (whose jitter state mu also
	// guards, see bridgeDir).
	relayR uint32
	relay  *bridgeDir

	overruns atomic.Uint64 // analysable frames the analysis never read
}

// push takes one received audio payload in codec pt with RTP timestamp
// ts; gen is the generation of the analyser attached when it arrived.
// Payloads of 160 bytes make one frame each; others are cut and joined
// into frames. A partial frame that the next packet does not continue (a
// lost packet, a pause, a codec change) is completed with silence rather
// than spliced onto unrelated audio. It allocates only once in a session's
// life, for the staging frame, when the first payload is not 20 ms.
func (r *rxRing) push(payload []byte, ts uint32, pt uint8, gen uint32) {
	if r.partialN > 0 && (ts != r.nextTS || pt != r.partialPT) {
		r.commitPartial()
	}
	r.nextTS = ts + uint32(len(payload))
	r.partialPT = pt
	for len(payload) > 0 {
		if r.partialN == 0 && len(payload) >= FrameSize {
			r.commit(payload[:FrameSize], pt, gen, false) // the usual 20 ms packet: no staging copy
			payload = payload[FrameSize:]
			continue
		}
		if r.partial == nil {
			r.partial = new([FrameSize]byte)
		}
		if r.partialN == 0 {
			r.partialGen, r.partialMixed = gen, false
		} else if gen != r.partialGen {
			r.partialMixed = true // part of it came before the analyser was attached
		}
		n := copy(r.partial[r.partialN:], payload)
		r.partialN += int32(n)
		payload = payload[n:]
		if r.partialN == FrameSize {
			r.commitPartial()
		}
	}
}

func (r *rxRing) commitPartial() {
	r.commit(r.partial[:r.partialN], r.partialPT, r.partialGen, r.partialMixed)
	r.partialN = 0
}

// commit appends a frame of at most FrameSize samples. A reader whose
// backlog is full loses its oldest frame: the relay past relayRing frames
// (counted as dropped on its bridge), the analysis past rxRingSize
// (counted as an overrun if the frame was for it).
func (r *rxRing) commit(frame []byte, pt uint8, gen uint32, mixed bool) {
	r.mu.Lock()
	i := r.w % rxRingSize
	if r.w-r.anR >= rxRingSize {
		// The slot written now holds the analysis's oldest unread frame.
		if r.analysable[i] {
			r.overruns.Add(1)
		}
		r.anR = r.w - rxRingSize + 1
	}
	if d := r.relay; d != nil && r.w-r.relayR >= relayRing {
		r.relayR = r.w - relayRing + 1
		d.br.dropped.Add(1)
	}
	r.lens[i] = uint8(copy(r.frames[i][:], frame))
	r.pts[i] = pt
	r.analysable[i] = r.analysing && gen == r.gen && !mixed
	r.w++
	r.mu.Unlock()
}

// popAnalysis decodes the analysis's next frame into dst and reports
// whether there was one. Frames received before the attached analyser
// are skipped.
func (r *rxRing) popAnalysis(dst *[FrameSize]int16) bool {
	r.mu.Lock()
	for r.anR != r.w {
		i := r.anR % rxRingSize
		r.anR++
		if !r.analysable[i] {
			continue
		}
		tbl := &ulawToLinear
		if r.pts[i] == PayloadPCMA {
			tbl = &alawToLinear
		}
		n := int(r.lens[i])
		for j, b := range r.frames[i][:n] {
			dst[j] = tbl[b]
		}
		clear(dst[n:])
		r.mu.Unlock()
		return true
	}
	r.mu.Unlock()
	return false
}

// attachAnalysis starts the analysis afresh for the analyser of
// generation gen (on) or stops it: frames already received are not for
// the new analyser.
func (r *rxRing) attachAnalysis(gen uint32, on bool) {
	r.mu.Lock()
	r.anR, r.gen, r.analysing = r.w, gen, on
	r.mu.Unlock()
}

// attachRelay makes d the relay reader (nil detaches), starting from the
// next frame received.
func (r *rxRing) attachRelay(d *bridgeDir) {
	r.mu.Lock()
	r.relay, r.relayR = d, r.w
	r.mu.Unlock()
}

// detachRelay detaches d if it is the relay reader.
func (r *rxRing) detachRelay(d *bridgeDir) {
	r.mu.Lock()
	if r.relay == d {
		r.relay = nil
	}
	r.mu.Unlock()
}
