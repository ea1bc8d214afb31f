package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// DialRequest describes a leg hotline places to an agent's phone (the
// B2BUA's second leg, RFC 3261 section 8.1 and 13.2).
type DialRequest struct {
	// Target is the URI to send the INVITE to: the registered binding's
	// target (the source address when the agent is behind NAT).
	Target string
	// User is the agent's user name (To header).
	User string
	// Transport is "UDP" or "TCP".
	Transport string
	// FromUser and FromName are what the agent's phone shows.
	FromUser, FromName string
	// LocalIP and MediaPort are hotline's RTP address for this leg.
	LocalIP   netip.Addr
	MediaPort int
}

// DialError is a final non-2xx answer from the agent's phone.
type DialError struct{ Status int }

func (e *DialError) Error() string { return "sip: agent phone answered " + strconv.Itoa(e.Status) }

// OutboundCall is a leg to an agent's phone.
type OutboundCall struct {
	// ID is the Call-ID hotline chose for the leg.
	ID string
	// Answer is the phone's SDP answer, valid after WaitAnswer succeeded.
	Answer Offer

	srv *Server
	tx  sip.ClientTransaction
	req DialRequest
	// invite is our INVITE, kept until the final response (a CANCEL is
	// built from it).
	invite *sip.Request
	// dlg is the dialog, set once the phone has answered; guarded by mu.
	dlg *dialog

	done     chan struct{}
	doneOnce sync.Once
	endCause EndCause
	digits   chan byte

	mu        sync.Mutex
	answered  bool
	onMedia   func(Offer)
	onRefer   func(*Refer)
	sessionID uint64
}

// Dial sends the INVITE with hotline's offer (PCMU, PCMA, telephone-event)
// and returns at once; WaitAnswer follows the call to its answer.
func (s *Server) Dial(ctx context.Context, d DialRequest) (*OutboundCall, error) {
	recipient := sip.Uri{}
	if err := sip.ParseUri(d.Target, &recipient); err != nil {
		return nil, fmt.Errorf("sip: dial target %q: %w", d.Target, err)
	}
	if !d.LocalIP.IsValid() {
		d.LocalIP = s.cfg.Advertise
		if !d.LocalIP.IsValid() {
			ip, _ := netip.ParseAddr(recipient.Host)
			d.LocalIP = localAddrFor(ip)
		}
	}
	o := &OutboundCall{
		ID: uuid.NewString(), srv: s, req: d,
		done: make(chan struct{}), digits: make(chan byte, 32),
		sessionID: rand.Uint64N(1 << 62),
	}
	offer := Answer{
		SessionID: o.sessionID, SessionVersion: 1, Addr: d.LocalIP, Port: d.MediaPort,
		PayloadType: PayloadPCMU, DTMFPayloadType: 101, Direction: SendRecv,
	}
	body := offerBody(offer)

	req := sip.NewRequest(sip.INVITE, recipient)
	req.SetBody(body)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	from := &sip.FromHeader{DisplayName: d.FromName, Address: sip.Uri{Scheme: "sip", User: d.FromUser, Host: d.LocalIP.String()}, Params: sip.NewParams()}
	from.Params.Add("tag", uuid.NewString()[:8])
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: d.User, Host: recipient.Host, Port: recipient.Port}, Params: sip.NewParams()})
	callID := sip.CallIDHeader(o.ID)
	req.AppendHeader(&callID)
	contact := s.contact(d.LocalIP, d.Transport)
	req.AppendHeader(&contact)
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	if d.Transport != "" {
		req.SetTransport(strings.ToUpper(d.Transport))
	}

	s.mu.Lock()
	s.outbound[o.ID] = o
	s.mu.Unlock()
	tx, err := s.client.TransactionRequest(ctx, req)
	if err != nil {
		s.forgetOutbound(o)
		return nil, fmt.Errorf("sip: INVITE to agent %s: %w", d.User, err)
	}
	o.tx, o.invite = tx, req
	return o, nil
}

// offerBody writes hotline's offer: both G.711 laws, PCMU preferred, and
// telephone-event (RFC 4733).
func offerBody(a Answer) []byte {
	s := string(a.Marshal())
	s = strings.Replace(s, "RTP/AVP 0 101\r\n", "RTP/AVP 0 8 101\r\n", 1)
	s = strings.Replace(s, "a=rtpmap:0 PCMU/8000\r\n", "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n", 1)
	return []byte(s)
}

// WaitAnswer follows the leg until the phone answers (ACK sent), refuses
// (*DialError), or ctx is done — then it cancels the INVITE (RFC 3261
// section 9.1) and returns the cause. onProgress sees each provisional
// status (180, 183).
func (o *OutboundCall) WaitAnswer(ctx context.Context, onProgress func(status int)) error {
	// The transaction is over, or ends at its own timers: the leg keeps
	// no hold on it.
	defer func() { o.tx = nil }()
	provisional := false
	var ok *sip.Response
	for ok == nil {
		select {
		case r := <-o.tx.Responses():
			switch {
			case r.IsProvisional():
				provisional = true
				if onProgress != nil {
					onProgress(r.StatusCode)
				}
			case r.IsSuccess():
				ok = r
			default:
				o.end(EndLocal)
				o.dropInvite()
				return &DialError{Status: r.StatusCode}
			}
		case <-ctx.Done():
			o.cancel(provisional)
			o.end(EndLocal)
			return context.Cause(ctx)
		case <-o.tx.Done():
			o.end(EndLocal)
			o.dropInvite()
			return fmt.Errorf("sip: waiting for agent %s: %w", o.req.User, errors.Join(errors.New("transaction ended"), o.tx.Err()))
		}
	}
	ans, err := ParseOffer(ok.Body())
	ans.Source = parseSource(ok.Source()).Addr()
	if ackErr := o.confirm(ok); ackErr != nil {
		o.end(EndLocal)
		return fmt.Errorf("sip: ACK to agent %s: %w", o.req.User, ackErr)
	}
	if err != nil {
		// RFC 3261 section 13.2.2.4: ACK the 2xx, then end the session.
		byeCtx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		_ = o.dlg.bye(byeCtx, o.srv.client, o.contact())
		cancel()
		o.end(EndLocal)
		return fmt.Errorf("sip: agent %s answered with an unusable SDP: %w", o.req.User, err)
	}
	o.mu.Lock()
	o.Answer = ans
	o.answered = true
	o.mu.Unlock()
	return nil
}

// confirm sets up the dialog from the phone's 2xx and ACKs it. The
// INVITE transaction ends at the 2xx (accepted.go): the ACKs of the 2xx's
// retransmissions are the server's (onStrayResponse).
func (o *OutboundCall) confirm(ok *sip.Response) error {
	if ok.To() == nil {
		// No dialog can be formed, nor an ACK addressed (RFC 3261
		// section 12.1.2): the phone will give up on its 2xx.
		o.dropInvite()
		return errors.New("the 2xx has no To header")
	}
	d := uacDialog(o.invite, ok)
	o.mu.Lock()
	o.dlg = d
	o.mu.Unlock()
	err := o.ack(d, o.invite.CSeq().SeqNo)
	o.dropInvite()
	return err
}

// ack acknowledges a 2xx to the INVITE with CSeq number seq (RFC 3261
// section 13.2.2.4: the ACK is the UAC core's, sent for the first 2xx and
// again for each retransmission).
func (o *OutboundCall) ack(d *dialog, seq uint32) error {
	req, err := d.request(sip.ACK, seq, o.contact())
	if err != nil {
		return err
	}
	return o.srv.client.WriteRequest(req, viaOnly)
}

// dropInvite empties our INVITE once a final response has come: after
// a non-2xx the transaction keeps it for Timer D (32 s).
func (o *OutboundCall) dropInvite() {
	if o.invite != nil {
		emptyMessage(o.invite)
		o.invite = nil
	}
}

// cancel withdraws the INVITE (RFC 3261 section 9.1). A CANCEL may only
// follow a provisional response, so without one it waits for the first
// response; a 2xx that comes all the same is ACKed and ended with BYE.
// It waits for the INVITE's final response (487) for at most 64*T1.
func (o *OutboundCall) cancel(provisional bool) {
	wait := time.NewTimer(64 * sip.T1)
	defer wait.Stop()
	defer o.tx.Terminate()
	final := func(r *sip.Response) {
		if r.IsSuccess() {
			if o.confirm(r) == nil {
				byeCtx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
				_ = o.dlg.bye(byeCtx, o.srv.client, o.contact())
				cancel()
			}
			return
		}
		o.dropInvite()
	}
	for !provisional {
		select {
		case r := <-o.tx.Responses():
			if !r.IsProvisional() {
				final(r)
				return
			}
			provisional = true
		case <-o.tx.Done():
			o.dropInvite()
			return
		case <-wait.C:
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 64*sip.T1)
	_, err := transact(ctx, o.srv.client, cancelFor(o.invite))
	cancel()
	if err != nil {
		o.srv.log.Warn("CANCEL to agent failed", "call_id", o.ID, "error", err)
	}
	for {
		select {
		case r := <-o.tx.Responses():
			if !r.IsProvisional() {
				final(r)
				return
			}
		case <-o.tx.Done():
			o.dropInvite()
			return
		case <-wait.C:
			return
		}
	}
}

// cancelFor is the CANCEL of an INVITE (RFC 3261 section 9.1): the same
// Request-URI, top Via, From, To, Call-ID, CSeq number and Route.
func cancelFor(invite *sip.Request) *sip.Request {
	c := sip.NewRequest(sip.CANCEL, invite.Recipient)
	c.AppendHeader(sip.HeaderClone(invite.Via()))
	maxForwards := sip.MaxForwardsHeader(70)
	c.AppendHeader(&maxForwards)
	c.AppendHeader(sip.HeaderClone(invite.From()))
	c.AppendHeader(sip.HeaderClone(invite.To()))
	c.AppendHeader(sip.HeaderClone(invite.CallID()))
	c.AppendHeader(&sip.CSeqHeader{SeqNo: invite.CSeq().SeqNo, MethodName: sip.CANCEL})
	sip.CopyHeaders("Route", invite, c)
	c.SetTransport(invite.Transport())
	c.SetDestination(invite.Destination())
	c.Laddr = invite.Laddr
	return c
}

// contact is hotline's Contact on this leg, shared read-only.
func (o *OutboundCall) contact() *sip.ContactHeader {
	return o.srv.sharedContact(o.req.LocalIP, o.req.Transport)
}

// dialog is the leg's dialog, nil until the phone answered.
func (o *OutboundCall) dialog() *dialog {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dlg
}

// Negotiated is the phone's SDP answer (valid once WaitAnswer succeeded).
func (o *OutboundCall) Negotiated() Offer {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.Answer
}

// Done is closed when the leg has ended.
func (o *OutboundCall) Done() <-chan struct{} { return o.done }

// EndCause tells how the leg ended; EndBye means the agent hung up.
func (o *OutboundCall) EndCause() EndCause {
	select {
	case <-o.done:
		return o.endCause
	default:
		return ""
	}
}

// Digits delivers keys the agent's phone sent by SIP INFO.
func (o *OutboundCall) Digits() <-chan byte { return o.digits }

// OnMediaChange registers a function called with every accepted re-offer
// from the agent's phone.
func (o *OutboundCall) OnMediaChange(f func(Offer)) {
	o.mu.Lock()
	o.onMedia = f
	o.mu.Unlock()
}

// Hangup ends an answered leg with BYE.
func (o *OutboundCall) Hangup(ctx context.Context) error {
	o.mu.Lock()
	answered := o.answered
	o.mu.Unlock()
	select {
	case <-o.done:
		return nil
	default:
	}
	if !answered {
		o.end(EndLocal)
		return ErrNotAnswered
	}
	err := o.dialog().bye(ctx, o.srv.client, o.contact())
	o.end(EndLocal)
	if err != nil {
		return fmt.Errorf("sip: BYE to agent %s: %w", o.req.User, err)
	}
	return nil
}

// Release forgets the leg.
func (o *OutboundCall) Release() {
	o.srv.forgetOutbound(o)
}

func (o *OutboundCall) end(cause EndCause) {
	o.doneOnce.Do(func() {
		o.endCause = cause
		close(o.done)
	})
}

func (o *OutboundCall) handleBye(req *sip.Request, tx sip.ServerTransaction) {
	o.srv.respond(tx, req, 200, "OK")
	o.srv.log.Info("agent hung up", "call_id", o.ID)
	o.end(EndBye)
}

// handleReInvite answers the agent phone's re-offer (session refresh,
// later hold) with hotline's side of it.
func (o *OutboundCall) handleReInvite(req *sip.Request, tx sip.ServerTransaction) {
	d := o.dialog()
	if d == nil {
		// RFC 3261 section 14.2: a re-INVITE before the answer.
		o.srv.respond(tx, req, 491, "Request Pending")
		return
	}
	if err := d.acceptRemote(req); err != nil {
		o.srv.respond(tx, req, 500, "Server Internal Error", warning("CSeq out of order"))
		return
	}
	o.mu.Lock()
	cur := Answer{SessionID: o.sessionID, SessionVersion: 2, Addr: o.req.LocalIP, Port: o.req.MediaPort,
		PayloadType: o.Answer.PayloadType, DTMFPayloadType: o.Answer.DTMFPayloadType, Direction: SendRecv}
	f := o.onMedia
	o.mu.Unlock()
	body := cur.Marshal()
	if len(strings.TrimSpace(string(req.Body()))) > 0 {
		off, err := ParseOffer(req.Body())
		if err != nil {
			o.srv.rejectOffer(req, tx, err)
			return
		}
		off.Source = sourceOf(req).Addr()
		body = AnswerFor(off, o.req.LocalIP, o.req.MediaPort, o.sessionID, 2).Marshal()
		if f != nil {
			f(off)
		}
	}
	res := sip.NewSDPResponseFromRequest(req, body)
	c := o.srv.contact(o.req.LocalIP, o.req.Transport)
	res.AppendHeader(&c)
	if err := tx.Respond(res); err == nil {
		o.srv.stats.countResponse(200)
	}
}

func (o *OutboundCall) handleInfo(req *sip.Request, tx sip.ServerTransaction) {
	o.srv.takeInfoDigit(req, tx, o.digits)
}

func (s *Server) lookupOutbound(req *sip.Request) *OutboundCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outbound[callIDOf(req)]
}

// onStrayResponse takes the responses that match no transaction (RFC
// 3261 section 17.1.1.2: they go to the transaction user). The one to act
// on is a phone's 2xx to an INVITE, retransmitted because our ACK was
// lost: the INVITE transaction ended at the first 2xx (accepted.go), and
// the leg ACKs it again (RFC 6026 section 7.2). Anything else is
// dropped.
func (s *Server) onStrayResponse(res *sip.Response) {
	cseq, callID, to := res.CSeq(), res.CallID(), res.To()
	if !res.IsSuccess() || cseq == nil || cseq.MethodName != sip.INVITE || callID == nil || to == nil {
		return
	}
	s.mu.Lock()
	o := s.outbound[callID.Value()]
	s.mu.Unlock()
	if o == nil {
		return
	}
	d := o.dialog()
	if d == nil || to.Value() != d.remote {
		return // not this leg's dialog (nor its peer's tag)
	}
	if err := o.ack(d, cseq.SeqNo); err != nil {
		s.log.Warn("ACK of a retransmitted 2xx failed", "call_id", o.ID, "error", err)
	}
}

func (s *Server) forgetOutbound(o *OutboundCall) {
	s.mu.Lock()
	if s.outbound[o.ID] == o {
		delete(s.outbound, o.ID)
	}
	s.mu.Unlock()
}
