package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// The shared transport (TransportShared): one UDP socket per pacer shard,
// written by the shard's pacer in sendmmsg(2) batches and read by the
// same pacer, without waiting, at the start of each tick. What a port told
// apart in the per-call layout, the demultiplexer below tells apart by
// source address and SSRC.
const (
	// sendBatch and recvBatch are the messages per sendmmsg(2) and
	// recvmmsg(2). 64 is where the syscall's fixed cost has stopped
	// mattering (DESIGN.md, "Media engine") and the buffers stay small:
	// 64 x 1500 B per receiving socket.
	sendBatch = 64
	recvBatch = 64
	// maxSendPacket is the largest packet the pacer builds: a 20 ms audio
	// frame (telephone-events are shorter).
	maxSendPacket = packetSize
	// noDue marks a packet whose lateness is not observed (telephone-events).
	noDue = int64(-1 << 63)
	// closedHold is how long the addresses and SSRC of a closed session
	// keep answering "closed" on its socket: its phone may go on sending
	// for a moment after the BYE, and those packets must be dropped, not
	// latched onto by a newer session on the same port.
	closedHold = int64(5 * time.Second)
	// sharedSocketBuffer is the kernel buffer asked for each way. A shared
	// socket carries thousands of streams; 16 MiB is ~70 ms of 5,000
	// streams' packets, so a pacer held up by the scheduler
	// for a few ticks loses nothing.
	sharedSocketBuffer = 16 << 20
)

// sendBatchError reports packets a batching sender could not write; the
// pacer moves them from its sent to its error count. Its flush returns a
// pointer to its own value, so reporting allocates nothing.
type sendBatchError struct{ failed int }

func (e *sendBatchError) Error() string {
	return fmt.Sprintf("media: %d packets of a batch not sent", e.failed)
}

// errNoRoute is a destination of the other address family than the
// shared socket's.
var errNoRoute = errors.New("media: destination not reachable from the shared socket's address family")

// isUDP4 reports whether conn is an IPv4 socket (listenUDP binds IPv4
// addresses with "udp4").
func isUDP4(conn *net.UDPConn) bool {
	a, ok := conn.LocalAddr().(*net.UDPAddr)
	return ok && a.IP.To4() != nil
}

// demuxEntry is what a key (source address or SSRC) of a shared socket
// leads to: a live session, or, with s nil, a session closed recently,
// whose packets are dropped until until.
type demuxEntry struct {
	s     *Session
	until int64
	// multi: another session of the socket has claimed the same address
	// (two legs towards one phone port), so the SSRC decides between them.
	multi bool
}

// sharedSocket is one shard's socket in the shared transport and the
// demultiplexer in front of its sessions.
//
// A datagram goes to the session that
//  1. has its source address as the SDP address or the latched source
//     (symmetric RTP), or else
//  2. has received the datagram's SSRC from its latched source — a caller
//     whose NAT moved its port keeps its SSRC, and the session's relatch
//     rule (relatchPackets, relatchQuiet) decides whether to follow; or
//     else
//  3. is the only session of the socket configured less than
//     firstPacketWindow ago that has received nothing since and whose SDP
//     address, or the IP its signalling came from (ExpectSourceIP), has
//     the datagram's source IP: the first packet of a caller
//     whose NAT rewrote the port but not the address (symmetric RTP
//     latching, as in the per-call transport). Past the window a leg that
//     never heard its caller cannot take another phone's packets.
//
// Anything else is dropped and counted (Stats.PacketsUnmatched). Unlike a
// port of its own, a shared port cannot latch onto a caller whose SDP
// carries an address the packets never come from (a private address behind
// NAT, with no SIP-level fix-up): it must learn the caller from its SDP
// address or from the IP. A closed session's keys keep dropping packets for
// closedHold, so late packets of an ended call never reach a newer session;
// the one exception is the same phone's next call, which comes from the
// same port with a new SSRC (nextCallFrom).
//
// Two sessions configured with the same remote address: the last
// Configure (or latch) takes the address, and the SSRC tells them apart
// once the earlier session has learnt its caller's SSRC; a datagram with
// an SSRC neither has learnt goes to the last one. When the holder closes
// or moves, the address passes to a remaining claimant.
//
// The tables are read under mu's read lock once per received batch and
// written on Configure, on a latch, when a session first hears an SSRC and
// on Close — never per packet.
type sharedSocket struct {
	e    *Engine
	conn *sharedConn
	port int
	rd   *batchReader

	mu      sync.RWMutex
	byAddr  map[netip.AddrPort]demuxEntry
	bySSRC  map[uint32]demuxEntry
	byIP    map[netip.Addr][]*Session // sessions waiting for their first packet, by SDP address
	members map[*Session]struct{}
	sweepAt int64
	// gen changes with every write to the tables, so dispatch knows when
	// the lookups it made for a batch may be stale.
	gen atomic.Uint64

	// handleMu is held by the shard's pacer while it looks up and
	// handles one batch; a closing session takes it once after leaving the
	// tables, so no packet is handed to it after Close returns.
	handleMu sync.Mutex
	targets  [recvBatch]*Session
	// pkt is the datagram being handled, parsed: one per socket, not per
	// session, as handleMu lets one datagram be handled at a time; reused,
	// as Session.readLoop explains.
	pkt rtp.Packet

	unmatched atomic.Uint64
	closing   atomic.Bool
}

// newSharedSocket takes conn over (openSharedConn); conn is closed when
// it returns, even with an error.
func newSharedSocket(e *Engine, conn *net.UDPConn, port int) (*sharedSocket, error) {
	sc, err := openSharedConn(conn)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	rd, err := newBatchReader(sc)
	if err != nil {
		_ = sc.close()
		return nil, err
	}
	return &sharedSocket{
		e:       e,
		conn:    sc,
		port:    port,
		rd:      rd,
		byAddr:  make(map[netip.AddrPort]demuxEntry),
		bySSRC:  make(map[uint32]demuxEntry),
		byIP:    make(map[netip.Addr][]*Session),
		members: make(map[*Session]struct{}),
	}, nil
}

// demuxState is a session's part of its shared socket's tables, guarded
// by the socket's mu. The small fields come last so that it fills the
// 128-byte size class exactly rather than spilling into the next one.
type demuxState struct {
	remote  netip.AddrPort // SDP address, if one can be sent to
	latched netip.AddrPort
	// hint is the IP the phone's signalling came from (ExpectSourceIP).
	// Only a shared socket uses it, so it is kept here rather than in
	// every Session.
	hint netip.Addr
	// waitingHint is a second key in byIP: the hint as it was at
	// Configure, when the SDP names another IP (NAT).
	waitingHint netip.Addr
	// waitSince is when it began to wait (engine clock): rule 3 holds for
	// firstPacketWindow only.
	waitSince int64
	ssrc      uint32
	haveSSRC  bool
	gone      bool // closed: never enter the tables again
	// waiting: the session waits for its first packet, under its SDP
	// address's IP in byIP (remote changes only after unwait).
	waiting bool
}

// add registers a new session and gives it its part of the tables.
func (k *sharedSocket) add(s *Session) {
	k.mu.Lock()
	s.dm = new(demuxState)
	k.members[s] = struct{}{}
	k.mu.Unlock()
}

// expectSourceIP sets the session's hint for the next configure.
func (k *sharedSocket) expectSourceIP(s *Session, ip netip.Addr) {
	k.mu.Lock()
	s.dm.hint = ip
	k.mu.Unlock()
}

// configure points the session's SDP address at it and forgets its latch,
// as Session.Configure does; the session waits for its first packet again.
// The caller holds s.mu.
func (k *sharedSocket) configure(s *Session, remote netip.AddrPort) {
	k.mu.Lock()
	defer k.mu.Unlock()
	d := s.dm
	if d.gone {
		return
	}
	k.gen.Add(1)
	k.sweep()
	k.unlatch(s)
	k.releaseAddr(s, d.remote, 0)
	k.unwait(s)
	d.remote = netip.AddrPort{}
	if remote.IsValid() && !remote.Addr().IsUnspecified() && remote.Port() != 0 {
		d.remote = remote
		k.claimAddr(s, remote)
		ip := remote.Addr()
		d.waiting = true
		d.waitSince = k.e.now()
		k.byIP[ip] = append(k.byIP[ip], s)
		if hint := d.hint; hint.IsValid() && !hint.IsUnspecified() && hint != ip {
			d.waitingHint = hint
			k.byIP[hint] = append(k.byIP[hint], s)
		}
	}
}

// latched moves the session's latched source to src. The caller holds
// s.mu and has checked that no Configure came in between.
func (k *sharedSocket) latched(s *Session, src netip.AddrPort) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s.dm.gone {
		return
	}
	k.gen.Add(1)
	k.unlatch(s)
	k.unwait(s)
	s.dm.latched = src
	k.claimAddr(s, src)
}

// learnSSRC records the SSRC the session hears from its latched source.
func (k *sharedSocket) learnSSRC(s *Session, ssrc uint32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	d := s.dm
	if d.gone || (d.haveSSRC && d.ssrc == ssrc) {
		return
	}
	k.gen.Add(1)
	if d.haveSSRC {
		if e, ok := k.bySSRC[d.ssrc]; ok && e.s == s {
			delete(k.bySSRC, d.ssrc)
		}
	}
	d.ssrc, d.haveSSRC = ssrc, true
	k.bySSRC[ssrc] = demuxEntry{s: s}
}

// remove takes a closing session out of the tables, leaving its keys
// answering "closed" for closedHold, and waits until the pacer
// is no longer handing it a packet.
func (k *sharedSocket) remove(s *Session) {
	now := k.e.now()
	until := now + closedHold
	k.mu.Lock()
	d := s.dm
	d.gone = true
	k.gen.Add(1)
	k.sweep()
	k.unlatch(s)
	k.releaseAddr(s, d.remote, until)
	k.unwait(s)
	if d.haveSSRC {
		if e, ok := k.bySSRC[d.ssrc]; ok && e.s == s {
			k.bySSRC[d.ssrc] = demuxEntry{until: until}
		}
	}
	delete(k.members, s)
	k.mu.Unlock()

	// An empty critical section is the barrier: a batch that found s
	// before it left the tables is handled by the time the lock is ours.
	k.handleMu.Lock()
	k.handleMu.Unlock() //nolint:staticcheck // barrier, see above
}

// unlatch releases the session's latched source unless it is also its SDP
// address. k.mu is held.
func (k *sharedSocket) unlatch(s *Session) {
	d := s.dm
	if d.latched.IsValid() && d.latched != d.remote {
		until := int64(0)
		if d.gone {
			until = k.e.now() + closedHold
		}
		k.releaseAddr(s, d.latched, until)
	}
	d.latched = netip.AddrPort{}
}

// claimAddr points a at s; the last claimant wins. k.mu is held.
func (k *sharedSocket) claimAddr(s *Session, a netip.AddrPort) {
	old, ok := k.byAddr[a]
	multi := ok && old.s != nil && (old.s != s || old.multi)
	k.byAddr[a] = demuxEntry{s: s, multi: multi}
}

// releaseAddr drops s's claim on a. If another session still claims it,
// the address passes to that session; otherwise it is deleted, or, with
// until set, left answering "closed" until then. k.mu is held.
func (k *sharedSocket) releaseAddr(s *Session, a netip.AddrPort, until int64) {
	if !a.IsValid() {
		return
	}
	e, ok := k.byAddr[a]
	if !ok || e.s != s {
		return
	}
	if e.multi {
		for m := range k.members {
			if m != s && !m.dm.gone && (m.dm.remote == a || m.dm.latched == a) {
				k.byAddr[a] = demuxEntry{s: m, multi: true}
				return
			}
		}
	}
	if until > 0 {
		k.byAddr[a] = demuxEntry{until: until}
	} else {
		delete(k.byAddr, a)
	}
}

// unwait takes s out of byIP. k.mu is held.
func (k *sharedSocket) unwait(s *Session) {
	d := s.dm
	if d.waiting {
		k.unwaitKey(s, d.remote.Addr())
	}
	k.unwaitKey(s, d.waitingHint)
	d.waiting, d.waitingHint = false, netip.Addr{}
}

func (k *sharedSocket) unwaitKey(s *Session, ip netip.Addr) {
	if !ip.IsValid() {
		return
	}
	l := k.byIP[ip]
	for i, m := range l {
		if m == s {
			l = append(l[:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(k.byIP, ip)
	} else {
		k.byIP[ip] = l
	}
}

// sweep deletes expired "closed" entries, at most once per closedHold, so
// the tables do not grow with every call ever closed. k.mu is held.
func (k *sharedSocket) sweep() {
	now := k.e.now()
	if now < k.sweepAt {
		return
	}
	k.sweepAt = now + closedHold
	for a, e := range k.byAddr {
		if e.s == nil && e.until <= now {
			delete(k.byAddr, a)
		}
	}
	for id, e := range k.bySSRC {
		if e.s == nil && e.until <= now {
			delete(k.bySSRC, id)
		}
	}
}

// lookup finds the session a datagram from src belongs to, or nil (see
// sharedSocket for the rules). k.mu is read-locked. It allocates nothing.
func (k *sharedSocket) lookup(b []byte, src netip.AddrPort, now int64) *Session {
	haveSSRC := len(b) >= rtpHeaderSize && b[0]>>6 == 2
	var ssrc uint32
	if haveSSRC {
		ssrc = binary.BigEndian.Uint32(b[8:12])
	}
	if e, ok := k.byAddr[src]; ok {
		if e.s == nil {
			if now < e.until {
				return k.nextCallFrom(src, ssrc, haveSSRC, now)
			}
		} else {
			if e.multi && haveSSRC {
				if o, ok := k.bySSRC[ssrc]; ok && o.s != nil && o.s != e.s &&
					(o.s.dm.remote == src || o.s.dm.latched == src) {
					return o.s
				}
			}
			return e.s
		}
	}
	if !haveSSRC {
		return nil
	}
	if e, ok := k.bySSRC[ssrc]; ok {
		if e.s != nil {
			return e.s
		}
		if now < e.until {
			return nil
		}
	}
	// Rule 3 only while the session is new: a phone behind NAT sends
	// from its first moment. A leg that never heard its caller must not,
	// much later, take the first packets of another leg from the same IP
	// (a colleague's phone that starts sending before its leg is
	// configured, a trunk's next call).
	return k.newLegFor(src, now, false)
}

// newLegFor is the one session of the socket configured less than
// firstPacketWindow ago, still waiting for its first packet, whose SDP
// address or signalling IP is src's IP — with samePort, whose SDP also
// names src's port — or nil when there is none or more than one (two new
// legs from one IP are ambiguous). k.mu is read-locked.
func (k *sharedSocket) newLegFor(src netip.AddrPort, now int64, samePort bool) *Session {
	var match *Session
	for _, w := range k.byIP[src.Addr()] {
		if now-w.dm.waitSince >= firstPacketWindow || (samePort && w.dm.remote.Port() != src.Port()) {
			continue
		}
		if match != nil {
			return nil
		}
		match = w
	}
	return match
}

// nextCallFrom decides a datagram from the source of a session closed
// less than closedHold ago. It is dropped (nil) as a late packet of the
// ended call, unless it is the phone's next call: phones reuse their RTP
// port from call to call, and one whose SDP names another address (NAT, a
// second interface) is learnt by rule 3 — which the closed entry would
// block until the new leg's window has passed. So a datagram whose SSRC the
// closed session never had goes to the one new leg waiting for its first
// packet from this IP whose SDP names this very port. k.mu is read-locked.
func (k *sharedSocket) nextCallFrom(src netip.AddrPort, ssrc uint32, haveSSRC bool, now int64) *Session {
	if !haveSSRC {
		return nil
	}
	if _, known := k.bySSRC[ssrc]; known {
		return nil
	}
	return k.newLegFor(src, now, true)
}

// firstPacketWindow is how long after Configure a shared-port session may
// take a first packet by source IP alone (rule 3).
var firstPacketWindow = int64(3 * time.Second)

// drain hands out every datagram queued on the socket, without waiting.
// The shard's pacer calls it at the start of each tick instead of a
// receive goroutine waking for every few datagrams: a received frame is
// only used in its session's next pacer slot (relayed to the other leg,
// analysed), and slots are served at ticks, so reading at the tick loses
// nothing and saves a wakeup, an epoll_wait and a short recvmmsg per
// handful of packets. The kernel queue (sharedSocketBuffer) holds many
// ticks' worth.
func (k *sharedSocket) drain(now int64) {
	for errs := 0; errs < maxDrainErrors; {
		n, err := k.rd.poll()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || k.closing.Load() {
				return
			}
			// Transient: an ICMP error queued on the socket (a phone's
			// port closed at hang-up) is reported once, then the queue
			// reads again.
			errs++
			continue
		}
		if n == 0 {
			return
		}
		k.dispatch(n, now)
		if n < recvBatch {
			return // the queue was emptied
		}
	}
}

// maxDrainErrors bounds the transient errors one drain reads past.
const maxDrainErrors = 16

// dispatch hands the n datagrams of the last read to their sessions. The
// whole batch is looked up under one read lock; if handling a packet
// changed the tables (a first packet latched, an SSRC was learnt), the
// rest of the batch is looked up again, so a batch behaves as if its
// datagrams had come one by one. It allocates nothing.
func (k *sharedSocket) dispatch(n int, now int64) {
	k.handleMu.Lock()
	gen := k.lookupFrom(0, n, now)
	for i := range n {
		if g := k.gen.Load(); g != gen {
			gen = k.lookupFrom(i, n, now)
		}
		s := k.targets[i]
		if s == nil {
			k.unmatched.Add(1)
			continue
		}
		k.targets[i] = nil
		b, src := k.rd.packet(i)
		s.handlePacket(b, src, now, &k.pkt)
	}
	k.handleMu.Unlock()
}

// lookupFrom looks up datagrams i..n-1 of the last read into targets and
// returns the table generation they are valid for.
func (k *sharedSocket) lookupFrom(i, n int, now int64) uint64 {
	k.mu.RLock()
	gen := k.gen.Load()
	for ; i < n; i++ {
		b, src := k.rd.packet(i)
		k.targets[i] = k.lookup(b, src, now)
	}
	k.mu.RUnlock()
	return gen
}

// close closes the socket and frees the port; the pacer stops draining
// it.
func (k *sharedSocket) close() error {
	k.closing.Store(true)
	err := k.conn.close()
	k.e.ports.release(k.port)
	if err != nil {
		return fmt.Errorf("media: close shared RTP socket on port %d: %w", k.port, err)
	}
	return nil
}
