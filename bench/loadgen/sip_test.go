package main

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func TestParseSIP(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		check   func(t *testing.T, m *sipMessage)
		wantErr bool
	}{
		{
			name: "a 200 OK with SDP gives status, CSeq method, To tag, Contact URI and body",
			in: crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa\nFrom: <sip:a@x>;tag=1\nTo: <sip:hotline@127.0.0.1>;tag=abc\n" +
				"Call-ID: c1\nCSeq: 1 INVITE\nContact: <sip:hotline@127.0.0.1:5060;transport=udp>\nContent-Length: 4\n\nbody"),
			check: func(t *testing.T, m *sipMessage) {
				if m.Request || m.Status != 200 || m.Method != "INVITE" || string(m.Body) != "body" {
					t.Fatalf("got %+v", m)
				}
				if tag := headerParam(m.Get("To"), "tag"); tag != "abc" {
					t.Fatalf("To tag %q", tag)
				}
				if u := uriOf(m.Get("Contact")); u != "sip:hotline@127.0.0.1:5060;transport=udp" {
					t.Fatalf("Contact URI %q", u)
				}
			},
		},
		{
			name: "compact header names and folded lines are understood",
			in:   crlf("BYE sip:load1@127.0.0.1:5070 SIP/2.0\nv: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKb\nv: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKc\nf: <sip:h@x>;tag=9\nt: <sip:l@y>\n ;tag=7\ni: c2\nCSeq: 5 BYE\nl: 0\n\n"),
			check: func(t *testing.T, m *sipMessage) {
				if !m.Request || m.Method != "BYE" || m.CallID() != "c2" || len(m.All("Via")) != 2 {
					t.Fatalf("got %+v", m)
				}
				if tag := headerParam(m.Get("To"), "tag"); tag != "7" {
					t.Fatalf("folded To tag %q", tag)
				}
			},
		},
		{
			name: "503 carries its Retry-After",
			in:   crlf("SIP/2.0 503 Service Unavailable\nCall-ID: c3\nCSeq: 1 INVITE\nRetry-After: 5 (overloaded)\nContent-Length: 0\n\n"),
			check: func(t *testing.T, m *sipMessage) {
				if m.Status != 503 || m.retryAfter() != 5 {
					t.Fatalf("status %d retry-after %d", m.Status, m.retryAfter())
				}
			},
		},
		{name: "a Content-Length beyond the datagram is refused", in: crlf("SIP/2.0 200 OK\nCall-ID: c\nCSeq: 1 INVITE\nContent-Length: 99\n\nshort"), wantErr: true},
		{name: "a message without Call-ID is refused", in: crlf("SIP/2.0 200 OK\nCSeq: 1 INVITE\n\n"), wantErr: true},
		{name: "a message without CSeq is refused", in: crlf("SIP/2.0 200 OK\nCall-ID: x\n\n"), wantErr: true},
		{name: "a status out of range is refused", in: crlf("SIP/2.0 999 Odd\nCall-ID: x\nCSeq: 1 INVITE\n\n"), wantErr: true},
		{name: "a request line without SIP/2.0 is refused", in: crlf("INVITE sip:x HTTP/1.1\nCall-ID: x\nCSeq: 1 INVITE\n\n"), wantErr: true},
		{name: "headers without an empty line are refused", in: []byte("SIP/2.0 200 OK\r\nCall-ID: x"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseSIP(tt.in)
			if tt.wantErr {
				if !errors.Is(err, errMalformed) {
					t.Fatalf("err = %v, want errMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, m)
		})
	}
}

func TestResponseCopiesTheTransactionHeadersAndAddsATag(t *testing.T) {
	req, err := parseSIP(crlf("INVITE sip:load0001@127.0.0.1:5070 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK2\n" +
		"From: <sip:hotline@127.0.0.1>;tag=f\nTo: <sip:load0001@127.0.0.1>\nCall-ID: leg1\nCSeq: 7 INVITE\nContent-Length: 0\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := parseSIP(response(req, 180, "Ringing", "t1", nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 180 || res.CallID() != "leg1" || res.Get("CSeq") != "7 INVITE" || len(res.All("Via")) != 2 ||
		headerParam(res.Get("To"), "tag") != "t1" || headerParam(res.Get("From"), "tag") != "f" {
		t.Fatalf("response %+v", res)
	}
	if res.All("Via")[0] != req.All("Via")[0] {
		t.Fatal("Via order changed")
	}
}

func TestParseSDPAudio(t *testing.T) {
	tests := []struct {
		name, sdp string
		want      string
		wantErr   bool
	}{
		{"session-level connection", "v=0\nc=IN IP4 127.0.0.1\nm=audio 10002 RTP/AVP 0 101\n", "127.0.0.1:10002", false},
		{"media-level connection wins", "v=0\nc=IN IP4 127.0.0.1\nm=audio 10004 RTP/AVP 0\nc=IN IP4 127.0.0.9\n", "127.0.0.9:10004", false},
		{"the first audio stream counts", "v=0\nc=IN IP4 127.0.0.1\nm=audio 1 RTP/AVP 0\nm=audio 2 RTP/AVP 0\n", "127.0.0.1:1", false},
		{"no audio stream", "v=0\nc=IN IP4 127.0.0.1\nm=video 1 RTP/AVP 96\n", "", true},
		{"IPv6 is refused", "v=0\nc=IN IP6 ::1\nm=audio 1 RTP/AVP 0\n", "", true},
		{"no connection address", "v=0\nm=audio 1 RTP/AVP 0\n", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSDPAudio(crlf(tt.sdp))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("got %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestOurOfferParsesBackToItsAddress(t *testing.T) {
	a := netip.MustParseAddrPort("127.16.1.2:40000")
	got, err := parseSDPAudio(sdpOffer(a, 1, 1))
	if err != nil || got != a {
		t.Fatalf("got %v, %v", got, err)
	}
}

// TestDigestMatchesRFC2617Example checks the qop=auth computation with the
// worked example of RFC 2617 section 3.5.
func TestDigestMatchesRFC2617Example(t *testing.T) {
	c, err := parseDigestChallenge(`Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"`)
	if err != nil {
		t.Fatal(err)
	}
	if !c.offersAuth() {
		t.Fatal("qop auth not seen")
	}
	h := digestAuthorization(c, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", "0a4f113b", 1)
	if !strings.Contains(h, `response="6629fae49393a05397450978507c4ef1"`) {
		t.Fatalf("authorization %s", h)
	}
	if !strings.Contains(h, "nc=00000001") || !strings.Contains(h, `opaque="5ccc069c403ebaf9f0171e9517f40e41"`) {
		t.Fatalf("authorization %s", h)
	}
}

func TestDigestChallengeWithoutNonceIsRefused(t *testing.T) {
	for _, v := range []string{`Digest realm="r"`, `Basic realm="r"`, ``} {
		if _, err := parseDigestChallenge(v); !errors.Is(err, errMalformed) {
			t.Errorf("%q: err = %v", v, err)
		}
	}
}

func FuzzParseSIP(f *testing.F) {
	f.Add(crlf("SIP/2.0 200 OK\nCall-ID: c\nCSeq: 1 INVITE\nTo: <sip:x>;tag=1\nContent-Length: 0\n\n"))
	f.Add(crlf("BYE sip:x SIP/2.0\ni: c\nCSeq: 2 BYE\n\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseSIP(b)
		if err != nil {
			return
		}
		// Whatever parses can be answered without a panic.
		_ = response(m, 200, "OK", "x", nil, nil)
		_, _ = parseSDPAudio(m.Body)
		_ = headerParam(m.Get("To"), "tag")
		_ = uriOf(m.Get("Contact"))
		_ = m.retryAfter()
	})
}

func FuzzParseDigestChallenge(f *testing.F) {
	f.Add(`Digest realm="hotline", nonce="abc", qop="auth", algorithm=MD5`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseDigestChallenge(s)
		if err == nil && c.Nonce == "" {
			t.Fatal("accepted a challenge without a nonce")
		}
	})
}
