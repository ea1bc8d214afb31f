package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
)

func TestParseTransportAcceptsTheNamesStringGives(t *testing.T) {
	tests := []struct {
		in      string
		want    Transport
		wantErr bool
	}{
		{"per-call", TransportPortPerCall, false},
		{"shared", TransportShared, false},
		{"SHARED", TransportShared, false},
		{"", TransportPortPerCall, false},
		{"batched", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseTransport(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrUnknownTransport) {
				t.Errorf("ParseTransport(%q) = %v, %v; want ErrUnknownTransport", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseTransport(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, tr := range transports {
		if got, err := ParseTransport(tr.String()); err != nil || got != tr {
			t.Errorf("ParseTransport(%v.String()) = %v, %v", tr, got, err)
		}
	}
}

// newSharedTestEngine is a shared-transport engine with one shard, so every
// session is on one port.
func newSharedTestEngine(t testing.TB, mod func(*EngineConfig)) *Engine {
	t.Helper()
	return newTestEngine(t, TransportShared, func(c *EngineConfig) {
		c.PacerShards = 1
		if mod != nil {
			mod(c)
		}
	})
}

// newPeerOn is a peer bound to ip, e.g. another loopback address, so a test
// can tell callers apart by IP and not only by port.
func newPeerOn(t testing.TB, ip string) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Skipf("cannot bind %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return &peer{t: t, conn: c}
}

// sendAudio sends n 20 ms PCMU frames filled with fill, with the given SSRC.
func (p *peer) sendAudio(to netip.AddrPort, ssrc uint32, n int, fill byte) {
	p.t.Helper()
	payload := make([]byte, FrameSize)
	for i := range payload {
		payload[i] = fill
	}
	for i := range n {
		p.send(to, rtp.Packet{Header: rtp.Header{PayloadType: PayloadPCMU, SSRC: ssrc,
			SequenceNumber: uint16(i), Timestamp: uint32(i) * FrameSize}, Payload: payload})
	}
}

func TestSharedEngineBindsOneEvenPortPerShardForAnyNumberOfSessions(t *testing.T) {
	lo, hi := freeEvenPorts(t, 4)
	e, err := NewEngine(EngineConfig{BindIP: loopback, PortMin: lo - 1, PortMax: hi, PacerShards: 2, Transport: TransportShared})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// Far more sessions than the range has ports: they share the two.
	ports := map[int]int{}
	for i := range 20 {
		s, err := e.NewSession(fmt.Sprintf("call-%d@192.0.2.1", i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ports[s.LocalPort()]++
	}
	if len(ports) != 2 || ports[lo] < 5 || ports[lo+2] < 5 {
		t.Fatalf("sessions per port %v, want the 20 calls spread over the first free even ports %d and %d", ports, lo, lo+2)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// Engine.Close frees the shard ports.
	for _, port := range []int{lo, lo + 2} {
		c, err := listenUDP(netip.AddrPortFrom(loopback, uint16(port)))
		if err != nil {
			t.Fatalf("port %d still held after Close: %v", port, err)
		}
		c.Close()
	}
}

// A bridged call's legs ("<call-id>" and "<call-id>/<agent>") share a
// shard, so one pacer serves the relay both ways.
func TestEngineKeepsTheLegsOfACallOnOneShard(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			e := newTestEngine(t, tr, func(c *EngineConfig) { c.PacerShards = 4 })
			used := map[*pacer]bool{}
			for i := range 40 {
				id := fmt.Sprintf("call-%d@192.0.2.1", i)
				legs := make([]*Session, 0, 3)
				for _, leg := range []string{id, id + "/1001", id + "/1002"} {
					s, err := e.NewSession(leg)
					if err != nil {
						t.Fatal(err)
					}
					legs = append(legs, s)
				}
				if legs[1].pc != legs[0].pc || legs[2].pc != legs[0].pc {
					t.Fatalf("call %s: its legs are on different pacer shards", id)
				}
				used[legs[0].pc] = true
				for _, s := range legs {
					s.Close() // a port per call has few ports here
				}
			}
			if len(used) != 4 {
				t.Errorf("40 calls used %d of 4 shards, want all", len(used))
			}
		})
	}
}

func TestSharedPortGivesEachSessionOnlyItsOwnCallersPackets(t *testing.T) {
	e := newSharedTestEngine(t, nil)
	s1, s2 := newTestSession(t, e), newTestSession(t, e)
	if s1.LocalPort() != s2.LocalPort() {
		t.Fatalf("ports %d and %d, want one shared port", s1.LocalPort(), s2.LocalPort())
	}
	p1, p2 := newPeer(t), newPeer(t)
	s1.Configure(p1.addr(), PayloadPCMU, 101)
	s2.Configure(p2.addr(), PayloadPCMU, 101)
	s1.Start()
	s2.Start()

	var seq1, seq2 uint16
	p1.sendAudio(s1.localAddr(), 0x1111, 5, 0x11)
	p2.sendAudio(s2.localAddr(), 0x2222, 3, 0x22)
	sendKeyPress(p1, s1.localAddr(), &seq1, 1000, 1)
	sendKeyPress(p2, s2.localAddr(), &seq2, 2000, 2)
	eventually(t, time.Second, "both callers' packets received", func() bool {
		return s1.Stats().Received == 5+7 && s2.Stats().Received == 3+7
	})
	for _, c := range []struct {
		s    *Session
		want byte
	}{{s1, '1'}, {s2, '2'}} {
		select {
		case d := <-c.s.Digits():
			if d != c.want {
				t.Errorf("digit %q, want %q", d, c.want)
			}
		case <-time.After(time.Second):
			t.Fatalf("no digit, want %q", c.want)
		}
		select {
		case d := <-c.s.Digits():
			t.Errorf("second digit %q: the other caller's key reached this session", d)
		default:
		}
	}
	// Each phone hears only its own session's stream, from the shared port.
	for _, c := range []struct {
		p *peer
		s *Session
	}{{p1, s1}, {p2, s2}} {
		for _, r := range c.p.collect(5) {
			if r.SSRC != c.s.ssrc || r.src != c.s.localAddr() {
				t.Fatalf("phone got SSRC %x from %v, want its session's %x from %v", r.SSRC, r.src, c.s.ssrc, c.s.localAddr())
			}
		}
	}
	if st := e.Stats(); st.PacketsUnmatched != 0 || st.PacketsDropped != 0 {
		t.Errorf("engine stats %+v, want nothing unmatched or dropped", st)
	}
}

func TestSharedPortDropsAndCountsDatagramsOfNoSession(t *testing.T) {
	e := newSharedTestEngine(t, nil)
	s := newTestSession(t, e)
	caller, stranger := newPeer(t), newPeer(t)
	s.Configure(caller.addr(), PayloadPCMU, 0)
	caller.sendAudio(s.localAddr(), 42, 1, 0x55)
	eventually(t, time.Second, "the caller's packet", func() bool { return s.Stats().Received == 1 })

	stranger.sendAudio(s.localAddr(), 4242, 5, 0x66)    // unknown address and SSRC
	stranger.sendRaw(s.localAddr(), []byte{0x80, 0, 1}) // too short to carry an SSRC
	eventually(t, time.Second, "stranger's datagrams counted", func() bool { return e.Stats().PacketsUnmatched == 6 })
	if st := s.Stats(); st.Received != 1 || st.Dropped != 0 {
		t.Errorf("session stats %+v: a stranger's datagrams reached it", st)
	}
}

func TestSharedPortLetsAnUnknownPortLatchOnlyWhenOneWaitingSessionHasItsIP(t *testing.T) {
	e := newSharedTestEngine(t, nil)
	s := newTestSession(t, e)
	sdp, natted := newPeer(t), newPeer(t)
	s.Configure(sdp.addr(), PayloadPCMU, 0)
	s.Start()

	// The caller's NAT kept the IP of the SDP but not the port: the first
	// packet of a session still waiting for one latches.
	natted.sendAudio(s.localAddr(), 7, 1, 0x55)
	eventually(t, time.Second, "latched to the NAT's port", func() bool { return s.Stats().Remote == natted.addr() })

	// With two sessions waiting on the same IP an unknown port is
	// ambiguous: dropped, never guessed.
	a, b := newTestSession(t, e), newTestSession(t, e)
	a.Configure(newPeer(t).addr(), PayloadPCMU, 0)
	b.Configure(newPeer(t).addr(), PayloadPCMU, 0)
	before := e.Stats().PacketsUnmatched
	newPeer(t).sendAudio(s.localAddr(), 8, 3, 0x55)
	eventually(t, time.Second, "ambiguous packets unmatched", func() bool { return e.Stats().PacketsUnmatched == before+3 })
	if a.Stats().Received+b.Stats().Received != 0 {
		t.Error("a packet of an unknown port was guessed onto one of two waiting sessions")
	}
}

// A leg that never heard its caller (one whose packets come from another
// port than its SDP says) must not, later, take the first packets of a new
// leg from the same IP — a colleague's phone that starts sending before
// its leg is configured. Latching by IP alone is for a leg's first moments.
func TestSharedPortLatchesByIPOnlyWhileTheSessionIsNew(t *testing.T) {
	old := firstPacketWindow
	firstPacketWindow = int64(200 * time.Millisecond)
	t.Cleanup(func() { firstPacketWindow = old })
	e := newSharedTestEngine(t, nil)
	quiet := newTestSession(t, e)
	quiet.Configure(newPeer(t).addr(), PayloadPCMU, 0)
	quiet.Start()
	time.Sleep(300 * time.Millisecond)

	colleague := newPeer(t)
	before := e.Stats().PacketsUnmatched
	colleague.sendAudio(quiet.localAddr(), 9, 2, 0x55) // before its leg exists
	eventually(t, time.Second, "early packets unmatched", func() bool { return e.Stats().PacketsUnmatched == before+2 })
	if got := quiet.Stats().Received; got != 0 {
		t.Fatalf("an old leg waiting for its caller took %d packets of another phone", got)
	}
	leg := newTestSession(t, e)
	leg.Configure(colleague.addr(), PayloadPCMU, 0)
	colleague.sendAudio(leg.localAddr(), 9, 1, 0x55)
	eventually(t, time.Second, "the colleague's leg hears it", func() bool { return leg.Stats().Received == 1 })
}

// A phone behind NAT names its private address in SDP; its packets come
// from the address its signalling came from. ExpectSourceIP lets a new
// session on a shared port learn it by that IP.
func TestSharedPortLearnsANATtedPhoneByItsSignallingIP(t *testing.T) {
	e := newSharedTestEngine(t, nil)
	s := newTestSession(t, e)
	phone := newPeer(t)
	s.ExpectSourceIP(phone.addr().Addr())
	s.Configure(netip.MustParseAddrPort("192.0.2.55:4000"), PayloadPCMU, 0)
	s.Start()
	phone.sendAudio(s.localAddr(), 77, 1, 0x55)
	eventually(t, time.Second, "latched to the phone", func() bool { return s.Stats().Remote == phone.addr() })

	other := newTestSession(t, e) // no hint: the SDP address is all it knows
	other.Configure(netip.MustParseAddrPort("192.0.2.56:4000"), PayloadPCMU, 0)
	before := e.Stats().PacketsUnmatched
	newPeer(t).sendAudio(other.localAddr(), 78, 1, 0x55)
	eventually(t, time.Second, "unmatched", func() bool { return e.Stats().PacketsUnmatched == before+1 })
}

func TestSharedPortNeverDeliversAClosedSessionsLatePackets(t *testing.T) {
	e := newSharedTestEngine(t, nil)
	old := newTestSession(t, e)
	oldPhone := newPeer(t)
	old.Configure(oldPhone.addr(), PayloadPCMU, 0)
	oldPhone.sendAudio(old.localAddr(), 0x01D, 2, 0x55)
	eventually(t, time.Second, "old call's packets", func() bool { return old.Stats().Received == 2 })
	old.Close()

	// A new call on the same port whose caller has the same IP: it waits
	// for its first packet, which the old phone must not provide.
	newer := newTestSession(t, e)
	newPhone := newPeer(t)
	newer.Configure(newPhone.addr(), PayloadPCMU, 0)
	newer.Start()
	before := e.Stats().PacketsUnmatched
	oldPhone.sendAudio(newer.localAddr(), 0x01D, 3, 0x55) // same source, same SSRC
	oldPhone.sendAudio(newer.localAddr(), 0x0DD, 2, 0x55) // same source, another SSRC
	newPeer(t).sendAudio(newer.localAddr(), 0x01D, 2, 0x55)
	eventually(t, time.Second, "late packets unmatched", func() bool { return e.Stats().PacketsUnmatched == before+7 })
	if st := newer.Stats(); st.Received != 0 || st.Remote != newPhone.addr() {
		t.Fatalf("new session %+v: the closed call's packets reached it", st)
	}
	newPhone.sendAudio(newer.localAddr(), 0x2E7, 1, 0x55)
	eventually(t, time.Second, "the new caller's packet", func() bool { return newer.Stats().Received == 1 })
}

// A phone whose SDP names another address than it sends from (a second
// interface, NAT) and that reuses its RTP port for its next call, as
// baresip does when an agent is rung back straight after a call: the new
// leg must hear it at once, though the old leg's source is still held
// closed, while the old call's late packets are still dropped.
func TestSharedPortHearsAPhonesNextCallFromTheSamePort(t *testing.T) {
	e := newSharedTestEngine(t, nil)
	phone := newPeer(t)
	sdp := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), phone.addr().Port())
	old := newTestSession(t, e)
	old.ExpectSourceIP(phone.addr().Addr())
	old.Configure(sdp, PayloadPCMU, 0)
	old.Start()
	phone.sendAudio(old.localAddr(), 0x01D, 2, 0x55)
	eventually(t, time.Second, "old call's packets", func() bool { return old.Stats().Received == 2 })
	old.Close()

	next := newTestSession(t, e)
	next.ExpectSourceIP(phone.addr().Addr())
	next.Configure(sdp, PayloadPCMU, 0)
	next.Start()
	before := e.Stats().PacketsUnmatched
	phone.sendAudio(next.localAddr(), 0x01D, 2, 0x55) // the old call's SSRC: late
	eventually(t, time.Second, "late packets unmatched", func() bool { return e.Stats().PacketsUnmatched == before+2 })
	if st := next.Stats(); st.Received != 0 {
		t.Fatalf("next call %+v: the closed call's late packets reached it", st)
	}
	phone.sendAudio(next.localAddr(), 0x0E1, 3, 0x55) // the next call's SSRC
	eventually(t, time.Second, "the next call hears the phone", func() bool { return next.Stats().Received == 3 })
	if st := next.Stats(); st.Remote != phone.addr() {
		t.Errorf("next call latched %v, want the phone %v", st.Remote, phone.addr())
	}
}

func TestSharedPortFollowsACallerWhoseNATMovedByItsSSRC(t *testing.T) {
	e := newSharedTestEngine(t, nil)
	s := newTestSession(t, e)
	before, after := newPeer(t), newPeerOn(t, "127.0.0.2")
	s.Configure(before.addr(), PayloadPCMU, 0)
	s.Start()
	before.sendAudio(s.localAddr(), 42, 1, 0x55)
	eventually(t, time.Second, "latched", func() bool { return s.Stats().Received == 1 })

	// While the caller is live, its SSRC from elsewhere does not move the
	// stream (relatchQuiet), though the packets reach the session.
	for range 4 {
		before.sendAudio(s.localAddr(), 42, 1, 0x55)
		after.sendAudio(s.localAddr(), 42, 1, 0x55)
		time.Sleep(5 * time.Millisecond)
	}
	eventually(t, time.Second, "all packets to the session", func() bool { return s.Stats().Received == 9 })
	if r := s.Stats().Remote; r != before.addr() {
		t.Fatalf("a live caller lost its stream to %v", r)
	}

	// Another SSRC from the new address is nobody's.
	unmatched := e.Stats().PacketsUnmatched
	after.sendAudio(s.localAddr(), 43, 1, 0x55)
	eventually(t, time.Second, "foreign SSRC unmatched", func() bool { return e.Stats().PacketsUnmatched == unmatched+1 })

	// The caller's NAT moves it: after the quiet time and three packets
	// the stream follows, and the new address is the session's.
	time.Sleep(relatchQuietTest)
	for range relatchPackets {
		after.sendAudio(s.localAddr(), 42, 1, 0x55)
		time.Sleep(5 * time.Millisecond)
	}
	eventually(t, time.Second, "re-latched by SSRC", func() bool { return s.Stats().Remote == after.addr() })
	after.drain()
	after.collect(2)
	after.sendAudio(s.localAddr(), 44, 1, 0x55) // now known by address, any SSRC
	eventually(t, time.Second, "new address is the session's", func() bool { return s.Stats().Received == 9+relatchPackets+1 })
}

func TestSharedPortTellsTwoLegsToOnePhonePortApartBySSRC(t *testing.T) {
	e := newSharedTestEngine(t, nil)
	first, second := newTestSession(t, e), newTestSession(t, e)
	phone := newPeer(t)
	first.Configure(phone.addr(), PayloadPCMU, 0)
	phone.sendAudio(first.localAddr(), 0xF1, 2, 0x55)
	eventually(t, time.Second, "first leg learns its SSRC", func() bool { return first.Stats().Received == 2 })

	// The second leg towards the same phone port takes the address; the
	// first keeps what carries its SSRC.
	second.Configure(phone.addr(), PayloadPCMU, 0)
	phone.sendAudio(first.localAddr(), 0x5E, 3, 0x55)
	phone.sendAudio(first.localAddr(), 0xF1, 4, 0x55)
	eventually(t, time.Second, "split by SSRC", func() bool {
		return first.Stats().Received == 6 && second.Stats().Received == 3
	})

	// When the holder closes, the address passes to the remaining leg.
	second.Close()
	phone.sendAudio(first.localAddr(), 0x77, 1, 0x55)
	eventually(t, time.Second, "remaining leg gets the address", func() bool { return first.Stats().Received == 7 })
}

// newOfflineSharedSocket is a shared socket no pacer reads, so a test
// reads and dispatches by hand.
func newOfflineSharedSocket(t testing.TB, e *Engine) *sharedSocket {
	t.Helper()
	conn, err := listenUDP(netip.AddrPortFrom(loopback, 0))
	if err != nil {
		t.Fatal(err)
	}
	k, err := newSharedSocket(e, conn, conn.LocalAddr().(*net.UDPAddr).Port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.conn.close() })
	return k
}

// offlineSharedSession is an offline session on k, configured to remote.
func offlineSharedSession(e *Engine, k *sharedSocket, remote netip.AddrPort) *Session {
	s := newSession(e, "offline", nil, k.port)
	s.sock = k
	k.add(s)
	s.Configure(remote, PayloadPCMU, 101)
	return s
}

// The receive path of the shared transport — a pacer's drain: recvmmsg
// into the preallocated buffers, table lookup, handing the packet to its
// session — allocates nothing, whether the datagram is the session's or no one's.
func TestSharedReceivePathAllocatesNothing(t *testing.T) {
	e := newTestEngine(t, TransportPortPerCall, nil)
	k := newOfflineSharedSocket(t, e)
	caller, stranger := newPeer(t), newPeer(t)
	s := offlineSharedSession(e, k, caller.addr())
	audio, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 5}, Payload: make([]byte, FrameSize)}).Marshal()
	foreign, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 6}, Payload: make([]byte, FrameSize)}).Marshal()
	to := netip.AddrPortFrom(loopback, uint16(k.port))
	caller.sendRaw(to, audio) // latch, so the stranger is no one's
	if n, err := k.rd.read(); err != nil {
		t.Fatal(err)
	} else {
		k.dispatch(n, e.now())
	}
	for _, c := range []struct {
		name string
		from *peer
		pkt  []byte
	}{{"session's", caller, audio}, {"unmatched", stranger, foreign}} {
		a := testing.AllocsPerRun(500, func() {
			c.from.sendRaw(to, c.pkt)
			k.drain(e.now()) // as the shard's pacer reads at its tick
		})
		if a != 0 {
			t.Errorf("%s datagram: %v allocations per packet", c.name, a)
		}
	}
	if s.Stats().Received < 500 || k.unmatched.Load() < 500 {
		t.Errorf("received %d, unmatched %d: the test did not exercise both paths", s.Stats().Received, k.unmatched.Load())
	}
}

// The send path of the shared transport — the pacer's frame copied into the
// batch, sendmmsg at the end of the tick, lateness observed per frame into a
// Prometheus histogram — allocates nothing.
func TestSharedSendPathAllocatesNothing(t *testing.T) {
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lateness", Buckets: prometheus.DefBuckets})
	e := newTestEngine(t, TransportPortPerCall, func(c *EngineConfig) { c.Lateness = hist })
	k := newOfflineSharedSocket(t, e)
	p := newPacer(e, nil)
	snd, err := newBatchSender(k.conn, p.late, e.now)
	if err != nil {
		t.Fatal(err)
	}
	p.snd = snd
	p.senderObserves = true
	sink := newPeer(t)
	var ss []*Session
	for range 3 {
		s := offlineSharedSession(e, k, sink.addr())
		s.play = &player{clips: [][]byte{sharedClip}, result: make(chan error, 1), unwatch: noUnwatch}
		ss = append(ss, s)
	}
	if a := testing.AllocsPerRun(200, func() {
		for _, s := range ss {
			p.sendFrame(s, e.now())
		}
		p.flush()
	}); a != 0 {
		t.Errorf("%v allocations per tick of 3 frames", a)
	}
	if got := p.sent.Load(); got < 600 || p.sendErrors.Load() != 0 {
		t.Errorf("sent %d, errors %d", got, p.sendErrors.Load())
	}
	if r, ok := sink.read(time.Second); !ok || r.src.Port() != uint16(k.port) {
		t.Errorf("sink got %v from %v, want a frame from the shared port", ok, r.src)
	}
}

func TestSharedSenderCountsPacketsTheKernelRefused(t *testing.T) {
	e := newSharedTestEngine(t, nil)
	good, bad := newTestSession(t, e), newTestSession(t, e)
	sink := newPeer(t)
	good.Configure(sink.addr(), PayloadPCMU, 0)
	// An IPv6 destination cannot be reached from the IPv4 shared socket.
	bad.Configure(netip.MustParseAddrPort("[2001:db8::1]:4000"), PayloadPCMU, 0)
	good.Start()
	bad.Start()
	sink.collect(5)
	eventually(t, time.Second, "errors counted", func() bool { return e.Stats().SendErrors >= 5 })
	if bad.Stats().Sent != 0 {
		t.Errorf("unsendable session counted %d packets sent", bad.Stats().Sent)
	}
}

// FuzzSharedDispatch hands arbitrary datagrams from a caller, a stranger and
// a closed session's phone to a shared socket: nothing panics and every
// datagram is counted once, as received, dropped or unmatched.
func FuzzSharedDispatch(f *testing.F) {
	valid, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1}, Payload: make([]byte, 160)}).Marshal()
	ev, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SSRC: 2}, Payload: []byte{1, 10, 0, 160}}).Marshal()
	f.Add(valid, uint8(0))
	f.Add(ev, uint8(1))
	f.Add([]byte{0x80, 0}, uint8(2))
	f.Add([]byte{}, uint8(0))
	e := newTestEngine(f, TransportPortPerCall, nil)
	k := newOfflineSharedSocket(f, e)
	caller, gone := newPeer(f), newPeer(f)
	s := offlineSharedSession(e, k, caller.addr())
	closed := offlineSharedSession(e, k, gone.addr())
	k.remove(closed)
	peers := []*peer{caller, newPeer(f), gone}
	to := netip.AddrPortFrom(loopback, uint16(k.port))
	f.Fuzz(func(t *testing.T, b []byte, from uint8) {
		if len(b) > receiveBufferSize {
			return
		}
		before := s.received.Load() + s.dropped.Load() + k.unmatched.Load()
		if _, err := peers[int(from)%len(peers)].conn.WriteToUDPAddrPort(b, to); err != nil {
			t.Fatal(err)
		}
		n, err := k.rd.read()
		if err != nil {
			t.Fatal(err)
		}
		k.dispatch(n, e.now())
		if after := s.received.Load() + s.dropped.Load() + k.unmatched.Load(); after != before+uint64(n) {
			t.Fatalf("%d datagrams counted %d times", n, after-before)
		}
		if closed.received.Load()+closed.dropped.Load() != 0 {
			t.Fatal("a closed session was handed a datagram")
		}
		select {
		case <-s.Digits():
		default:
		}
	})
}

// Closing a shard's socket while its pacer is between ticks (engine
// shutdown) leaves the pacer with net.ErrClosed on its next read and with
// its queued frames counted as not sent. Nothing the pacer does afterwards
// touches a socket opened since, even one that got the closed socket's
// descriptor number.
func TestClosedSharedSocketTouchesNoLaterSocket(t *testing.T) {
	e := newTestEngine(t, TransportPortPerCall, nil)
	k := newOfflineSharedSocket(t, e)
	snd, err := newBatchSender(k.conn, nil, e.now)
	if err != nil {
		t.Fatal(err)
	}
	sink := newPeer(t)
	pkt := make([]byte, packetSize)
	pkt[0] = 0x80
	if err := k.conn.close(); err != nil {
		t.Fatal(err)
	}
	// The lowest free descriptor number is the one just closed.
	later := newPeer(t)
	sink.sendRaw(later.addr(), pkt)

	if n, err := k.rd.poll(); !errors.Is(err, net.ErrClosed) || n != 0 {
		t.Errorf("poll after close = %d, %v; want 0, net.ErrClosed", n, err)
	}
	if _, ok := later.read(time.Second); !ok {
		t.Error("the closed socket's reader took a datagram meant for a later socket")
	}
	for range 3 {
		if err := snd.send(nil, pkt, sink.addr(), noDue); err != nil {
			t.Fatal(err)
		}
	}
	var batchErr *sendBatchError
	if err := snd.flush(); !errors.As(err, &batchErr) || batchErr.failed != 3 {
		t.Errorf("flush after close = %v; want 3 packets not sent", err)
	}
	if r, ok := sink.read(100 * time.Millisecond); ok {
		t.Errorf("a frame left from port %d after its socket closed", r.src.Port())
	}
	if err := k.conn.close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second close = %v; want net.ErrClosed", err)
	}
}
