package media

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
)

// nullSender counts packets instead of sending them, to measure the pacer
// without the syscall.
type nullSender struct{ n int }

func (s *nullSender) send(_ *net.UDPConn, pkt []byte, _ netip.AddrPort, _ int64) error {
	s.n += len(pkt)
	return nil
}
func (s *nullSender) flush() error { return nil }

// sharedClip is one long prompt all benchmark streams play, as real calls
// share the prompt catalogue.
var sharedClip = make([]byte, 1<<24)

// offlineSession is a configured session that never joined a running pacer
// and has no socket, for driving a private pacer by hand.
func offlineSession(e *Engine, playing bool) *Session {
	s := newSession(e, "bench", nil, 0)
	s.Configure(netip.AddrPortFrom(loopback, 9), PayloadPCMU, 101)
	if playing {
		s.play = &player{clips: [][]byte{sharedClip}, result: make(chan error, 1), unwatch: noUnwatch}
	}
	return s
}

func TestPacerSkipsAheadWhenFarBehindAndCountsIt(t *testing.T) {
	e := newTestEngine(t, TransportPortPerCall, nil)
	p := newPacer(e, &nullSender{})
	s := offlineSession(e, false)
	s.nextDue = 0
	ts0 := s.ts
	p.join(s)
	seq0 := s.seq
	// 1 s late: 51 frames due (0, 20, …, 1000 ms). Catching up would burst
	// a second of audio; the pacer sends the one frame due now and skips
	// the rest.
	p.tick(int64(time.Second))
	if got := p.skipped.Load(); got != 50 {
		t.Errorf("skipped %d frames, want 50", got)
	}
	if got := p.sent.Load(); got != 1 || s.seq != seq0+1 {
		t.Errorf("sent %d frames (seq +%d), want 1", got, s.seq-seq0)
	}
	if s.ts-ts0 != 51*FrameSize {
		t.Errorf("timestamp advanced %d, want the 51 frames of elapsed time", s.ts-ts0)
	}
	if s.nextDue <= int64(time.Second) || s.nextDue > int64(time.Second)+frameNanos {
		t.Errorf("next frame due at %v", time.Duration(s.nextDue))
	}
}

func TestPacerCatchesUpShortDelaysWithoutSkipping(t *testing.T) {
	e := newTestEngine(t, TransportPortPerCall, nil)
	p := newPacer(e, &nullSender{})
	s := offlineSession(e, true)
	s.nextDue = 0
	p.join(s)
	p.tick(int64(90 * time.Millisecond)) // frames due at 0, 20, 40, 60, 80 ms
	if p.sent.Load() != 5 || p.skipped.Load() != 0 {
		t.Errorf("sent %d skipped %d, want 5 and 0", p.sent.Load(), p.skipped.Load())
	}
	p.tick(int64(95 * time.Millisecond))
	if p.sent.Load() != 5 {
		t.Errorf("sent a frame before it was due")
	}
}

// dueSender records the due time of every frame handed to it, with the
// time of the tick that sent it.
type dueSender struct {
	tickNow int64
	sends   []sentFrame
}

type sentFrame struct{ tick, due int64 }

func (s *dueSender) send(_ *net.UDPConn, _ []byte, _ netip.AddrPort, due int64) error {
	s.sends = append(s.sends, sentFrame{s.tickNow, due})
	return nil
}
func (s *dueSender) flush() error { return nil }

// A stream's frames are due on the pacer's ticks, whatever the moment its
// session started: each leaves 20 ms after the one before (the ticker's
// wakeup wobbling by up to 2 ms moves no frame to the next tick), and its
// lateness is the pacer's own delay, not the phase between the session's
// start and the tick after it, which no listener hears.
func TestFramesAreDueOnThePacersTicks(t *testing.T) {
	const ms = int64(time.Millisecond)
	const grid = 3 * ms // the ticker's first tick stands for 3 ms (+10k)
	for _, phase := range []int64{0, ms / 2, 4 * ms, 9*ms + 9*ms/10} {
		t.Run(fmt.Sprintf("started %v after a tick", time.Duration(phase)), func(t *testing.T) {
			e := newTestEngine(t, TransportPortPerCall, nil)
			snd := &dueSender{}
			p := newPacer(e, snd)
			p.grid = grid
			s := offlineSession(e, true)
			s.nextDue = grid + 100*ms + phase // Start's time
			p.join(s)
			// Ticks at each grid point, woken 0.2 to 2 ms after it.
			wobble := []int64{ms / 5, 2 * ms, ms, ms / 5, 3 * ms / 2}
			for k := int64(10); k < 40; k++ {
				snd.tickNow = grid + k*10*ms + wobble[k%int64(len(wobble))]
				p.tick(snd.tickNow)
			}
			if len(snd.sends) < 14 {
				t.Fatalf("%d frames sent in 300 ms, want at least 14", len(snd.sends))
			}
			for i, f := range snd.sends {
				if late := f.tick - f.due; late < 0 || late > 2*ms {
					t.Errorf("frame %d due %v left at %v: %v late, want only the wakeup's delay", i,
						time.Duration(f.due), time.Duration(f.tick), time.Duration(late))
				}
				if (f.due-grid)%(10*ms) != 0 {
					t.Errorf("frame %d due at %v, off the tick grid", i, time.Duration(f.due))
				}
				if i > 0 {
					prev := snd.sends[i-1]
					if f.due-prev.due != 20*ms || f.tick-prev.tick > 22*ms || f.tick-prev.tick < 18*ms {
						t.Errorf("frame %d left %v after the one before (due %v after)", i,
							time.Duration(f.tick-prev.tick), time.Duration(f.due-prev.due))
					}
				}
			}
			if first := snd.sends[0].due; first < grid+100*ms+phase || first >= grid+110*ms+phase {
				t.Errorf("first frame due %v, want the first tick at or after the start %v", time.Duration(first), time.Duration(grid+100*ms+phase))
			}
		})
	}
}

func TestPacerDropsClosedSessions(t *testing.T) {
	e := newTestEngine(t, TransportPortPerCall, nil)
	p := newPacer(e, &nullSender{})
	s := offlineSession(e, false)
	p.join(s)
	p.tick(0)
	s.setFlag(flagClosing, true)
	s.closed = true
	p.tick(int64(time.Second))
	if len(p.list) != 0 || p.sent.Load() != 1 {
		t.Errorf("list %d, sent %d after close", len(p.list), p.sent.Load())
	}
}

// The per-frame send path — build the packet in a reused buffer, copy the
// prompt frame, write the socket, observe lateness — allocates nothing.
func TestSendingAFrameAllocatesNothing(t *testing.T) {
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lateness", Buckets: prometheus.DefBuckets})
	e := newTestEngine(t, TransportPortPerCall, func(c *EngineConfig) { c.Lateness = hist })
	s := newTestSession(t, e)
	sink := newPeer(t)
	s.Configure(sink.addr(), PayloadPCMU, 101)
	s.play = &player{clips: [][]byte{make([]byte, 1<<20)}, result: make(chan error, 1), unwatch: noUnwatch}
	p := newPacer(e, directSender{})
	if a := testing.AllocsPerRun(1000, func() { p.sendFrame(s, e.now()) }); a != 0 {
		t.Errorf("%v allocations per frame", a)
	}
}

func TestReceivingAPacketAllocatesNothing(t *testing.T) {
	e := newTestEngine(t, TransportPortPerCall, nil)
	s := newTestSession(t, e)
	s.Configure(netip.AddrPortFrom(loopback, 9), PayloadPCMU, 101)
	audio, _ := (&rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, FrameSize)}).Marshal()
	event, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101}, Payload: []byte{1, 10, 0, 160}}).Marshal()
	src := netip.AddrPortFrom(loopback, 4000)
	var pkt rtp.Packet
	for name, b := range map[string][]byte{"audio": audio, "event": event, "garbage": {0x40, 1, 2}} {
		if a := testing.AllocsPerRun(1000, func() { s.handlePacket(b, src, e.now(), &pkt) }); a != 0 {
			t.Errorf("%s: %v allocations per packet", name, a)
		}
	}
}

// BenchmarkSendFrame is the pacer's per-frame work with a real sendto(2) on
// loopback.
func BenchmarkSendFrame(b *testing.B) {
	e := newTestEngine(b, TransportPortPerCall, nil)
	s := newTestSession(b, e)
	sink := newPeer(b)
	s.Configure(sink.addr(), PayloadPCMU, 101)
	s.play = &player{clips: [][]byte{sharedClip}, result: make(chan error, 1), unwatch: noUnwatch}
	p := newPacer(e, directSender{})
	b.ReportAllocs()
	for b.Loop() {
		p.sendFrame(s, e.now())
	}
}

// BenchmarkBuildFrame is the same without the syscall: what the pacer itself
// costs per frame.
func BenchmarkBuildFrame(b *testing.B) {
	e := newTestEngine(b, TransportPortPerCall, nil)
	s := offlineSession(e, false)
	s.play = &player{clips: [][]byte{sharedClip}, result: make(chan error, 1), unwatch: noUnwatch}
	p := newPacer(e, &nullSender{})
	b.ReportAllocs()
	for b.Loop() {
		p.sendFrame(s, e.now())
	}
}

func BenchmarkHandlePacket(b *testing.B) {
	e := newTestEngine(b, TransportPortPerCall, nil)
	s := newTestSession(b, e)
	s.Configure(netip.AddrPortFrom(loopback, 9), PayloadPCMU, 101)
	audio, _ := (&rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, FrameSize)}).Marshal()
	event, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101}, Payload: []byte{1, 10, 0, 160}}).Marshal()
	src := netip.AddrPortFrom(loopback, 4000)
	var pkt rtp.Packet
	for _, c := range []struct {
		name string
		pkt  []byte
	}{{"audio", audio}, {"telephone-event", event}, {"garbage", []byte{0x40, 1, 2, 3}}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.handlePacket(c.pkt, src, e.now(), &pkt)
			}
		})
	}
}

// BenchmarkPacerTick is one 10 ms tick over N streams: "idle" when no frame
// is due (the cost of walking the list), "due" when every stream sends a
// frame into a null sender (the pacer's own work per tick, syscalls aside).
func BenchmarkPacerTick(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		for _, due := range []bool{false, true} {
			name := fmt.Sprintf("streams=%d/idle", n)
			if due {
				name = fmt.Sprintf("streams=%d/due", n)
			}
			b.Run(name, func(b *testing.B) {
				e := newTestEngine(b, TransportPortPerCall, nil)
				p := newPacer(e, &nullSender{})
				for range n {
					p.join(offlineSession(e, true))
				}
				now := int64(0)
				p.tick(now)
				b.ReportAllocs()
				for b.Loop() {
					if due {
						now += frameNanos
					}
					p.tick(now)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/stream")
			})
		}
	}
}
