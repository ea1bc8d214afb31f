package media

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

const (
	// tickInterval is the pacer's period: half a frame, so a frame due at t
	// leaves by t+10 ms at the latest when the loop keeps up.
	tickInterval = 10 * time.Millisecond
	// maxBehind is how far a stream's schedule may lag before the pacer
	// stops catching up frame by frame and skips ahead: a burst of more
	// than five frames would overflow a typical jitter buffer anyway.
	maxBehind = 100 * time.Millisecond
	// inactivityEvery is how often a pacer checks its sessions for RTP
	// inactivity; one pass over the list beats a timer per session.
	inactivityEvery = 500 * time.Millisecond

	frameNanos    = int64(FrameDuration)
	rtpHeaderSize = 12
	packetSize    = rtpHeaderSize + FrameSize
)

// sender is the pacer's sending strategy. The pacer builds each packet in its
// own buffer and hands it to send; a batching sender may copy it and queue it
// until flush, which the pacer calls at the end of every tick. Keeping this
// small lets one-syscall-per-packet and sendmmsg batches be measured against
// each other (DESIGN.md, "Media engine").
//
// due is the frame's due time on the engine clock, or noDue for packets
// whose lateness is not measured (telephone-events). A sender that queues
// observes lateness itself, once the packet has really been written (see
// pacer.senderObserves); flush may return a *sendBatchError counting queued
// packets that failed.
type sender interface {
	send(conn *net.UDPConn, pkt []byte, dst netip.AddrPort, due int64) error
	flush() error
}

// directSender writes every packet with its own sendto(2), on the session's
// own socket (TransportPortPerCall).
type directSender struct{}

func (directSender) send(conn *net.UDPConn, pkt []byte, dst netip.AddrPort, _ int64) error {
	_, err := conn.WriteToUDPAddrPort(pkt, dst)
	return err
}

func (directSender) flush() error { return nil }

// pacer is one shard of the shared send loop. Its goroutine owns list and
// the pacing fields of the sessions in it (nextDue, seq, ts, ...); Start
// hands sessions over through pending under mu, and closed sessions are
// dropped from list on the next tick.
type pacer struct {
	e   *Engine
	snd sender
	// senderObserves: snd queues packets and observes their lateness when
	// it writes them, so the pacer does not (TransportShared).
	senderObserves bool
	// rx is the shard's shared socket, read at the start of every tick
	// (TransportShared; nil with a port per call).
	rx *sharedSocket

	mu      sync.Mutex
	pending []*Session

	// list is the shard's sessions with the time each next sends, a copy
	// of its nextDue kept beside the pointer: a tick looks at every
	// session, and half of them (frames are 20 ms, ticks 10) have nothing
	// due, so the scan reads this array instead of thousands of
	// sessions' cache lines.
	list []pacedSession
	// eventsPending says some session may have flagEvPending set, so a
	// tick looks for telephone-events to send only when a bridge queued
	// some.
	eventsPending  atomic.Bool
	buf            [packetSize]byte
	pcm            [FrameSize]int16 // a received frame on its way to a leg analyser
	nextInactivity int64

	sent, skipped, sendErrors atomic.Uint64
	// late counts the frames sent and skipped, and the late ones, for
	// Engine.Lateness; it passes each lateness on to the histogram.
	late *lateMeter
	// legs is len(list) at the end of the last tick, for Engine.Lateness.
	legs atomic.Int64
	// cpu is the CPU time, in nanoseconds, the pacer's ticks have taken
	// (Engine.MediaCPU), as sampled by tick; ticks counts them.
	cpu   atomic.Int64
	ticks uint64
	// grid is an engine time at or before the ticker's first tick: ticks
	// come at grid + k·tickInterval (a runtime ticker keeps its phase when
	// it runs late), and every session's frames are due on that grid (see
	// onGrid).
	grid int64

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// pacedSession is an entry of a pacer's list.
type pacedSession struct {
	due int64 // s.nextDue
	s   *Session
}

func newPacer(e *Engine, snd sender) *pacer {
	return &pacer{e: e, snd: snd, late: newLateMeter(e.cfg.Lateness, e.cfg.LateBar), stop: make(chan struct{}), done: make(chan struct{})}
}

// join hands a started session to the pacer loop.
func (p *pacer) join(s *Session) {
	p.mu.Lock()
	p.pending = append(p.pending, s)
	p.mu.Unlock()
}

func (p *pacer) run() {
	defer close(p.done)
	// Read before the ticker exists, so that no tick comes before the
	// grid point it stands for and a frame due there is sent in it.
	p.grid = p.e.now()
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			// The tick's own timestamp may be stale when the loop ran
			// long; due decisions use the real time.
			p.tick(p.e.now())
		}
	}
}

func (p *pacer) shutdown() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
}

// cpuSampleEvery: one tick in this many has its CPU time measured, and
// counts for all of them. The clock reads cost about 6 µs a tick on a VM
// (four system calls), ten times an idle tick; measured one in five, the
// average of a second's ticks is still met within a few percent. Five is
// odd, so the measured ticks alternate between the two halves of the
// sessions that frames of 20 ms on ticks of 10 ms make.
const cpuSampleEvery = 5

// tick sends every frame due at or before now, and, one tick in
// cpuSampleEvery, counts the CPU time that took for that many ticks: by
// the thread's own clock when the tick ended on the thread it started on,
// at most its wall time; else its wall time, which is never less. (Should
// the pacer be moved off its thread and back within a tick, the thread's
// clock holds what ran on it meanwhile and misses what the tick ran
// elsewhere; that is rare, and bounded by the wall time.)
func (p *pacer) tick(now int64) {
	p.ticks++
	if p.ticks%cpuSampleEvery != 0 {
		p.work(now)
		return
	}
	cpu0, tid0, clock := threadCPU()
	p.work(now)
	spent := max(p.e.now()-now, 0)
	if clock {
		if cpu1, tid1, ok := threadCPU(); ok && tid1 == tid0 && cpu1 >= cpu0 {
			spent = min(cpu1-cpu0, spent)
		}
	}
	p.cpu.Add(spent * cpuSampleEvery)
}

// work is one tick's work.
func (p *pacer) work(now int64) {
	p.late.start(now)
	if p.rx != nil {
		p.rx.drain(now)
	}
	p.mu.Lock()
	joined := len(p.list)
	for _, s := range p.pending {
		p.list = append(p.list, pacedSession{s: s})
	}
	clear(p.pending)
	p.pending = p.pending[:0]
	p.mu.Unlock()
	for i := joined; i < len(p.list); i++ {
		e := &p.list[i]
		e.due = p.schedule(e.s)
	}

	events := p.eventsPending.Swap(false)
	for i := 0; i < len(p.list); {
		e := &p.list[i]
		if e.due > now && !events {
			i++
			continue
		}
		// A closed session leaves the list at its next slot; until then
		// sendFrame finds it closed and sends nothing.
		s := e.s
		if s.flag(flagClosing) {
			last := len(p.list) - 1
			p.list[i] = p.list[last]
			p.list[last] = pacedSession{}
			p.list = p.list[:last]
			continue
		}
		if events && s.flag(flagEvPending) {
			p.sendEvents(s)
		}
		if e.due <= now {
			p.service(s, now)
			e.due = s.nextDue
		}
		i++
	}
	p.flush()
	p.late.fold(now)
	p.legs.Store(int64(len(p.list)))
	if now >= p.nextInactivity {
		p.nextInactivity = now + int64(inactivityEvery)
		p.checkInactivity(now)
	}
}

// schedule puts a joining session's frames on the pacer's tick grid: the
// first is due at the first tick at or after Start, and every 20 ms after
// it falls on a tick too. The frame leaves at the same tick as it would
// with its due at Start itself, but its lateness is now the pacer's own
// delay. Otherwise each stream would carry a constant 0–10 ms between its
// Start and the tick after, which is no jitter a listener hears, and a
// stream that started just after a grid point would see its frames leave
// one tick or the next as the ticker's wakeup wobbled: 10 ms of real
// jitter.
func (p *pacer) schedule(s *Session) int64 {
	due := p.onGrid(s.nextDue)
	s.nextDue = due
	s.mu.Lock()
	s.nextFrameDue = due
	s.mu.Unlock()
	return due
}

// onGrid is the first tick time at or after t.
func (p *pacer) onGrid(t int64) int64 {
	tick := int64(tickInterval)
	off := (t - p.grid) % tick
	if off < 0 {
		off += tick
	}
	if off == 0 {
		return t
	}
	return t - off + tick
}

// flush ends a tick's sending. Packets a batching sender failed to write
// were counted as sent when they were queued; they move to the errors.
func (p *pacer) flush() {
	err := p.snd.flush()
	if err == nil {
		return
	}
	if be, ok := err.(*sendBatchError); ok {
		p.sendErrors.Add(uint64(be.failed))
		p.sent.Add(^uint64(be.failed - 1)) // subtract
		return
	}
	p.sendErrors.Add(1)
}

// service sends the frames of s that are due. Frames late by up to
// maxBehind are all sent, back to back, so no audio is lost to a slow tick;
// beyond that the schedule jumps ahead and the skipped frames are counted
// (the RTP timestamp jumps too, so the receiver sees a gap, not a
// time-squeezed burst).
//
// Catching up stops after a frame that ended a playback: the frames after
// it wait for the next tick, which gives the call flow, woken by the end of
// Play, time to start the next prompt before its slot is filled with
// silence (see Session.Loop).
func (p *pacer) service(s *Session, now int64) {
	due := s.nextDue
	if behind := now - due; behind > int64(maxBehind) {
		n := behind / frameNanos
		due += n * frameNanos
		s.ts += uint32(n) * FrameSize
		p.skipped.Add(uint64(n))
		p.late.skip(uint64(n))
		// The skipped slots still passed for the analysers: dead air and
		// silence are measured in slots, so they must not shrink when the
		// pacer is overloaded.
		if s.flag(flagAnalysisOn) {
			playing := s.playing()
			for range n {
				p.analyse(s, playing)
			}
		}
	}
	for due <= now {
		ended := p.sendFrame(s, due)
		due += frameNanos
		if ended {
			break
		}
	}
	s.nextDue = due
}

// sendFrame builds and sends the frame due at due. Its content, in order of
// priority: the playing clip (Play, Loop), the last frame of a cancelled
// playback (see Session.stopPlay), a relayed frame from the bridge, encoded
// silence. It reports whether a playback ended with this frame. After the
// send it gives the session's analysers their slot (see analyse). It
// allocates nothing.
func (p *pacer) sendFrame(s *Session, due int64) (ended bool) {
	var finished *player
	var relay *bridgeDir
	sent := false
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.nextFrameDue = due + frameNanos
	// This slot carries the server's own audio: the caller hears a prompt,
	// not dead air.
	playing := s.play != nil || s.tailSet
	payload := p.buf[rtpHeaderSize:packetSize]
	in := s.in
	switch {
	case s.play != nil:
		if s.play.fill(payload, s.silence) {
			finished = s.play
			s.play = nil
			ended = true
		}
		s.tailSet = false
		if in != nil {
			in.discard() // the prompt has the slot; no backlog behind it
		}
	case s.tailSet:
		copy(payload, s.tail[:])
		s.tailSet = false
		ended = true
		if in != nil {
			in.discard()
		}
	case in != nil && in.pop(payload, s.pt):
		relay = in
		if !s.lastRelayed {
			s.marker = true // the far party's talkspurt starts (RFC 3551 §4.1)
		}
	default:
		fillSilence(payload, s.silence)
	}
	s.lastRelayed = relay != nil
	dst := s.dest
	hdr := rtp.Header{Version: 2, PayloadType: s.pt, SequenceNumber: s.seq,
		Timestamp: s.ts, SSRC: s.ssrc, Marker: s.marker}
	// Cannot fail: the header has no CSRC or extension, so it is exactly
	// rtpHeaderSize bytes, written in front of the payload built above.
	_, _ = hdr.MarshalTo(p.buf[:rtpHeaderSize])
	s.ts += FrameSize
	if dst.IsValid() {
		// Sequence numbers count packets sent (RFC 3550 §5.1); with no
		// destination (hold with c=0.0.0.0) only the clock advances.
		s.seq++
		s.marker = false
		if err := p.snd.send(s.conn, p.buf[:packetSize], dst, due); err != nil {
			p.sendErrors.Add(1)
		} else {
			p.sent.Add(1)
			s.sent.Add(1)
			sent = true
			if relay != nil {
				relay.relayed.Add(1)
			}
		}
	}
	s.mu.Unlock()

	if sent && !p.senderObserves {
		// Measured after the write, so the time spent sending the frames
		// before this one in the tick counts too.
		p.late.observe(p.e.now(), due)
	}
	if finished != nil {
		finished.end(nil)
	}
	if s.flag(flagAnalysisOn) {
		p.analyse(s, playing)
	}
	return ended
}

// sendEvents re-sends the telephone-events the bridge queued for s, as soon
// as the tick after they arrived, between s's audio frames. They carry s's
// SSRC and telephone-event payload type and take the next sequence numbers.
// RFC 4733 §2.5.1: every packet of one event carries the event's start
// timestamp; here that is s's media clock when the event's first packet is
// re-sent, so each source event maps to one timestamp of ours and a new
// press gets a new one. End packets go out as many times as they came in.
func (p *pacer) sendEvents(s *Session) {
	s.setFlag(flagEvPending, false) // before draining: a packet queued meanwhile re-flags
	s.mu.Lock()
	d := s.in
	if s.closed || d == nil {
		s.mu.Unlock()
		return
	}
	dtmfPT := uint8(s.rxConfig.Load() >> 8)
	dst := s.dest
	hdr := rtp.Header{Version: 2, SSRC: s.ssrc}
	d.mu.Lock()
	for ; d.evN > 0; d.evN-- {
		ev := &d.events[d.evHead]
		d.evHead = (d.evHead + 1) % relayEvents
		if dtmfPT == 0 || !dst.IsValid() {
			continue // renegotiated away, or on hold: nothing to send to
		}
		if !d.evHave || ev.ts != d.evSrc {
			d.evHave, d.evSrc, d.evDstTS = true, ev.ts, s.ts
		}
		hdr.PayloadType = dtmfPT
		hdr.SequenceNumber = s.seq
		hdr.Timestamp = d.evDstTS
		hdr.Marker = ev.marker
		_, _ = hdr.MarshalTo(p.buf[:rtpHeaderSize])
		n := rtpHeaderSize + copy(p.buf[rtpHeaderSize:], ev.payload[:])
		s.seq++
		if err := p.snd.send(s.conn, p.buf[:n], dst, noDue); err != nil {
			p.sendErrors.Add(1)
			continue
		}
		p.sent.Add(1)
		s.sent.Add(1)
		d.br.events.Add(1)
	}
	d.mu.Unlock()
	s.mu.Unlock()
}

// checkInactivity closes Inactive on sessions that have received no valid
// RTP for the configured timeout since Start or since the last packet.
func (p *pacer) checkInactivity(now int64) {
	timeout := int64(p.e.cfg.InactivityTimeout)
	if timeout <= 0 {
		return
	}
	for _, e := range p.list {
		s := e.s
		if s.inactiveFired || s.flag(flagQuietAllowed) {
			continue
		}
		last := max(s.lastRecv.Load(), s.startedAt)
		if now-last > timeout {
			s.inactiveFired = true
			close(s.inactive)
			s.fireInactive()
			p.e.log.Info("rtp inactivity", "call_id", s.callID,
				"silent_for", time.Duration(now-last).Round(time.Millisecond))
		}
	}
}

func fillSilence(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}
