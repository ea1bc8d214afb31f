package media

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
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
type sender interface {
	send(conn *net.UDPConn, pkt []byte, dst netip.AddrPort) error
	flush() error
}

// directSender writes every packet with its own sendto(2).
type directSender struct{}

func (directSender) send(conn *net.UDPConn, pkt []byte, dst netip.AddrPort) error {
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

	mu      sync.Mutex
	pending []*Session

	list           []*Session
	buf            [packetSize]byte
	nextInactivity int64

	sent, skipped, sendErrors atomic.Uint64

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newPacer(e *Engine, snd sender) *pacer {
	return &pacer{e: e, snd: snd, stop: make(chan struct{}), done: make(chan struct{})}
}

// join hands a started session to the pacer loop.
func (p *pacer) join(s *Session) {
	p.mu.Lock()
	p.pending = append(p.pending, s)
	p.mu.Unlock()
}

func (p *pacer) run() {
	defer close(p.done)
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

// tick sends every frame due at or before now.
func (p *pacer) tick(now int64) {
	p.mu.Lock()
	p.list = append(p.list, p.pending...)
	clear(p.pending)
	p.pending = p.pending[:0]
	p.mu.Unlock()

	for i := 0; i < len(p.list); {
		s := p.list[i]
		if s.closing.Load() {
			last := len(p.list) - 1
			p.list[i] = p.list[last]
			p.list[last] = nil
			p.list = p.list[:last]
			continue
		}
		if s.nextDue <= now {
			p.service(s, now)
		}
		i++
	}
	if err := p.snd.flush(); err != nil {
		p.sendErrors.Add(1)
	}
	if now >= p.nextInactivity {
		p.nextInactivity = now + int64(inactivityEvery)
		p.checkInactivity(now)
	}
}

// service sends the frames of s that are due. Frames late by up to
// maxBehind are all sent, back to back, so no audio is lost to a slow tick;
// beyond that the schedule jumps ahead and the skipped frames are counted
// (the RTP timestamp jumps too, so the receiver sees a gap, not a
// time-squeezed burst).
func (p *pacer) service(s *Session, now int64) {
	due := s.nextDue
	if behind := now - due; behind > int64(maxBehind) {
		n := behind / frameNanos
		due += n * frameNanos
		s.ts += uint32(n) * FrameSize
		p.skipped.Add(uint64(n))
	}
	for due <= now {
		p.sendFrame(s, due)
		due += frameNanos
	}
	s.nextDue = due
}

// sendFrame builds and sends the frame due at due: the next 160 bytes of
// the playing clip, or encoded silence. It allocates nothing.
func (p *pacer) sendFrame(s *Session, due int64) {
	var finished *player
	sent := false
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	dst := s.destination()
	hdr := &s.hdr
	hdr.PayloadType = s.pt
	hdr.SequenceNumber = s.seq
	hdr.Timestamp = s.ts
	hdr.Marker = s.marker
	n, _ := hdr.MarshalTo(p.buf[:]) // cannot fail: buf holds a CSRC-less header
	payload := p.buf[n : n+FrameSize]
	if pl := s.play; pl != nil {
		if pl.fill(payload, s.silence) {
			s.play = nil
			finished = pl
		}
	} else {
		fillSilence(payload, s.silence)
	}
	s.ts += FrameSize
	if dst.IsValid() {
		// Sequence numbers count packets sent (RFC 3550 §5.1); with no
		// destination (hold with c=0.0.0.0) only the clock advances.
		s.seq++
		s.marker = false
		if err := p.snd.send(s.conn, p.buf[:n+FrameSize], dst); err != nil {
			p.sendErrors.Add(1)
		} else {
			p.sent.Add(1)
			s.sent.Add(1)
			sent = true
		}
	}
	s.mu.Unlock()

	if obs := p.e.cfg.Lateness; obs != nil && sent {
		// Measured after the write, so the time spent sending the frames
		// before this one in the tick counts too.
		obs.Observe(float64(p.e.now()-due) / float64(time.Second))
	}
	if finished != nil {
		close(finished.done)
	}
}

// checkInactivity closes Inactive on sessions that have received no valid
// RTP for the configured timeout since Start or since the last packet.
func (p *pacer) checkInactivity(now int64) {
	timeout := int64(p.e.cfg.InactivityTimeout)
	if timeout <= 0 {
		return
	}
	for _, s := range p.list {
		if s.inactiveFired {
			continue
		}
		last := max(s.lastRecv.Load(), s.startedAt)
		if now-last > timeout {
			s.inactiveFired = true
			close(s.inactive)
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
