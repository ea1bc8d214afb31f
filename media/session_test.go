package media

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/rtp"
)

func TestIdleSessionSendsContinuousSilence(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		tests := []struct {
			name    string
			pt      uint8
			silence byte
		}{
			{"PCMU", PayloadPCMU, 0xFF},
			{"PCMA", PayloadPCMA, 0xD5},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := newTestEngine(t, tr, nil)
				s := newTestSession(t, e)
				p := newPeer(t)
				if err := s.Configure(p.addr(), tt.pt, 101); err != nil {
					t.Fatal(err)
				}
				s.Start()
				s.Start() // idempotent: still one stream
				pkts := p.collect(26)
				var skipped uint64
				first, last := pkts[0], pkts[len(pkts)-1]
				for i, r := range pkts {
					if r.PayloadType != tt.pt || len(r.Payload) != FrameSize {
						t.Fatalf("packet %d: PT %d, %d bytes", i, r.PayloadType, len(r.Payload))
					}
					if !bytes.Equal(r.Payload, bytes.Repeat([]byte{tt.silence}, FrameSize)) {
						t.Fatalf("packet %d is not silence: % x", i, r.Payload[:8])
					}
					if r.SSRC != first.SSRC {
						t.Fatalf("SSRC changed at packet %d", i)
					}
					if i > 0 {
						prev := pkts[i-1]
						dts := r.Timestamp - prev.Timestamp
						if r.SequenceNumber != prev.SequenceNumber+1 || dts%FrameSize != 0 || dts == 0 {
							t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d",
								i, r.SequenceNumber, r.Timestamp, prev.SequenceNumber, prev.Timestamp)
						}
						skipped += uint64(dts/FrameSize - 1)
					}
					if r.Marker {
						t.Errorf("packet %d of the silence stream has the marker bit", i)
					}
				}
				// Timestamps only jump when an overloaded pacer skipped ahead,
				// and then the engine counts it.
				if skipped > e.Stats().FramesSkipped {
					t.Errorf("timestamps skip %d frames, engine counted %d", skipped, e.Stats().FramesSkipped)
				}
				// Packets leave at the pace of their timestamps: 25 intervals of
				// 20 ms give 500 ms, give or take a 10 ms tick at either end and
				// scheduling noise on a busy machine.
				span := last.at.Sub(first.at)
				want := time.Duration(last.Timestamp-first.Timestamp) * time.Second / 8000
				if span < want-60*time.Millisecond || span > want+60*time.Millisecond {
					t.Errorf("%d frames spanned %v, their timestamps %v", len(pkts), span, want)
				}
				if st := s.Stats(); st.Sent < 26 || st.Remote != p.addr() {
					t.Errorf("stats %+v", st)
				}
			})
		}
	})
}

func clipOf(frames int, seed byte) []byte {
	b := make([]byte, frames*FrameSize)
	for i := range b {
		b[i] = seed + byte(i%97) // never 0xFF for small seeds
	}
	return b
}

func isSilence(b []byte, v byte) bool {
	for _, x := range b {
		if x != v {
			return false
		}
	}
	return true
}

func TestPlayArrivesByteExactBetweenSilenceWithMarker(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		s := newTestSession(t, e)
		p := newPeer(t)
		if err := s.Configure(p.addr(), PayloadPCMU, 0); err != nil {
			t.Fatal(err)
		}
		s.Start()
		p.collect(3) // the silence before

		clipA := clipOf(3, 1)[:2*FrameSize+FrameSize/2] // a short last frame
		clipB := clipOf(3, 50)
		var want []byte
		want = append(want, clipA...)
		want = append(want, bytes.Repeat([]byte{0xFF}, FrameSize/2)...)
		want = append(want, clipB...)

		playErr := make(chan error, 1)
		start := time.Now()
		go func() { playErr <- s.Play(context.Background(), clipA, nil, clipB) }()

		var got []byte
		var seq []uint16
		var returnedAt time.Time
		sawStart, sawEnd := false, false
		for !sawEnd {
			r, ok := p.read(time.Second)
			if !ok {
				t.Fatal("stream stopped")
			}
			seq = append(seq, r.SequenceNumber)
			silent := isSilence(r.Payload, 0xFF)
			switch {
			case !sawStart && silent:
				if r.Marker {
					t.Error("marker on a silence frame before the prompt")
				}
			case !sawStart:
				sawStart = true
				if !r.Marker {
					t.Error("first prompt frame has no marker bit (talkspurt start)")
				}
				got = append(got, r.Payload...)
			case len(got) < len(want):
				if r.Marker {
					t.Error("marker bit inside the talkspurt")
				}
				got = append(got, r.Payload...)
			default:
				if !silent || r.Marker {
					t.Errorf("after the prompt: marker %v, payload % x", r.Marker, r.Payload[:4])
				}
				sawEnd = true
			}
			select {
			case err := <-playErr:
				if err != nil {
					t.Fatalf("Play: %v", err)
				}
				returnedAt = time.Now()
				if len(got) < len(want)-FrameSize {
					t.Errorf("Play returned with %d of %d bytes out", len(got), len(want))
				}
			default:
			}
		}
		if !bytes.Equal(got, want) {
			t.Errorf("prompt arrived as %d bytes, not byte-exact with the %d sent", len(got), len(want))
		}
		for i := 1; i < len(seq); i++ {
			if seq[i] != seq[i-1]+1 {
				t.Fatalf("sequence gap %d → %d", seq[i-1], seq[i])
			}
		}
		if returnedAt.IsZero() {
			select {
			case err := <-playErr:
				if err != nil {
					t.Fatalf("Play: %v", err)
				}
			case <-time.After(time.Second):
				t.Fatal("Play did not return after the prompt")
			}
		} else if d := returnedAt.Sub(start); d < 5*FrameDuration {
			t.Errorf("Play of 6 frames returned after %v", d)
		}
	})
}

func TestCancelledPlayStopsWithinTwoFramesAndReturnsCause(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		s := newTestSession(t, e)
		p := newPeer(t)
		if err := s.Configure(p.addr(), PayloadPCMA, 0); err != nil {
			t.Fatal(err)
		}
		s.Start()
		p.collect(2)

		cause := errors.New("caller hung up")
		ctx, cancel := context.WithCancelCause(context.Background())
		playErr := make(chan error, 1)
		go func() { playErr <- s.Play(ctx, clipOf(100, 3)) }()

		prompt := 0
		for prompt < 10 {
			r, _ := p.read(time.Second)
			if !isSilence(r.Payload, 0xD5) {
				prompt++
			}
		}
		cancel(cause)
		select {
		case err := <-playErr:
			if !errors.Is(err, cause) {
				t.Fatalf("Play returned %v, want the cancel cause", err)
			}
		case <-time.After(time.Second):
			t.Fatal("Play did not return after cancel")
		}
		after := 0
		for range 10 {
			r, _ := p.read(time.Second)
			if !isSilence(r.Payload, 0xD5) {
				after++
			}
		}
		if after > 2 {
			t.Errorf("%d prompt frames after cancel, want at most 2", after)
		}
		// The session is free for the next prompt.
		if err := s.Play(context.Background(), clipOf(1, 9)); err != nil {
			t.Errorf("Play after cancel: %v", err)
		}
	})
}

func TestSecondConcurrentPlayIsBusy(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		s := newTestSession(t, e)
		p := newPeer(t)
		s.Configure(p.addr(), PayloadPCMU, 0)
		s.Start()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		first := make(chan error, 1)
		go func() { first <- s.Play(ctx, clipOf(50, 1)) }()
		eventually(t, time.Second, "first Play running", func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.play != nil
		})
		if err := s.Play(context.Background(), clipOf(1, 1)); !errors.Is(err, ErrBusy) {
			t.Errorf("second Play: %v, want ErrBusy", err)
		}
		cancel()
		if err := <-first; !errors.Is(err, context.Canceled) {
			t.Errorf("first Play: %v, want context.Canceled", err)
		}
	})
}

func TestCloseEndsARunningPlay(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		s := newTestSession(t, e)
		s.Configure(newPeer(t).addr(), PayloadPCMU, 0)
		s.Start()
		done := make(chan error, 1)
		go func() { done <- s.Play(context.Background(), clipOf(100, 1)) }()
		time.Sleep(60 * time.Millisecond)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("Play: %v, want ErrClosed", err)
			}
		case <-time.After(time.Second):
			t.Fatal("Play still blocked after Close")
		}
		if err := s.Play(context.Background(), clipOf(1, 1)); !errors.Is(err, ErrClosed) {
			t.Errorf("Play after Close: %v, want ErrClosed", err)
		}
		if err := s.Configure(newPeer(t).addr(), PayloadPCMU, 0); !errors.Is(err, ErrClosed) {
			t.Errorf("Configure after Close: %v, want ErrClosed", err)
		}
	})
}

func TestPlayWithNothingToPlayReturnsAtOnce(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		s := newTestSession(t, e)
		if err := s.Play(context.Background(), nil, []byte{}); err != nil {
			t.Errorf("Play of empty clips: %v", err)
		}
		ctx, cancel := context.WithCancelCause(context.Background())
		cause := errors.New("gone")
		cancel(cause)
		if err := s.Play(ctx, clipOf(1, 1)); !errors.Is(err, cause) {
			t.Errorf("Play with a done context: %v, want its cause", err)
		}
	})
}

func TestConfigureRejectsCodecsOtherThanG711(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		s := newTestSession(t, e)
		tests := []struct {
			name      string
			pt, dtmf  uint8
			wantError bool
		}{
			{"PCMU with telephone-event", 0, 101, false},
			{"PCMA without telephone-event", 8, 0, false},
			{"GSM", 3, 101, true},
			{"G.722", 9, 0, true},
			{"telephone-event on the audio type", 8, 8, true},
			{"telephone-event beyond 127", 0, 200, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := s.Configure(newPeer(t).addr(), tt.pt, tt.dtmf)
				if tt.wantError != errors.Is(err, ErrUnsupportedCodec) {
					t.Errorf("Configure(%d, %d) = %v", tt.pt, tt.dtmf, err)
				}
			})
		}
	})
}

func TestSymmetricRTPLatchesOntoTheCallersSource(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		s := newTestSession(t, e)
		sdp, caller, stray := newPeer(t), newPeer(t), newPeer(t)
		s.Configure(sdp.addr(), PayloadPCMU, 101)
		s.Start()

		// Before any RTP arrives the stream goes to the SDP address.
		sdp.collect(2)

		// The caller's RTP really comes from another address (NAT).
		silence := bytes.Repeat([]byte{0xFF}, FrameSize)
		hdr := rtp.Header{PayloadType: 0, SSRC: 42, SequenceNumber: 1}
		caller.send(s.localAddr(), rtp.Packet{Header: hdr, Payload: silence})
		eventually(t, time.Second, "latched to the caller's source", func() bool {
			return s.Stats().Remote == caller.addr()
		})
		caller.collect(3)
		sdp.drain()
		if _, ok := sdp.read(60 * time.Millisecond); ok {
			t.Error("SDP address still receives after latching")
		}

		// A stray source interleaved with the live caller never takes over.
		for i := range 6 {
			hdr.SequenceNumber++
			caller.send(s.localAddr(), rtp.Packet{Header: hdr, Payload: silence})
			stray.send(s.localAddr(), rtp.Packet{Header: rtp.Header{PayloadType: 0, SSRC: 7, SequenceNumber: uint16(i)}, Payload: silence})
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		if r := s.Stats().Remote; r != caller.addr() {
			t.Fatalf("stray packets moved the stream to %v", r)
		}

		// The caller goes quiet and its media moves: after three packets from
		// the new source the stream follows.
		time.Sleep(relatchQuietTest)
		for i := range 3 {
			stray.send(s.localAddr(), rtp.Packet{Header: rtp.Header{PayloadType: 0, SSRC: 42, SequenceNumber: uint16(100 + i)}, Payload: silence})
			time.Sleep(5 * time.Millisecond)
		}
		eventually(t, time.Second, "re-latched to the new source", func() bool {
			return s.Stats().Remote == stray.addr()
		})

		// A re-INVITE's Configure sends to the new SDP address again.
		sdp2 := newPeer(t)
		s.Configure(sdp2.addr(), PayloadPCMU, 101)
		sdp2.collect(2)
	})
}

const relatchQuietTest = time.Duration(relatchQuiet) + 20*time.Millisecond

func dtmfPacket(ts uint32, seq uint16, marker bool, event uint8, end bool, dur uint16) rtp.Packet {
	b1 := byte(10)
	if end {
		b1 |= 0x80
	}
	return rtp.Packet{
		Header:  rtp.Header{PayloadType: 101, SequenceNumber: seq, Timestamp: ts, SSRC: 9, Marker: marker},
		Payload: []byte{event, b1, byte(dur >> 8), byte(dur)},
	}
}

// sendKeyPress sends one press as RFC 4733 §2.5.1 describes: a start packet
// with the marker bit, continuations with growing duration, and the end
// packet three times, all with the event's start timestamp.
func sendKeyPress(p *peer, to netip.AddrPort, seq *uint16, ts uint32, event uint8) {
	for i, dur := range []uint16{160, 320, 480, 640} {
		*seq++
		p.send(to, dtmfPacket(ts, *seq, i == 0, event, false, dur))
	}
	for range 3 {
		*seq++
		p.send(to, dtmfPacket(ts, *seq, false, event, true, 800))
	}
}

func TestTelephoneEventsYieldOneDigitPerKeyPress(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		s := newTestSession(t, e)
		p := newPeer(t)
		s.Configure(p.addr(), PayloadPCMU, 101)
		s.Start()

		var seq uint16
		ts := uint32(1000)
		presses := []uint8{5, 5, 10, 11, 0, 15, 16 /* flash: no key */, 9}
		for _, ev := range presses {
			sendKeyPress(p, s.localAddr(), &seq, ts, ev)
			ts += 1600
		}
		want := "55*#0D9"
		var got []byte
		timeout := time.After(2 * time.Second)
		for len(got) < len(want) {
			select {
			case d := <-s.Digits():
				got = append(got, d)
			case <-timeout:
				t.Fatalf("got digits %q, want %q", got, want)
			}
		}
		if string(got) != want {
			t.Errorf("got digits %q, want %q", got, want)
		}
		select {
		case d := <-s.Digits():
			t.Errorf("extra digit %q: retransmissions were not collapsed", d)
		case <-time.After(100 * time.Millisecond):
		}
		if st := s.Stats(); st.Received != uint64(7*len(presses)) || st.Dropped != 0 {
			t.Errorf("stats %+v, want %d received", st, 7*len(presses))
		}
	})
}

func TestTelephoneEventsNeedTheNegotiatedPayloadType(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		s := newTestSession(t, e)
		p := newPeer(t)
		s.Configure(p.addr(), PayloadPCMU, 0) // none negotiated
		var seq uint16
		sendKeyPress(p, s.localAddr(), &seq, 1, 5)
		eventually(t, time.Second, "packets dropped", func() bool { return s.Stats().Dropped == 7 })
		select {
		case d := <-s.Digits():
			t.Errorf("digit %q from an un-negotiated payload type", d)
		default:
		}
	})
}

func TestInactivityFiresAfterTheTimeoutWithoutRTP(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, func(c *EngineConfig) { c.InactivityTimeout = 300 * time.Millisecond })
		s := newTestSession(t, e)
		p := newPeer(t)
		s.Configure(p.addr(), PayloadPCMU, 0)
		var before, after atomic.Int32
		s.OnInactive(func() { before.Add(1) })
		start := time.Now()
		s.Start()
		select {
		case <-s.Inactive():
			// Never before the timeout; the pacer checks every 500 ms, so it
			// may come up to that much later.
			if d := time.Since(start); d < 300*time.Millisecond {
				t.Errorf("inactive after %v, before the 300ms timeout", d)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("Inactive not closed")
		}
		eventually(t, time.Second, "OnInactive's function ran", func() bool { return before.Load() == 1 })
		// Registered late, it runs at once.
		s.OnInactive(func() { after.Add(1) })
		eventually(t, time.Second, "a late OnInactive's function ran", func() bool { return after.Load() == 1 })
		// Sending continues; the call flow decides.
		p.drain()
		p.collect(3)
	})
}

func TestInactivityDoesNotFireWhileRTPFlows(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, func(c *EngineConfig) { c.InactivityTimeout = 800 * time.Millisecond })
		s := newTestSession(t, e)
		p := newPeer(t)
		s.Configure(p.addr(), PayloadPCMU, 0)
		s.Start()
		silence := bytes.Repeat([]byte{0xFF}, FrameSize)
		stop := time.Now().Add(2 * time.Second)
		for seq := uint16(0); time.Now().Before(stop); seq++ {
			p.send(s.localAddr(), rtp.Packet{Header: rtp.Header{PayloadType: 0, SequenceNumber: seq, SSRC: 1}, Payload: silence})
			select {
			case <-s.Inactive():
				t.Fatal("Inactive closed while RTP flows")
			case <-time.After(20 * time.Millisecond):
			}
		}
		// And once it stops, it does fire.
		select {
		case <-s.Inactive():
		case <-time.After(3 * time.Second):
			t.Fatal("Inactive not closed after RTP stopped")
		}
	})
}

func TestGarbageDatagramsAreDroppedAndCounted(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		s := newTestSession(t, e)
		p := newPeer(t)
		s.Configure(p.addr(), PayloadPCMU, 101)
		garbage := [][]byte{
			{},
			{0x80, 0x00, 0x00},              // too short
			bytes.Repeat([]byte{0x40}, 172), // RTP version 1
			append([]byte{0x8F}, make([]byte, 20)...),        // 15 CSRCs announced, not there
			append([]byte{0x80, 0x12}, make([]byte, 170)...), // G.729: not negotiated
			append([]byte{0xA0, 0x00}, make([]byte, 10)...),  // padding bit, padding count 0
			append([]byte{0x80, 101}, make([]byte, 12)...),   // telephone-event with 2-byte payload
		}
		for _, g := range garbage {
			p.sendRaw(s.localAddr(), g)
		}
		p.send(s.localAddr(), rtp.Packet{Header: rtp.Header{PayloadType: 0, SSRC: 1}, Payload: make([]byte, FrameSize)})
		p.send(s.localAddr(), rtp.Packet{Header: rtp.Header{PayloadType: payloadCN, SSRC: 1}, Payload: []byte{40}})
		eventually(t, time.Second, "all datagrams counted", func() bool {
			st := s.Stats()
			return st.Dropped == uint64(len(garbage)) && st.Received == 2
		})
		if st := e.Stats(); st.PacketsDropped != uint64(len(garbage)) || st.PacketsReceived != 2 {
			t.Errorf("engine stats %+v", st)
		}
		if r := s.Stats().Remote; r != p.addr() {
			t.Errorf("remote %v, want %v", r, p.addr())
		}
	})
}

func FuzzHandlePacket(f *testing.F) {
	valid, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0}, Payload: make([]byte, 160)}).Marshal()
	ev, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, Marker: true}, Payload: []byte{1, 10, 0, 160}}).Marshal()
	ext, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, Extension: true, ExtensionProfile: 0xBEDE, CSRC: []uint32{1}}, Payload: []byte{1}}).Marshal()
	f.Add(valid)
	f.Add(ev)
	f.Add(ext)
	f.Add([]byte{0x80})
	f.Add([]byte{0xB0, 101, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 4, 0, 0, 0, 0})
	e := newTestEngine(f, TransportPortPerCall, nil)
	s := newTestSession(f, e)
	s.Configure(netip.AddrPortFrom(loopback, 9), PayloadPCMU, 101)
	src := netip.AddrPortFrom(loopback, 4000)
	var pkt rtp.Packet // reused, as the readers do
	f.Fuzz(func(t *testing.T, b []byte) {
		before := s.received.Load() + s.dropped.Load()
		s.handlePacket(b, src, e.now(), &pkt)
		if after := s.received.Load() + s.dropped.Load(); after != before+1 {
			t.Fatalf("datagram counted %d times", after-before)
		}
		select {
		case <-s.Digits():
		default:
		}
	})
}

func TestPortsAreEvenExhaustAndAreReused(t *testing.T) {
	lo, hi := freeEvenPorts(t, 3)
	e, err := NewEngine(EngineConfig{BindIP: loopback, PortMin: lo - 1, PortMax: hi + 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var sessions []*Session
	seen := map[int]bool{}
	for range 3 {
		s, err := e.NewSession("c")
		if err != nil {
			t.Fatalf("NewSession: %v", err)
		}
		if s.LocalPort()%2 != 0 || s.LocalPort() < lo || s.LocalPort() > hi || seen[s.LocalPort()] {
			t.Fatalf("port %d: want a fresh even port in %d-%d", s.LocalPort(), lo, hi)
		}
		seen[s.LocalPort()] = true
		sessions = append(sessions, s)
	}
	if _, err := e.NewSession("c"); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("fourth session: %v, want ErrNoPorts", err)
	}
	if n := e.Stats().ActiveSessions; n != 3 {
		t.Errorf("%d active sessions, want 3", n)
	}
	freed := sessions[1].LocalPort()
	sessions[1].Close()
	s, err := e.NewSession("c")
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	if s.LocalPort() != freed {
		t.Errorf("got port %d, want the freed %d", s.LocalPort(), freed)
	}
}

func TestPortHeldByAnotherProgramIsSkipped(t *testing.T) {
	lo, hi := freeEvenPorts(t, 3)
	squatter, err := listenUDP(netip.AddrPortFrom(loopback, uint16(lo)))
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	e, err := NewEngine(EngineConfig{BindIP: loopback, PortMin: lo, PortMax: hi})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for range 2 {
		s, err := e.NewSession("c")
		if err != nil {
			t.Fatalf("NewSession: %v", err)
		}
		if s.LocalPort() == lo {
			t.Fatalf("got the squatted port %d", lo)
		}
	}
	if _, err := e.NewSession("c"); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("with the last port squatted: %v, want ErrNoPorts", err)
	}
}

func TestNewEngineValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  EngineConfig
	}{
		{"no bind address", EngineConfig{PortMin: 10000, PortMax: 10010}},
		{"inverted range", EngineConfig{BindIP: loopback, PortMin: 10010, PortMax: 10000}},
		{"range without an even port", EngineConfig{BindIP: loopback, PortMin: 10001, PortMax: 10001}},
		{"port beyond 65535", EngineConfig{BindIP: loopback, PortMin: 65534, PortMax: 65536}},
		{"negative timeout", EngineConfig{BindIP: loopback, PortMin: 10000, PortMax: 10010, InactivityTimeout: -1}},
		{"unknown transport", EngineConfig{BindIP: loopback, PortMin: 10000, PortMax: 10010, Transport: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e, err := NewEngine(tt.cfg); err == nil {
				e.Close()
				t.Error("accepted")
			}
		})
	}
}

func TestEngineCloseClosesEverySession(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		p := newPeer(t)
		var sessions []*Session
		for range 3 {
			s := newTestSession(t, e)
			s.Configure(p.addr(), PayloadPCMU, 0)
			s.Start()
			sessions = append(sessions, s)
		}
		p.collect(6)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if st := e.Stats(); st.ActiveSessions != 0 || st.PacketsSent < 6 {
			t.Errorf("stats after Close %+v", st)
		}
		if err := sessions[0].Play(context.Background(), clipOf(1, 1)); !errors.Is(err, ErrClosed) {
			t.Errorf("Play after engine Close: %v", err)
		}
		if _, err := e.NewSession("late"); !errors.Is(err, ErrClosed) {
			t.Errorf("NewSession after Close: %v, want ErrClosed", err)
		}
		p.drain()
		if _, ok := p.read(60 * time.Millisecond); ok {
			t.Error("packets still sent after Close")
		}
	})
}

// A hotline holds a session per call leg, thousands at once, so the
// session's size is memory per leg: Go allocates it from the 1,792-byte
// size class, and one byte more moves it to the 2,048-byte one, 256 bytes
// more for every leg. Most of it is the received-audio ring, whose frame
// count and size are the relay's and the analysis's bounds and stay; the
// rest is kept lean: state that only some sessions need (the frame a
// cancelled prompt owes, the staging frame for payloads that are not
// 20 ms, a shared socket's tables) is allocated when needed, no RTP header
// is kept beside the fields it is built from, a datagram is parsed into
// its reader's packet rather than the session's, a field that only one
// transport uses lives with that transport, and small fields share words
// instead of padding them out.
func TestASessionFitsThe1792ByteSizeClass(t *testing.T) {
	if size := unsafe.Sizeof(Session{}); unsafe.Sizeof(uintptr(0)) == 8 && size > 1792 {
		t.Errorf("Session is %d bytes, over the 1,792-byte size class", size)
	}
}
