package media

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// digitBuffer is how many key presses wait for the call flow before new ones
// are dropped (and counted): more than any number a caller types ahead.
const digitBuffer = 32

// receiveBufferSize fits any UDP payload on an Ethernet path; larger RTP is
// not G.711 and is dropped as truncated garbage anyway.
const receiveBufferSize = 1500

// Session is the RTP of one call leg: an even UDP port (its own, or its
// pacer shard's with TransportShared), a continuous 20 ms stream towards the
// caller (prompt audio or silence), and the receive side (digits,
// inactivity, symmetric RTP latching).
type Session struct {
	e      *Engine
	pc     *pacer
	callID string
	conn   *net.UDPConn
	// sock is the shared socket the session is on (TransportShared), nil
	// when the session owns conn; dm is its part of sock's tables, guarded
	// by sock.mu. It is allocated when the session joins a shared socket:
	// a session with a socket of its own is in no tables and so does not
	// carry them.
	sock *sharedSocket
	dm   *demuxState

	// Owned by the pacer goroutine once the session has joined it; set by
	// Start before the hand-over.
	nextDue       int64
	startedAt     int64
	ts            uint32
	seq           uint16
	inactiveFired bool

	// flags are the session's lock-free booleans (flagClosing, ...), one
	// word for all of them rather than a word each.
	flags atomic.Uint32

	mu sync.Mutex
	// ssrc and port are fixed at creation. ssrc identifies every packet
	// sent; the rest of the RTP header is built per packet from seq, ts,
	// pt and marker, so no header is kept. port is a uint16, which every
	// UDP port fits, to share a word with ssrc.
	ssrc uint32
	port uint16
	// dest is where the stream goes: the SDP address, replaced by the
	// caller's RTP source once latched; zero while the SDP holds the call
	// (no address or port 0). One field rather than both addresses, since
	// nothing here needs the SDP address once a source is latched; the
	// receive path keeps its own copy of the latched source (rxState).
	dest netip.AddrPort
	play *player

	// nextFrameDue is the engine time the next frame is due, kept current
	// by the pacer, so stopPlay knows whether that frame is already due.
	nextFrameDue int64
	// tail is the frame a cancelled playback still owes (see stopPlay),
	// allocated the first time one does; tailSet, below, says it has not
	// been sent yet.
	tail *[FrameSize]byte

	// in is the direction of the bridge this session is a leg of, if any,
	// whose frames this session sends (the other leg's audio); in.br is
	// the bridge. lastRelayed, below, says the previous frame was one of
	// them.
	in *bridgeDir

	// The byte-sized state guarded by mu, side by side so that it packs
	// into one word instead of padding out a word each.
	pt          uint8
	silence     byte
	marker      bool
	started     bool
	closed      bool
	tailSet     bool
	lastRelayed bool

	// out is the direction this session's receive goroutine feeds; an
	// atomic so the per-packet path takes no lock to find it.
	out atomic.Pointer[bridgeDir]

	// rxConfig is what the receive goroutine needs from Configure without
	// taking mu per packet: audio PT | DTMF PT<<8 | rxConfigured.
	rxConfig atomic.Uint32
	// configGen changes on every Configure, telling the receive goroutine
	// to forget its latch (a re-INVITE may move the caller).
	configGen atomic.Uint32
	rx        rxState

	lastRecv                             atomic.Int64
	sent, received, dropped, digitsDrops atomic.Uint64

	// Speech analysis (see analyse.go). alock is the lock of an, shared
	// with every session this one was ever bridged to; ring is the
	// received audio on its way from the receive path to the pacer's slot.
	alock       atomic.Pointer[analysisLock]
	an          sessionAnalysis
	analysisGen atomic.Uint32
	// closeOnce (12 bytes) follows analysisGen (4) so that together they
	// fill two words instead of each padding out its last one.
	closeOnce sync.Once
	ring      rxRing

	digits   chan byte
	inactive chan struct{}
	// onInactive runs once the inactivity timeout fired (OnInactive);
	// guarded by mu.
	onInactive func()
	// readDone is closed when the receive goroutine of a session with a
	// socket of its own ends; nil on a shared socket.
	readDone chan struct{}
	closeErr error
}

// The bits of Session.flags.
const (
	// flagClosing tells the pacer to drop the session from its list.
	flagClosing uint32 = 1 << iota
	// flagEvPending tells the pacer that telephone-events from the bridge
	// wait in in.
	flagEvPending
	// flagQuietAllowed suspends the inactivity check: a phone that holds
	// the call may send no RTP at all (baresip does not), and that is not
	// a vanished leg.
	flagQuietAllowed
	// flagKeepDigits keeps this leg's key presses out of the bridge relay:
	// an agent's feature codes are for the server, not the caller.
	flagKeepDigits
	// flagAnalysing says a leg analyser wants received audio.
	flagAnalysing
	// flagAnalysisOn says the pacer has analysis work for the slot.
	flagAnalysisOn
)

// flag reports whether flag f is set.
func (s *Session) flag(f uint32) bool { return s.flags.Load()&f != 0 }

// setFlag sets (on) or clears flag f, leaving the others as they are.
func (s *Session) setFlag(f uint32, on bool) {
	if on {
		s.flags.Or(f)
	} else {
		s.flags.And(^f)
	}
}

// SessionStats are one session's counters.
type SessionStats struct {
	// Sent counts RTP packets handed to the socket.
	Sent uint64
	// Received counts valid RTP packets (audio, comfort noise, telephone-event).
	Received uint64
	// Dropped counts datagrams that were not valid RTP for this session.
	Dropped uint64
	// Remote is where the stream goes now: the latched source of the
	// caller's RTP, else the SDP address; zero when there is none.
	Remote netip.AddrPort
	// DigitsDropped counts key presses lost because Digits was not read.
	DigitsDropped uint64
	// AnalysisOverruns counts received frames the leg analyser never saw
	// because more than rxRingSize of them waited for the pacer.
	AnalysisOverruns uint64
}

func newSession(e *Engine, callID string, conn *net.UDPConn, port int) *Session {
	s := &Session{
		e:        e,
		callID:   callID,
		conn:     conn,
		port:     uint16(port),
		pt:       PayloadPCMU,
		silence:  silencePCMU,
		digits:   make(chan byte, digitBuffer),
		inactive: make(chan struct{}),
	}
	if conn != nil {
		s.readDone = make(chan struct{})
	}
	s.alock.Store(&analysisLock{members: []*Session{s}})
	// Random SSRC, sequence number and timestamp (RFC 3550 §5.1, §8):
	// predictable values make known-plaintext and injection easier and
	// collide across legs.
	s.ssrc = rand.Uint32()
	s.seq = uint16(rand.Uint32())
	s.ts = rand.Uint32()
	return s
}

// LocalPort is the even UDP port the session receives on, for the SDP. With
// TransportShared it is the port of the session's pacer shard, which other
// sessions share.
func (s *Session) LocalPort() int { return int(s.port) }

// ExpectSourceIP names the IP the phone's signalling came from, when its
// SDP may name another (a phone behind NAT). On a shared port, a new
// session whose first packets come from neither its SDP address nor its
// SSRC may then be found by this IP too; the port-per-call transport
// latches onto any source and needs no hint. Call it before Configure.
func (s *Session) ExpectSourceIP(ip netip.Addr) {
	if s.sock == nil {
		return // a port of its own latches onto any source
	}
	s.sock.expectSourceIP(s, ip.Unmap())
}

// Configure sets where to send and how to encode, from the SDP offer/answer.
// dtmfPayloadType 0 means no telephone-event was negotiated. Call it before
// Start; calling it again (re-INVITE) moves the stream to the new address and
// forgets the latched source, which is learnt again from the caller's RTP.
// A remote with an unspecified address or port 0 (RFC 3264 §8.4 hold)
// stops sending until the next Configure; the clock keeps running.
func (s *Session) Configure(remote netip.AddrPort, payloadType uint8, dtmfPayloadType uint8) error {
	if payloadType != PayloadPCMU && payloadType != PayloadPCMA {
		return fmt.Errorf("payload type %d: %w", payloadType, ErrUnsupportedCodec)
	}
	if dtmfPayloadType > 127 || (dtmfPayloadType != 0 && dtmfPayloadType == payloadType) {
		return fmt.Errorf("telephone-event payload type %d: %w", dtmfPayloadType, ErrUnsupportedCodec)
	}
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.dest = netip.AddrPort{}
	if remote.IsValid() && !remote.Addr().IsUnspecified() && remote.Port() != 0 {
		s.dest = remote
	}
	s.pt = payloadType
	s.silence = silenceByte(payloadType)
	s.configGen.Add(1)
	s.rxConfig.Store(uint32(payloadType) | uint32(dtmfPayloadType)<<8 | rxConfigured)
	if s.sock != nil {
		s.sock.configure(s, remote)
	}
	s.e.log.Debug("rtp configured", "call_id", s.callID, "remote", remote, "payload_type", payloadType)
	return nil
}

// Start joins the pacer: from now on one frame leaves every 20 ms until
// Close. It is idempotent, and a no-op after Close.
func (s *Session) Start() {
	now := s.e.now()
	s.mu.Lock()
	if s.started || s.closed {
		s.mu.Unlock()
		return
	}
	s.started = true
	s.nextFrameDue = now
	s.mu.Unlock()
	s.startedAt = now
	s.nextDue = now
	s.pc.join(s)
}

// Play queues clips — payload bytes already encoded for the session's
// payload type — to be played back to back, and blocks until the last frame
// has been handed to the socket (so before Start it waits for Start). A
// clip is cut into 160-byte frames; a short last frame is padded with
// silence. Only slice headers are kept: the clips must not be modified until
// Play returns.
//
// When ctx is done first, playback stops at the next frame (the caller hears
// silence again) and Play returns context.Cause(ctx). A second Play or Loop
// while one is running returns ErrBusy; Play on a closed session returns
// ErrClosed. On a bridged session the prompt has the outgoing slots and the
// other leg's audio is discarded until it ends (see Engine.Bridge).
//
// A Play started in the same 20 ms slot as the previous Play or Loop ended
// follows it without a silence frame; see Loop for how.
func (s *Session) Play(ctx context.Context, clips ...[]byte) error {
	return s.playback(ctx, false, clips)
}

// Loop plays clips back to back, over and over, without a gap, until ctx is
// done; it returns context.Cause(ctx). Same rules as Play (one playback at a
// time per session → ErrBusy). Unlike Play, clips are joined byte to byte:
// a clip whose length is not a whole number of frames runs on into the next
// clip (or the first again) inside the same frame, so a music loop is
// seamless. With nothing to play (no bytes in clips) it returns nil at once;
// it returns ErrClosed when the session closes.
//
// No gap between playbacks: a Play or Loop that starts within the same
// 20 ms slot as the previous one ended gets the next frame, so the caller
// hears no silence frame between them (R3, R10: hold music stopped for an
// announcement and resumed). This holds because
//   - the pacer chooses a frame's content when it builds it, under the
//     session lock, and never before the frame's due time; a playback
//     installed earlier in the slot is there when the next frame is built;
//   - a playback cancelled through ctx still owes the frame that was already
//     due but not yet built when it was cancelled (the pacer runs up to a
//     10 ms tick behind a due time): stopPlay copies that frame (so the
//     clips are not read after Loop returns) and the pacer sends it, unless
//     the next playback has started by then;
//   - after a playback's last frame the pacer builds no further frame for
//     the session in the same tick, even when catching up, so a Play that
//     returns late in a slot still leaves the flow at least until the next
//     tick (10 ms) to start the next prompt.
//
// Only an overloaded pacer, more than a frame behind its schedule, shrinks
// the window below the rest of the slot, to that one tick.
func (s *Session) Loop(ctx context.Context, clips ...[]byte) error {
	return s.playback(ctx, true, clips)
}

// playback is Play (loop false) and Loop (loop true): Begin, then wait.
func (s *Session) playback(ctx context.Context, loop bool, clips [][]byte) error {
	return <-s.Begin(ctx, loop, clips...)
}

// Begin starts clips as Play (loop false) or Loop (loop true) does, under
// the same rules, and returns at once. The channel receives, once, what
// Play or Loop would have returned: nil after the last frame went out (never
// for a loop), context.Cause(ctx) when ctx ends first, ErrClosed when the
// session closes; ErrBusy, ErrClosed or nil (nothing to play) at once when
// the playback does not start. It is buffered, so a result nobody reads is
// not a leak.
//
// No goroutine waits on the playback: the pacer, Close or ctx's
// context.AfterFunc delivers the result. A call flow plays a prompt and
// waits for a key press, a timer or an agent in one select on its own
// goroutine.
func (s *Session) Begin(ctx context.Context, loop bool, clips ...[]byte) <-chan error {
	result := make(chan error, 1)
	if ctx.Err() != nil {
		result <- context.Cause(ctx)
		return result
	}
	pl := &player{clips: clips, loop: loop, result: result}
	pl.skipEmpty()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		result <- ErrClosed
		return result
	case s.play != nil:
		result <- ErrBusy
		return result
	case pl.clip == len(pl.clips):
		result <- nil // nothing to play
		return result
	}
	s.play = pl
	s.marker = true // a new talkspurt (RFC 3551 §4.1)
	// Registered under the lock, so the pacer or Close, ending the
	// playback, always finds unwatch set. Should ctx be done already, f
	// runs on a goroutine of its own and waits for the lock.
	pl.unwatch = context.AfterFunc(ctx, func() {
		if s.stopPlay(pl) {
			pl.result <- context.Cause(ctx)
		}
	})
	return result
}

// end delivers the result of a playback that the pacer (err nil) or Close
// (ErrClosed) took away from its session, and lets go of its context.
func (pl *player) end(err error) {
	pl.unwatch()
	pl.result <- err
}

// stopPlay removes pl if it is still playing and reports whether it did.
//
// If the next frame is already due — its slot has begun but the pacer's
// tick has not come yet — that frame belongs to the stopped playback: it is
// copied into tail now, while the clips are still the caller's to read, and
// sent unless another playback starts first. Without this, a cancel and an
// immediate restart that straddle the tick would leave a silence frame.
func (s *Session) stopPlay(pl *player) bool { return s.stopPlayAt(pl, s.e.now()) }

// stopPlayAt is stopPlay at engine time now.
func (s *Session) stopPlayAt(pl *player, now int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.play != pl {
		return false
	}
	s.play = nil
	if s.started && s.nextFrameDue <= now {
		if s.tail == nil {
			s.tail = new([FrameSize]byte)
		}
		pl.fill(s.tail[:], s.silence)
		s.tailSet = true
	}
	return true
}

// Digits delivers one value per key press ('0'-'9', '*', '#', 'A'-'D'). It
// is buffered; presses arriving while it is full are dropped and counted
// (SessionStats.DigitsDropped). It is never closed: select on it together
// with the call's context.
func (s *Session) Digits() <-chan byte { return s.digits }

// AllowQuiet suspends (true) or resumes (false) the inactivity check, for
// a leg on hold whose phone stops sending. Resuming restarts the timeout
// from now.
func (s *Session) AllowQuiet(on bool) {
	if !on {
		s.lastRecv.Store(s.e.now())
	}
	s.setFlag(flagQuietAllowed, on)
}

// KeepDigits (true) stops relaying the telephone-events this session
// receives to the session it is bridged to; they are still reported on
// Digits. An agent's feature codes are consumed by the server, never
// heard by the caller.
func (s *Session) KeepDigits(on bool) { s.setFlag(flagKeepDigits, on) }

// Inactive is closed once when no valid RTP has arrived for the engine's
// InactivityTimeout since Start or the last packet. Sending continues; the
// call flow decides what to do.
func (s *Session) Inactive() <-chan struct{} { return s.inactive }

// OnInactive registers f to run, on a goroutine of its own, when Inactive
// closes (at once if it already has). A later call replaces f. A call
// flow can thus react to a vanished phone without a goroutine of its own
// parked on Inactive for the whole call.
func (s *Session) OnInactive(f func()) {
	s.mu.Lock()
	s.onInactive = f
	s.mu.Unlock()
	select {
	case <-s.inactive:
		s.fireInactive()
	default:
	}
}

// fireInactive starts the registered OnInactive function, once.
func (s *Session) fireInactive() {
	s.mu.Lock()
	f := s.onInactive
	s.onInactive = nil
	s.mu.Unlock()
	if f != nil {
		go f()
	}
}

// Stats returns the session's counters and current destination.
func (s *Session) Stats() SessionStats {
	s.mu.Lock()
	remote := s.dest
	s.mu.Unlock()
	return SessionStats{
		Sent:          s.sent.Load(),
		Received:      s.received.Load(),
		Dropped:       s.dropped.Load(),
		Remote:        remote,
		DigitsDropped: s.digitsDrops.Load(),

		AnalysisOverruns: s.ring.overruns.Load(),
	}
}

// Close leaves the pacer, closes the socket (which ends the receive
// goroutine), and frees the port; with TransportShared it leaves the
// shared socket's tables instead, and packets still arriving for it are
// dropped as unmatched. A running Play or Loop returns ErrClosed, and a
// bridge the session is a leg of ends. It is idempotent.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true // from here the pacer sends nothing more
		pl := s.play
		s.play = nil
		s.tailSet = false
		var br *Bridge
		if s.in != nil {
			br = s.in.br
		}
		s.mu.Unlock()
		if pl != nil {
			pl.end(ErrClosed)
		}
		if br != nil {
			br.Close() // the other leg goes back to silence
		}
		s.setFlag(flagClosing, true)
		if s.sock != nil {
			// The socket is the shard's; after remove no packet reaches
			// the session, as after the read loop's end below.
			s.sock.remove(s)
		} else {
			if s.conn != nil {
				if err := s.conn.Close(); err != nil {
					s.closeErr = fmt.Errorf("media: close session of call %s: %w", s.callID, err)
				}
				<-s.readDone
			}
			s.e.ports.release(int(s.port))
		}
		s.e.forget(s)
		s.e.log.Debug("rtp session closed", "call_id", s.callID, "port", s.port,
			"sent", s.sent.Load(), "received", s.received.Load(), "dropped", s.dropped.Load())
	})
	return s.closeErr
}

// player walks a Play's or Loop's clips frame by frame. It holds the
// caller's slices, never a copy.
type player struct {
	clips [][]byte
	clip  int  // current clip
	off   int  // offset of the next frame in it
	loop  bool // Loop: wrap around, join clips byte to byte
	// result receives how the playback ended, from whichever of the
	// pacer, Close and ctx's AfterFunc takes it off the session (under
	// the session lock, so exactly one does).
	result  chan error
	unwatch func() bool // stops ctx's AfterFunc
}

// skipEmpty moves past exhausted and empty clips.
func (pl *player) skipEmpty() {
	for pl.clip < len(pl.clips) && pl.off >= len(pl.clips[pl.clip]) {
		pl.clip++
		pl.off = 0
	}
}

// fill copies the next frame into dst (padding a short tail with silence)
// and reports whether that was the last frame; a loop never ends.
func (pl *player) fill(dst []byte, silence byte) (last bool) {
	if pl.loop {
		pl.fillLoop(dst)
		return false
	}
	c := pl.clips[pl.clip]
	n := copy(dst, c[pl.off:])
	fillSilence(dst[n:], silence)
	pl.off += len(dst)
	pl.skipEmpty()
	return pl.clip == len(pl.clips)
}

// fillLoop fills dst from the loop's clips without padding, wrapping from
// the last clip to the first. Loop never starts a player without bytes, so
// this terminates.
func (pl *player) fillLoop(dst []byte) {
	for len(dst) > 0 {
		n := copy(dst, pl.clips[pl.clip][pl.off:])
		dst = dst[n:]
		pl.off += n
		pl.skipEmpty()
		if pl.clip == len(pl.clips) {
			pl.clip, pl.off = 0, 0
			pl.skipEmpty()
		}
	}
}
