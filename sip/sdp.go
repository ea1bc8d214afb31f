package sip

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Payload types hotline speaks (RFC 3551 static assignments).
const (
	PayloadPCMU uint8 = 0
	PayloadPCMA uint8 = 8
)

// Media directions (RFC 3264 section 5.1).
const (
	SendRecv = "sendrecv"
	SendOnly = "sendonly"
	RecvOnly = "recvonly"
	Inactive = "inactive"
)

// Offer is what hotline takes from a caller's SDP offer: where to send audio,
// the codec chosen and the telephone-event payload type.
type Offer struct {
	// Remote is the caller's RTP address from c= and m=. Its address is
	// unspecified (0.0.0.0) for an RFC 2543-style hold.
	Remote netip.AddrPort
	// PayloadType is PCMU (0) or PCMA (8): the first of the two in the
	// offerer's order of preference (RFC 3264 section 6.1).
	PayloadType uint8
	// DTMFPayloadType is the RFC 4733 telephone-event/8000 payload type, or 0
	// when none was offered.
	DTMFPayloadType uint8
	// Direction is the offerer's direction attribute (sendrecv if absent).
	Direction string
	// SessionID and SessionVersion come from the o= line; a re-offer with an
	// unchanged version carries no change (RFC 3264 section 8).
	SessionID, SessionVersion uint64
	// Source is the IP address the SIP message carrying the SDP came
	// from. Behind NAT a phone's SDP names its private address while its
	// packets come from here, so media may learn the phone by it.
	Source netip.Addr
}

// ParseOffer reads an SDP offer and picks what hotline will use from it.
func ParseOffer(body []byte) (Offer, error) {
	if len(strings.TrimSpace(string(body))) == 0 {
		return Offer{}, ErrNoSDP
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return Offer{}, fmt.Errorf("%w: %v", ErrMalformedSDP, err)
	}
	off := Offer{
		Direction:      SendRecv,
		SessionID:      sd.Origin.SessionID,
		SessionVersion: sd.Origin.SessionVersion,
	}
	sessionAddr, hasSessionAddr, err := connectionAddr(sd.ConnectionInformation)
	if err != nil {
		return Offer{}, err
	}
	if dir, ok := direction(sd.Attributes); ok {
		off.Direction = dir
	}

	noCodec := false
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		if !isPlainRTP(md.MediaName.Protos) {
			continue
		}
		pt, dtmf, ok := chooseCodec(md)
		if !ok {
			noCodec = true
			continue
		}
		addr, hasAddr, err := connectionAddr(md.ConnectionInformation)
		if err != nil {
			return Offer{}, err
		}
		if !hasAddr {
			if !hasSessionAddr {
				return Offer{}, fmt.Errorf("%w: no c= line for the audio stream", ErrMalformedSDP)
			}
			addr = sessionAddr
		}
		port := md.MediaName.Port.Value
		if port < 1 || port > 65535 {
			return Offer{}, fmt.Errorf("%w: audio port %d out of range", ErrMalformedSDP, port)
		}
		off.Remote = netip.AddrPortFrom(addr, uint16(port))
		off.PayloadType = pt
		off.DTMFPayloadType = dtmf
		if dir, ok := direction(md.Attributes); ok {
			off.Direction = dir
		}
		return off, nil
	}
	if noCodec {
		return Offer{}, ErrNoCommonCodec
	}
	return Offer{}, ErrNoAudio
}

// OnHold reports whether the offer puts hotline's side on hold: sendonly or
// inactive (RFC 3264 section 8.4) or the RFC 2543 zero connection address.
func (o Offer) OnHold() bool {
	return o.Direction == SendOnly || o.Direction == Inactive || o.Remote.Addr().IsUnspecified()
}

func isPlainRTP(protos []string) bool {
	// RTP/AVP only: SRTP (RTP/SAVP) and WebRTC profiles need keys hotline
	// does not negotiate, so they are treated as no usable stream.
	return len(protos) == 2 && protos[0] == "RTP" && protos[1] == "AVP"
}

func connectionAddr(ci *sdp.ConnectionInformation) (netip.Addr, bool, error) {
	if ci == nil || ci.Address == nil {
		return netip.Addr{}, false, nil
	}
	if ci.NetworkType != "IN" {
		return netip.Addr{}, false, fmt.Errorf("%w: network type %q", ErrMalformedSDP, ci.NetworkType)
	}
	host := ci.Address.Address
	if i := strings.IndexByte(host, '/'); i >= 0 { // multicast TTL suffix
		host = host[:i]
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false, fmt.Errorf("%w: connection address %q is not an IP address", ErrMalformedSDP, host)
	}
	return addr.Unmap(), true, nil
}

func direction(attrs []sdp.Attribute) (string, bool) {
	for _, a := range attrs {
		// The constant, not a.Key: pion's parser cuts every field out of
		// one buffer, which a kept field would hold for the whole call.
		for _, d := range [...]string{SendRecv, SendOnly, RecvOnly, Inactive} {
			if a.Key == d {
				return d, true
			}
		}
	}
	return "", false
}

// chooseCodec walks the m= format list in the offerer's preference order.
// Static payload types 0 and 8 need no rtpmap (RFC 3551); a dynamic type is
// recognised by its rtpmap name.
func chooseCodec(md *sdp.MediaDescription) (pt, dtmf uint8, ok bool) {
	rtpmaps := map[string]string{}
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		num, enc, found := strings.Cut(a.Value, " ")
		if found {
			rtpmaps[num] = strings.ToLower(strings.TrimSpace(enc))
		}
	}
	for _, f := range md.MediaName.Formats {
		n, err := strconv.ParseUint(f, 10, 8)
		if err != nil || n > 127 {
			continue
		}
		enc := rtpmaps[f]
		switch {
		case !ok && (enc == "pcmu/8000" || enc == "pcmu/8000/1" || (enc == "" && n == 0)):
			pt, ok = PayloadPCMU, true
		case !ok && (enc == "pcma/8000" || enc == "pcma/8000/1" || (enc == "" && n == 8)):
			pt, ok = PayloadPCMA, true
		case dtmf == 0 && n >= 96 && enc == "telephone-event/8000":
			dtmf = uint8(n)
		}
	}
	return pt, dtmf, ok
}

// Answer is hotline's side of the offer/answer exchange.
type Answer struct {
	SessionID, SessionVersion uint64
	Addr                      netip.Addr // our RTP address (c=)
	Port                      int        // our RTP port (m=)
	PayloadType               uint8
	DTMFPayloadType           uint8 // 0: none
	Direction                 string
}

// AnswerFor builds the answer to an offer (RFC 3264 section 6): the chosen
// codec only, telephone-event with the offerer's payload type, and the
// direction that mirrors the offer's.
func AnswerFor(off Offer, addr netip.Addr, port int, sessionID, version uint64) Answer {
	dir := SendRecv
	switch off.Direction {
	case SendOnly:
		dir = RecvOnly
	case RecvOnly:
		dir = SendOnly
	case Inactive:
		dir = Inactive
	}
	return Answer{
		SessionID: sessionID, SessionVersion: version,
		Addr: addr, Port: port,
		PayloadType: off.PayloadType, DTMFPayloadType: off.DTMFPayloadType,
		Direction: dir,
	}
}

// Marshal writes the answer as SDP (RFC 4566).
func (a Answer) Marshal() []byte {
	ipVer := "IP4"
	if a.Addr.Is6() {
		ipVer = "IP6"
	}
	ip := a.Addr.String()
	var b strings.Builder
	b.Grow(256)
	b.WriteString("v=0\r\no=hotline ")
	b.WriteString(strconv.FormatUint(a.SessionID, 10))
	b.WriteByte(' ')
	b.WriteString(strconv.FormatUint(a.SessionVersion, 10))
	b.WriteString(" IN " + ipVer + " " + ip + "\r\ns=hotline\r\nc=IN " + ipVer + " " + ip + "\r\nt=0 0\r\n")
	b.WriteString("m=audio " + strconv.Itoa(a.Port) + " RTP/AVP " + strconv.Itoa(int(a.PayloadType)))
	if a.DTMFPayloadType != 0 {
		b.WriteString(" " + strconv.Itoa(int(a.DTMFPayloadType)))
	}
	b.WriteString("\r\n")
	if a.PayloadType == PayloadPCMA {
		b.WriteString("a=rtpmap:8 PCMA/8000\r\n")
	} else {
		b.WriteString("a=rtpmap:0 PCMU/8000\r\n")
	}
	if a.DTMFPayloadType != 0 {
		pt := strconv.Itoa(int(a.DTMFPayloadType))
		b.WriteString("a=rtpmap:" + pt + " telephone-event/8000\r\na=fmtp:" + pt + " 0-16\r\n")
	}
	b.WriteString("a=ptime:20\r\na=" + a.Direction + "\r\n")
	return []byte(b.String())
}
