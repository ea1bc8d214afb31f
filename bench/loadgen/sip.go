package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// sipMessage is a parsed SIP request or response. The generator handles a
// few thousand messages a second at most, so it copies into strings and
// keeps the code obvious; the per-packet work is in rtp.go.
type sipMessage struct {
	// Request is true for a request (Method and URI set), false for a
	// response (Status and Reason set).
	Request bool
	Method  string
	URI     string
	Status  int
	Reason  string
	// Headers in the order received, names in their long form.
	Headers []sipHeader
	Body    []byte
}

// sipHeader is one header field.
type sipHeader struct{ Name, Value string }

// compactForms maps RFC 3261 section 7.3.3 compact header names to the long
// ones, so lookups need only one spelling.
var compactForms = map[string]string{
	"i": "Call-ID", "v": "Via", "f": "From", "t": "To", "m": "Contact",
	"l": "Content-Length", "c": "Content-Type", "k": "Supported", "s": "Subject", "e": "Content-Encoding",
}

// parseSIP parses one datagram. It accepts what RFC 3261 section 7 allows
// that hotline could plausibly send (compact names, folded lines, LF-only
// line ends) and refuses anything else with errMalformed.
func parseSIP(b []byte) (*sipMessage, error) {
	head, body, found := bytes.Cut(b, []byte("\r\n\r\n"))
	if !found {
		head, body, found = bytes.Cut(b, []byte("\n\n"))
		if !found {
			return nil, fmt.Errorf("%w: SIP message without an empty line after the headers", errMalformed)
		}
	}
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	m := &sipMessage{}
	first := lines[0]
	if strings.HasPrefix(first, "SIP/2.0 ") {
		rest := first[len("SIP/2.0 "):]
		code, reason, _ := strings.Cut(rest, " ")
		st, err := strconv.Atoi(code)
		if err != nil || st < 100 || st > 699 {
			return nil, fmt.Errorf("%w: status line %q", errMalformed, first)
		}
		m.Status, m.Reason = st, reason
	} else {
		f := strings.Fields(first)
		if len(f) != 3 || f[2] != "SIP/2.0" {
			return nil, fmt.Errorf("%w: request line %q", errMalformed, first)
		}
		m.Request, m.Method, m.URI = true, f[0], f[1]
	}
	for _, l := range lines[1:] {
		if l == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(m.Headers) > 0 {
			// RFC 3261 section 7.3.1: a continuation of the previous line.
			h := &m.Headers[len(m.Headers)-1]
			h.Value += " " + strings.TrimSpace(l)
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("%w: header line %q", errMalformed, l)
		}
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("%w: header line %q", errMalformed, l)
		}
		if long, ok := compactForms[strings.ToLower(name)]; ok {
			name = long
		}
		m.Headers = append(m.Headers, sipHeader{Name: name, Value: strings.TrimSpace(value)})
	}
	if cl := m.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > len(body) {
			return nil, fmt.Errorf("%w: Content-Length %q with %d body bytes", errMalformed, cl, len(body))
		}
		body = body[:n]
	}
	m.Body = append([]byte(nil), body...)
	if m.CallID() == "" {
		return nil, fmt.Errorf("%w: no Call-ID", errMalformed)
	}
	num, method := m.CSeq()
	if num < 0 || method == "" {
		return nil, fmt.Errorf("%w: CSeq %q", errMalformed, m.Get("CSeq"))
	}
	if !m.Request {
		m.Method = method
	}
	return m, nil
}

// Get returns the first value of a header (case-insensitive), or "".
func (m *sipMessage) Get(name string) string {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// All returns every value of a header, in order.
func (m *sipMessage) All(name string) []string {
	var out []string
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			out = append(out, h.Value)
		}
	}
	return out
}

// CallID is the Call-ID header.
func (m *sipMessage) CallID() string { return m.Get("Call-ID") }

// CSeq returns the sequence number and method, or -1 and "" when the header
// is unusable.
func (m *sipMessage) CSeq() (int, string) {
	num, method, ok := strings.Cut(m.Get("CSeq"), " ")
	if !ok {
		return -1, ""
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 0 {
		return -1, ""
	}
	return n, strings.TrimSpace(method)
}

// headerParam returns a ;name=value parameter of a header value such as
// From or To (the tag), or "".
func headerParam(value, name string) string {
	// Parameters follow the closing > of a name-addr, or the URI itself.
	if i := strings.LastIndexByte(value, '>'); i >= 0 {
		value = value[i+1:]
	}
	for _, p := range strings.Split(value, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, name) {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// uriOf returns the URI inside a name-addr (<sip:...>) or the bare URI up
// to its header parameters.
func uriOf(value string) string {
	if i := strings.IndexByte(value, '<'); i >= 0 {
		if j := strings.IndexByte(value[i:], '>'); j > 0 {
			return value[i+1 : i+j]
		}
		return ""
	}
	u, _, _ := strings.Cut(value, ";")
	return strings.TrimSpace(u)
}

// uriUser returns the user part of a sip: URI, or "".
func uriUser(uri string) string {
	rest, ok := strings.CutPrefix(uri, "sip:")
	if !ok {
		return ""
	}
	user, _, found := strings.Cut(rest, "@")
	if !found {
		return ""
	}
	user, _, _ = strings.Cut(user, ";")
	return user
}

// retryAfter returns the Retry-After header's seconds, or 0.
func (m *sipMessage) retryAfter() int {
	v, _, _ := strings.Cut(m.Get("Retry-After"), ";")
	v, _, _ = strings.Cut(strings.TrimSpace(v), " ")
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// parseSDPAudio returns where the SDP's audio stream is to be sent: the
// connection address (media level before session level, RFC 4566 section
// 5.7) and the m=audio port. Only IPv4 is accepted: the generator lives on
// 127.0.0.0/8.
func parseSDPAudio(body []byte) (netip.AddrPort, error) {
	var sessionAddr, mediaAddr netip.Addr
	port := -1
	inAudio := false
	for _, l := range strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "m="):
			f := strings.Fields(l[2:])
			inAudio = len(f) >= 3 && f[0] == "audio" && port < 0
			if inAudio {
				p, err := strconv.Atoi(f[1])
				if err != nil || p < 0 || p > 65535 {
					return netip.AddrPort{}, fmt.Errorf("%w: SDP %q", errMalformed, l)
				}
				port = p
			}
		case strings.HasPrefix(l, "c="):
			f := strings.Fields(l[2:])
			if len(f) < 3 || f[0] != "IN" || f[1] != "IP4" {
				return netip.AddrPort{}, fmt.Errorf("%w: SDP %q", errMalformed, l)
			}
			a, err := netip.ParseAddr(strings.Split(f[2], "/")[0])
			if err != nil || !a.Is4() {
				return netip.AddrPort{}, fmt.Errorf("%w: SDP %q", errMalformed, l)
			}
			if port < 0 {
				sessionAddr = a
			} else if inAudio {
				mediaAddr = a
			}
		}
	}
	if port < 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: SDP without m=audio", errMalformed)
	}
	addr := mediaAddr
	if !addr.IsValid() {
		addr = sessionAddr
	}
	if !addr.IsValid() {
		return netip.AddrPort{}, fmt.Errorf("%w: SDP without a connection address", errMalformed)
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// sdpOffer is the body every caller and agent sends: PCMU and
// telephone-event (RFC 4733), sendrecv, at its own address.
func sdpOffer(addr netip.AddrPort, sessionID uint64, version int) []byte {
	ip := addr.Addr().String()
	return []byte("v=0\r\n" +
		"o=loadgen " + strconv.FormatUint(sessionID, 10) + " " + strconv.Itoa(version) + " IN IP4 " + ip + "\r\n" +
		"s=loadgen\r\n" +
		"c=IN IP4 " + ip + "\r\n" +
		"t=0 0\r\n" +
		"m=audio " + strconv.Itoa(int(addr.Port())) + " RTP/AVP 0 101\r\n" +
		"a=rtpmap:0 PCMU/8000\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\n" +
		"a=fmtp:101 0-16\r\n" +
		"a=ptime:20\r\n" +
		"a=sendrecv\r\n")
}

// response builds a response to req that copies the headers RFC 3261
// section 8.2.6.2 says must be copied (Via, From, To, Call-ID, CSeq), adds
// toTag to To when it has none, then extra headers and the body.
func response(req *sipMessage, status int, reason, toTag string, extra []sipHeader, body []byte) []byte {
	var b strings.Builder
	b.Grow(512 + len(body))
	b.WriteString("SIP/2.0 " + strconv.Itoa(status) + " " + reason + "\r\n")
	for _, v := range req.All("Via") {
		b.WriteString("Via: " + v + "\r\n")
	}
	b.WriteString("From: " + req.Get("From") + "\r\n")
	to := req.Get("To")
	if toTag != "" && headerParam(to, "tag") == "" {
		to += ";tag=" + toTag
	}
	b.WriteString("To: " + to + "\r\n")
	b.WriteString("Call-ID: " + req.CallID() + "\r\n")
	b.WriteString("CSeq: " + req.Get("CSeq") + "\r\n")
	for _, h := range extra {
		b.WriteString(h.Name + ": " + h.Value + "\r\n")
	}
	if len(body) > 0 {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.Write(body)
	return []byte(b.String())
}

// request builds a request line, the given headers in order, and the body
// (with Content-Type application/sdp when there is one).
func request(method, uri string, headers []sipHeader, body []byte) []byte {
	var b strings.Builder
	b.Grow(512 + len(body))
	b.WriteString(method + " " + uri + " SIP/2.0\r\n")
	for _, h := range headers {
		b.WriteString(h.Name + ": " + h.Value + "\r\n")
	}
	b.WriteString("Max-Forwards: 70\r\nUser-Agent: hotline-loadgen\r\n")
	if len(body) > 0 {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.Write(body)
	return []byte(b.String())
}
