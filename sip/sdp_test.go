package sip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

func sdpLines(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

func offerWith(media string, attrs ...string) []byte {
	l := []string{"v=0", "o=caller 42 7 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0", media}
	return sdpLines(append(l, attrs...)...)
}

func TestParseOfferNegotiatesG711AndTelephoneEvent(t *testing.T) {
	tests := []struct {
		name     string
		body     []byte
		wantPT   uint8
		wantDTMF uint8
		wantDir  string
		wantErr  error
	}{
		{"PCMU with telephone-event", offerWith("m=audio 4000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"), PayloadPCMU, 101, SendRecv, nil},
		{"offerer prefers PCMA", offerWith("m=audio 4000 RTP/AVP 8 0 96", "a=rtpmap:96 telephone-event/8000"), PayloadPCMA, 96, SendRecv, nil},
		{"static types without rtpmap", offerWith("m=audio 4000 RTP/AVP 0"), PayloadPCMU, 0, SendRecv, nil},
		{"G.729 first then PCMU", offerWith("m=audio 4000 RTP/AVP 18 0", "a=rtpmap:18 G729/8000"), PayloadPCMU, 0, SendRecv, nil},
		{"dynamic PCMU", offerWith("m=audio 4000 RTP/AVP 112", "a=rtpmap:112 PCMU/8000"), PayloadPCMU, 0, SendRecv, nil},
		{"sendonly hold", offerWith("m=audio 4000 RTP/AVP 0", "a=sendonly"), PayloadPCMU, 0, SendOnly, nil},
		{"only G.729", offerWith("m=audio 4000 RTP/AVP 18", "a=rtpmap:18 G729/8000"), 0, 0, "", ErrNoCommonCodec},
		{"only opus", offerWith("m=audio 4000 RTP/AVP 111", "a=rtpmap:111 opus/48000/2"), 0, 0, "", ErrNoCommonCodec},
		{"video only", offerWith("m=video 4000 RTP/AVP 96", "a=rtpmap:96 H264/90000"), 0, 0, "", ErrNoAudio},
		{"rejected audio stream", offerWith("m=audio 0 RTP/AVP 0"), 0, 0, "", ErrNoAudio},
		{"SRTP profile", offerWith("m=audio 4000 RTP/SAVP 0"), 0, 0, "", ErrNoAudio},
		{"empty body", nil, 0, 0, "", ErrNoSDP},
		{"garbage", []byte("hello there\r\n"), 0, 0, "", ErrMalformedSDP},
		{"hostname in c=", sdpLines("v=0", "o=a 1 1 IN IP4 h", "s=-", "c=IN IP4 example.com", "t=0 0", "m=audio 4000 RTP/AVP 0"), 0, 0, "", ErrMalformedSDP},
		{"no c= anywhere", sdpLines("v=0", "o=a 1 1 IN IP4 h", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0"), 0, 0, "", ErrMalformedSDP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off, err := ParseOffer(tt.body)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseOffer: %v", err)
			}
			if off.PayloadType != tt.wantPT || off.DTMFPayloadType != tt.wantDTMF || off.Direction != tt.wantDir {
				t.Fatalf("got pt=%d dtmf=%d dir=%s, want pt=%d dtmf=%d dir=%s", off.PayloadType, off.DTMFPayloadType, off.Direction, tt.wantPT, tt.wantDTMF, tt.wantDir)
			}
			if want := netip.MustParseAddrPort("192.0.2.10:4000"); off.Remote != want {
				t.Fatalf("remote = %v, want %v", off.Remote, want)
			}
		})
	}
}

func TestOfferOnHold(t *testing.T) {
	zero, err := ParseOffer(sdpLines("v=0", "o=a 1 1 IN IP4 h", "s=-", "c=IN IP4 0.0.0.0", "t=0 0", "m=audio 4000 RTP/AVP 0"))
	if err != nil || !zero.OnHold() {
		t.Fatalf("zero connection address: hold=%v err=%v", zero.OnHold(), err)
	}
	inactive, _ := ParseOffer(offerWith("m=audio 4000 RTP/AVP 0", "a=inactive"))
	live, _ := ParseOffer(offerWith("m=audio 4000 RTP/AVP 0"))
	if !inactive.OnHold() || live.OnHold() {
		t.Fatalf("inactive hold=%v, sendrecv hold=%v", inactive.OnHold(), live.OnHold())
	}
}

func TestAnswerMirrorsOfferAndParses(t *testing.T) {
	off, err := ParseOffer(offerWith("m=audio 4000 RTP/AVP 8 101", "a=rtpmap:101 telephone-event/8000", "a=sendonly"))
	if err != nil {
		t.Fatal(err)
	}
	ans := AnswerFor(off, netip.MustParseAddr("127.0.0.1"), 10002, 99, 1)
	body := ans.Marshal()
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		t.Fatalf("answer does not parse: %v\n%s", err, body)
	}
	for _, want := range []string{"m=audio 10002 RTP/AVP 8 101", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=recvonly", "c=IN IP4 127.0.0.1"} {
		if !strings.Contains(string(body), want+"\r\n") {
			t.Errorf("answer lacks %q:\n%s", want, body)
		}
	}
	back, err := ParseOffer(body)
	if err != nil || back.PayloadType != PayloadPCMA || back.DTMFPayloadType != 101 || back.Remote.Port() != 10002 {
		t.Fatalf("answer re-read as %+v, %v", back, err)
	}
}

func FuzzParseOffer(f *testing.F) {
	f.Add(offerWith("m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000"))
	f.Add(offerWith("m=audio 70000 RTP/AVP 0"))
	f.Add([]byte("v=0\r\nm=audio x RTP/AVP\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		off, err := ParseOffer(body)
		if err != nil {
			if !errors.Is(err, ErrNoSDP) && !errors.Is(err, ErrMalformedSDP) && !errors.Is(err, ErrNoAudio) && !errors.Is(err, ErrNoCommonCodec) {
				t.Fatalf("error outside the documented set: %v", err)
			}
			return
		}
		if off.PayloadType != PayloadPCMU && off.PayloadType != PayloadPCMA {
			t.Fatalf("accepted payload type %d", off.PayloadType)
		}
		if off.Remote.Port() == 0 {
			t.Fatal("accepted port 0")
		}
	})
}

func TestBadRequestForMalformedDatagram(t *testing.T) {
	req := "INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:100@x>\r\nCall-ID: c1\r\nCSeq: abc INVITE\r\nContent-Length: 0\r\n\r\n"
	res := badRequestFor([]byte(req), errors.New(`bad "cseq"`))
	if res == nil || !strings.HasPrefix(string(res), "SIP/2.0 400 Bad Request\r\n") {
		t.Fatalf("want a 400, got %q", res)
	}
	for _, h := range []string{"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1", "Call-ID: c1", "CSeq: abc INVITE", `Warning: 399 hotline "bad  cseq "`} {
		if !strings.Contains(string(res), h+"\r\n") {
			t.Errorf("400 lacks %q:\n%s", h, res)
		}
	}
	for _, garbage := range []string{"\x01\x02junk", "HELLO WORLD\r\n\r\n", "ACK sip:x SIP/2.0\r\nVia: v\r\nFrom: f\r\nTo: t\r\nCall-ID: c\r\nCSeq: x ACK\r\n\r\n"} {
		if res := badRequestFor([]byte(garbage), errors.New("x")); res != nil {
			t.Errorf("answered garbage %q with %q", garbage, res)
		}
	}
}
