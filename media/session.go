package media

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
)

// digitBuffer is how many key presses wait for the call flow before new ones
// are dropped (and counted): more than any number a caller types ahead.
const digitBuffer = 32

// receiveBufferSize fits any UDP payload on an Ethernet path; larger RTP is
// not G.711 and is dropped as truncated garbage anyway.
const receiveBufferSize = 1500

// Session is the RTP of one call leg: its own even UDP port, a continuous
// 20 ms stream towards the caller (prompt audio or silence), and the
// receive side (digits, inactivity, symmetric RTP latching).
type Session struct {
	e      *Engine
	pc     *pacer
	callID string
	conn   *net.UDPConn
	port   int

	// Owned by the pacer goroutine once the session has joined it; set by
	// Start before the hand-over.
	nextDue       int64
	startedAt     int64
	seq           uint16
	ts            uint32
	inactiveFired bool

	// closing tells the pacer to drop the session from its list.
	closing atomic.Bool

	mu        sync.Mutex
	hdr       rtp.Header // reused for every frame; SSRC fixed at creation
	sdpRemote netip.AddrPort
	latched   netip.AddrPort // zero until the caller's RTP source is known
	pt        uint8
	silence   byte
	marker    bool
	play      *player
	started   bool
	closed    bool

	// rxConfig is what the receive goroutine needs from Configure without
	// taking mu per packet: audio PT | DTMF PT<<8 | rxConfigured.
	rxConfig atomic.Uint32
	// configGen changes on every Configure, telling the receive goroutine
	// to forget its latch (a re-INVITE may move the caller).
	configGen atomic.Uint32
	rx        rxState

	lastRecv                             atomic.Int64
	sent, received, dropped, digitsDrops atomic.Uint64

	digits    chan byte
	inactive  chan struct{}
	closedCh  chan struct{}
	readDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
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
}

func newSession(e *Engine, callID string, conn *net.UDPConn, port int) *Session {
	s := &Session{
		e:        e,
		callID:   callID,
		conn:     conn,
		port:     port,
		pt:       PayloadPCMU,
		silence:  silencePCMU,
		digits:   make(chan byte, digitBuffer),
		inactive: make(chan struct{}),
		closedCh: make(chan struct{}),
		readDone: make(chan struct{}),
	}
	// Random SSRC, sequence number and timestamp (RFC 3550 §5.1, §8):
	// predictable values make known-plaintext and injection easier and
	// collide across legs.
	s.hdr = rtp.Header{Version: 2, SSRC: rand.Uint32()}
	s.seq = uint16(rand.Uint32())
	s.ts = rand.Uint32()
	return s
}

// LocalPort is the even UDP port the session receives on, for the SDP.
func (s *Session) LocalPort() int { return s.port }

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
	s.sdpRemote = remote
	s.latched = netip.AddrPort{}
	s.pt = payloadType
	s.silence = silenceByte(payloadType)
	s.configGen.Add(1)
	s.rxConfig.Store(uint32(payloadType) | uint32(dtmfPayloadType)<<8 | rxConfigured)
	return nil
}

// destination is where the next frame goes; the caller holds mu.
func (s *Session) destination() netip.AddrPort {
	r := s.sdpRemote
	if !r.IsValid() || r.Addr().IsUnspecified() || r.Port() == 0 {
		return netip.AddrPort{}
	}
	if s.latched.IsValid() {
		return s.latched
	}
	return r
}

// Start joins the pacer: from now on one frame leaves every 20 ms until
// Close. It is idempotent, and a no-op after Close.
func (s *Session) Start() {
	s.mu.Lock()
	if s.started || s.closed {
		s.mu.Unlock()
		return
	}
	s.started = true
	s.mu.Unlock()
	now := s.e.now()
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
// silence again) and Play returns context.Cause(ctx). A second Play while one
// is running returns ErrBusy; Play on a closed session returns ErrClosed.
func (s *Session) Play(ctx context.Context, clips ...[]byte) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	pl := &player{clips: clips, done: make(chan struct{})}
	pl.skipEmpty()
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.play != nil:
		s.mu.Unlock()
		return ErrBusy
	case pl.clip == len(pl.clips):
		s.mu.Unlock()
		return nil // nothing to play
	}
	s.play = pl
	s.marker = true // a new talkspurt (RFC 3551 §4.1)
	s.mu.Unlock()

	select {
	case <-pl.done:
		return nil
	case <-ctx.Done():
		if s.stopPlay(pl) {
			return context.Cause(ctx)
		}
		<-pl.done // the last frame went out while ctx ended
		return nil
	case <-s.closedCh:
		return ErrClosed
	}
}

// stopPlay removes pl if it is still playing and reports whether it did.
func (s *Session) stopPlay(pl *player) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.play != pl {
		return false
	}
	s.play = nil
	return true
}

// Digits delivers one value per key press ('0'-'9', '*', '#', 'A'-'D'). It
// is buffered; presses arriving while it is full are dropped and counted
// (SessionStats.DigitsDropped). It is never closed: select on it together
// with the call's context.
func (s *Session) Digits() <-chan byte { return s.digits }

// Inactive is closed once when no valid RTP has arrived for the engine's
// InactivityTimeout since Start or the last packet. Sending continues; the
// call flow decides what to do.
func (s *Session) Inactive() <-chan struct{} { return s.inactive }

// Stats returns the session's counters and current destination.
func (s *Session) Stats() SessionStats {
	s.mu.Lock()
	remote := s.destination()
	s.mu.Unlock()
	return SessionStats{
		Sent:          s.sent.Load(),
		Received:      s.received.Load(),
		Dropped:       s.dropped.Load(),
		Remote:        remote,
		DigitsDropped: s.digitsDrops.Load(),
	}
}

// Close leaves the pacer, closes the socket (which ends the receive
// goroutine), and frees the port. A running Play returns ErrClosed. It is
// idempotent.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true // from here the pacer sends nothing more
		s.play = nil
		s.mu.Unlock()
		s.closing.Store(true)
		close(s.closedCh)
		if err := s.conn.Close(); err != nil {
			s.closeErr = fmt.Errorf("media: close session of call %s: %w", s.callID, err)
		}
		<-s.readDone
		s.e.ports.release(s.port)
		s.e.forget(s)
		s.e.log.Debug("rtp session closed", "call_id", s.callID, "port", s.port,
			"sent", s.sent.Load(), "received", s.received.Load(), "dropped", s.dropped.Load())
	})
	return s.closeErr
}

// player walks a Play's clips frame by frame. It holds the caller's slices,
// never a copy.
type player struct {
	clips [][]byte
	clip  int // current clip
	off   int // offset of the next frame in it
	done  chan struct{}
}

// skipEmpty moves past exhausted and empty clips.
func (pl *player) skipEmpty() {
	for pl.clip < len(pl.clips) && pl.off >= len(pl.clips[pl.clip]) {
		pl.clip++
		pl.off = 0
	}
}

// fill copies the next frame into dst (padding a short tail with silence)
// and reports whether that was the last frame.
func (pl *player) fill(dst []byte, silence byte) (last bool) {
	c := pl.clips[pl.clip]
	n := copy(dst, c[pl.off:])
	fillSilence(dst[n:], silence)
	pl.off += len(dst)
	pl.skipEmpty()
	return pl.clip == len(pl.clips)
}
