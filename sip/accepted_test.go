package sip

import (
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func inviteFrom(t *testing.T, via, callID string, seq int) *sip.Request {
	t.Helper()
	msg := "INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + via + "\r\n" +
		"From: <sip:13800138000@127.0.0.1>;tag=a\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: " + callID + "\r\n" +
		"CSeq: " + strconv.Itoa(seq) + " INVITE\r\nContent-Length: 0\r\n\r\n"
	req, err := sip.NewParser().ParseSIP([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	return req.(*sip.Request)
}

// An answered INVITE is recognised again for at least 64*T1 (RFC 6026
// section 7.1's Accepted state), and only the same INVITE is: another
// branch, sent-by, CSeq or Call-ID is another request.
func TestAnsweredInvitesAreRememberedForTheAcceptedState(t *testing.T) {
	a := newAnsweredInvites()
	t0 := time.Unix(1_700_000_000, 0)
	answered := inviteFrom(t, "192.0.2.1:5060;branch=z9hG4bK-1", "c1", 7)
	a.add(answered, t0)

	for _, other := range []*sip.Request{
		inviteFrom(t, "192.0.2.1:5060;branch=z9hG4bK-2", "c1", 7),
		inviteFrom(t, "192.0.2.1:5062;branch=z9hG4bK-1", "c1", 7),
		inviteFrom(t, "192.0.2.1:5060;branch=z9hG4bK-1", "c1", 8),
		inviteFrom(t, "192.0.2.1:5060;branch=z9hG4bK-1", "c2", 7),
	} {
		if a.has(other) {
			t.Errorf("%s %s taken for the answered INVITE", other.Via().Value(), other.CSeq().Value())
		}
	}
	for _, after := range []time.Duration{0, 63 * sip.T1, 64 * sip.T1, 127 * sip.T1} {
		// Other calls answered meanwhile turn the generations over.
		a.add(inviteFrom(t, "192.0.2.9:5060;branch=z9hG4bK-x", "later", int(after/sip.T1)), t0.Add(after))
		if !a.has(inviteFrom(t, "192.0.2.1:5060;branch=z9hG4bK-1", "c1", 7)) {
			t.Fatalf("%v after its 2xx, a retransmission of the INVITE is not recognised", after)
		}
	}
	a.add(inviteFrom(t, "192.0.2.9:5060;branch=z9hG4bK-y", "later", 1), t0.Add(128*sip.T1))
	if a.has(answered) {
		t.Error("an INVITE answered 128*T1 ago is still remembered")
	}
	if a.has(nil) {
		t.Error("no request taken for an answered INVITE")
	}
}
