package sip

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// Message is a short text for an agent's phone (RFC 3428), e.g. a
// dead-air or hold-over-promise alert; softphones show it to the agent.
type Message struct {
	// Target is where to send it: the agent's registered binding target.
	Target string
	// User is the agent's user name (To header).
	User string
	// Transport is "UDP" or "TCP".
	Transport string
	// Text is the message, UTF-8 plain text.
	Text string
}

// SendMessage sends a MESSAGE and waits for its final response; a non-2xx
// answer is a *DialError with the status.
func (s *Server) SendMessage(ctx context.Context, m Message) error {
	recipient := sip.Uri{}
	if err := sip.ParseUri(m.Target, &recipient); err != nil {
		return fmt.Errorf("sip: message target %q: %w", m.Target, err)
	}
	local := s.cfg.Advertise
	if !local.IsValid() {
		ip, _ := netip.ParseAddr(recipient.Host)
		local = localAddrFor(ip)
	}
	req := sip.NewRequest(sip.MESSAGE, recipient)
	from := &sip.FromHeader{DisplayName: "hotline", Address: sip.Uri{Scheme: "sip", User: "hotline", Host: local.String()}, Params: sip.NewParams()}
	from.Params.Add("tag", uuid.NewString()[:8])
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: m.User, Host: recipient.Host, Port: recipient.Port}, Params: sip.NewParams()})
	callID := sip.CallIDHeader(uuid.NewString())
	req.AppendHeader(&callID)
	req.AppendHeader(sip.NewHeader("Content-Type", "text/plain;charset=UTF-8"))
	req.SetBody([]byte(m.Text))
	if m.Transport != "" {
		req.SetTransport(strings.ToUpper(m.Transport))
	}
	res, err := s.client.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("sip: MESSAGE to agent %s: %w", m.User, err)
	}
	if !res.IsSuccess() {
		return &DialError{Status: res.StatusCode}
	}
	return nil
}
