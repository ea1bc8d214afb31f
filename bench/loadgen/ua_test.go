//go:build linux

package main

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeUAS plays hotline's part for the signalling tests. What it does with
// a call depends on the caller's number (From user callerN), N modulo 3:
// 0 is refused with 503, 1 is answered and waits for the caller's BYE, 2
// has its first INVITE ignored (the caller must retransmit), is answered,
// and is then hung up by the server.
type fakeUAS struct {
	conn    *net.UDPConn
	rtp     netip.AddrPort
	mu      sync.Mutex
	invites map[string]int
	byes    map[string]bool
}

func newFakeUAS(t *testing.T, rtp netip.AddrPort) *fakeUAS {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeUAS{conn: c, rtp: rtp, invites: map[string]int{}, byes: map[string]bool{}}
	go s.serve()
	t.Cleanup(func() { c.Close() })
	return s
}

func (s *fakeUAS) addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (s *fakeUAS) serve() {
	buf := make([]byte, 65535)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		m, err := parseSIP(buf[:n])
		if err != nil || !m.Request {
			continue
		}
		s.mu.Lock()
		switch m.Method {
		case "INVITE":
			s.invites[m.CallID()]++
			tries := s.invites[m.CallID()]
			s.mu.Unlock()
			user := uriUser(uriOf(m.Get("From")))
			idx, _ := strconv.Atoi(strings.TrimPrefix(user, "caller"))
			switch idx % 3 {
			case 0:
				s.conn.WriteToUDPAddrPort(response(m, 503, "Service Unavailable", "srv", []sipHeader{{"Retry-After", "5"}}, nil), from)
			case 1:
				s.answer(m, from)
			case 2:
				if tries == 1 {
					continue // lost: Timer A must bring it again
				}
				s.answer(m, from)
				go func() {
					time.Sleep(300 * time.Millisecond)
					bye := request("BYE", uriOf(m.Get("Contact")), []sipHeader{
						{"Via", "SIP/2.0/UDP " + s.addr().String() + ";branch=z9hG4bKsrv" + m.CallID()},
						{"From", m.Get("To") + ";tag=srv"},
						{"To", m.Get("From")},
						{"Call-ID", m.CallID()},
						{"CSeq", "1 BYE"},
					}, nil)
					s.conn.WriteToUDPAddrPort(bye, from)
				}()
			}
		case "BYE":
			s.byes[m.CallID()] = true
			s.mu.Unlock()
			s.conn.WriteToUDPAddrPort(response(m, 200, "OK", "", nil, nil), from)
		default:
			s.mu.Unlock()
		}
	}
}

func (s *fakeUAS) answer(m *sipMessage, from netip.AddrPort) {
	s.conn.WriteToUDPAddrPort(response(m, 100, "Trying", "", nil, nil), from)
	s.conn.WriteToUDPAddrPort(response(m, 180, "Ringing", "srv", nil, nil), from)
	s.conn.WriteToUDPAddrPort(response(m, 200, "OK", "srv", []sipHeader{{"Contact", "<sip:hotline@" + s.addr().String() + ">"}}, sdpOffer(s.rtp, 1, 1)), from)
}

func TestCallersAreRefusedAnsweredRetransmittedAndHungUpOn(t *testing.T) {
	echo := newEchoServer(t)
	srv := newFakeUAS(t, echo.addr())
	const calls = 6
	media, err := newMediaEngine(calls, 2, 1, syntheticSpeech(1))
	if err != nil {
		t.Fatal(err)
	}
	media.run()
	defer media.close()
	u, err := newUA(uaConfig{
		Mode: "ivr", Calls: calls, CPS: 50, Hold: 1500 * time.Millisecond, Target: srv.addr(),
		Deadline: time.Now().Add(20 * time.Second), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, media)
	if err != nil {
		t.Fatal(err)
	}
	u.run()
	media.close()
	r := &report{FailReasons: map[string]int{}}
	u.collect(r, media)

	if r.Refused != 2 || r.Completed != 2 || r.Failed != 2 || r.Answered != 4 {
		t.Fatalf("refused %d completed %d failed %d answered %d (%v); want 2, 2, 2, 4", r.Refused, r.Completed, r.Failed, r.Answered, r.FailReasons)
	}
	if r.FailReasons["hotline hung up before the caller"] != 2 {
		t.Fatalf("fail reasons %v", r.FailReasons)
	}
	for i, c := range r.PerCall {
		switch i % 3 {
		case 0:
			if c.Outcome != outcomeRefused || c.RetryAfter != 5 || c.Status != 503 {
				t.Errorf("call %d: %+v, want refused with Retry-After 5", i, c)
			}
		case 1:
			// Answered at once, held 1.5 s with audio both ways.
			if c.Outcome != outcomeCompleted || c.HoldMS < 1400 || c.RTPReceived < 50 || c.FirstAudioMS < 0 || c.FirstAudioMS > 2000 {
				t.Errorf("call %d: %+v, want completed after a 1.5 s hold with audio", i, c)
			}
		case 2:
			// The first INVITE was lost: the 200 came after Timer A's
			// first retransmission, 500 ms later.
			if c.Invite200MS < 450 || c.Invite200MS > 1500 {
				t.Errorf("call %d: INVITE→200 %.0f ms, want about 500 ms (one retransmission)", i, c.Invite200MS)
			}
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for i, c := range u.calls {
		if i%3 == 1 && !srv.byes[c.id] {
			t.Errorf("call %d: the server never got the caller's BYE", i)
		}
	}
}

func TestParseSippLogKeepsTheFirstOfEachEvent(t *testing.T) {
	calls := parseSippLog("I 1-9@127.0.0.1 336\nR 1-9@127.0.0.1 340\nR 1-9@127.0.0.1 900\nA 1-9@127.0.0.1 1340\nB 1-9@127.0.0.1 5348\nI 2-9@127.0.0.1 668\njunk line\n")
	if len(calls) != 2 {
		t.Fatalf("%d calls", len(calls))
	}
	c := calls[0]
	if c.Invite != 336 || c.Ringing != 340 || c.OK != 1340 || c.ByeOK != 5348 {
		t.Fatalf("%+v", c)
	}
	if calls[1].OK != -1 || calls[1].Invite != 668 {
		t.Fatalf("%+v", calls[1])
	}
}
