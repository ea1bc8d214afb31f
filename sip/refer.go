package sip

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Refer is an agent phone's transfer request on its leg (RFC 3515): the
// target it wants the caller sent to. hotline supervises the transfer and
// reports its real outcome with Notify, never success at the 202 (R4).
type Refer struct {
	// Target is the Refer-To URI.
	Target sip.Uri
	// Replaces is true for an attended transfer (Refer-To carries a
	// Replaces header, RFC 3891).
	Replaces bool
	// ReplacesCallID, ReplacesToTag and ReplacesFromTag name the dialog
	// the Replaces header points at: the phone's consultation call.
	ReplacesCallID, ReplacesToTag, ReplacesFromTag string

	leg *OutboundCall
}

// User is the target's user part (an agent, an extension or a group).
func (r *Refer) User() string { return r.Target.User }

// Notify reports the transfer's progress to the phone as a sipfrag
// (RFC 3515 section 2.4.5): 100 while it runs, the final status at the
// end (final=true terminates the implicit subscription).
func (r *Refer) Notify(ctx context.Context, status int, reason string, final bool) error {
	o := r.leg
	d := o.dialog()
	if d == nil {
		return fmt.Errorf("sip: NOTIFY to agent %s: %w", o.req.User, ErrNotAnswered)
	}
	req, err := d.request(sip.NOTIFY, 0, o.contact())
	if err != nil {
		return fmt.Errorf("sip: NOTIFY to agent %s: %w", o.req.User, err)
	}
	req.AppendHeader(sip.NewHeader("Event", "refer"))
	state := "active;expires=60"
	if final {
		state = "terminated;reason=noresource"
	}
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	req.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody([]byte("SIP/2.0 " + strconv.Itoa(status) + " " + reason + "\r\n"))
	res, err := transact(ctx, o.srv.client, req)
	if err != nil {
		return fmt.Errorf("sip: NOTIFY to agent %s: %w", o.req.User, err)
	}
	if !res.IsSuccess() {
		return &DialError{Status: res.StatusCode}
	}
	return nil
}

// OnRefer registers the function that takes the phone's transfer
// requests; without one, REFER is refused with 603.
func (o *OutboundCall) OnRefer(f func(*Refer)) {
	o.mu.Lock()
	o.onRefer = f
	o.mu.Unlock()
}

func (o *OutboundCall) handleRefer(req *sip.Request, tx sip.ServerTransaction) {
	h := req.GetHeader("Refer-To")
	if h == nil {
		o.srv.respond(tx, req, 400, "Bad Request", warning("missing Refer-To"))
		return
	}
	v := strings.TrimSpace(h.Value())
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			v = v[i+1 : i+j]
		}
	}
	var rep replacesHeader
	if i := strings.IndexByte(v, '?'); i >= 0 {
		rep = parseEmbeddedReplaces(v[i+1:])
		v = v[:i] // embedded headers (Replaces) are not part of the target
	}
	var target sip.Uri
	if err := sip.ParseUri(v, &target); err != nil || target.User == "" {
		o.srv.respond(tx, req, 400, "Bad Request", warning("Refer-To is not a SIP URI with a user"))
		return
	}
	o.mu.Lock()
	f := o.onRefer
	o.mu.Unlock()
	if f == nil {
		o.srv.respond(tx, req, 603, "Decline")
		return
	}
	// RFC 3515 section 2.4.2: 202 only says the request was understood;
	// the outcome comes in NOTIFY.
	o.srv.respond(tx, req, 202, "Accepted")
	go f(&Refer{Target: target, Replaces: rep.present, ReplacesCallID: rep.callID,
		ReplacesToTag: rep.toTag, ReplacesFromTag: rep.fromTag, leg: o})
}

// ReplacesDialog returns the Call-ID and tags of the consultation dialog
// an attended transfer names; ok is false for a blind transfer.
func (r *Refer) ReplacesDialog() (callID, toTag, fromTag string, ok bool) {
	return r.ReplacesCallID, r.ReplacesToTag, r.ReplacesFromTag, r.Replaces
}

// replacesHeader is a Replaces header (RFC 3891 section 6.1) embedded in
// a Refer-To URI.
type replacesHeader struct {
	present                bool
	callID, toTag, fromTag string
}

// parseEmbeddedReplaces reads the Replaces header from a URI's embedded
// headers ("Replaces=abc%40host%3Bto-tag%3D1%3Bfrom-tag%3D2&..."; RFC
// 3261 section 19.1.1 escapes them). A header that is present but cannot
// be read still marks the transfer as attended, with an empty Call-ID
// that matches no dialog.
func parseEmbeddedReplaces(headers string) replacesHeader {
	var rep replacesHeader
	for _, h := range strings.Split(headers, "&") {
		name, value, _ := strings.Cut(h, "=")
		if !strings.EqualFold(name, "replaces") {
			continue
		}
		rep.present = true
		raw, err := url.QueryUnescape(strings.ReplaceAll(value, "+", "%2B"))
		if err != nil {
			return rep
		}
		parts := strings.Split(raw, ";")
		rep.callID = strings.TrimSpace(parts[0])
		for _, p := range parts[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			switch strings.ToLower(k) {
			case "to-tag":
				rep.toTag = v
			case "from-tag":
				rep.fromTag = v
			}
		}
		return rep
	}
	return rep
}

func (s *Server) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	if err := checkRequest(req); err != nil {
		s.rejectMalformed(req, tx, err)
		return
	}
	if o := s.lookupOutbound(req); o != nil {
		o.handleRefer(req, tx)
		return
	}
	if call := s.lookup(req); call != nil && call.matches(req) {
		// A caller's phone may not transfer itself away from the hotline.
		s.respond(tx, req, 603, "Decline")
		return
	}
	s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
}
