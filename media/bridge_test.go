package media

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// phone is a softphone in a bridge test: a plain UDP socket that sends paced
// RTP to its leg and captures everything the leg sends back.
type phone struct {
	*peer
	pt uint8

	mu   sync.Mutex
	got  []received
	stop chan struct{}
	done chan struct{}

	ssrc uint32
	seq  uint16
	ts   uint32
	sent map[int]time.Time // frame index → when it left
}

// newPhone starts capturing at once; call hangUp (or let cleanup) to stop.
func newPhone(t *testing.T, pt uint8, ssrc uint32) *phone {
	ph := &phone{peer: newPeer(t), pt: pt, ssrc: ssrc, ts: ssrc * 3,
		stop: make(chan struct{}), done: make(chan struct{}), sent: map[int]time.Time{}}
	go ph.capture()
	t.Cleanup(ph.hangUp)
	return ph
}

func (ph *phone) capture() {
	defer close(ph.done)
	buf := make([]byte, 1500)
	for {
		select {
		case <-ph.stop:
			return
		default:
		}
		ph.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, src, err := ph.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			continue
		}
		var r received
		if r.Unmarshal(buf[:n]) != nil {
			continue
		}
		r.Payload = bytes.Clone(r.Payload)
		r.at, r.src = time.Now(), src
		ph.mu.Lock()
		ph.got = append(ph.got, r)
		ph.mu.Unlock()
	}
}

func (ph *phone) hangUp() {
	select {
	case <-ph.stop:
	default:
		close(ph.stop)
	}
	<-ph.done
}

// packets returns a copy of what was captured so far.
func (ph *phone) packets() []received {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	return append([]received(nil), ph.got...)
}

// send sends one audio packet with the next sequence number; the timestamp
// advances by the payload's length.
func (ph *phone) sendAudio(to netip.AddrPort, payload []byte, index int) {
	ph.t.Helper()
	ph.seq++
	ph.sent[index] = time.Now()
	ph.send(to, rtp.Packet{
		Header:  rtp.Header{PayloadType: ph.pt, SequenceNumber: ph.seq, Timestamp: ph.ts, SSRC: ph.ssrc},
		Payload: payload,
	})
	ph.ts += uint32(len(payload))
}

// talk sends frames paced every interval, as a phone does.
func (ph *phone) talk(to netip.AddrPort, frames [][]byte, every time.Duration) {
	start := time.Now()
	for i, f := range frames {
		time.Sleep(time.Until(start.Add(time.Duration(i) * every)))
		ph.sendAudio(to, f, i)
	}
}

// talkFrames returns n numbered frames encoded for a phone of codec pt:
// distinct, never silence.
func talkFrames(n, base int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = numbered(base + i)
	}
	return out
}

// transcoded is what frame f sent in codec from must arrive as in codec to:
// decoded and re-encoded with the package's tables.
func transcoded(f []byte, from, to uint8) []byte {
	if from == to {
		return bytes.Clone(f)
	}
	pcm := make([]int16, len(f))
	out := make([]byte, len(f))
	if from == PayloadPCMU {
		DecodePCMU(pcm, f)
		EncodePCMA(out, pcm)
	} else {
		DecodePCMA(pcm, f)
		EncodePCMU(out, pcm)
	}
	return out
}

// streamCheck asserts what every leg's outgoing stream must be, whatever it
// carries: one SSRC, sequence +1 per packet, timestamp +160 per audio frame
// (unless the engine counted skipped frames), 160-byte audio payloads.
func streamCheck(t *testing.T, e *Engine, pkts []received, audioPT uint8) {
	t.Helper()
	var prevAudio *received
	for i := range pkts {
		r := &pkts[i]
		if r.SSRC != pkts[0].SSRC {
			t.Fatalf("packet %d: SSRC changed", i)
		}
		if i > 0 && r.SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: seq %d after %d", i, r.SequenceNumber, pkts[i-1].SequenceNumber)
		}
		if r.PayloadType != audioPT {
			continue
		}
		if len(r.Payload) != FrameSize {
			t.Fatalf("packet %d: %d-byte audio payload", i, len(r.Payload))
		}
		if prevAudio != nil {
			if d := r.Timestamp - prevAudio.Timestamp; d != FrameSize && (d%FrameSize != 0 || e.Stats().FramesSkipped == 0) {
				t.Fatalf("packet %d: timestamp +%d", i, d)
			}
		}
		prevAudio = r
	}
}

// relayedIndices maps the audio frames of a captured stream to the indices
// of the frames that were sent (encoded as they must arrive), -1 for
// silence, failing on anything else.
func relayedIndices(t *testing.T, pkts []received, audioPT uint8, want map[string]int) []int {
	t.Helper()
	silence := bytes.Repeat([]byte{silenceByte(audioPT)}, FrameSize)
	var idx []int
	for i, r := range pkts {
		if r.PayloadType != audioPT {
			continue
		}
		if bytes.Equal(r.Payload, silence) {
			idx = append(idx, -1)
			continue
		}
		n, ok := want[string(r.Payload)]
		if !ok {
			t.Fatalf("packet %d carries audio that was never sent (or was corrupted): % x…", i, r.Payload[:8])
		}
		idx = append(idx, n)
	}
	return idx
}

func expectMap(frames [][]byte, from, to uint8) map[string]int {
	m := make(map[string]int, len(frames))
	for i, f := range frames {
		m[string(transcoded(f, from, to))] = i
	}
	return m
}

// bridgedPair is two started sessions, a caller phone on A and an agent
// phone on B, bridged.
type bridgedPair struct {
	e             *Engine
	a, b          *Session
	caller, agent *phone
	br            *Bridge
}

func newBridgedPair(t *testing.T, tr Transport, callerPT, agentPT, callerDTMF, agentDTMF uint8) *bridgedPair {
	t.Helper()
	e := newTestEngine(t, tr, nil)
	bp := &bridgedPair{e: e, a: newTestSession(t, e), b: newTestSession(t, e),
		caller: newPhone(t, callerPT, 0xCA11), agent: newPhone(t, agentPT, 0xA6E7)}
	if err := bp.a.Configure(bp.caller.addr(), callerPT, callerDTMF); err != nil {
		t.Fatal(err)
	}
	if err := bp.b.Configure(bp.agent.addr(), agentPT, agentDTMF); err != nil {
		t.Fatal(err)
	}
	bp.a.Start()
	bp.b.Start()
	br, err := e.Bridge(bp.a, bp.b)
	if err != nil {
		t.Fatalf("Bridge: %v", err)
	}
	t.Cleanup(br.Close)
	bp.br = br
	return bp
}

// checkRelayed asserts that the frames that arrived are the frames sent,
// in order, none twice, and that every one missing is counted as dropped.
func checkRelayed(t *testing.T, idx []int, sent int, dropped uint64, dir string) (relayed int) {
	t.Helper()
	last := -1
	for _, n := range idx {
		if n < 0 {
			continue
		}
		if n <= last {
			t.Fatalf("%s: frame %d arrived after frame %d", dir, n, last)
		}
		last = n
		relayed++
	}
	if missing := sent - relayed; missing < 0 || uint64(missing) > dropped {
		t.Errorf("%s: %d of %d frames arrived, %d dropped counted", dir, relayed, sent, dropped)
	}
	return relayed
}

func TestBridgeRelaysBothWaysAtOnceByteExactOrTranscoded(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		tests := []struct {
			name              string
			callerPT, agentPT uint8
		}{
			{"both PCMU: byte-exact", PayloadPCMU, PayloadPCMU},
			{"both PCMA: byte-exact", PayloadPCMA, PayloadPCMA},
			{"PCMU caller, PCMA agent: transcoded", PayloadPCMU, PayloadPCMA},
			{"PCMA caller, PCMU agent: transcoded", PayloadPCMA, PayloadPCMU},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				bp := newBridgedPair(t, tr, tt.callerPT, tt.agentPT, 0, 0)
				const n = 50
				fromCaller, fromAgent := talkFrames(n, 0), talkFrames(n, 1000)
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); bp.caller.talk(bp.a.localAddr(), fromCaller, FrameDuration) }()
				go func() { defer wg.Done(); bp.agent.talk(bp.b.localAddr(), fromAgent, FrameDuration) }()
				wg.Wait()
				// Let the buffers drain and the relay fall back to silence.
				time.Sleep(200 * time.Millisecond)
				st := bp.br.Stats()

				toAgent, toCaller := bp.agent.packets(), bp.caller.packets()
				streamCheck(t, bp.e, toAgent, tt.agentPT)
				streamCheck(t, bp.e, toCaller, tt.callerPT)
				ab := checkRelayed(t, relayedIndices(t, toAgent, tt.agentPT, expectMap(fromCaller, tt.callerPT, tt.agentPT)), n, st.Dropped, "caller→agent")
				ba := checkRelayed(t, relayedIndices(t, toCaller, tt.callerPT, expectMap(fromAgent, tt.agentPT, tt.callerPT)), n, st.Dropped, "agent→caller")
				if uint64(ab) != st.AtoB || uint64(ba) != st.BtoA {
					t.Errorf("stats %+v, the phones received %d and %d relayed frames", st, ab, ba)
				}
				wantTranscoded := uint64(0)
				if tt.callerPT != tt.agentPT {
					wantTranscoded = st.AtoB + st.BtoA
				}
				if st.Transcoded != wantTranscoded {
					t.Errorf("transcoded %d frames, want %d", st.Transcoded, wantTranscoded)
				}
				// Relayed audio starts a talkspurt: marker on its first frame.
				for _, r := range toAgent {
					if !isSilence(r.Payload, silenceByte(tt.agentPT)) {
						if !r.Marker {
							t.Error("first relayed frame has no marker bit")
						}
						break
					}
				}
			})
		}
	})
}

func TestBridgeRelaysOtherPacketSizesAsTwentyMillisecondFrames(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		tests := []struct {
			name string
			size int
		}{
			{"ptime 10", 80},
			{"ptime 30", 240},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				bp := newBridgedPair(t, tr, PayloadPCMU, PayloadPCMU, 0, 0)
				stream := bytes.Join(talkFrames(30, 0), nil)
				var chunks [][]byte
				for off := 0; off < len(stream); off += tt.size {
					chunks = append(chunks, stream[off:off+tt.size])
				}
				bp.caller.talk(bp.a.localAddr(), chunks, time.Duration(tt.size)*time.Second/8000)
				time.Sleep(200 * time.Millisecond)
				pkts := bp.agent.packets()
				streamCheck(t, bp.e, pkts, PayloadPCMU)
				var got []byte
				for _, r := range pkts {
					if !isSilence(r.Payload, silencePCMU) {
						got = append(got, r.Payload...)
					}
				}
				if dropped := bp.br.Stats().Dropped; dropped == 0 && !bytes.Equal(got, stream) {
					t.Errorf("agent heard %d bytes, not the caller's %d byte-exact", len(got), len(stream))
				}
			})
		}
	})
}

func TestBridgeDoesNotRelayComfortNoiseOrOtherPayloadTypes(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		bp := newBridgedPair(t, tr, PayloadPCMU, PayloadPCMU, 101, 101)
		for i := range 10 {
			bp.caller.send(bp.a.localAddr(), rtp.Packet{Header: rtp.Header{PayloadType: payloadCN, SequenceNumber: uint16(i), SSRC: 1}, Payload: []byte{40}})
			bp.caller.send(bp.a.localAddr(), rtp.Packet{Header: rtp.Header{PayloadType: PayloadPCMA, SequenceNumber: uint16(i), SSRC: 1}, Payload: numbered(i)})
			time.Sleep(FrameDuration)
		}
		time.Sleep(100 * time.Millisecond)
		for i, r := range bp.agent.packets() {
			if r.PayloadType != PayloadPCMU || !isSilence(r.Payload, silencePCMU) {
				t.Fatalf("packet %d to the agent: PT %d, % x…", i, r.PayloadType, r.Payload[:min(4, len(r.Payload))])
			}
		}
		if st := bp.br.Stats(); st.AtoB != 0 {
			t.Errorf("stats %+v: something was relayed", st)
		}
	})
}

func TestPlayOnABridgedLegTakesPriorityAndRelayResumesWithoutBacklog(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		bp := newBridgedPair(t, tr, PayloadPCMU, PayloadPCMU, 0, 0)
		const n = 100
		frames := talkFrames(n, 0)
		talking := make(chan struct{})
		go func() { defer close(talking); bp.caller.talk(bp.a.localAddr(), frames, FrameDuration) }()

		eventually(t, 2*time.Second, "caller heard by the agent", func() bool { return bp.br.Stats().AtoB >= 15 })
		whisper := clipOf(10, 200) // "queue: sales", to the agent only
		if err := bp.b.Play(context.Background(), whisper); err != nil {
			t.Fatalf("Play: %v", err)
		}
		<-talking
		time.Sleep(200 * time.Millisecond)

		pkts := bp.agent.packets()
		streamCheck(t, bp.e, pkts, PayloadPCMU)
		want := expectMap(frames, PayloadPCMU, PayloadPCMU)
		// Walk the agent's stream: relayed frames, the whisper uninterrupted,
		// then relayed frames again.
		var before, after []int
		var prompt []byte
		promptAt := -1
		for i, r := range pkts {
			if n, ok := want[string(r.Payload)]; ok {
				if prompt == nil {
					before = append(before, n)
				} else {
					after = append(after, n)
					if len(after) == 1 && i-promptAt > 3 {
						t.Errorf("relay resumed %d frames after the whisper, want at most 2 frames of priming", i-promptAt-1)
					}
				}
				continue
			}
			if isSilence(r.Payload, silencePCMU) {
				if prompt != nil && len(prompt) < len(whisper) {
					t.Fatal("silence inside the whisper")
				}
				continue
			}
			if len(after) > 0 {
				t.Fatal("whisper audio after the relay resumed")
			}
			if prompt == nil && !r.Marker {
				t.Error("whisper starts without the marker bit")
			}
			prompt = append(prompt, r.Payload...)
			promptAt = i
		}
		if !bytes.Equal(prompt, whisper) {
			t.Fatalf("whisper arrived as %d bytes, not the %d played", len(prompt), len(whisper))
		}
		if len(before) == 0 || len(after) == 0 {
			t.Fatalf("relayed before/after the whisper: %d/%d frames", len(before), len(after))
		}
		// What the caller said during the whisper was discarded, not queued:
		// the first frame after it is about ten frames (the whisper's length)
		// after the last one before it.
		if jump := after[0] - before[len(before)-1]; jump < len(whisper)/FrameSize-2 {
			t.Errorf("relay resumed at caller frame %d after %d: a backlog of the whisper's time played late",
				after[0], before[len(before)-1])
		}
		for i := 1; i < len(after); i++ {
			if after[i] <= after[i-1] {
				t.Fatalf("frame %d after %d", after[i], after[i-1])
			}
		}
		if st := bp.br.Stats(); st.Dropped < 5 {
			t.Errorf("stats %+v: the frames during the whisper were not counted as dropped", st)
		}
	})
}

func TestTelephoneEventsAreRelayedWithTheOtherLegsPayloadType(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		tests := []struct {
			name      string
			agentDTMF uint8
		}{
			{"agent negotiated telephone-event 96", 96},
			{"agent without telephone-event gets none", 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				bp := newBridgedPair(t, tr, PayloadPCMU, PayloadPCMA, 101, tt.agentDTMF)
				var seq uint16
				sendKeyPress(bp.caller.peer, bp.a.localAddr(), &seq, 5000, 5)
				time.Sleep(100 * time.Millisecond)
				sendKeyPress(bp.caller.peer, bp.a.localAddr(), &seq, 9000, 11)
				time.Sleep(150 * time.Millisecond)

				for _, want := range []byte{'5', '#'} {
					select {
					case d := <-bp.a.Digits():
						if d != want {
							t.Errorf("caller leg reported %q, want %q", d, want)
						}
					case <-time.After(time.Second):
						t.Fatalf("caller leg did not report %q", want)
					}
				}
				select {
				case d := <-bp.a.Digits():
					t.Errorf("caller leg reported an extra %q", d)
				case d := <-bp.b.Digits():
					t.Errorf("agent leg reported %q it never received from the agent", d)
				default:
				}

				pkts := bp.agent.packets()
				streamCheck(t, bp.e, pkts, PayloadPCMA)
				var events []received
				for _, r := range pkts {
					if r.PayloadType != PayloadPCMA {
						events = append(events, r)
					}
				}
				if tt.agentDTMF == 0 {
					if len(events) != 0 {
						t.Fatalf("%d event packets to an agent that did not negotiate them", len(events))
					}
					return
				}
				if len(events) != 14 {
					t.Fatalf("agent got %d event packets, want 2 presses × 7", len(events))
				}
				for press, key := range []uint8{5, 11} {
					evs := events[press*7 : press*7+7]
					for i, r := range evs {
						ev, err := ParseTelephoneEvent(r.Payload)
						if err != nil {
							t.Fatal(err)
						}
						wantEnd := i >= 4
						wantDur := []uint16{160, 320, 480, 640, 800, 800, 800}[i]
						if r.PayloadType != tt.agentDTMF || ev.Event != key || ev.End != wantEnd || ev.Duration != wantDur ||
							r.Marker != (i == 0) || r.Timestamp != evs[0].Timestamp || r.SSRC != pkts[0].SSRC {
							t.Errorf("press %d packet %d: PT %d marker %v ts %d %+v", press, i, r.PayloadType, r.Marker, r.Timestamp, ev)
						}
					}
				}
				if events[0].Timestamp == events[7].Timestamp {
					t.Error("two presses share one timestamp: the agent would hear one key")
				}
				if got := bp.br.Stats().Events; got != 14 {
					t.Errorf("stats count %d events relayed, want 14", got)
				}
			})
		}
	})
}

func TestEndingTheBridgeReturnsTheOtherLegToSilence(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		tests := []struct {
			name string
			end  func(bp *bridgedPair)
		}{
			{"Bridge.Close", func(bp *bridgedPair) { bp.br.Close(); bp.br.Close() }},
			{"the caller's session closes", func(bp *bridgedPair) { bp.a.Close() }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				bp := newBridgedPair(t, tr, PayloadPCMU, PayloadPCMU, 0, 0)
				frames := talkFrames(60, 0)
				talking := make(chan struct{})
				go func() { defer close(talking); bp.caller.talk(bp.a.localAddr(), frames, FrameDuration) }()
				eventually(t, 2*time.Second, "relay running", func() bool { return bp.br.Stats().AtoB >= 10 })
				tt.end(bp)
				select {
				case <-bp.br.Done():
				case <-time.After(time.Second):
					t.Fatal("Done not closed")
				}
				endedAt := time.Now()
				<-talking
				time.Sleep(100 * time.Millisecond)

				pkts := bp.agent.packets()
				streamCheck(t, bp.e, pkts, PayloadPCMU)
				late := 0
				for _, r := range pkts {
					if r.at.After(endedAt) && !isSilence(r.Payload, silencePCMU) {
						late++
					}
				}
				if late > 1 {
					t.Errorf("%d relayed frames reached the agent after the bridge ended", late)
				}
				if bp.br.Stats().AtoB < 10 {
					t.Errorf("stats %+v", bp.br.Stats())
				}
			})
		}
	})
}

func TestBridgeRefusesBusyAndClosedSessions(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		a, b, c := newTestSession(t, e), newTestSession(t, e), newTestSession(t, e)
		br, err := e.Bridge(a, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name string
			x, y *Session
			want error
		}{
			{"the same pair again", a, b, ErrBusy},
			{"the pair reversed", b, a, ErrBusy},
			{"a bridged leg with a free one", c, b, ErrBusy},
			{"a session with itself", c, c, ErrBusy},
		} {
			if _, err := e.Bridge(tt.x, tt.y); !errors.Is(err, tt.want) {
				t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
			}
		}
		br.Close()
		br2, err := e.Bridge(b, c)
		if err != nil {
			t.Fatalf("after Close a leg is free again: %v", err)
		}
		br2.Close()
		c.Close()
		if _, err := e.Bridge(a, c); !errors.Is(err, ErrClosed) {
			t.Errorf("closed session: %v, want ErrClosed", err)
		}
		e.Close()
		if _, err := e.Bridge(a, b); !errors.Is(err, ErrClosed) {
			t.Errorf("closed engine: %v, want ErrClosed", err)
		}
	})
}

func TestBurstySenderKeepsTheOutputContinuousWithoutGrowingLatency(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		bp := newBridgedPair(t, tr, PayloadPCMU, PayloadPCMU, 0, 0)
		const bursts, per = 8, 5
		frames := talkFrames(bursts*per, 0)
		// Five frames at once, then nothing for 140 ms: 100 ms of audio every
		// 140 ms, as a congested path or a phone's own jitter delivers it.
		for i := range bursts {
			for j := range per {
				k := i*per + j
				bp.caller.sendAudio(bp.a.localAddr(), frames[k], k)
			}
			time.Sleep(140 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)

		pkts := bp.agent.packets()
		streamCheck(t, bp.e, pkts, PayloadPCMU)
		st := bp.br.Stats()
		checkRelayed(t, relayedIndices(t, pkts, PayloadPCMU, expectMap(frames, PayloadPCMU, PayloadPCMU)), len(frames), st.Dropped, "caller→agent")
		if st.Underruns == 0 {
			t.Errorf("stats %+v: the 40 ms holes after each burst were not counted as underruns", st)
		}
		// Latency does not grow: the first frame of each burst reaches the
		// agent about as fast in the last burst as in the first (priming plus
		// up to a slot and a tick).
		want := expectMap(frames, PayloadPCMU, PayloadPCMU)
		for _, r := range pkts {
			k, ok := want[string(r.Payload)]
			if !ok || k%per != 0 {
				continue
			}
			if d := r.at.Sub(bp.caller.sent[k]); d > 100*time.Millisecond {
				t.Errorf("burst %d: first frame took %v to relay", k/per, d)
			}
		}
	})
}

// relayRig is a bridged pair of offline sessions and a private pacer, for
// measuring the relay path — receive, buffer, build the other leg's frame —
// without sockets or timing.
type relayRig struct {
	a, b *Session
	p    *pacer
	e    *Engine
	src  netip.AddrPort
	pkt  rtp.Packet // A's receive path's, as a reader's
}

func newRelayRig(tb testing.TB, snd sender, callerPT, agentPT uint8) *relayRig {
	tb.Helper()
	e := newTestEngine(tb, TransportPortPerCall, nil)
	r := &relayRig{a: offlineSession(e, false), b: offlineSession(e, false), p: newPacer(e, snd), e: e,
		src: netip.AddrPortFrom(loopback, 4000)}
	r.a.Configure(netip.AddrPortFrom(loopback, 9), callerPT, 101)
	r.b.Configure(netip.AddrPortFrom(loopback, 9), agentPT, 96)
	if _, err := e.Bridge(r.a, r.b); err != nil {
		tb.Fatal(err)
	}
	return r
}

func rtpBytes(tb testing.TB, pt uint8, ts uint32, payload []byte) []byte {
	tb.Helper()
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, Timestamp: ts, SSRC: 5}, Payload: payload}).Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

var relayCases = []struct {
	name              string
	callerPT, agentPT uint8
	size              int // caller's payload size
}{
	{"PCMU-to-PCMU", PayloadPCMU, PayloadPCMU, FrameSize},
	{"PCMU-to-PCMA", PayloadPCMU, PayloadPCMA, FrameSize},
	{"ptime-10ms", PayloadPCMU, PayloadPCMU, FrameSize / 2},
}

// relayFrame is one 20 ms frame through the relay: the caller's packet(s)
// into A's receive path, then B's pacer slot.
func (r *relayRig) relayFrame(pkts [][]byte) {
	for _, pkt := range pkts {
		r.a.handlePacket(pkt, r.src, 0, &r.pkt)
	}
	r.p.sendFrame(r.b, 0)
}

func relayPackets(tb testing.TB, pt uint8, size int) [][]byte {
	var pkts [][]byte
	for off := 0; off < FrameSize; off += size {
		pkts = append(pkts, rtpBytes(tb, pt, uint32(off), numbered(off)[:size]))
	}
	return pkts
}

func TestRelayingAFrameAllocatesNothing(t *testing.T) {
	for _, c := range relayCases {
		t.Run(c.name, func(t *testing.T) {
			r := newRelayRig(t, &nullSender{}, c.callerPT, c.agentPT)
			pkts := relayPackets(t, c.callerPT, c.size)
			r.relayFrame(pkts) // latches the source
			if a := testing.AllocsPerRun(1000, func() { r.relayFrame(pkts) }); a != 0 {
				t.Errorf("%v allocations per relayed frame", a)
			}
			// Every frame went through: the buffer neither starved nor
			// overflowed (priming costs the first slot).
			if st := r.b.in.br.Stats(); st.AtoB < 1000 || st.Dropped != 0 {
				t.Errorf("stats %+v after 1002 frames", st)
			}
		})
	}
	t.Run("telephone-event", func(t *testing.T) {
		r := newRelayRig(t, &nullSender{}, PayloadPCMU, PayloadPCMU)
		ev := rtpBytes(t, 101, 0, []byte{5, 10, 0, 160})
		r.a.handlePacket(ev, r.src, 0, &r.pkt)
		r.p.sendEvents(r.b)
		if a := testing.AllocsPerRun(1000, func() {
			r.a.handlePacket(ev, r.src, 0, &r.pkt)
			r.p.sendEvents(r.b)
		}); a != 0 {
			t.Errorf("%v allocations per relayed event packet", a)
		}
		if r.b.in.br.Stats().Events == 0 {
			t.Error("no event was relayed")
		}
	})
}

// BenchmarkBridgeRelay is the relay path of one 20 ms frame: A's receive
// path (validate, unmarshal, latch, re-frame, into the jitter buffer), then
// B's pacer slot (out of the buffer, transcode if needed, header, packet)
// into a null sender. "ptime-10ms" receives two 80-byte packets per frame.
func BenchmarkBridgeRelay(b *testing.B) {
	for _, c := range relayCases {
		b.Run(c.name, func(b *testing.B) {
			r := newRelayRig(b, &nullSender{}, c.callerPT, c.agentPT)
			pkts := relayPackets(b, c.callerPT, c.size)
			r.relayFrame(pkts)
			b.ReportAllocs()
			for b.Loop() {
				r.relayFrame(pkts)
			}
		})
	}
}

// BenchmarkBridgeRelaySendto is BenchmarkBridgeRelay/PCMU-to-PCMU with the
// real sendto(2) of B's frame on loopback.
func BenchmarkBridgeRelaySendto(b *testing.B) {
	r := newRelayRig(b, directSender{}, PayloadPCMU, PayloadPCMU)
	sink := newPeer(b)
	conn, err := listenUDP(netip.AddrPortFrom(loopback, 0))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	r.b.conn = conn // offline sessions have no socket of their own
	r.b.Configure(sink.addr(), PayloadPCMU, 96)
	pkts := relayPackets(b, PayloadPCMU, FrameSize)
	r.relayFrame(pkts)
	b.ReportAllocs()
	for b.Loop() {
		r.relayFrame(pkts)
	}
}

// Whatever a leg receives, relaying it never panics, never overfills the
// other leg's buffer, and the other leg's packets stay well-formed.
func FuzzBridgedHandlePacket(f *testing.F) {
	f.Add(rtpBytes(f, PayloadPCMU, 0, numbered(1)))
	f.Add(rtpBytes(f, PayloadPCMU, 0, numbered(1)[:33]))
	f.Add(rtpBytes(f, 101, 0, []byte{1, 0x8A, 0, 160}))
	f.Add(rtpBytes(f, 101, 0, []byte{1, 0x8A}))
	f.Add(rtpBytes(f, payloadCN, 0, []byte{40}))
	f.Add([]byte{0x80})
	rec := &recordingSender{}
	r := newRelayRig(f, rec, PayloadPCMU, PayloadPCMA)
	f.Fuzz(func(t *testing.T, b []byte) {
		rec.pkts = rec.pkts[:0]
		r.a.handlePacket(b, r.src, 0, &r.pkt)
		r.p.sendEvents(r.b)
		r.p.sendFrame(r.b, 0)
		d := r.a.out.Load()
		n := d.buffered()
		d.mu.Lock()
		evN := d.evN
		d.mu.Unlock()
		if n > relayRing || evN != 0 {
			t.Fatalf("%d frames buffered, %d events left after the slot", n, evN)
		}
		for _, pkt := range rec.pkts {
			var p rtp.Packet
			if err := p.Unmarshal(pkt); err != nil {
				t.Fatalf("leg B sent an invalid packet: %v", err)
			}
			if ok := (p.PayloadType == PayloadPCMA && len(p.Payload) == FrameSize) ||
				(p.PayloadType == 96 && len(p.Payload) == telephoneEventSize); !ok {
				t.Fatalf("leg B sent PT %d with %d bytes", p.PayloadType, len(p.Payload))
			}
		}
	})
}

// An agent's feature codes are for the server: with KeepDigits on the
// agent's leg, its key presses are reported there and never reach the
// caller.
func TestKeptDigitsAreReportedButNotRelayed(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		bp := newBridgedPair(t, tr, PayloadPCMU, PayloadPCMU, 101, 101)
		bp.a.KeepDigits(true) // here the "caller" side plays the agent
		var seq uint16
		sendKeyPress(bp.caller.peer, bp.a.localAddr(), &seq, 5000, 10) // '*'
		time.Sleep(150 * time.Millisecond)
		select {
		case d := <-bp.a.Digits():
			if d != '*' {
				t.Fatalf("reported %q, want *", d)
			}
		case <-time.After(time.Second):
			t.Fatal("the key was not reported on its own leg")
		}
		for _, r := range bp.agent.packets() {
			if r.PayloadType == 101 {
				t.Fatal("a kept key press was relayed to the other leg")
			}
		}
	})
}
