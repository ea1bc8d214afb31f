package sip

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/emiago/sipgo/sip"
)

// headerValues are the values of all msg's headers called name, in order.
func headerValues(msg, name string) []string {
	var vs []string
	for _, l := range strings.Split(msg, "\r\n") {
		if v, ok := strings.CutPrefix(l, name+": "); ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// rawPhone is an agent's phone played by the test over a UDP socket.
type rawPhone struct {
	t    *testing.T
	conn *net.UDPConn
}

func newRawPhone(t *testing.T) *rawPhone {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawPhone{t: t, conn: conn}
}

func (p *rawPhone) addr() string { return p.conn.LocalAddr().String() }

// read waits for the next message and where it came from.
func (p *rawPhone) read(what string) (string, *net.UDPAddr) {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 8192)
	n, from, err := p.conn.ReadFromUDP(buf)
	if err != nil {
		p.t.Fatalf("waiting for %s: %v", what, err)
	}
	return string(buf[:n]), from
}

func (p *rawPhone) send(msg string, to *net.UDPAddr) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(msg), to); err != nil {
		p.t.Fatal(err)
	}
}

// respond is the phone's response to req with its To tag, extra headers
// and body.
func respond(req, status, extra, body string) string {
	to := headerValue(req, "To")
	if !strings.Contains(to, ";tag=") {
		to += ";tag=phone-tag"
	}
	return "SIP/2.0 " + status + "\r\nVia: " + headerValue(req, "Via") + "\r\nFrom: " + headerValue(req, "From") +
		"\r\nTo: " + to + "\r\nCall-ID: " + headerValue(req, "Call-ID") + "\r\nCSeq: " + headerValue(req, "CSeq") +
		"\r\n" + extra + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// waitAnswerAside follows the leg to its answer from a goroutine, so the
// test can play the phone; the channel gets WaitAnswer's result.
func waitAnswerAside(o *OutboundCall) <-chan error {
	answered := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		answered <- o.WaitAnswer(ctx, nil)
	}()
	return answered
}

// The agent's leg is a dialog hotline keeps as a few strings once the
// phone has answered; what the phone sees must be what RFC 3261 asks of
// the UAC: the ACK and every later request go to the 2xx's Contact along
// the 2xx's Record-Route reversed (section 12.1.2), the ACK carries the
// INVITE's CSeq number and is repeated for each retransmitted 2xx
// (section 13.2.2.4), and the BYE takes the next CSeq. The INVITE
// transaction itself ends at the 2xx.
func TestAgentLegDialogFollowsThePhones2xx(t *testing.T) {
	p := newRawPhone(t)
	h := hotlineServer(t)
	o := dialPhone(t, h, netip.MustParseAddrPort(p.addr()))
	tx := o.tx
	answered := waitAnswerAside(o)
	invite, hotline := p.read("the INVITE")
	if !strings.HasPrefix(invite, "INVITE sip:1001@"+p.addr()) {
		t.Fatalf("not an INVITE to the phone:\n%s", invite)
	}
	seq, _, _ := strings.Cut(headerValue(invite, "CSeq"), " ")
	p.send(respond(invite, "180 Ringing", "", ""), hotline)

	// Record-Route as a proxy pair would add it: the phone's side last.
	// Reversed, the first hop is the phone itself, so the ACK reaches it.
	far := "<sip:127.0.0.1:9;lr;proxy=far>"
	near := "<sip:" + p.addr() + ";lr;proxy=near>"
	answer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 31000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
	contact := "<sip:1001@" + p.addr() + ";ob>"
	ok := respond(invite, "200 OK", "Record-Route: "+far+"\r\nRecord-Route: "+near+"\r\nContact: "+contact+
		"\r\nContent-Type: application/sdp\r\n", answer)
	p.send(ok, hotline)
	ack, _ := p.read("the ACK")
	if err := <-answered; err != nil {
		t.Fatalf("WaitAnswer: %v", err)
	}
	if !strings.HasPrefix(ack, "ACK sip:1001@"+p.addr()+";ob SIP/2.0") {
		t.Fatalf("ACK not to the 2xx's Contact:\n%s", ack)
	}
	if got := headerValues(ack, "Route"); len(got) != 2 || got[0] != near || got[1] != far {
		t.Errorf("ACK Route = %q, want the Record-Route reversed [%s %s]", got, near, far)
	}
	if got := headerValue(ack, "CSeq"); got != seq+" ACK" {
		t.Errorf("ACK CSeq = %q, want %s ACK", got, seq)
	}
	if got := headerValue(ack, "To"); !strings.Contains(got, "tag=phone-tag") {
		t.Errorf("ACK To = %q, want the phone's tag", got)
	}
	if headerValue(ack, "From") != headerValue(invite, "From") || headerValue(ack, "Call-ID") != headerValue(invite, "Call-ID") {
		t.Errorf("ACK names another dialog:\n%s", ack)
	}
	if headerValue(ack, "Via") == headerValue(invite, "Via") {
		t.Error("the ACK of a 2xx reuses the INVITE's branch; it is a transaction of its own")
	}
	if o.Answer.Remote.Port() != 31000 {
		t.Errorf("the phone's answer read as %+v", o.Answer)
	}
	// RFC 6026's Accepted state is the leg's: the INVITE transaction
	// ends at the 2xx, and the leg keeps no hold on it.
	select {
	case <-tx.Done():
	case <-time.After(2 * time.Second):
		t.Error("the INVITE transaction outlived its 2xx")
	}
	if o.tx != nil {
		t.Error("the answered leg still holds its INVITE transaction")
	}

	// The 200 OK again, T1 later as a phone retransmits it, as if the ACK
	// was lost: the same ACK again, sent by the leg now that no
	// transaction matches the 2xx.
	time.Sleep(sip.T1)
	p.send(ok, hotline)
	again, _ := p.read("the repeated ACK")
	if !strings.HasPrefix(again, "ACK ") || headerValue(again, "CSeq") != seq+" ACK" {
		t.Fatalf("a retransmitted 2xx got, instead of the ACK again:\n%s", again)
	}

	hung := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hung <- o.Hangup(ctx)
	}()
	bye, from := p.read("hotline's BYE")
	if !strings.HasPrefix(bye, "BYE sip:1001@"+p.addr()+";ob SIP/2.0") {
		t.Fatalf("BYE not to the remote target:\n%s", bye)
	}
	n, _ := strconv.Atoi(seq)
	if got := headerValue(bye, "CSeq"); got != strconv.Itoa(n+1)+" BYE" {
		t.Errorf("BYE CSeq = %q, want %d BYE", got, n+1)
	}
	if got := headerValues(bye, "Route"); len(got) != 2 || got[0] != near {
		t.Errorf("BYE Route = %q, want the route set", got)
	}
	p.send(okTo(bye), from)
	if err := <-hung; err != nil {
		t.Fatalf("Hangup: %v", err)
	}
}

// An agent's phone that answers before it has sent anything else (no
// 180) and is then cancelled: RFC 3261 section 9.1 lets a CANCEL follow
// only a provisional response, so hotline waits for one.
func TestCancelWaitsForTheFirstProvisionalResponse(t *testing.T) {
	p := newRawPhone(t)
	h := hotlineServer(t)
	o := dialPhone(t, h, netip.MustParseAddrPort(p.addr()))
	ctx, cancel := context.WithCancel(context.Background())
	gave := make(chan error, 1)
	go func() { gave <- o.WaitAnswer(ctx, nil) }()
	invite, hotline := p.read("the INVITE")
	cancel()
	// Retransmissions of the INVITE may come; a CANCEL may not, yet.
	p.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 8192)
	for {
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if strings.HasPrefix(string(buf[:n]), "CANCEL ") {
			t.Fatal("CANCEL before any provisional response")
		}
	}
	p.send(respond(invite, "180 Ringing", "", ""), hotline)
	var cancelReq string
	for cancelReq == "" {
		msg, _ := p.read("the CANCEL")
		if strings.HasPrefix(msg, "CANCEL ") {
			cancelReq = msg
		}
	}
	if headerValue(cancelReq, "Via") != headerValue(invite, "Via") || headerValue(cancelReq, "CSeq") != strings.Replace(headerValue(invite, "CSeq"), "INVITE", "CANCEL", 1) {
		t.Errorf("the CANCEL does not match the INVITE:\n%s", cancelReq)
	}
	p.send(respond(cancelReq, "200 OK", "", ""), hotline)
	p.send(respond(invite, "487 Request Terminated", "", ""), hotline)
	select {
	case err := <-gave:
		if err == nil {
			t.Fatal("a cancelled leg reported an answer")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitAnswer did not return after the 487")
	}
}

// In-dialog requests from the peer are taken in CSeq order (RFC 3261
// section 12.2.2), and a re-INVITE's Contact becomes the remote target.
func TestDialogTakesRequestsInOrderAndFollowsTargetRefresh(t *testing.T) {
	parse := func(msg string) *sip.Request {
		t.Helper()
		m, err := sip.NewParser().ParseSIP([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		return m.(*sip.Request)
	}
	d := &dialog{target: "sip:1001@127.0.0.1:5070", remoteSeq: 5,
		local: "<sip:100@127.0.0.1>;tag=h", remote: "<sip:13800138000@127.0.0.1>;tag=a1"}
	if err := d.acceptRemote(parse(request("INFO", "INFO", "c1", ";tag=x"))); err != errCSeqOrder {
		t.Errorf("CSeq 1 after 5: %v, want errCSeqOrder", err)
	}
	reinvite := strings.Replace(request("INVITE", "INVITE", "c1", ";tag=x"), "CSeq: 1 ", "CSeq: 6 ", 1)
	if err := d.acceptRemote(parse(reinvite)); err != nil {
		t.Fatalf("CSeq 6 after 5: %v", err)
	}
	if d.target != "sip:13800138000@127.0.0.1:5999" {
		t.Errorf("remote target %q, want the re-INVITE's Contact", d.target)
	}
	req, err := d.request(sip.BYE, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if req.Recipient.Port != 5999 || req.CSeq().SeqNo != 1 {
		t.Errorf("BYE to %s with CSeq %d, want the refreshed target and CSeq 1", req.Recipient.String(), req.CSeq().SeqNo)
	}
}

// A hotline holds a caller's leg and its dialog for every call that is
// up, thousands at once: each fits a Go size class with no room lost to
// the next one (448 and 208 bytes). What only the answer needs
// (answering) is let go of once the call is up.
func TestACallersLegAndItsDialogFitTheirSizeClasses(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("size classes are stated for 64-bit platforms")
	}
	if size := unsafe.Sizeof(InboundCall{}); size > 448 {
		t.Errorf("InboundCall is %d bytes, over the 448-byte size class", size)
	}
	if size := unsafe.Sizeof(dialog{}); size > 208 {
		t.Errorf("dialog is %d bytes, over the 208-byte size class", size)
	}
}

// A phone that answers with a 2xx missing its To header cannot form a
// dialog: the leg ends with an error that says so, and hotline goes on.
func TestA2xxWithoutToEndsTheAgentLegWithAnError(t *testing.T) {
	p := newRawPhone(t)
	o := dialPhone(t, hotlineServer(t), netip.MustParseAddrPort(p.addr()))
	answered := waitAnswerAside(o)
	invite, hotline := p.read("the INVITE")
	ok := respond(invite, "200 OK", "Contact: <sip:1001@"+p.addr()+">\r\n", "")
	ok = strings.Replace(ok, "\r\nTo: "+headerValue(ok, "To"), "", 1)
	p.send(ok, hotline)
	select {
	case err := <-answered:
		if err == nil || !strings.Contains(err.Error(), "To header") {
			t.Fatalf("WaitAnswer = %v, want an error naming the missing To", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("WaitAnswer never returned")
	}
	select {
	case <-o.Done():
	default:
		t.Error("the leg is not ended")
	}
}
