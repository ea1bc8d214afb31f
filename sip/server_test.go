package sip

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// startTestServer runs a Server on a loopback port; calls are refused with
// 486 by a trivial handler so only the SIP layer is under test.
func startTestServer(t *testing.T) (*Server, *net.UDPConn) {
	t.Helper()
	addr, s := serving(t, Config{OnInvite: func(c *InboundCall) { c.Reject(486, "Busy Here"); c.Release() }})
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
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

// answeringServer is a Server that rings and answers every call; each
// answered leg (ACK received) arrives on the channel.
func answeringServer(t *testing.T) (netip.AddrPort, <-chan *InboundCall) {
	t.Helper()
	answered := make(chan *InboundCall, 1)
	addr, _ := phone(t, func(c *InboundCall) {
		c.Ring()
		if err := c.Answer(context.Background(), 31000); err != nil {
			t.Errorf("Answer: %v", err)
		}
		answered <- c
	})
	return addr, answered
}

// headerValue is the value of msg's first header called name ("" if none).
func headerValue(msg, name string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		if v, ok := strings.CutPrefix(l, name+": "); ok {
			return v
		}
	}
	return ""
}

// okTo is a phone's 200 OK to req (hotline's BYE).
func okTo(req string) string {
	return "SIP/2.0 200 OK\r\nVia: " + headerValue(req, "Via") + "\r\nFrom: " + headerValue(req, "From") +
		"\r\nTo: " + headerValue(req, "To") + "\r\nCall-ID: " + headerValue(req, "Call-ID") +
		"\r\nCSeq: " + headerValue(req, "CSeq") + "\r\nContent-Length: 0\r\n\r\n"
}

// hangUpAside sends hotline's BYE from a goroutine, so the test can play
// the phone that answers it; the channel gets Hangup's result.
func hangUpAside(c *InboundCall) <-chan error {
	hung := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hung <- c.Hangup(ctx)
	}()
	return hung
}

// pcmuOffer is a phone's SDP offer of PCMU only.
const pcmuOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

// The dialog outlives the INVITE's body and the phone's descriptive
// headers (hotline keeps only what the dialog needs), so everything the
// caller sees later must still be right: 180 and 200 echo the route set
// and the caller's tags, and hotline's BYE follows the Record-Route (RFC
// 3261 section 12.2.1.1) with the dialog's tags, Call-ID and next CSeq.
func TestAnsweredCallsResponsesAndByeFollowTheDialog(t *testing.T) {
	caller, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	addr, answered := answeringServer(t)
	srv := net.UDPAddrFromAddrPort(addr)

	me := caller.LocalAddr().String()
	route := "<sip:127.0.0.1:" + strconv.Itoa(caller.LocalAddr().(*net.UDPAddr).Port) + ";lr;proxy=edge>"
	invite := "INVITE sip:100@" + srv.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + me + ";branch=z9hG4bK-rr1\r\n" +
		"Record-Route: " + route + "\r\n" +
		"From: <sip:13800138000@127.0.0.1>;tag=phone-tag\r\nTo: <sip:100@127.0.0.1>\r\n" +
		"Call-ID: rr-call\r\nCSeq: 7 INVITE\r\nMax-Forwards: 70\r\n" +
		"Contact: <sip:13800138000@" + me + ">\r\nUser-Agent: desk phone\r\nAllow: INVITE, ACK, BYE\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(pcmuOffer)) + "\r\n\r\n" + pcmuOffer
	if _, err := caller.WriteToUDP([]byte(invite), srv); err != nil {
		t.Fatal(err)
	}
	read := func(what string) string {
		t.Helper()
		caller.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 4096)
		n, _, err := caller.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		return string(buf[:n])
	}
	var ok200 string
	for ok200 == "" {
		res := read("the answer")
		switch {
		case strings.HasPrefix(res, "SIP/2.0 100 "):
		case strings.HasPrefix(res, "SIP/2.0 180 "), strings.HasPrefix(res, "SIP/2.0 200 "):
			if got := headerValue(res, "Record-Route"); got != route {
				t.Errorf("%s Record-Route = %q, want %q", res[:12], got, route)
			}
			if got := headerValue(res, "From"); !strings.Contains(got, "tag=phone-tag") {
				t.Errorf("%s From = %q, want the phone's tag", res[:12], got)
			}
			if strings.HasPrefix(res, "SIP/2.0 200 ") {
				ok200 = res
			}
		default:
			t.Fatalf("unexpected message before the answer:\n%s", res)
		}
	}
	if got, want := headerValue(ok200, "Contact"), "<sip:hotline@"+srv.String()+">"; got != want {
		t.Errorf("200 OK Contact = %q, want %q", got, want)
	}
	to := headerValue(ok200, "To")
	if !strings.Contains(to, ";tag=") || headerValue(ok200, "CSeq") != "7 INVITE" || headerValue(ok200, "Call-ID") != "rr-call" {
		t.Fatalf("200 OK names another dialog:\n%s", ok200)
	}
	ack := "ACK sip:100@" + srv.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + me + ";branch=z9hG4bK-rr2\r\n" +
		"From: <sip:13800138000@127.0.0.1>;tag=phone-tag\r\nTo: " + to + "\r\nCall-ID: rr-call\r\nCSeq: 7 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := caller.WriteToUDP([]byte(ack), srv); err != nil {
		t.Fatal(err)
	}
	c := <-answered
	if c.PhoneTag() != "phone-tag" {
		t.Errorf("PhoneTag = %q, want phone-tag", c.PhoneTag())
	}
	// Answered, the call keeps no INVITE transaction (RFC 6026's Accepted
	// state is the server's, accepted.go), yet a late retransmission of
	// the INVITE is absorbed: no second call (482) and no response.
	if c.ans != nil {
		t.Error("the answered call still holds its INVITE transaction")
	}
	if _, err := caller.WriteToUDP([]byte(invite), srv); err != nil {
		t.Fatal(err)
	}
	caller.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := caller.ReadFromUDP(make([]byte, 4096)); err == nil {
		t.Fatalf("hotline answered a retransmitted INVITE of an answered call (%d bytes)", n)
	}
	hung := hangUpAside(c)
	bye := read("hotline's BYE")
	if !strings.HasPrefix(bye, "BYE sip:13800138000@"+me+" SIP/2.0") {
		t.Fatalf("BYE to the wrong target:\n%s", bye)
	}
	if got := headerValue(bye, "Route"); got != route {
		t.Errorf("BYE Route = %q, want the Record-Route %q", got, route)
	}
	if got := headerValue(bye, "To"); !strings.Contains(got, "tag=phone-tag") {
		t.Errorf("BYE To = %q, want the phone's tag", got)
	}
	if got := headerValue(bye, "From"); got != to {
		t.Errorf("BYE From = %q, want hotline's side of the dialog %q", got, to)
	}
	if headerValue(bye, "Call-ID") != "rr-call" {
		t.Errorf("BYE Call-ID = %q", headerValue(bye, "Call-ID"))
	}
	if _, err := caller.WriteToUDP([]byte(okTo(bye)), srv); err != nil {
		t.Fatal(err)
	}
	if err := <-hung; err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	c.Release()
}

// inviteFromRawCaller plays a caller's phone over a UDP socket of its
// own: it sends the server at srv an INVITE for callID with a PCMU offer
// and returns the socket and its address (the INVITE's Via and Contact).
func inviteFromRawCaller(t *testing.T, srv netip.AddrPort, callID string) (*net.UDPConn, string) {
	t.Helper()
	caller, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caller.Close() })
	me := caller.LocalAddr().String()
	invite := "INVITE sip:100@" + srv.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + me + ";branch=z9hG4bK-" + callID + "\r\n" +
		"From: <sip:13800138000@127.0.0.1>;tag=phone-tag\r\nTo: <sip:100@127.0.0.1>\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:13800138000@" + me + ">\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(pcmuOffer)) + "\r\n\r\n" + pcmuOffer
	if _, err := caller.WriteToUDP([]byte(invite), net.UDPAddrFromAddrPort(srv)); err != nil {
		t.Fatal(err)
	}
	return caller, me
}

// RFC 3261 section 13.3.1.4: a 2xx that no ACK follows is retransmitted
// until the wait is over (64*T1, shortened here), then the call flow
// learns the caller never confirmed the answer, so it can end the call.
func TestA2xxWithoutAckEndsTheWaitAtItsLimit(t *testing.T) {
	const wait = 2 * time.Second
	answered := make(chan error, 1)
	addr, _ := serving(t, Config{AckWait: wait, OnInvite: func(c *InboundCall) {
		c.Ring()
		answered <- c.Answer(context.Background(), 31000)
	}})
	caller, _ := inviteFromRawCaller(t, addr, "na-call")
	oks := 0
	buf := make([]byte, 4096)
	for end := time.Now().Add(2*wait + time.Second); time.Now().Before(end); {
		caller.SetReadDeadline(time.Now().Add(wait + time.Second))
		n, _, err := caller.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if strings.HasPrefix(string(buf[:n]), "SIP/2.0 200 ") {
			oks++
		}
	}
	select {
	case err := <-answered:
		if !errors.Is(err, ErrCallEnded) {
			t.Errorf("Answer without an ACK returned %v, want ErrCallEnded", err)
		}
	default:
		t.Fatal("Answer still waits for an ACK after its limit")
	}
	// The first 200 OK, then T1, 2*T1 (1.5 s in all) and no more: the
	// next was due at 3.5 s, past the 2 s limit.
	if oks != 3 {
		t.Errorf("the 2xx went out %d times in %v, want 3", oks, wait)
	}
}

// RFC 3261 section 13.3.1.4: our 2xx goes out again, T1 after the first
// and then doubling, until the caller's ACK; then no more. With the
// INVITE transaction ended at the 2xx (accepted.go), the call itself
// retransmits.
func TestThe2xxIsRetransmittedUntilTheAck(t *testing.T) {
	addr, answered := answeringServer(t)
	srv := net.UDPAddrFromAddrPort(addr)
	caller, me := inviteFromRawCaller(t, addr, "rt-call")
	// okAt is when each 200 OK arrived.
	var okAt []time.Time
	var ok200 string
	buf := make([]byte, 4096)
	for len(okAt) < 3 {
		caller.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, _, err := caller.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("after %d 200 OKs: %v", len(okAt), err)
		}
		if msg := string(buf[:n]); strings.HasPrefix(msg, "SIP/2.0 200 ") {
			if ok200 != "" && msg != ok200 {
				t.Errorf("the retransmitted 2xx differs from the first:\n%s\nthen:\n%s", ok200, msg)
			}
			ok200 = msg
			okAt = append(okAt, time.Now())
		}
	}
	first, second := okAt[1].Sub(okAt[0]), okAt[2].Sub(okAt[1])
	if first < sip.T1*8/10 || second < 2*sip.T1*8/10 || second > 4*sip.T1 {
		t.Errorf("2xx retransmitted after %v then %v, want T1 (%v) then 2*T1", first, second, sip.T1)
	}
	ack := "ACK sip:100@" + srv.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + me + ";branch=z9hG4bK-rt2\r\n" +
		"From: <sip:13800138000@127.0.0.1>;tag=phone-tag\r\nTo: " + headerValue(ok200, "To") +
		"\r\nCall-ID: rt-call\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := caller.WriteToUDP([]byte(ack), srv); err != nil {
		t.Fatal(err)
	}
	c := <-answered
	// The next retransmission was due 4*T1 after the last one.
	caller.SetReadDeadline(time.Now().Add(5 * sip.T1))
	if n, _, err := caller.ReadFromUDP(buf); err == nil {
		t.Fatalf("hotline went on after the ACK:\n%s", buf[:n])
	}
	hung := hangUpAside(c)
	caller.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, _, err := caller.ReadFromUDP(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "BYE ") {
		t.Fatalf("waiting for hotline's BYE: %v %s", err, buf[:n])
	}
	if _, err := caller.WriteToUDP([]byte(okTo(string(buf[:n]))), srv); err != nil {
		t.Fatal(err)
	}
	if err := <-hung; err != nil {
		t.Errorf("Hangup: %v", err)
	}
}

// Over TCP the dialog keeps its transport: hotline's BYE goes back over
// the phone's connection (the Contact names the connection's address),
// not over UDP.
func TestAnsweredCallOverTCPEndsWithHotlinesByeOverTCP(t *testing.T) {
	addr, answered := answeringServer(t)
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	read := func(what string) string {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		var msg strings.Builder
		length := 0
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
			msg.WriteString(line)
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Content-Length: "); ok {
				length, _ = strconv.Atoi(v)
			}
			if line == "\r\n" {
				break
			}
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(rd, body); err != nil {
			t.Fatalf("body of %s: %v", what, err)
		}
		return msg.String() + string(body)
	}
	me := conn.LocalAddr().String()
	invite := "INVITE sip:100@" + addr.String() + ";transport=tcp SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP " + me + ";branch=z9hG4bK-tcp1\r\n" +
		"From: <sip:13800138000@127.0.0.1>;tag=tcp-tag\r\nTo: <sip:100@127.0.0.1>\r\n" +
		"Call-ID: tcp-call\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n" +
		"Contact: <sip:13800138000@" + me + ";transport=tcp>\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(pcmuOffer)) + "\r\n\r\n" + pcmuOffer
	if _, err := conn.Write([]byte(invite)); err != nil {
		t.Fatal(err)
	}
	var ok200 string
	for ok200 == "" {
		if res := read("the answer"); strings.HasPrefix(res, "SIP/2.0 200 ") {
			ok200 = res
		} else if !strings.HasPrefix(res, "SIP/2.0 1") {
			t.Fatalf("unexpected message before the answer:\n%s", res)
		}
	}
	if !strings.Contains(ok200, ";transport=tcp>") {
		t.Errorf("200 OK over TCP without a TCP Contact:\n%s", ok200)
	}
	to := headerValue(ok200, "To")
	ack := "ACK sip:hotline@" + addr.String() + ";transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP " + me + ";branch=z9hG4bK-tcp2\r\n" +
		"From: <sip:13800138000@127.0.0.1>;tag=tcp-tag\r\nTo: " + to + "\r\nCall-ID: tcp-call\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(ack)); err != nil {
		t.Fatal(err)
	}
	c := <-answered
	hung := hangUpAside(c)
	bye := read("hotline's BYE on the phone's connection")
	if !strings.HasPrefix(bye, "BYE ") || !strings.Contains(bye, "Via: SIP/2.0/TCP ") || !strings.Contains(bye, "tag=tcp-tag") {
		t.Fatalf("BYE is not for this dialog over TCP:\n%s", bye)
	}
	if _, err := conn.Write([]byte(okTo(bye))); err != nil {
		t.Fatal(err)
	}
	if err := <-hung; err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	c.Release()
}

// A REGISTER, BYE or OPTIONS is whole while its handler runs and empty
// afterwards: the transaction sipgo keeps for Timer J (32 s) then holds
// the response it may have to repeat, not the request.
func TestAHandledRequestIsEmptiedForItsTransaction(t *testing.T) {
	msg := "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-r1\r\n" +
		"From: <sip:1001@127.0.0.1>;tag=a\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\n" +
		"Contact: <sip:1001@127.0.0.1:5999>\r\nContent-Length: 0\r\n\r\n"
	parsed, err := sip.NewParser().ParseSIP([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	req := parsed.(*sip.Request)
	seen := 0
	releasing(func(r *sip.Request, _ sip.ServerTransaction) { seen = len(r.Headers()) })(req, nil)
	if seen != 7 {
		t.Errorf("the handler saw %d headers, want all 7", seen)
	}
	if n := len(req.Headers()); n != 0 || req.Body() != nil {
		t.Errorf("the handled request still holds %d headers", n)
	}
}
