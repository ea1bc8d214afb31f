package bench

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/net/ipv4"
)

// The send path's cost per packet decides how many streams a core paces
// (DESIGN.md, "Media engine"). These benchmarks compare one sendto(2) per
// packet with sendmmsg(2) batches on loopback; the sinks are never read, so
// the kernel drops what overflows their buffers and no receiver competes
// for the CPU.

const rtpPacketSize = 172 // 12-byte RTP header + 160 bytes of G.711

func sinks(b *testing.B, n int) []netip.AddrPort {
	b.Helper()
	var addrs []netip.AddrPort
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		addrs = append(addrs, c.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	return addrs
}

func sender(b *testing.B) *net.UDPConn {
	b.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkSendPerPacket is what the port-per-call transport does: one
// WriteToUDPAddrPort per frame, each call leg on its own socket.
func BenchmarkSendPerPacket(b *testing.B) {
	dst := sinks(b, 8)
	conns := make([]*net.UDPConn, 64)
	for i := range conns {
		conns[i] = sender(b)
	}
	pkt := make([]byte, rtpPacketSize)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := conns[i%len(conns)].WriteToUDPAddrPort(pkt, dst[i%len(dst)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkSendBatched64 sends 64 packets, to different destinations, per
// sendmmsg(2) from one socket: possible only when the calls share an RTP
// port, as media.TransportShared does (its own send path, with raw
// sendmmsg and no allocation per packet, is media's BenchmarkSendBatch). ns/op is per batch; see the ns/packet metric.
func BenchmarkSendBatched64(b *testing.B) {
	dst := sinks(b, 8)
	pc := ipv4.NewPacketConn(sender(b))
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, rtpPacketSize)}
		msgs[i].Addr = net.UDPAddrFromAddrPort(dst[i%len(dst)])
	}
	b.ReportAllocs()
	for b.Loop() {
		for sent := 0; sent < len(msgs); {
			n, err := pc.WriteBatch(msgs[sent:], 0)
			if err != nil {
				b.Fatal(err)
			}
			sent += n
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/packet")
}
