//go:build linux

package media

import (
	"net"
	"net/netip"
	"testing"

	"github.com/hotline-dev/hotline/analysis"
	"github.com/pion/rtp"
)

// inject puts a datagram into message i of the reader's buffers as if
// recvmmsg had received it, for benchmarks of what follows the syscall.
func (r *batchReader) inject(i int, b []byte, src netip.AddrPort) {
	r.msgs[i].Len = uint32(copy(r.bufs[i][:], b))
	putSockaddr(&r.names[i], src, r.conn.v6)
}

// demuxRig is n offline sessions, each latched to its own caller address
// (not bound: the datagrams are injected or handed over directly), on a
// shared socket for TransportShared and on no socket for per-call.
type demuxRig struct {
	e    *Engine
	k    *sharedSocket
	ss   []*Session
	srcs []netip.AddrPort
	pkt  rtp.Packet // the per-call receive path's, as a reader's
}

func newDemuxRig(b *testing.B, tr Transport, n int) *demuxRig {
	e := newTestEngine(b, TransportPortPerCall, nil)
	r := &demuxRig{e: e, k: newOfflineSharedSocket(b, e)}
	for i := range n {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(i >> 8), byte(i)}), 30000)
		var s *Session
		if tr == TransportShared {
			s = offlineSharedSession(e, r.k, src)
		} else {
			s = newSession(e, "bench", nil, 0)
			s.Configure(src, PayloadPCMU, 101)
		}
		pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: uint32(i)}, Payload: make([]byte, FrameSize)}).Marshal()
		s.handlePacket(pkt, src, 0, &r.pkt) // latch, learn the SSRC
		r.ss = append(r.ss, s)
		r.srcs = append(r.srcs, src)
	}
	return r
}

// BenchmarkReceiveDemux is the receive path after the socket read, per
// packet: "per-call" is a session's own handlePacket (the socket says whose
// the datagram is); "shared" is a batch of 64 datagrams from 64 of 1,000
// callers looked up in the shared socket's tables and handed to their
// sessions.
func BenchmarkReceiveDemux(b *testing.B) {
	audio := func(ssrc uint32) []byte {
		p, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: ssrc}, Payload: make([]byte, FrameSize)}).Marshal()
		return p
	}
	b.Run("per-call", func(b *testing.B) {
		r := newDemuxRig(b, TransportPortPerCall, 1)
		pkt := audio(0)
		b.ReportAllocs()
		for b.Loop() {
			r.ss[0].handlePacket(pkt, r.srcs[0], 0, &r.pkt)
		}
	})
	b.Run("shared", func(b *testing.B) {
		r := newDemuxRig(b, TransportShared, 1000)
		pkts := make([][]byte, len(r.ss))
		for i := range pkts {
			pkts[i] = audio(uint32(i))
		}
		next := 0
		b.ReportAllocs()
		for b.Loop() {
			for i := range recvBatch {
				j := (next + i*13) % len(r.ss)
				r.k.rd.inject(i, pkts[j], r.srcs[j])
			}
			next++
			r.k.dispatch(recvBatch, 0)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*recvBatch), "ns/packet")
	})
}

// BenchmarkReceiveSocket is the receive path with its syscalls, per packet:
// "per-call" reads 64 datagrams one ReadFromUDPAddrPort each from a
// session's socket; "shared" reads them with recvmmsg from the shared
// socket and dispatches them to 64 sessions. Sending them is not timed.
func BenchmarkReceiveSocket(b *testing.B) {
	pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1}, Payload: make([]byte, FrameSize)}).Marshal()
	b.Run("per-call", func(b *testing.B) {
		e := newTestEngine(b, TransportPortPerCall, nil)
		conn, err := listenUDP(netip.AddrPortFrom(loopback, 0))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadBuffer(1 << 20)
		far := newPeer(b)
		s := newSession(e, "bench", conn, 0)
		s.Configure(far.addr(), PayloadPCMU, 0)
		to := conn.LocalAddr().(*net.UDPAddr).AddrPort()
		buf := make([]byte, receiveBufferSize)
		var rpkt rtp.Packet
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			for range recvBatch {
				far.sendRaw(to, pkt)
			}
			b.StartTimer()
			for range recvBatch {
				n, src, err := conn.ReadFromUDPAddrPort(buf)
				if err != nil {
					b.Fatal(err)
				}
				s.handlePacket(buf[:n], src, 0, &rpkt)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*recvBatch), "ns/packet")
	})
	b.Run("shared", func(b *testing.B) {
		e := newTestEngine(b, TransportPortPerCall, nil)
		k := newOfflineSharedSocket(b, e)
		far := newPeer(b)
		s := offlineSharedSession(e, k, far.addr())
		to := netip.AddrPortFrom(loopback, uint16(k.port))
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			for range recvBatch {
				far.sendRaw(to, pkt)
			}
			b.StartTimer()
			for got := 0; got < recvBatch; {
				n, err := k.rd.read()
				if err != nil {
					b.Fatal(err)
				}
				k.dispatch(n, 0)
				got += n
			}
		}
		if s.received.Load() == 0 {
			b.Fatal("nothing reached the session")
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*recvBatch), "ns/packet")
	})
}

// BenchmarkSendBatch is the pacer's per-frame send path with its syscalls,
// per packet: "per-call" writes each frame with its own sendto(2) from the
// session's socket; "shared" queues 64 sessions' frames for one socket and
// writes them with one sendmmsg(2) at the end of the tick. The sinks are
// never read, so no receiver competes for the CPU.
func BenchmarkSendBatch(b *testing.B) {
	sinks := make([]netip.AddrPort, 8)
	for i := range sinks {
		sinks[i] = newPeer(b).addr()
	}
	for _, tr := range transports {
		b.Run(tr.String(), func(b *testing.B) {
			e := newTestEngine(b, TransportPortPerCall, nil)
			var p *pacer
			var ss []*Session
			if tr == TransportShared {
				k := newOfflineSharedSocket(b, e)
				snd, err := newBatchSender(k.conn, nil, e.now)
				if err != nil {
					b.Fatal(err)
				}
				p = newPacer(e, snd)
				p.senderObserves = true
				for i := range sendBatch {
					ss = append(ss, offlineSharedSession(e, k, sinks[i%len(sinks)]))
				}
			} else {
				p = newPacer(e, directSender{})
				for i := range sendBatch {
					conn, err := listenUDP(netip.AddrPortFrom(loopback, 0))
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { conn.Close() })
					s := newSession(e, "bench", conn, 0)
					s.Configure(sinks[i%len(sinks)], PayloadPCMU, 0)
					ss = append(ss, s)
				}
			}
			for _, s := range ss {
				s.play = &player{clips: [][]byte{sharedClip}, result: make(chan error, 1), unwatch: noUnwatch}
			}
			now := int64(0)
			b.ReportAllocs()
			for b.Loop() {
				for _, s := range ss {
					p.sendFrame(s, now)
				}
				p.flush()
				now += frameNanos
			}
			if p.sendErrors.Load() != 0 {
				b.Fatalf("%d send errors", p.sendErrors.Load())
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ss)), "ns/packet")
		})
	}
}

// BenchmarkReceiveAnalysedFrame is the whole per-frame cost of a caller's
// audio, syscalls aside, for 64 sessions with a leg analyser and a
// conversation: the receive path (per-call: the session's handlePacket;
// shared: a 64-datagram batch through the demultiplexer), decoding into
// the analysis ring, and the session's pacer slot (build the frame into a
// null sender, Frame on the speech, Tick). ns/frame is per session and
// 20 ms slot.
func BenchmarkReceiveAnalysedFrame(b *testing.B) {
	speech := benchSpeech(b)
	for _, tr := range transports {
		b.Run(tr.String(), func(b *testing.B) {
			r := newDemuxRig(b, tr, recvBatch)
			p := newPacer(r.e, &nullSender{})
			for _, s := range r.ss {
				leg := analysis.NewLeg()
				s.Analyse(leg)
				s.Converse(analysis.NewConversation(leg, nil))
			}
			pkts := make([][][]byte, len(r.ss)) // [session][frame]
			for i := range pkts {
				for j, f := range speech {
					pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: uint32(i),
						SequenceNumber: uint16(j), Timestamp: frameTS(j)}, Payload: f}).Marshal()
					pkts[i] = append(pkts[i], pkt)
				}
			}
			slot, now := 0, int64(0)
			b.ReportAllocs()
			for b.Loop() {
				f := slot % len(speech)
				if tr == TransportShared {
					for i := range r.ss {
						r.k.rd.inject(i, pkts[i][f], r.srcs[i])
					}
					r.k.dispatch(len(r.ss), now)
				} else {
					for i, s := range r.ss {
						s.handlePacket(pkts[i][f], r.srcs[i], now, &r.pkt)
					}
				}
				for _, s := range r.ss {
					p.sendFrame(s, now)
				}
				slot++
				now += frameNanos
			}
			for _, s := range r.ss {
				if sum, _ := s.LegSummary(); sum.Talk == 0 && b.N > 100 {
					b.Fatalf("session heard no talk: %+v", sum)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(r.ss)), "ns/frame")
		})
	}
}
