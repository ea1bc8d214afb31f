package sip

import (
	"bytes"
	"net"
	"strings"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"
)

// guardedPacketConn sits under sipgo's UDP transport. sipgo drops a datagram
// it cannot parse without answering, and logs its whole content (caller
// numbers included, against R12). The guard parses first: a request that is
// recognisably a request but malformed gets a stateless 400 (RFC 3261
// section 8.2 and 21.4.1: the sender would otherwise retransmit for 32 s),
// anything else unparsable is dropped and counted.
type guardedPacketConn struct {
	net.PacketConn
	parser *sip.Parser
	stats  *Stats
}

func (g *guardedPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := g.PacketConn.ReadFrom(b)
		if err != nil {
			return n, addr, err
		}
		data := b[:n]
		if isKeepAlive(data) {
			return n, addr, nil
		}
		if _, perr := g.parser.ParseSIP(data); perr == nil {
			return n, addr, nil
		} else if res := badRequestFor(data, perr); res != nil {
			g.stats.MalformedRequests.Add(1)
			if _, werr := g.PacketConn.WriteTo(res, addr); werr == nil {
				g.stats.countResponse(400)
			}
			continue
		}
		g.stats.DroppedDatagrams.Add(1)
	}
}

func isKeepAlive(data []byte) bool {
	// RFC 5626 section 3.5.1 CRLF keep-alives and all-zero padding are not SIP.
	return len(bytes.Trim(data, "\r\n\x00 ")) == 0
}

// badRequestFor builds a 400 for a datagram whose start line is a SIP
// request and which carries the headers a response needs to reach its
// sender and match its transaction (Via, From, To, Call-ID, CSeq). It
// returns nil for anything else: that is garbage, not a request.
func badRequestFor(data []byte, cause error) []byte {
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	if len(lines) < 2 || !looksLikeRequestLine(lines[0]) {
		return nil
	}
	var vias, from, to, callID, cseq []string
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		line := strings.TrimSpace(name) + ": " + strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v":
			vias = append(vias, "Via: "+strings.TrimSpace(value))
		case "from", "f":
			from = append(from, "From: "+strings.TrimSpace(value))
		case "to", "t":
			to = append(to, "To: "+strings.TrimSpace(value))
		case "call-id", "i":
			callID = append(callID, "Call-ID: "+strings.TrimSpace(value))
		case "cseq":
			cseq = append(cseq, line)
		}
	}
	if len(vias) == 0 || len(from) != 1 || len(to) != 1 || len(callID) != 1 || len(cseq) != 1 {
		return nil
	}
	if strings.HasPrefix(strings.ToUpper(lines[0]), "ACK ") {
		return nil // RFC 3261 section 17.2.1: never respond to an ACK
	}
	var b strings.Builder
	b.WriteString("SIP/2.0 400 Bad Request\r\n")
	for _, v := range vias {
		b.WriteString(v + "\r\n")
	}
	b.WriteString(from[0] + "\r\n" + to[0] + "\r\n" + callID[0] + "\r\n" + cseq[0] + "\r\n")
	b.WriteString("Warning: 399 hotline \"" + warningText(cause.Error()) + "\"\r\n")
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
}

func looksLikeRequestLine(l string) bool {
	parts := strings.Fields(l)
	if len(parts) != 3 || parts[2] != "SIP/2.0" {
		return false
	}
	for _, r := range parts[0] {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return strings.Contains(parts[1], ":")
}

// warningText makes a parser message safe for a quoted Warning header
// (RFC 3261 section 20.43): no quotes, no control characters, bounded.
func warningText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// Stats are the SIP counters hotline exports as metrics.
type Stats struct {
	// DroppedDatagrams counts unparsable UDP datagrams dropped unanswered.
	DroppedDatagrams atomic.Uint64
	// MalformedRequests counts requests answered with 400.
	MalformedRequests atomic.Uint64
	// OverloadRefused counts new calls refused with 503 because the
	// server was at capacity (Config.Admit).
	OverloadRefused atomic.Uint64
	// Responses counts responses sent, by class: index 1 for 1xx … 6 for 6xx.
	Responses [7]atomic.Uint64
}

// CountResponse counts a response sent outside the server's own handlers
// (the registrar's).
func (s *Stats) CountResponse(code int) { s.countResponse(code) }

func (s *Stats) countResponse(code int) {
	if c := code / 100; c >= 1 && c <= 6 {
		s.Responses[c].Add(1)
	}
}
