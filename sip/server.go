package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Config configures the SIP server.
type Config struct {
	// Listen is host:port for both UDP and TCP.
	Listen string
	// Advertise is the IP put into Contact headers and SDP. When invalid
	// (zero), each call uses the local address that routes to the caller.
	Advertise netip.Addr
	// UserAgent is sent in User-Agent and Server headers.
	UserAgent string
	// Logger receives hotline's SIP log lines; may be nil.
	Logger *slog.Logger
	// OnInvite is called, on its own goroutine, for every new call whose
	// offer is acceptable. It owns the call from then on.
	OnInvite func(*InboundCall)
	// Registrar, when set, answers REGISTER (agents logging in).
	Registrar *Registrar
	// Admit, when set, is asked before a new call is accepted; a non-nil
	// error rejects the INVITE with 503 and Retry-After (overload).
	Admit func() error
	// RetryAfter is the Retry-After of the 503 an Admit refusal gets;
	// zero means 5 s.
	RetryAfter time.Duration
	// AckWait is how long a 2xx is retransmitted waiting for its ACK
	// before the call is given up (RFC 3261 section 13.3.1.4); 0 is
	// 64*T1.
	AckWait time.Duration
}

var setSipgoLogger sync.Once

// allowed is what hotline answers in Allow (RFC 3261 section 20.5).
const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER"

// allowHeader is the Allow header every answer carries, shared read-only
// like the Contact headers (see Server.contacts).
var allowHeader = sip.NewHeader("Allow", allowed)

// Server is hotline's SIP user agent server.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	parser *sip.Parser

	mu       sync.Mutex
	calls    map[string]*InboundCall  // by Call-ID
	outbound map[string]*OutboundCall // agent legs, by Call-ID
	answered *answeredInvites

	wg    sync.WaitGroup
	stats Stats
	port  int

	listenMu sync.Mutex
	udpAddr  net.Addr
	tcpAddr  net.Addr

	// contacts holds one Contact header per local address and transport
	// (localContact → *sip.ContactHeader), shared read-only by every
	// call's responses and in-dialog requests: thousands of calls are up
	// at once.
	contacts sync.Map
}

type localContact struct {
	ip   netip.Addr
	port int
	tcp  bool
}

// sharedContact is the cached Contact header for ip and transport; it must
// not be modified.
func (s *Server) sharedContact(ip netip.Addr, transport string) *sip.ContactHeader {
	k := localContact{ip: ip, port: s.port, tcp: strings.EqualFold(transport, "tcp")}
	if h, ok := s.contacts.Load(k); ok {
		return h.(*sip.ContactHeader)
	}
	h := s.contact(ip, transport)
	v, _ := s.contacts.LoadOrStore(k, &h)
	return v.(*sip.ContactHeader)
}

// NewServer prepares a server; call ListenAndServe to start it.
func NewServer(cfg Config) (*Server, error) {
	if cfg.OnInvite == nil {
		return nil, errors.New("sip: Config.OnInvite is required")
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "hotline"
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 64 * sip.T1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("sip: listen address %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("sip: listen port %q: %w", portStr, err)
	}
	if !cfg.Advertise.IsValid() {
		if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
			cfg.Advertise = ip
		}
	}
	// sipgo's own log lines may quote whole messages, caller numbers
	// included (R12): only its warnings and errors pass, without bodies.
	sipgoLog := slog.New(quietHandler{log.Handler()})
	// sipgo's default logger is process-wide and read without a lock:
	// set it once, before any transport runs.
	setSipgoLogger.Do(func() { sip.SetDefaultLogger(sipgoLog) })

	s := &Server{
		cfg: cfg, log: log,
		parser:   sip.NewParser(),
		calls:    make(map[string]*InboundCall),
		outbound: make(map[string]*OutboundCall),
		answered: newAnsweredInvites(),
		port:     port,
	}
	s.ua, err = sipgo.NewUA(sipgo.WithUserAgent(cfg.UserAgent),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sipgoLog),
			sip.WithTransactionLayerUnhandledResponseHandler(s.onStrayResponse)))
	if err != nil {
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	srv, err := sipgo.NewServer(s.ua, sipgo.WithServerLogger(sipgoLog))
	if err != nil {
		return nil, fmt.Errorf("sip: server: %w", err)
	}
	s.srv = srv
	clientOpts := []sipgo.ClientOption{sipgo.WithClientLogger(sipgoLog), sipgo.WithClientPort(port)}
	if cfg.Advertise.IsValid() {
		clientOpts = append(clientOpts, sipgo.WithClientHostname(cfg.Advertise.String()))
	}
	if s.client, err = sipgo.NewClient(s.ua, clientOpts...); err != nil {
		return nil, fmt.Errorf("sip: client: %w", err)
	}

	srv.OnInvite(s.onInvite)
	srv.OnAck(s.onAck)
	srv.OnBye(releasing(s.onBye))
	srv.OnCancel(s.onCancel)
	srv.OnOptions(releasing(s.onOptions))
	srv.OnUpdate(s.onUpdate)
	srv.OnInfo(s.onInfo)
	srv.OnRefer(s.onRefer)
	srv.OnNoRoute(s.onNoRoute)
	if cfg.Registrar != nil {
		srv.OnRegister(releasing(cfg.Registrar.HandleRegister))
	}
	return s, nil
}

// releasing runs a handler that is done with its request when it
// returns, then empties the request (emptyMessage). sipgo keeps a
// non-INVITE server transaction for Timer J (64*T1, 32 s on UDP, RFC 3261
// section 17.2.2) to answer retransmissions with its last response, and
// the request with it, which it does not read again: a shift of agents
// registering at once, or calls ending at 100 a second, would hold
// thousands of REGISTERs or BYEs, headers and all, for those 32 s.
func releasing(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		h(req, tx)
		emptyMessage(req)
	}
}

// Stats returns the server's live counters.
func (s *Server) Stats() *Stats { return &s.stats }

// ActiveCalls is the number of calls the server is tracking.
func (s *Server) ActiveCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// Addrs returns the bound UDP and TCP addresses once listening (useful
// with port 0).
func (s *Server) Addrs() (udp, tcp net.Addr) {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	return s.udpAddr, s.tcpAddr
}

// Listen binds UDP and TCP on the configured address. It returns once both
// sockets are bound, so a bind failure is reported before anything runs.
func (s *Server) Listen() (net.PacketConn, net.Listener, error) {
	pc, err := net.ListenPacket("udp", s.cfg.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("sip: listen udp %s: %w", s.cfg.Listen, err)
	}
	// TCP on the same port as UDP (RFC 3261 section 18: a server MUST
	// listen on both); with port 0 follow the port UDP was given.
	tcpAddr := s.cfg.Listen
	if s.port == 0 {
		host, _, _ := net.SplitHostPort(s.cfg.Listen)
		tcpAddr = net.JoinHostPort(host, strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
	}
	ln, err := net.Listen("tcp", tcpAddr)
	if err != nil {
		pc.Close()
		return nil, nil, fmt.Errorf("sip: listen tcp %s: %w", tcpAddr, err)
	}
	s.listenMu.Lock()
	s.udpAddr, s.tcpAddr = pc.LocalAddr(), ln.Addr()
	s.listenMu.Unlock()
	if s.port == 0 {
		s.port = pc.LocalAddr().(*net.UDPAddr).Port
	}
	return pc, ln, nil
}

// Serve runs the transports on sockets from Listen until ctx is done, then
// closes them. Calls in progress are left to their owners; see Shutdown.
func (s *Server) Serve(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	guarded := &guardedPacketConn{PacketConn: pc, parser: s.parser, stats: &s.stats}
	errc := make(chan error, 2)
	go func() { errc <- s.srv.ServeUDP(guarded) }()
	go func() { errc <- s.srv.ServeTCP(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, net.ErrClosed) {
			pc.Close()
			ln.Close()
			return fmt.Errorf("sip: transport stopped: %w", err)
		}
	}
	pc.Close()
	ln.Close()
	return nil
}

// Wait blocks until every INVITE handler has returned.
func (s *Server) Wait() { s.wg.Wait() }

// Close releases the user agent.
func (s *Server) Close() error { return s.ua.Close() }

func (s *Server) contact(ip netip.Addr, transport string) sip.ContactHeader {
	host := "127.0.0.1"
	if ip.IsValid() {
		host = ip.String()
	}
	uri := sip.Uri{User: "hotline", Host: host, Port: s.port}
	if strings.EqualFold(transport, "tcp") {
		uri.UriParams = sip.NewParams()
		uri.UriParams.Add("transport", "tcp")
	}
	return sip.ContactHeader{Address: uri}
}

func (s *Server) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, headers ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Warn("sending response failed", "call_id", callIDOf(req), "status", code, "error", err)
		return
	}
	s.stats.countResponse(code)
}

func callIDOf(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

func (s *Server) lookup(req *sip.Request) *InboundCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[callIDOf(req)]
}

func (s *Server) forget(c *InboundCall) {
	s.mu.Lock()
	if s.calls[c.ID] == c {
		delete(s.calls, c.ID)
	}
	s.mu.Unlock()
}

// checkRequest applies the RFC 3261 section 8.1.1 mandatory-header rule
// to what sipgo parsed (sipgo accepts some of these missing).
func checkRequest(req *sip.Request) error {
	switch {
	case req.CallID() == nil || req.CallID().Value() == "":
		return errors.New("missing Call-ID")
	case req.From() == nil:
		return errors.New("missing From")
	case req.To() == nil:
		return errors.New("missing To")
	case req.CSeq() == nil:
		return errors.New("missing CSeq")
	case req.Via() == nil:
		return errors.New("missing Via")
	case req.CSeq().MethodName != req.Method:
		return errors.New("CSeq method does not match the request method")
	}
	return nil
}

func warning(text string) sip.Header {
	return sip.NewHeader("Warning", `399 hotline "`+warningText(text)+`"`)
}

func (s *Server) rejectMalformed(req *sip.Request, tx sip.ServerTransaction, err error) {
	s.stats.MalformedRequests.Add(1)
	s.log.Info("malformed request", "call_id", callIDOf(req), "method", req.Method.String(), "error", err)
	s.respond(tx, req, 400, "Bad Request", warning(err.Error()))
}

func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if err := checkRequest(req); err != nil {
		s.rejectMalformed(req, tx, err)
		return
	}
	if req.Contact() == nil {
		s.rejectMalformed(req, tx, errors.New("missing Contact"))
		return
	}
	if tag, ok := req.To().Params.Get("tag"); ok && tag != "" {
		s.onReInvite(req, tx)
		return
	}
	callID := callIDOf(req)
	if s.answered.has(req) {
		// RFC 6026 section 7.1: a retransmission of an INVITE already
		// answered with a 2xx is absorbed; our 2xx is retransmitted until
		// the ACK by the call itself (awaitAck).
		s.log.Debug("INVITE retransmission absorbed", "call_id", callID)
		return
	}
	// An agent dialling a feature code (*0: ready / not ready), or calling
	// a colleague through the server from their registered phone, must
	// prove who they are with the same digest credentials as their
	// REGISTER. A customer's call is never challenged: only a From naming
	// an agent, sent from where that agent's phone registered, is.
	agent := ""
	if s.cfg.Registrar != nil && (strings.HasPrefix(req.Recipient.User, "*") || s.cfg.Registrar.fromAgentPhone(req)) {
		user, ok := s.cfg.Registrar.Authenticate(req, tx)
		if !ok {
			return
		}
		agent = user
	}
	if s.cfg.Admit != nil {
		if err := s.cfg.Admit(); err != nil {
			// RFC 3261 section 21.5.4: 503 with Retry-After while overloaded.
			s.stats.OverloadRefused.Add(1)
			s.log.Warn("call refused: overloaded", "call_id", callID, "reason", err)
			retry := s.cfg.RetryAfter
			if retry <= 0 {
				retry = 5 * time.Second
			}
			s.respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", strconv.Itoa(int(retry/time.Second))), warning(err.Error()))
			return
		}
	}
	if ct := req.ContentType(); ct != nil && len(req.Body()) > 0 && !strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/sdp") {
		// RFC 3261 section 21.4.13.
		s.respond(tx, req, 415, "Unsupported Media Type", sip.NewHeader("Accept", "application/sdp"))
		return
	}
	offer, err := ParseOffer(req.Body())
	if err != nil {
		s.rejectOffer(req, tx, err)
		return
	}
	offer.Source = sourceOf(req).Addr()

	s.mu.Lock()
	if _, dup := s.calls[callID]; dup {
		s.mu.Unlock()
		// A new INVITE (new branch) reusing a live Call-ID without a To tag
		// is a loop or a broken client (RFC 3261 section 8.2.2.2).
		s.respond(tx, req, 482, "Loop Detected")
		return
	}
	call := newInboundCall(s, req, tx, offer)
	call.Agent = agent
	// RFC 3261 section 9.2: a CANCEL ends the wait for the answer; so
	// does a transaction that dies first (a transport failure).
	a := call.ans
	if !tx.OnCancel(func(*sip.Request) { a.gone() }) ||
		!tx.OnTerminate(func(string, error) { a.gone() }) {
		s.mu.Unlock()
		return // the transaction ended before it reached us
	}
	s.calls[callID] = call
	s.mu.Unlock()

	s.wg.Add(1)
	defer s.wg.Done()
	// RFC 3261 section 17.2.1: 100 Trying at once stops the caller's INVITE
	// retransmissions.
	if res, err := call.response(a, 100, "Trying", nil); err == nil && tx.Respond(res) == nil {
		s.stats.countResponse(100)
	}
	s.log.Info("call arrived", "call_id", callID, "transport", req.Transport(), "codec", offer.PayloadType)
	go s.cfg.OnInvite(call)

	// sipgo terminates the transaction when this handler returns: stay
	// until the call flow has sent its final response or the caller
	// cancelled.
	select {
	case <-a.final:
	case <-a.txGone:
		// The dialog also ends when our own error response completes;
		// only otherwise did the caller cancel (or the transport fail).
		if !a.rejecting.Load() {
			call.remoteEnded(EndCancel)
		}
		<-a.final
	}
}

// dialogRequest is what every response to an INVITE copies (Via, From,
// To, Call-ID, CSeq, Record-Route; Timestamp for 100 Trying, RFC 3261
// section 8.2.6.1), with tag on To (section 8.2.6.2: the same tag on
// every response but 100). The other header values are shared with the
// parsed INVITE, not copied; responses clone what they take.
func dialogRequest(req *sip.Request, tag string) *sip.Request {
	d := sip.NewRequest(req.Method, req.Recipient)
	d.SipVersion = req.SipVersion
	for _, h := range req.Headers() {
		switch sip.HeaderToLower(h.Name()) { // no allocation for the usual names
		case "via", "from", "call-id", "cseq", "record-route", "timestamp":
			d.AppendHeader(h)
		case "to":
			to := sip.HeaderClone(h).(*sip.ToHeader)
			to.Params.Add("tag", tag)
			d.AppendHeader(to)
		}
	}
	d.SetTransport(req.Transport())
	d.SetSource(req.Source())
	d.SetDestination(req.Destination())
	d.Laddr = req.Laddr
	return d
}

func (s *Server) rejectOffer(req *sip.Request, tx sip.ServerTransaction, err error) {
	s.log.Info("offer refused", "call_id", callIDOf(req), "error", err)
	switch {
	case errors.Is(err, ErrMalformedSDP):
		s.stats.MalformedRequests.Add(1)
		s.respond(tx, req, 400, "Bad Request", warning(err.Error()))
	case errors.Is(err, ErrNoCommonCodec):
		// RFC 3261 section 20.43 warn-code 305: incompatible media format.
		s.respond(tx, req, 488, "Not Acceptable Here", sip.NewHeader("Warning", `305 hotline "`+warningText(err.Error())+`"`))
	case errors.Is(err, ErrNoAudio):
		s.respond(tx, req, 488, "Not Acceptable Here", sip.NewHeader("Warning", `304 hotline "`+warningText(err.Error())+`"`))
	default:
		s.respond(tx, req, 488, "Not Acceptable Here", warning(err.Error()))
	}
}

func (s *Server) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	call := s.lookup(req)
	if call == nil || !call.matches(req) {
		if o := s.lookupOutbound(req); o != nil {
			o.handleReInvite(req, tx)
			return
		}
		// RFC 3261 section 12.2.2.
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	call.handleReInvite(req, tx)
}

func (s *Server) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	if err := checkRequest(req); err != nil {
		s.rejectMalformed(req, tx, err)
		return
	}
	call := s.lookup(req)
	if call == nil || !call.matches(req) {
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	call.handleUpdate(req, tx)
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	call := s.lookup(req)
	if call == nil {
		return // ACK for a non-2xx final or a forgotten call: nothing to do
	}
	call.handleAck(req, tx)
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if err := checkRequest(req); err != nil {
		s.rejectMalformed(req, tx, err)
		return
	}
	call := s.lookup(req)
	if call == nil || !call.matches(req) {
		if o := s.lookupOutbound(req); o != nil {
			o.handleBye(req, tx)
			return
		}
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	call.handleBye(req, tx)
}

func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	// CANCELs matching a pending INVITE are answered by sipgo's transaction
	// layer (200 to the CANCEL, 487 to the INVITE); one that reaches us
	// matched nothing (RFC 3261 section 9.2).
	s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	// RFC 3261 section 11.2: capabilities.
	s.respond(tx, req, 200, "OK",
		sip.NewHeader("Allow", allowed),
		sip.NewHeader("Accept", "application/sdp"),
	)
}

func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	call := s.lookup(req)
	if call == nil || !call.matches(req) {
		if o := s.lookupOutbound(req); o != nil {
			o.handleInfo(req, tx)
			return
		}
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	call.handleInfo(req, tx)
}

// standardMethods are the methods hotline recognises but does not serve:
// 405 with Allow (RFC 3261 section 8.2.1). Anything else is 501.
var standardMethods = map[string]bool{
	"REGISTER":  true, // when no agents are configured
	"SUBSCRIBE": true, "NOTIFY": true, "MESSAGE": true, "PRACK": true, "PUBLISH": true,
}

func (s *Server) onNoRoute(req *sip.Request, tx sip.ServerTransaction) {
	if standardMethods[req.Method.String()] {
		s.respond(tx, req, 405, "Method Not Allowed", sip.NewHeader("Allow", allowed))
		return
	}
	s.respond(tx, req, 501, "Not Implemented", sip.NewHeader("Allow", allowed))
}

// localAddrFor finds the local address the kernel would use to reach
// remote; no packet is sent (connect on UDP only sets the route).
func localAddrFor(remote netip.Addr) netip.Addr {
	if !remote.IsValid() {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote, 9)))
	if err != nil {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}

// quietHandler passes sipgo's warnings and errors without the raw message
// attributes that can carry caller numbers.
type quietHandler struct{ slog.Handler }

func (q quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && q.Handler.Enabled(ctx, l)
}

func (q quietHandler) Handle(ctx context.Context, r slog.Record) error {
	clean := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "data", "msg", "req", "res", "request", "response":
			return true
		}
		clean.AddAttrs(a)
		return true
	})
	return q.Handler.Handle(ctx, clean)
}

func (q quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{q.Handler.WithAttrs(as)}
}

func (q quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{q.Handler.WithGroup(name)}
}
