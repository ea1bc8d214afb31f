package sip

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// startTestServer runs a Server on a loopback port; calls are refused with
// 486 by a trivial handler so only the SIP layer is under test.
func startTestServer(t *testing.T) (*Server, *net.UDPConn) {
	t.Helper()
	s, err := NewServer(Config{Listen: "127.0.0.1:0", OnInvite: func(c *InboundCall) { c.Reject(486, "Busy Here"); c.Release() }})
	if err != nil {
		t.Fatal(err)
	}
	pc, ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, pc, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	conn, err := net.DialUDP("udp", nil, pc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return s, conn
}

func request(method, cseqMethod, callID, extra string) string {
	return method + " sip:100@127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-" + callID + "\r\n" +
		"From: <sip:13800138000@127.0.0.1>;tag=a1\r\nTo: <sip:100@127.0.0.1>" + extra + "\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 " + cseqMethod + "\r\nMax-Forwards: 70\r\n" +
		"Contact: <sip:13800138000@127.0.0.1:5999>\r\nContent-Length: 0\r\n\r\n"
}

func exchange(t *testing.T, conn *net.UDPConn, msg string) string {
	t.Helper()
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no answer to %q: %v", strings.SplitN(msg, "\r\n", 2)[0], err)
	}
	return string(buf[:n])
}

func TestServerAnswersWhatItDoesNotServe(t *testing.T) {
	s, conn := startTestServer(t)
	tests := []struct {
		name, msg, status, header string
	}{
		{"OPTIONS is answered with capabilities", request("OPTIONS", "OPTIONS", "o1", ""), "SIP/2.0 200 ", "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO"},
		{"a known method hotline does not serve", request("MESSAGE", "MESSAGE", "m1", ""), "SIP/2.0 405 ", "Allow: "},
		{"a SUBSCRIBE", request("SUBSCRIBE", "SUBSCRIBE", "s1", ""), "SIP/2.0 405 ", "Allow: "},
		{"a REFER outside any call", request("REFER", "REFER", "r1", ";tag=x"), "SIP/2.0 481 ", ""},
		{"an unknown method", request("FROBNICATE", "FROBNICATE", "f1", ""), "SIP/2.0 501 ", ""},
		{"a BYE for no dialog", request("BYE", "BYE", "b1", ";tag=nope"), "SIP/2.0 481 ", ""},
		{"a CSeq that is not a number", strings.Replace(request("INVITE", "INVITE", "c1", ""), "CSeq: 1 INVITE", "CSeq: one INVITE", 1), "SIP/2.0 400 ", "Warning: 399 hotline"},
		{"a CSeq method that is not the request's", request("INVITE", "BYE", "c2", ""), "SIP/2.0 400 ", "Warning: 399 hotline"},
		{"an INVITE without SDP", request("INVITE", "INVITE", "i1", ""), "SIP/2.0 488 ", "Warning: 399 hotline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := exchange(t, conn, tt.msg)
			if !strings.HasPrefix(res, tt.status) || !strings.Contains(res, tt.header) {
				t.Fatalf("got\n%s\nwant %q with %q", res, tt.status, tt.header)
			}
		})
	}
	before := s.Stats().DroppedDatagrams.Load()
	conn.Write([]byte("\x00\x01\x02 not sip at all"))
	// The server keeps serving after garbage, and counts it.
	if res := exchange(t, conn, request("OPTIONS", "OPTIONS", "o2", "")); !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Fatalf("after garbage: %s", res)
	}
	if got := s.Stats().DroppedDatagrams.Load(); got != before+1 {
		t.Fatalf("dropped datagrams %d, want %d", got, before+1)
	}
	if s.Stats().MalformedRequests.Load() < 2 || s.Stats().Responses[4].Load() < 5 {
		t.Fatalf("malformed=%d 4xx=%d", s.Stats().MalformedRequests.Load(), s.Stats().Responses[4].Load())
	}
}
