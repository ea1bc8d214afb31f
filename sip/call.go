package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// EndCause says how a call leg ended.
type EndCause string

const (
	// EndCancel: the caller cancelled before the answer (RFC 3261 section 9).
	EndCancel EndCause = "cancel"
	// EndBye: the caller hung up with BYE.
	EndBye EndCause = "bye"
	// EndLocal: hotline hung up (BYE sent by us).
	EndLocal EndCause = "local"
)

// InboundCall is one caller's leg: the INVITE server transaction and, once
// answered, the dialog. The call flow drives it; the server feeds it the
// caller's in-dialog requests.
type InboundCall struct {
	// ID is the SIP Call-ID.
	ID string
	// Caller is the user part of From (the caller's number); data, never
	// to be logged (R12).
	Caller string
	// Called is the user part of the Request-URI (the number dialled).
	Called string
	// Transport is "UDP" or "TCP".
	Transport string
	// Offer is the caller's initial SDP offer.
	Offer Offer
	// Arrived is when the INVITE reached the server.
	Arrived time.Time
	// Agent is the authenticated agent placing this call from their
	// registered phone: a feature code (the Request-URI user starts with
	// '*') or a call to a colleague or group through the server (R4's
	// consultation). Empty for customers' calls.
	Agent string

	srv      *Server
	phoneTag string
	dlg      *dialog
	// ans is the INVITE's answering, until the answer is final and, for
	// a 2xx, ACKed or given up on; guarded by mu.
	ans       *answering
	inviteSeq uint32
	// finalStatus is the final response's code, 0 until it has gone out;
	// guarded by mu.
	finalStatus int

	done     chan struct{} // closed when the leg has ended
	doneOnce sync.Once
	answered bool // guarded by mu
	endCause EndCause
	onEnd    func() // OnEnd's function; guarded by mu

	digits chan byte

	mu        sync.Mutex
	localIP   netip.Addr
	answer    Answer
	onMedia   func(Offer)
	reinvite  *pendingReInvite
	sessionID uint64
}

// answering is what only the answer to the INVITE needs: the server
// transaction, the request every response copies, and the signals that
// end the wait for the answer and for its ACK. The leg lets go of it once
// the answer is final (and a 2xx ACKed or given up on): a call in progress
// keeps none of it, and thousands of calls are up at once.
type answering struct {
	// tx, invite (as parsed) and respondTo (what every response copies,
	// dialogRequest, its To carrying our tag) are dropped as the final
	// response goes out; guarded by the leg's mu.
	tx        sip.ServerTransaction
	invite    *sip.Request
	respondTo *sip.Request

	acked chan struct{} // closed by the ACK of our 2xx (under the leg's mu)
	// txGone is closed when the INVITE transaction is cancelled or ends
	// before the answer; established (the 2xx is on its way) stops that.
	txGone      chan struct{}
	goneOnce    sync.Once
	established atomic.Bool
	final       chan struct{} // closed once a final response went out
	rejecting   atomic.Bool   // a final error response is on its way
}

// gone ends the wait for an answer when the INVITE transaction is
// cancelled or dies first (RFC 3261 section 9.2).
func (a *answering) gone() {
	if a.established.Load() {
		return
	}
	a.goneOnce.Do(func() { close(a.txGone) })
}

type pendingReInvite struct {
	cseq  uint32
	acked chan struct{}
}

func newInboundCall(s *Server, req *sip.Request, tx sip.ServerTransaction, off Offer) *InboundCall {
	phoneTag, _ := req.From().Params.Get("tag")
	tag := newTag()
	c := &InboundCall{
		ID:        callIDOf(req),
		Caller:    req.From().Address.User,
		Called:    req.Recipient.User,
		Transport: strings.ToUpper(req.Transport()),
		Offer:     off,
		Arrived:   time.Now(),
		srv:       s, phoneTag: phoneTag,
		dlg: uasDialog(req, tag),
		ans: &answering{
			tx: tx, invite: req, respondTo: dialogRequest(req, tag),
			acked:  make(chan struct{}),
			txGone: make(chan struct{}),
			final:  make(chan struct{}),
		},
		inviteSeq: req.CSeq().SeqNo,
		done:      make(chan struct{}),
		digits:    make(chan byte, 32),
		sessionID: rand.Uint64N(1 << 62),
	}
	c.localIP = s.cfg.Advertise
	if !c.localIP.IsValid() {
		src, _ := netip.ParseAddrPort(req.Source())
		c.localIP = localAddrFor(src.Addr().Unmap())
	}
	return c
}

// PhoneTag is the From tag the calling phone put on the INVITE: with the
// Call-ID it names this dialog in a Replaces header (RFC 3891 section 3).
func (c *InboundCall) PhoneTag() string { return c.phoneTag }

// LocalIP is the address hotline advertises to this caller (SDP c= line):
// the configured advertise address or the one that routes to the caller.
func (c *InboundCall) LocalIP() netip.Addr { return c.localIP }

// Done is closed when the leg has ended: caller's CANCEL or BYE, or our BYE.
func (c *InboundCall) Done() <-chan struct{} { return c.done }

// EndCause tells how the leg ended; empty while it is up.
func (c *InboundCall) EndCause() EndCause {
	select {
	case <-c.done:
		return c.endCause
	default:
		return ""
	}
}

// FinalStatus is the final response code sent to the INVITE (0 if none yet).
func (c *InboundCall) FinalStatus() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finalStatus
}

// pending is the INVITE's answering while no final response has gone
// out, nil after.
func (c *InboundCall) pending() *answering {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finalStatus != 0 {
		return nil
	}
	return c.ans
}

// Digits delivers DTMF keys the caller sent by SIP INFO
// (application/dtmf-relay or application/dtmf).
func (c *InboundCall) Digits() <-chan byte { return c.digits }

// OnMediaChange registers a function called with every accepted re-offer
// (re-INVITE or UPDATE with SDP), e.g. to move RTP to a new address.
func (c *InboundCall) OnMediaChange(f func(Offer)) {
	c.mu.Lock()
	c.onMedia = f
	c.mu.Unlock()
}

func (c *InboundCall) markFinal(status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finalStatus == 0 {
		// The answering is let go of only after this.
		c.finalStatus = status
		close(c.ans.final)
	}
}

// answerDone lets go of the INVITE's answering: its final response has
// gone out, and a 2xx's ACK came or never will.
func (c *InboundCall) answerDone() {
	c.mu.Lock()
	c.ans = nil
	c.mu.Unlock()
}

func (c *InboundCall) remoteEnded(cause EndCause) {
	if cause == EndCancel {
		c.markFinal(487)
	}
	c.end(cause)
}

func (c *InboundCall) end(cause EndCause) {
	c.doneOnce.Do(func() {
		c.endCause = cause
		close(c.done)
		c.fireOnEnd()
	})
}

// OnEnd registers f to run, on a goroutine of its own, once the leg has
// ended, as Done closes (at once if it already has). A later call replaces
// f. A call flow thus learns of the caller's BYE or CANCEL without keeping
// a goroutine parked on Done for the whole call.
func (c *InboundCall) OnEnd(f func()) {
	c.mu.Lock()
	c.onEnd = f
	c.mu.Unlock()
	select {
	case <-c.done:
		c.fireOnEnd()
	default:
	}
}

// fireOnEnd starts the registered OnEnd function, once.
func (c *InboundCall) fireOnEnd() {
	c.mu.Lock()
	f := c.onEnd
	c.onEnd = nil
	c.mu.Unlock()
	if f != nil {
		go f()
	}
}

// Ring sends 180 Ringing (R1: the caller hears ringing at once).
func (c *InboundCall) Ring() error {
	a := c.pending()
	if a == nil {
		return ErrAlreadyFinal
	}
	res, err := c.response(a, 180, "Ringing", nil)
	if err != nil {
		return c.txError("180 Ringing", err)
	}
	res.AppendHeader(c.contactHeader())
	if err := offStack(func() error { return a.tx.Respond(res) }); err != nil {
		return c.txError("180 Ringing", err)
	}
	c.srv.stats.countResponse(180)
	return nil
}

// offStack runs f, a sipgo response, on a goroutine of its own and
// waits for it. sipgo's response path down to the socket write is 2.6 KiB
// of stack; run on the call flow's goroutine it would double that
// goroutine's stack to 8 KiB for the rest of the call, since the runtime
// shrinks a parked goroutine's stack only at a GC. A goroutine that ends
// gives its stack back at once. The flow's goroutine waits either way.
func offStack(f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	return <-done
}

// response builds a response to the INVITE with our To tag. It fails
// once the final response has gone out or the caller cancelled.
func (c *InboundCall) response(a *answering, code int, reason string, body []byte) (*sip.Response, error) {
	c.mu.Lock()
	to := a.respondTo
	c.mu.Unlock()
	select {
	case <-a.txGone:
		return nil, sip.ErrTransactionCanceled
	default:
	}
	if to == nil {
		return nil, ErrAlreadyFinal
	}
	if body != nil {
		return sip.NewSDPResponseFromRequest(to, body), nil
	}
	return sip.NewResponseFromRequest(to, code, reason, nil), nil
}

// finished drops what only the INVITE's responses needed, the
// transaction with it: answered, it has ended at the 2xx (accepted.go);
// refused, it ends at its own timers.
func (c *InboundCall) finished(a *answering) {
	c.mu.Lock()
	a.invite, a.respondTo, a.tx = nil, nil, nil
	c.mu.Unlock()
}

func (c *InboundCall) contactHeader() *sip.ContactHeader {
	return c.srv.sharedContact(c.localIP, c.Transport)
}

func (c *InboundCall) txError(what string, err error) error {
	select {
	case <-c.done:
		return fmt.Errorf("sip: %s: %w", what, ErrCallEnded)
	default:
	}
	if errors.Is(err, sip.ErrTransactionCanceled) {
		return fmt.Errorf("sip: %s: %w", what, ErrCallEnded)
	}
	return fmt.Errorf("sip: %s: %w", what, err)
}

// Answer sends 200 OK with hotline's SDP answer for RTP on mediaPort and
// waits for the caller's ACK (RFC 3261 section 13.3.1.4, 2xx retransmitted
// until then). It returns ErrCallEnded if the caller cancelled first.
func (c *InboundCall) Answer(ctx context.Context, mediaPort int) error {
	c.mu.Lock()
	c.answer = AnswerFor(c.Offer, c.localIP, mediaPort, c.sessionID, 1)
	body := c.answer.Marshal()
	c.mu.Unlock()

	a := c.pending()
	if a == nil {
		return ErrAlreadyFinal
	}
	res, err := c.response(a, 200, "OK", body)
	if err != nil {
		return c.txError("200 OK", err)
	}
	res.AppendHeader(c.contactHeader())
	res.AppendHeader(allowHeader)
	a.established.Store(true)
	// Remembered before it is answered: the transaction ends as the 2xx
	// goes out, and a retransmission may follow at once.
	c.mu.Lock()
	c.srv.answered.add(a.invite, time.Now())
	c.mu.Unlock()
	err = offStack(func() error { return a.tx.Respond(res) })
	if err != nil {
		// Cancelled as the 2xx went out, or the transport failed: the
		// wait for the answer is over either way.
		a.established.Store(false)
		a.gone()
		return c.txError("200 OK", err)
	}
	c.srv.stats.countResponse(200)
	c.finished(a)
	acked := offStack(func() error { return c.awaitAck(a, res) })
	c.mu.Lock()
	c.answered = true
	c.mu.Unlock()
	c.markFinal(200)
	c.answerDone()
	if acked != nil {
		// RFC 3261 section 13.3.1.4: no ACK within 64*T1 — the session
		// should be ended with BYE; the flow does that on this error.
		return fmt.Errorf("sip: 200 OK: no ACK from the caller: %w", ErrCallEnded)
	}
	return nil
}

// errNoAck is a 2xx that no ACK followed within 64*T1.
var errNoAck = errors.New("no ACK")

// awaitAck retransmits our 2xx until the caller's ACK (RFC 3261 section
// 13.3.1.4: from T1, doubling up to T2, for 64*T1 (Config.AckWait); RFC
// 6026 leaves this to the transaction user). The INVITE transaction has
// ended at the 2xx (accepted.go): the retransmissions go straight to the
// transport. One timer serves both the retransmissions and the limit: a
// stopped timer stays in the runtime's timer heap until its time comes,
// and a 32 s one per call would be kept that long for nothing.
func (c *InboundCall) awaitAck(a *answering, res *sip.Response) error {
	deadline := time.Now().Add(c.srv.cfg.AckWait)
	interval := sip.T1
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-a.acked:
			return nil
		case <-c.done:
			return nil
		case now := <-t.C:
			left := deadline.Sub(now)
			if left <= 0 {
				return errNoAck
			}
			if err := c.srv.srv.WriteResponse(res); err != nil {
				return err
			}
			interval = min(2*interval, sip.T2)
			t.Reset(min(interval, left))
		}
	}
}

// Reject sends a final error response to the INVITE.
func (c *InboundCall) Reject(code int, reason string) error {
	a := c.pending()
	if a == nil {
		return ErrAlreadyFinal
	}
	a.rejecting.Store(true)
	res, err := c.response(a, code, reason, nil)
	if err == nil {
		err = a.tx.Respond(res)
	}
	c.finished(a)
	c.markFinal(code)
	c.answerDone()
	if err != nil {
		return c.txError(fmt.Sprintf("%d %s", code, reason), err)
	}
	c.srv.stats.countResponse(code)
	c.end(EndLocal)
	return nil
}

// Hangup ends an answered call from hotline's side with BYE. Under R7 the
// call flow calls it only after the closing safety timeout, an RTP timeout
// or at shutdown.
func (c *InboundCall) Hangup(ctx context.Context) error {
	c.mu.Lock()
	answered := c.answered
	c.mu.Unlock()
	if !answered {
		return ErrNotAnswered
	}
	select {
	case <-c.done:
		return nil
	default:
	}
	err := c.dlg.bye(ctx, c.srv.client, c.contactHeader())
	c.end(EndLocal)
	if err != nil {
		return fmt.Errorf("sip: BYE: %w", err)
	}
	return nil
}

// Release forgets the call once its flow is over.
func (c *InboundCall) Release() {
	c.srv.forget(c)
}

// matches checks that an in-dialog request carries our To tag (the dialog
// ID of RFC 3261 section 12), not only our Call-ID.
func (c *InboundCall) matches(req *sip.Request) bool {
	tag, _ := req.To().Params.Get("tag")
	return tag != "" && tag == c.dlg.tag
}

func (c *InboundCall) handleBye(req *sip.Request, tx sip.ServerTransaction) {
	c.srv.respond(tx, req, 200, "OK")
	c.srv.log.Info("caller hung up", "call_id", c.ID)
	c.end(EndBye)
}

func (c *InboundCall) handleAck(req *sip.Request, tx sip.ServerTransaction) {
	cseq := req.CSeq()
	if cseq == nil {
		return // not an ACK of anything of ours
	}
	c.mu.Lock()
	p := c.reinvite
	if p != nil && cseq.SeqNo == p.cseq {
		c.reinvite = nil
		close(p.acked)
		c.mu.Unlock()
		return
	}
	if a := c.ans; a != nil && cseq.SeqNo == c.inviteSeq {
		select {
		case <-a.acked:
		default:
			close(a.acked)
		}
	}
	c.mu.Unlock()
}

// handleReInvite answers a session refresh or media change without
// touching the call (RFC 3261 section 14.2: a failed re-INVITE leaves the
// session as it was).
func (c *InboundCall) handleReInvite(req *sip.Request, tx sip.ServerTransaction) {
	c.mu.Lock()
	answered, pending := c.answered, c.reinvite != nil
	c.mu.Unlock()
	if !answered {
		c.srv.respond(tx, req, 491, "Request Pending")
		return
	}
	if pending {
		// RFC 3261 section 14.2: a re-INVITE while one is in progress.
		c.srv.respond(tx, req, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	if err := c.dlg.acceptRemote(req); err != nil {
		c.srv.respond(tx, req, 500, "Server Internal Error", warning("CSeq out of order"))
		return
	}
	body, ok := c.reoffer(req, tx)
	if !ok {
		return
	}
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(c.contactHeader())
	p := &pendingReInvite{cseq: req.CSeq().SeqNo, acked: make(chan struct{})}
	c.mu.Lock()
	c.reinvite = p
	c.mu.Unlock()
	if err := tx.Respond(res); err != nil {
		c.srv.log.Warn("re-INVITE answer failed", "call_id", c.ID, "error", err)
		return
	}
	c.srv.stats.countResponse(200)
	// The INVITE server transaction ends at the 2xx (RFC 6026): the TU
	// retransmits it until the ACK comes (RFC 3261 section 13.3.1.4).
	go c.retransmit2xx(tx, res, p)
}

func (c *InboundCall) retransmit2xx(tx sip.ServerTransaction, res *sip.Response, p *pendingReInvite) {
	interval := sip.T1
	deadline := time.NewTimer(64 * sip.T1)
	defer deadline.Stop()
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-p.acked:
			return
		case <-c.done:
			return
		case <-deadline.C:
			c.mu.Lock()
			if c.reinvite == p {
				c.reinvite = nil
			}
			c.mu.Unlock()
			return
		case <-t.C:
			_ = tx.Respond(res)
			interval = min(2*interval, sip.T2)
			t.Reset(interval)
		}
	}
}

// reoffer applies the SDP in a re-INVITE or UPDATE and returns the answer
// body. An offerless request gets the current session as the offer; an
// unacceptable re-offer is refused with 488 and changes nothing.
func (c *InboundCall) reoffer(req *sip.Request, tx sip.ServerTransaction) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(strings.TrimSpace(string(req.Body()))) == 0 {
		return c.answer.Marshal(), true
	}
	off, err := ParseOffer(req.Body())
	if err != nil {
		c.mu.Unlock()
		c.srv.rejectOffer(req, tx, err)
		c.mu.Lock()
		return nil, false
	}
	off.Source = sourceOf(req).Addr()
	next := AnswerFor(off, c.localIP, c.answer.Port, c.sessionID, c.answer.SessionVersion)
	if next != c.answer {
		// RFC 3264 section 8: a changed description carries a new version.
		next.SessionVersion = c.answer.SessionVersion + 1
		c.answer = next
	}
	if f := c.onMedia; f != nil {
		f(off)
	}
	return c.answer.Marshal(), true
}

func (c *InboundCall) handleUpdate(req *sip.Request, tx sip.ServerTransaction) {
	// RFC 3311: UPDATE refreshes a session (RFC 4028) or changes it.
	c.mu.Lock()
	answered := c.answered
	c.mu.Unlock()
	if len(strings.TrimSpace(string(req.Body()))) == 0 || !answered {
		c.srv.respond(tx, req, 200, "OK", c.contactHeader())
		return
	}
	body, ok := c.reoffer(req, tx)
	if !ok {
		return
	}
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(c.contactHeader())
	if err := tx.Respond(res); err == nil {
		c.srv.stats.countResponse(200)
	}
}

func (c *InboundCall) handleInfo(req *sip.Request, tx sip.ServerTransaction) {
	c.srv.takeInfoDigit(req, tx, c.digits)
}

// takeInfoDigit answers a SIP INFO carrying a key press
// (application/dtmf-relay or application/dtmf) and delivers the key; any
// other body is refused with 415 and an Accept header, an empty one with
// 400.
func (s *Server) takeInfoDigit(req *sip.Request, tx sip.ServerTransaction, digits chan<- byte) {
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(strings.TrimSpace(strings.Split(h.Value(), ";")[0]))
	}
	key, ok := byte(0), false
	switch ct {
	case "application/dtmf-relay":
		key, ok = parseDTMFRelay(string(req.Body()))
	case "application/dtmf":
		key, ok = normaliseKey(strings.TrimSpace(string(req.Body())))
	default:
		s.respond(tx, req, 415, "Unsupported Media Type", sip.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
		return
	}
	if !ok {
		s.respond(tx, req, 400, "Bad Request", warning("no DTMF signal in the body"))
		return
	}
	s.respond(tx, req, 200, "OK")
	select {
	case digits <- key:
	default:
	}
}

// parseDTMFRelay reads "Signal=5\r\nDuration=160" bodies.
func parseDTMFRelay(body string) (byte, bool) {
	for _, line := range strings.Split(body, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
			return normaliseKey(strings.TrimSpace(v))
		}
	}
	return 0, false
}

func normaliseKey(s string) (byte, bool) {
	if len(s) != 1 {
		switch s {
		case "10":
			return '*', true
		case "11":
			return '#', true
		}
		return 0, false
	}
	k := s[0]
	switch {
	case k >= '0' && k <= '9', k == '*', k == '#':
		return k, true
	case k >= 'A' && k <= 'D':
		return k, true
	case k >= 'a' && k <= 'd':
		return k - 'a' + 'A', true
	}
	return 0, false
}
