package media

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/analysis"
	"github.com/pion/rtp"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// nextBlock spreads the tests' port ranges so one test's lingering sockets
// never meet the next test's allocations.
var nextBlock atomic.Int32

// freeEvenPorts finds n consecutive even ports on loopback that bind now.
func freeEvenPorts(t testing.TB, n int) (lo, hi int) {
	t.Helper()
	for range 200 {
		base := 20000 + 2*int(nextBlock.Add(int32(n+2)))%30000
		ok := true
		var held []*net.UDPConn
		for i := range n {
			c, err := listenUDP(netip.AddrPortFrom(loopback, uint16(base+2*i)))
			if err != nil {
				ok = false
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			c.Close()
		}
		if ok {
			return base, base + 2*(n-1)
		}
	}
	t.Fatal("no free block of even ports on loopback")
	return 0, 0
}

// transports are the socket layouts every test that uses real sockets runs
// under: the behaviour of a session must not depend on it.
var transports = []Transport{TransportPortPerCall, TransportShared}

// forEachTransport runs test once per transport, as subtests named after
// it ("per-call", "shared").
func forEachTransport(t *testing.T, test func(t *testing.T, tr Transport)) {
	t.Helper()
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) { test(t, tr) })
	}
}

// newTestEngine starts an engine with transport tr on a free block of
// loopback ports; mod, if set, adjusts the configuration first.
func newTestEngine(t testing.TB, tr Transport, mod func(*EngineConfig)) *Engine {
	t.Helper()
	lo, hi := freeEvenPorts(t, 16)
	cfg := EngineConfig{BindIP: loopback, PortMin: lo, PortMax: hi, Transport: tr}
	if mod != nil {
		mod(&cfg)
	}
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func newTestSession(t testing.TB, e *Engine) *Session {
	t.Helper()
	s, err := e.NewSession(t.Name())
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (s *Session) localAddr() netip.AddrPort {
	return netip.AddrPortFrom(loopback, uint16(s.LocalPort()))
}

// peer is the far end of a call: a plain UDP socket.
type peer struct {
	t    testing.TB
	conn *net.UDPConn
}

type received struct {
	rtp.Packet
	at  time.Time
	src netip.AddrPort
}

func newPeer(t testing.TB) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &peer{t: t, conn: c}
}

func (p *peer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// read returns the next RTP packet, or false after timeout.
func (p *peer) read(timeout time.Duration) (received, bool) {
	p.t.Helper()
	buf := make([]byte, 1500)
	p.conn.SetReadDeadline(time.Now().Add(timeout))
	n, src, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return received{}, false
		}
		p.t.Fatalf("peer read: %v", err)
	}
	var r received
	if err := r.Unmarshal(buf[:n]); err != nil {
		p.t.Fatalf("peer got non-RTP datagram: %v", err)
	}
	r.at, r.src = time.Now(), src
	return r, true
}

// collect reads n packets, failing if they do not come in time.
func (p *peer) collect(n int) []received {
	p.t.Helper()
	out := make([]received, 0, n)
	for len(out) < n {
		r, ok := p.read(3 * time.Second)
		if !ok {
			p.t.Fatalf("got %d packets, want %d", len(out), n)
		}
		out = append(out, r)
	}
	return out
}

// drain discards what has queued up, so the next read is fresh.
func (p *peer) drain() {
	for {
		if _, ok := p.read(time.Millisecond); !ok {
			return
		}
	}
}

func (p *peer) send(to netip.AddrPort, pkt rtp.Packet) {
	p.t.Helper()
	pkt.Version = 2
	b, err := pkt.Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) sendRaw(to netip.AddrPort, b []byte) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatal(err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// speechEventChans holds, per session, the channel speechEvents feeds.
var speechEventChans sync.Map // *Session → chan analysis.Event

// speechEvents registers, on first use for s, an OnSpeechEvent function
// that hands the events over a buffered channel, as a call flow would
// hand them to a goroutine of its own, and returns that channel.
func speechEvents(s *Session) chan analysis.Event {
	if ch, ok := speechEventChans.Load(s); ok {
		return ch.(chan analysis.Event)
	}
	ch := make(chan analysis.Event, 64)
	speechEventChans.Store(s, ch)
	s.OnSpeechEvent(func(ev analysis.Event) {
		select {
		case ch <- ev:
		default:
			panic("speechEvents: 64 events not read")
		}
	})
	return ch
}
