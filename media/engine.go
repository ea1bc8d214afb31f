package media

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// G.711 static payload types (RFC 3551 §6).
const (
	PayloadPCMU uint8 = 0
	PayloadPCMA uint8 = 8
)

// payloadCN is RFC 3389 comfort noise (RFC 3551 §6): phones send it during
// silence suppression. It is valid RTP from the caller (it keeps the leg
// alive for inactivity detection) but carries nothing we use.
const payloadCN uint8 = 13

// FrameSize is the payload of one 20 ms G.711 frame: 8000 samples/s, one
// byte per sample.
const FrameSize = 160

// FrameDuration is the packetisation time of every stream (ptime 20).
const FrameDuration = 20 * time.Millisecond

// EngineConfig configures an Engine.
type EngineConfig struct {
	// BindIP is the address RTP sockets bind to (e.g. 0.0.0.0 or 127.0.0.1).
	BindIP netip.Addr
	// PortMin and PortMax bound the RTP ports, inclusive; only even ports
	// are handed out.
	PortMin, PortMax int
	// InactivityTimeout closes Session.Inactive when no valid RTP arrived for
	// this long; 0 disables.
	InactivityTimeout time.Duration
	// Lateness, if set, observes each frame's send lateness in seconds (send
	// time minus due time). It is called from the pacer for every frame and
	// must not allocate; prometheus histograms do not.
	Lateness prometheus.Observer
	// LateBar is the send lateness past which a frame counts as late for
	// Engine.Lateness, and Engine.Overloaded judges by it (a p99 past
	// LateBar for most of the last second); 0 judges nothing.
	LateBar time.Duration
	// Logger receives debug and warning logs; nil discards them.
	Logger *slog.Logger
	// PacerShards is the number of pacer loops; a call's legs go to the
	// shard its call ID picks (shardOf). 0 means shardsPerCPU per CPU
	// (GOMAXPROCS).
	PacerShards int
	// Transport chooses how sessions map onto sockets: the zero value,
	// TransportPortPerCall, gives each session its own even port;
	// TransportShared binds one socket per pacer shard on the first free
	// even ports of PortMin..PortMax and sends and receives in batches.
	Transport Transport
}

// Engine owns the RTP ports, the pacer and every session.
type Engine struct {
	cfg    EngineConfig
	log    *slog.Logger
	epoch  time.Time
	ports  *portPool
	pacers []*pacer
	// socks are the shared sockets, one per pacer (TransportShared only).
	socks []*sharedSocket

	// refusing is Overloaded's state: set past overloadEnter, cleared at
	// overloadLeave.
	refusing atomic.Bool

	// bridgeMu serialises Bridge, the only place that locks two sessions.
	bridgeMu sync.Mutex

	mu       sync.Mutex
	closed   bool
	sessions map[*Session]struct{}
	// Counters folded in from closed sessions, so Stats stays monotonic.
	goneReceived, goneDropped uint64

	closeOnce sync.Once
}

// Stats are engine-wide counters since NewEngine.
type Stats struct {
	// PacketsSent counts RTP packets handed to the sockets.
	PacketsSent uint64
	// PacketsReceived counts valid RTP packets received.
	PacketsReceived uint64
	// PacketsDropped counts received datagrams that were not valid RTP for
	// their session (not version 2, too short, unexpected payload type).
	PacketsDropped uint64
	// FramesSkipped counts frames never sent because the pacer fell more
	// than maxBehind behind and skipped ahead.
	FramesSkipped uint64
	// SendErrors counts failed socket writes.
	SendErrors uint64
	// PacketsUnmatched counts datagrams a shared socket could not give to
	// any session (TransportShared): unknown source and SSRC, or a session
	// closed moments ago. Always 0 with TransportPortPerCall, where a
	// socket's datagrams are its session's.
	PacketsUnmatched uint64
	// ActiveSessions is the number of sessions not yet closed.
	ActiveSessions int
}

// NewEngine validates cfg and starts the pacer loops.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if !cfg.BindIP.IsValid() {
		return nil, errors.New("media: BindIP is not set")
	}
	if cfg.InactivityTimeout < 0 {
		return nil, fmt.Errorf("media: negative InactivityTimeout %v", cfg.InactivityTimeout)
	}
	if cfg.LateBar < 0 {
		return nil, fmt.Errorf("media: negative LateBar %v", cfg.LateBar)
	}
	if cfg.Transport != TransportPortPerCall && cfg.Transport != TransportShared {
		return nil, fmt.Errorf("media: %v: %w", cfg.Transport, ErrUnknownTransport)
	}
	ports, err := newPortPool(cfg.PortMin, cfg.PortMax)
	if err != nil {
		return nil, err
	}
	shards := cfg.PacerShards
	if shards <= 0 {
		shards = shardsPerCPU * runtime.GOMAXPROCS(0)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg:      cfg,
		log:      log,
		epoch:    time.Now(),
		ports:    ports,
		sessions: make(map[*Session]struct{}),
	}
	if cfg.Transport == TransportShared {
		if err := e.openShared(shards); err != nil {
			return nil, err
		}
		return e, nil
	}
	for range shards {
		p := newPacer(e, directSender{})
		e.pacers = append(e.pacers, p)
		go p.run()
	}
	return e, nil
}

// openShared binds one socket per shard on the first free even ports of
// the range and starts each shard's pacer, which reads its socket at the
// start of every tick and sends its frames on it in batches.
func (e *Engine) openShared(shards int) error {
	fail := func(err error) error {
		for _, k := range e.socks {
			_ = k.close()
		}
		return fmt.Errorf("media: shared RTP sockets: %w", err)
	}
	for range shards {
		conn, port, err := e.ports.bind(e.cfg.BindIP)
		if err != nil {
			return fail(err)
		}
		k, err := newSharedSocket(e, conn, port)
		if err != nil {
			e.ports.release(port)
			return fail(err)
		}
		e.socks = append(e.socks, k)
		p := newPacer(e, nil)
		snd, err := newBatchSender(k.conn, p.late, e.now)
		if err != nil {
			return fail(err)
		}
		p.snd = snd
		p.senderObserves = true
		p.rx = k
		e.pacers = append(e.pacers, p)
	}
	for _, p := range e.pacers {
		go p.run()
	}
	return nil
}

// now is the engine's monotonic clock in nanoseconds since NewEngine; an
// int64 is what the pacer and the receive goroutines can share atomically.
func (e *Engine) now() int64 { return int64(time.Since(e.epoch)) }

// NewSession reserves an even port and returns an unconfigured, unstarted
// session for one call leg. callID labels logs and, up to its first "/",
// picks the pacer shard (shardOf). With TransportShared the port is that
// shard's, and NewSession binds nothing.
func (e *Engine) NewSession(callID string) (*Session, error) {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if e.socks != nil {
		return e.newSharedSession(callID)
	}
	conn, port, err := e.ports.bind(e.cfg.BindIP)
	if err != nil {
		return nil, fmt.Errorf("media: new session for call %s: %w", callID, err)
	}
	s := newSession(e, callID, conn, port)

	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		_ = conn.Close()
		e.ports.release(port)
		return nil, ErrClosed
	}
	e.sessions[s] = struct{}{}
	s.pc = e.pacers[shardOf(callID, len(e.pacers))]
	e.mu.Unlock()

	go s.readLoop()
	e.log.Debug("rtp session opened", "call_id", callID, "port", port)
	return s, nil
}

// shardsPerCPU is how many pacer shards run per CPU by default. Two, not
// one: a shard's tick then does half the work, and under a full CPU a
// tick that runs past the scheduler's 10 ms time slice is preempted and
// queued behind every runnable goroutine, which is what lateness's tail is
// made of. Pinned to one core with 4,000 IVR calls, p99 lateness was
// 48-85 ms with two shards against 95-98 ms with one, in alternating runs
// (bench/README.md).
const shardsPerCPU = 2

// shardOf picks the pacer shard of a session from its call ID, up to the
// first "/": the legs of one call ("<call-id>" for the caller,
// "<call-id>/<agent>" for each agent rung) land on one shard, so a
// bridge's relay and its shared analysis lock stay on one core instead of
// two pacers contending for them every frame. Across calls the hash
// spreads sessions evenly.
func shardOf(callID string, shards int) int {
	if shards <= 1 {
		return 0
	}
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(callID) && callID[i] != '/'; i++ {
		h ^= uint32(callID[i])
		h *= 16777619
	}
	return int(h % uint32(shards))
}

// newSharedSession puts a session on its shard's shared socket.
func (e *Engine) newSharedSession(callID string) (*Session, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	i := shardOf(callID, len(e.pacers))
	k := e.socks[i]
	s := newSession(e, callID, nil, k.port) // the socket is the shard's
	s.sock = k
	s.pc = e.pacers[i]
	k.add(s)
	e.sessions[s] = struct{}{}
	e.log.Debug("rtp session opened", "call_id", callID, "port", k.port, "transport", "shared")
	return s, nil
}

// forget drops a closed session and keeps its receive counters.
func (e *Engine) forget(s *Session) {
	e.mu.Lock()
	if _, ok := e.sessions[s]; ok {
		delete(e.sessions, s)
		e.goneReceived += s.received.Load()
		e.goneDropped += s.dropped.Load()
	}
	e.mu.Unlock()
}

// Stats returns the engine-wide counters.
func (e *Engine) Stats() Stats {
	var st Stats
	for _, p := range e.pacers {
		st.PacketsSent += p.sent.Load()
		st.FramesSkipped += p.skipped.Load()
		st.SendErrors += p.sendErrors.Load()
	}
	for _, k := range e.socks {
		st.PacketsUnmatched += k.unmatched.Load()
	}
	e.mu.Lock()
	st.PacketsReceived = e.goneReceived
	st.PacketsDropped = e.goneDropped
	for s := range e.sessions {
		st.PacketsReceived += s.received.Load()
		st.PacketsDropped += s.dropped.Load()
	}
	st.ActiveSessions = len(e.sessions)
	e.mu.Unlock()
	return st
}

// Close stops the pacer and closes every session. It is idempotent.
func (e *Engine) Close() error {
	var errs []error
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		open := make([]*Session, 0, len(e.sessions))
		for s := range e.sessions {
			open = append(open, s)
		}
		e.mu.Unlock()
		for _, p := range e.pacers {
			p.shutdown()
		}
		for _, s := range open {
			if err := s.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		for _, k := range e.socks {
			if err := k.close(); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}
