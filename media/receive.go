package media

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/pion/rtp"
)

const rxConfigured = 1 << 16

const (
	// relatchPackets is how many consecutive valid packets a new source must
	// send before the stream moves to it.
	relatchPackets = 3
	// relatchQuiet is how long the latched source must have been silent
	// before another may take over: a stray or spoofed packet stream cannot
	// steal a live call's audio.
	relatchQuiet = int64(100 * time.Millisecond)
)

// rxState is owned by the receive goroutine.
type rxState struct {
	// latched is the caller's RTP source, which the receive path compares
	// every packet with and so keeps rather than read Session.dest under
	// the session lock.
	latched         netip.AddrPort
	lastFromLatched int64
	candidate       netip.AddrPort
	gen             uint32 // configGen the latch belongs to
	eventTS         uint32 // RTP timestamp of the last telephone-event
	// ssrc is the last SSRC heard from the latched source, mirrored into
	// the shared socket's table (TransportShared only).
	ssrc uint32
	// The byte-sized fields come last, where they share the word that
	// ssrc leaves (see TestASessionFitsThe1792ByteSizeClass).
	haveEvent bool
	haveSSRC  bool
	// candidateCount is the candidate's consecutive packets, counted up
	// to relatchPackets only, all the relatch rule asks, so a byte holds
	// it.
	candidateCount uint8
}

// readLoop receives into one per-session buffer until the socket is closed.
func (s *Session) readLoop() {
	defer close(s.readDone)
	buf := make([]byte, receiveBufferSize)
	// The parsed packet is the reader's, not the session's: it matters
	// only while one datagram is handled (a shared socket has one for all
	// its sessions). It is reused because parsing CSRCs or a header
	// extension appends to its slices, which a fresh one would allocate.
	var pkt rtp.Packet
	for {
		n, src, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.flag(flagClosing) {
				return
			}
			// Transient (e.g. an ICMP error surfaced on the socket):
			// keep receiving.
			continue
		}
		s.handlePacket(buf[:n], src, s.e.now(), &pkt)
	}
}

// handlePacket validates one datagram and acts on it: telephone-events
// become digits, any valid packet refreshes the inactivity clock and feeds
// the symmetric-RTP latch, and on a bridged session audio and events go to
// the other leg. pkt is the reader's, parsed into afresh and not kept. It
// allocates nothing, for valid packets and garbage alike.
func (s *Session) handlePacket(b []byte, src netip.AddrPort, now int64, pkt *rtp.Packet) {
	// Cheap checks first, so garbage never reaches the parser's error
	// paths (which format errors and so allocate).
	if len(b) < rtpHeaderSize || b[0]>>6 != 2 || len(b) < rtpHeaderSize+4*int(b[0]&0x0F) {
		s.dropped.Add(1)
		return
	}
	cfg := s.rxConfig.Load()
	audioPT, dtmfPT := uint8(cfg), uint8(cfg>>8)
	pt := b[1] & 0x7F
	isDTMF := dtmfPT != 0 && pt == dtmfPT
	if cfg&rxConfigured == 0 || !(pt == audioPT || pt == payloadCN || isDTMF) {
		s.dropped.Add(1)
		return
	}
	if err := pkt.Unmarshal(b); err != nil {
		s.dropped.Add(1)
		return
	}
	if isDTMF {
		if len(pkt.Payload) < telephoneEventSize {
			s.dropped.Add(1)
			return
		}
		ev, _ := ParseTelephoneEvent(pkt.Payload) // length checked above
		s.telephoneEvent(ev, pkt.Timestamp)
	}
	s.received.Add(1)
	s.lastRecv.Store(now)
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	s.latch(src, now)
	// Bridged: relay audio and events from the latched source only, so a
	// stray or spoofed stream never reaches the other party. Comfort noise
	// is not relayed: the other leg's pacer conceals the pause itself.
	if src != s.rx.latched {
		return
	}
	if s.sock != nil && (!s.rx.haveSSRC || pkt.SSRC != s.rx.ssrc) {
		// A shared socket finds the caller by SSRC when its NAT moves it
		// to another port; learnt from the latched source only, so a
		// stray stream cannot register itself.
		s.rx.ssrc, s.rx.haveSSRC = pkt.SSRC, true
		s.sock.learnSSRC(s, pkt.SSRC)
	}
	d := s.out.Load()
	if isDTMF && d != nil && !s.flag(flagKeepDigits) {
		d.pushEvent(pkt.Payload, pkt.Timestamp, pkt.Marker)
	}
	// The audio goes once into the session's ring, which the relay and the
	// leg analyser both read: the analyser hears the same audio the other
	// party would. Comfort noise and telephone-events are not audio to it
	// (the slot counts them as silence).
	if pt == audioPT && (d != nil || s.flag(flagAnalysing)) {
		s.ring.push(pkt.Payload, pkt.Timestamp, pt, s.analysisGen.Load())
	}
}

// telephoneEvent reports a key once per press. RFC 4733 §2.5.1: every packet
// of one event carries the event's start timestamp, the duration grows, and
// the final packet (E bit) is sent three times; a new press starts a new
// timestamp. So a digit is reported on the first packet with a new
// timestamp, and continuations and end retransmissions are collapsed.
func (s *Session) telephoneEvent(ev TelephoneEvent, ts uint32) {
	if s.rx.haveEvent && ts == s.rx.eventTS {
		return
	}
	s.rx.haveEvent = true
	s.rx.eventTS = ts
	key, ok := ev.Key()
	if !ok {
		return
	}
	select {
	case s.digits <- key:
	default:
		s.digitsDrops.Add(1)
	}
}

// latch implements symmetric RTP (RFC 4961; "comedia"): the first valid
// packet's source replaces the SDP address, which is often a private address
// behind NAT. Another source takes over only after relatchPackets
// consecutive packets while the latched one has been quiet relatchQuiet.
func (s *Session) latch(src netip.AddrPort, now int64) {
	rx := &s.rx
	if gen := s.configGen.Load(); gen != rx.gen {
		*rx = rxState{gen: gen, haveEvent: rx.haveEvent, eventTS: rx.eventTS,
			ssrc: rx.ssrc, haveSSRC: rx.haveSSRC}
	}
	switch {
	case !rx.latched.IsValid():
	case src == rx.latched:
		rx.lastFromLatched = now
		rx.candidateCount = 0
		return
	default:
		if src != rx.candidate {
			rx.candidate, rx.candidateCount = src, 1
		} else if rx.candidateCount < relatchPackets {
			rx.candidateCount++
		}
		if rx.candidateCount < relatchPackets || now-rx.lastFromLatched < relatchQuiet {
			return
		}
	}
	s.mu.Lock()
	if s.configGen.Load() == rx.gen { // no Configure in between
		if s.dest.IsValid() { // not on hold
			s.dest = src
		}
		if s.sock != nil {
			s.sock.latched(s, src)
		}
	}
	s.mu.Unlock()
	s.e.log.Debug("rtp latched", "call_id", s.callID, "source", src, "previous", rx.latched)
	rx.latched = src
	rx.lastFromLatched = now
	rx.candidate, rx.candidateCount = netip.AddrPort{}, 0
}
