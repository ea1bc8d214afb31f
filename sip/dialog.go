package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// dialog is what a call leg keeps of its SIP dialog once the INVITE has
// been answered (RFC 3261 section 12.1): the Call-ID and both parties
// with their tags, the remote target, the route set and the two CSeq
// counters. In-dialog requests (BYE, NOTIFY, the ACK) are built from
// these alone, kept as text: a few hundred bytes a leg. sipgo's dialog
// sessions instead keep the INVITE and the 2xx as parsed, a clone of the
// INVITE and one of the ACK for as long as the call lasts, about 4 KiB a
// bridged call, and a hotline holds thousands of calls.
type dialog struct {
	callID string
	// tag is our tag: in-dialog requests to us carry it on To.
	tag string
	// local and remote are From and To of the requests we send: our
	// party with our tag, the peer with its tag.
	local, remote string
	// target is the remote target, the peer's Contact URI (RFC 3261
	// sections 12.1.1 and 12.1.2), updated by target refresh requests
	// (section 12.2.2).
	target string
	// routes is the route set, in the order the Route headers go out.
	routes    []string
	transport string
	// laddr is the local address the dialog's first request used or
	// arrived on: later requests leave from the same socket.
	laddr sip.Addr

	mu        sync.Mutex
	localSeq  uint32 // CSeq of the last request we sent in the dialog
	remoteSeq uint32 // CSeq of the last request the peer sent
}

// errCSeqOrder is an in-dialog request whose CSeq is lower than one
// already seen (RFC 3261 section 12.2.2: answered 500).
var errCSeqOrder = errors.New("CSeq out of order")

// uasDialog is the dialog an INVITE we answer creates (RFC 3261 section
// 12.1.1): the route set is its Record-Route in order, the remote target
// its Contact. localTag is the tag our responses put on To.
func uasDialog(invite *sip.Request, localTag string) *dialog {
	d := &dialog{
		callID:    strings.Clone(invite.CallID().Value()),
		remote:    strings.Clone(invite.From().Value()),
		target:    strings.Clone(invite.Contact().Address.String()),
		transport: invite.Transport(),
		laddr:     invite.Laddr,
		remoteSeq: invite.CSeq().SeqNo,
	}
	local := invite.To().AsFrom()
	local.Params = local.Params.Clone()
	local.Params.Add("tag", localTag)
	d.local = strings.Clone(local.Value())
	d.tag = localTag
	for _, h := range invite.GetHeaders("Record-Route") {
		d.routes = append(d.routes, strings.Clone(h.Value()))
	}
	return d
}

// uacDialog is the dialog our INVITE and the peer's 2xx create (RFC 3261
// section 12.1.2): the route set is the 2xx's Record-Route reversed.
func uacDialog(invite *sip.Request, ok *sip.Response) *dialog {
	d := &dialog{
		callID:    invite.CallID().Value(),
		local:     invite.From().Value(),
		remote:    strings.Clone(ok.To().Value()),
		target:    invite.Recipient.String(),
		transport: invite.Transport(),
		laddr:     invite.Laddr,
		localSeq:  invite.CSeq().SeqNo,
	}
	d.tag, _ = invite.From().Params.Get("tag")
	if c := ok.Contact(); c != nil {
		d.target = strings.Clone(c.Address.String())
	}
	rr := ok.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		d.routes = append(d.routes, strings.Clone(rr[i].Value()))
	}
	return d
}

// request builds an in-dialog request (RFC 3261 section 12.2.1.1). An ACK
// carries seq, the INVITE's CSeq; any other request the next local CSeq.
// contact is our Contact, shared read-only.
func (d *dialog) request(method sip.RequestMethod, seq uint32, contact *sip.ContactHeader) (*sip.Request, error) {
	var target sip.Uri
	if err := sip.ParseUri(d.target, &target); err != nil {
		return nil, fmt.Errorf("remote target %q: %w", d.target, err)
	}
	from := &sip.FromHeader{Params: sip.NewParams()}
	name, err := sip.ParseAddressValue(d.local, &from.Address, &from.Params)
	if err != nil {
		return nil, fmt.Errorf("local party %q: %w", d.local, err)
	}
	from.DisplayName = name
	to := &sip.ToHeader{Params: sip.NewParams()}
	if to.DisplayName, err = sip.ParseAddressValue(d.remote, &to.Address, &to.Params); err != nil {
		return nil, fmt.Errorf("remote party %q: %w", d.remote, err)
	}
	if method != sip.ACK && method != sip.CANCEL {
		d.mu.Lock()
		d.localSeq++
		seq = d.localSeq
		d.mu.Unlock()
	}
	req := sip.NewRequest(method, target)
	maxForwards := sip.MaxForwardsHeader(70)
	callID := sip.CallIDHeader(d.callID)
	req.AppendHeader(&maxForwards)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	for _, r := range d.routes {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	if len(d.routes) > 0 {
		// RFC 3261 section 8.1.2: a request with a route set goes to its
		// first hop. A first hop without lr is a strict router (section
		// 12.2.1.1): it takes the Request-URI's place.
		if first := req.Route(); first != nil {
			if !first.Address.UriParams.Has("lr") {
				req.Recipient = first.Address
			}
			req.SetDestination(first.Address.HostPort())
		}
	}
	if contact != nil {
		req.AppendHeader(contact)
	}
	req.SetTransport(d.transport)
	req.Laddr = d.laddr
	return req, nil
}

// acceptRemote checks an in-dialog request's CSeq against the last the
// peer sent (RFC 3261 section 12.2.2) and takes a target refresh's
// Contact as the new remote target.
func (d *dialog) acceptRemote(req *sip.Request) error {
	seq := req.CSeq().SeqNo
	d.mu.Lock()
	defer d.mu.Unlock()
	if seq < d.remoteSeq {
		return errCSeqOrder
	}
	d.remoteSeq = seq
	if req.IsInvite() || req.Method == sip.UPDATE {
		if c := req.Contact(); c != nil {
			d.target = strings.Clone(c.Address.String())
		}
	}
	return nil
}

// viaOnly is the client option of in-dialog requests: they are complete
// but for the Via, and sipgo's default build would renumber the CSeq.
func viaOnly(c *sipgo.Client, req *sip.Request) error {
	if req.Via() == nil {
		if err := sipgo.ClientRequestAddVia(c, req); err != nil {
			return err
		}
	}
	if req.Body() == nil {
		req.SetBody(nil) // Content-Length: 0
	}
	return nil
}

// transact sends a complete request (viaOnly) and waits for its final
// response.
func transact(ctx context.Context, c *sipgo.Client, req *sip.Request) (*sip.Response, error) {
	tx, err := c.TransactionRequest(ctx, req, viaOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, err
			}
			return nil, errors.New("transaction ended without a response")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// bye ends the dialog from our side (RFC 3261 section 15.1.1).
func (d *dialog) bye(ctx context.Context, c *sipgo.Client, contact *sip.ContactHeader) error {
	req, err := d.request(sip.BYE, 0, contact)
	if err != nil {
		return err
	}
	res, err := transact(ctx, c, req)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		// The dialog ends whatever the answer (section 15.1.1), but the
		// caller may want to know.
		return &DialError{Status: res.StatusCode}
	}
	return nil
}

// emptyMessage removes the headers and body of a message that a sipgo
// transaction keeps after it has no more use for them, matching by the
// key it computed at the start: our INVITE to an agent's phone that
// refused it or was cancelled, kept for Timer D (32 s, RFC 3261 section
// 17.1.1.2) to absorb retransmitted final responses; a handled REGISTER,
// BYE or OPTIONS, kept for Timer J (releasing). What stays is the method.
func emptyMessage(m interface {
	SetBody([]byte)
	Headers() []sip.Header
	RemoveHeader(string) bool
}) {
	m.SetBody(nil)
	// Removing the first header each time leaves in the slice's spare
	// capacity only copies of the last header's pointer.
	for hs := m.Headers(); len(hs) > 0; hs = m.Headers() {
		m.RemoveHeader(hs[0].Name())
	}
	if req, ok := m.(*sip.Request); ok {
		req.Recipient = sip.Uri{}
	}
}

// newTag is a To or From tag (RFC 3261 section 19.3: at least 32 bits
// of randomness).
func newTag() string { return sip.GenerateTagN(16) }
