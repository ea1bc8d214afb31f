//go:build linux

package main

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// echoServer sends every datagram back where it came from and records the
// source addresses it saw, as hotline answers each phone at its address.
type echoServer struct {
	conn *net.UDPConn
	mu   sync.Mutex
	seen map[netip.AddrPort]int
	drop func(seq uint16) bool
}

func newEchoServer(t *testing.T) *echoServer { return newDroppingEchoServer(t, nil) }

// newDroppingEchoServer echoes all but the packets drop picks by sequence
// number.
func newDroppingEchoServer(t *testing.T, drop func(seq uint16) bool) *echoServer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{conn: c, seen: map[netip.AddrPort]int{}, drop: drop}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.seen[from]++
			s.mu.Unlock()
			if drop != nil && n >= 4 && drop(binary.BigEndian.Uint16(buf[2:])) {
				continue
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	t.Cleanup(func() { c.Close() })
	return s
}

func (s *echoServer) addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func TestEachEndpointSendsFromItsOwnAddressAndCountsWhatComesBack(t *testing.T) {
	srv := newEchoServer(t)
	const n = 6
	e, err := newMediaEngine(n, 2, 1, syntheticSpeech(1))
	if err != nil {
		t.Fatal(err)
	}
	e.run()
	for i := range n {
		e.startMedia(i, srv.addr())
	}
	time.Sleep(500 * time.Millisecond)
	for i := range n {
		e.stopMedia(i)
	}
	time.Sleep(100 * time.Millisecond)
	e.close()

	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.seen) != n {
		t.Fatalf("server saw %d source addresses, want %d: %v", len(srv.seen), n, srv.seen)
	}
	for i := range n {
		got := srv.seen[e.addr(i)]
		// 500 ms at 50 frames a second: 25 frames, give or take a tick.
		if got < 20 || got > 30 {
			t.Errorf("endpoint %d (%v): server got %d packets, want about 25", i, e.addr(i), got)
		}
		ep := &e.eps[i]
		if rx, tx := ep.rxPackets.Load(), ep.txPackets.Load(); rx != tx || uint64(got) != tx {
			t.Errorf("endpoint %d: sent %d, server got %d, received back %d", i, tx, got, rx)
		}
		if ep.lost() != 0 || ep.firstRx.Load() == 0 {
			t.Errorf("endpoint %d: lost %d, first rx %d", i, ep.lost(), ep.firstRx.Load())
		}
	}
}

func TestSequenceGapsCountAsLoss(t *testing.T) {
	srv := newDroppingEchoServer(t, func(seq uint16) bool { return seq%5 == 0 })
	e, err := newMediaEngine(1, 1, 1, syntheticSpeech(1))
	if err != nil {
		t.Fatal(err)
	}
	e.run()
	e.startMedia(0, srv.addr())
	time.Sleep(1 * time.Second)
	e.stopMedia(0)
	time.Sleep(100 * time.Millisecond)
	e.close()
	ep := &e.eps[0]
	tx, rx, lost := ep.txPackets.Load(), ep.rxPackets.Load(), ep.lost()
	// A drop before the first or after the last packet received leaves no
	// gap to see.
	if unseen := int64(tx) - int64(rx) - lost; unseen < 0 || unseen > 2 {
		t.Fatalf("sent %d, received %d, counted lost %d: received + lost should be sent (drops at either end aside)", tx, rx, lost)
	}
	if lost < 8 || lost > 12 {
		t.Fatalf("lost %d of %d, want about a fifth", lost, tx)
	}
}

func TestLossIsCountedPerSSRC(t *testing.T) {
	var ep endpoint
	pkt := func(ssrc uint32, seq uint16) []byte {
		p := make([]byte, 172)
		p[0] = 0x80
		binary.BigEndian.PutUint16(p[2:], seq)
		binary.BigEndian.PutUint32(p[4:], uint32(seq)*160)
		binary.BigEndian.PutUint32(p[8:], ssrc)
		return p
	}
	// First stream: 65530..65535, 0..3 with 2 missing (wraps round).
	for _, s := range []uint16{65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 3} {
		ep.count(pkt(1, s), 1)
	}
	// Second stream (a new SSRC after a bridge): 100..104 complete.
	for s := uint16(100); s < 105; s++ {
		ep.count(pkt(2, s), 2)
	}
	ep.count([]byte{0x80, 200, 0, 0}, 3) // RTCP-ish: not counted
	if got := ep.lost(); got != 1 {
		t.Fatalf("lost %d, want 1", got)
	}
	if got := ep.rxPackets.Load(); got != 14 {
		t.Fatalf("received %d, want 14", got)
	}
	if ep.rxSSRCs != 2 || ep.rxOther != 1 {
		t.Fatalf("ssrcs %d other %d, want 2 and 1", ep.rxSSRCs, ep.rxOther)
	}
}

func TestEndpointAddressesRoundTrip(t *testing.T) {
	for _, i := range []int{0, 1, 255, 256, 65535, 65536, 5000, maxEndpoints - 1} {
		if got := endpointIndex(endpointAddr(i).As4()); got != i {
			t.Errorf("endpointIndex(endpointAddr(%d)) = %d", i, got)
		}
		if a := endpointAddr(i); a == netip.MustParseAddr("127.0.0.1") || a.As4()[0] != 127 {
			t.Errorf("endpointAddr(%d) = %v", i, a)
		}
	}
	if endpointIndex([4]byte{127, 0, 0, 1}) != -1 || endpointIndex([4]byte{10, 16, 0, 1}) != -1 {
		t.Fatal("addresses outside the endpoint range must not map to an endpoint")
	}
}

// BenchmarkSendTick measures one sender tick over 1,000 endpoints sending
// to a socket nobody reads (the kernel drops at enqueue), so the figure is
// the generator's send cost per packet.
func BenchmarkSendTick(b *testing.B) {
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	const n = 1000
	e, err := newMediaEngine(n, 4, 1, syntheticSpeech(1))
	if err != nil {
		b.Fatal(err)
	}
	defer e.close()
	dst := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	for i := range n {
		e.startMedia(i, dst)
	}
	sb := newSendBatch()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for k, s := range e.socks {
			for i := k; i < n; i += len(e.socks) {
				ep := &e.eps[i]
				e.fill(sb, ep, ep.remote.Load())
				if sb.n == batch {
					e.flush(s, sb)
				}
			}
			e.flush(s, sb)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/packet")
}

func TestSkippedFramesShowAsTimestampGapsNotLoss(t *testing.T) {
	var ep endpoint
	pkt := func(seq uint16, ts uint32) []byte {
		p := make([]byte, 172)
		p[0] = 0x80
		binary.BigEndian.PutUint16(p[2:], seq)
		binary.BigEndian.PutUint32(p[4:], ts)
		binary.BigEndian.PutUint32(p[8:], 7)
		return p
	}
	// Seq 1..4 without a gap, but the timestamp jumps 6 frames after seq 2
	// (a pacer that skipped 5 frames), and seq 6 is lost (one frame more).
	ep.count(pkt(1, 160), 1)
	ep.count(pkt(2, 320), 1)
	ep.count(pkt(3, 320+6*160), 1)
	ep.count(pkt(4, 320+7*160), 1)
	ep.count(pkt(6, 320+9*160), 1)
	if ep.lost() != 1 {
		t.Fatalf("lost %d, want 1 (seq 5)", ep.lost())
	}
	if ep.rxTSGap != 5 {
		t.Fatalf("timestamp gap %d frames, want 5", ep.rxTSGap)
	}
}
