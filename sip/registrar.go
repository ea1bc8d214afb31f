package sip

import (
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// ErrNoBinding means an agent has no current registration to reach.
var ErrNoBinding = errors.New("sip: agent not registered")

// Credential is one agent's secret: Password, or precomputed HA1 hex values
// (hex of H(user:realm:password), see DigestHA1) for MD5 and/or SHA-256.
// An HA1 must have been computed with the registrar's realm. An empty
// Credential can never authenticate.
type Credential struct {
	Password, HA1MD5, HA1SHA256 string
	// Algorithms are the digest algorithms offered to this agent's phone,
	// preferred first; nil means RegistrarConfig.Algorithms. Some phones
	// give up on a challenge set containing any algorithm they cannot
	// compute (libre before 2.x answers ENOSYS to SHA-256), so an agent
	// can be limited to MD5 without weakening the others.
	Algorithms []string
}

// RegistrarConfig configures a Registrar. Zero durations and limits take
// the defaults noted.
type RegistrarConfig struct {
	// Realm is the digest realm (RFC 3261 section 22.1); default "hotline".
	Realm string
	// Algorithms are the digest algorithms offered, preferred first
	// (default SHA-256 then MD5, RFC 8760). Credential.Algorithms overrides
	// them per agent.
	Algorithms []string
	// Lookup returns an agent's credential; required. It is called without
	// the registrar's locks held.
	Lookup func(user string) (Credential, bool)
	// NonceTTL is how long a nonce is accepted (default 5 min); later the
	// client is told stale=true and retries with a fresh one.
	NonceTTL time.Duration
	// MinExpires is the shortest registration accepted (default 60 s);
	// shorter gets 423 Interval Too Brief (RFC 3261 section 10.3 step 7).
	MinExpires time.Duration
	// MaxExpires caps registrations (default 3600 s); longer are clamped.
	MaxExpires time.Duration
	// FailureWindow is the period over which one source's authentication
	// failures are counted (default 60 s).
	FailureWindow time.Duration
	// BlockFor is how long a source that reached FailureLimit is refused
	// (default 5 min).
	BlockFor time.Duration
	// FailureLimit is the number of failures within FailureWindow that
	// blocks a source (default 5).
	FailureLimit int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnLogin is called when an agent's binding set goes from empty to
	// non-empty, OnLogout when it becomes empty (un-REGISTER or expiry).
	// Either may be nil. They are called in order, one at a time, without
	// the registrar's locks held, after the REGISTER was answered; they may
	// call Bindings and Stats but must not call HandleRegister,
	// Authenticate or Sweep.
	OnLogin, OnLogout func(user string)
	// Count, when set, is called with the status code of every response
	// the registrar sends, so the owner can count them with the server's
	// (e.g. Stats.countResponse). Responses reports the same totals.
	Count func(code int)
	// Logger receives registration and authentication log lines; nil
	// means slog.Default().
	Logger *slog.Logger
}

// Binding is one registered contact of an agent (RFC 3261 section 10.3).
type Binding struct {
	// User is the agent (the To user of the REGISTER).
	User string
	// Contact is the Contact URI as sent.
	Contact string
	// Target is where to send requests for the agent: the Contact URI with
	// host:port replaced by the REGISTER's source address when the two
	// differ (a phone behind NAT is reached where its packets come from,
	// in the spirit of RFC 5626), else the Contact.
	Target string
	// Transport is the transport the REGISTER came over ("UDP", "TCP").
	Transport string
	// Source is the address the REGISTER came from.
	Source netip.AddrPort
	// Expires is when the binding lapses unless refreshed.
	Expires time.Time
	// CallID and CSeq are the REGISTER's, to order refreshes (RFC 3261
	// section 10.3 step 7).
	CallID string
	CSeq   uint32
}

// RegistrarStats are the registrar's counters.
type RegistrarStats struct {
	// Registrations counts accepted REGISTERs that added or refreshed a
	// binding; Unregistrations those that removed bindings (expires 0 or
	// "*"). AuthFailures counts credentials that failed to verify (wrong
	// password, unknown user, malformed, replayed, wrong uri); Throttled
	// counts requests refused unchecked because their source was blocked.
	Registrations, Unregistrations, AuthFailures, Throttled uint64
	// Bound is the number of current (unexpired) bindings.
	Bound int
	// Expired counts bindings that lapsed without a refresh.
	Expired uint64
	// Blocks counts times a source was blocked; BlockedSources is how many
	// are blocked now.
	Blocks         uint64
	BlockedSources int
}

const (
	// defaultExpires applies when a REGISTER names no expiry, or an
	// unreadable one (RFC 3261 sections 10.2.1.1 and 20.19).
	defaultExpires = 3600 * time.Second
	// maxBindingsPerUser bounds one agent's contacts; a new one beyond it
	// displaces the least recently refreshed.
	maxBindingsPerUser = 10
	// maxNonceEntries and maxSources bound the replay and throttling
	// tables against floods.
	maxNonceEntries = 1 << 16
	maxSources      = 1 << 16
)

// Registrar is hotline's registrar for agents' softphones: digest
// authentication (RFC 3261 section 22, RFC 7616, RFC 8760), REGISTER
// processing (RFC 3261 section 10.3), per-source throttling of failures,
// and the agents' current bindings.
type Registrar struct {
	cfg      RegistrarConfig
	log      *slog.Logger
	nonces   *nonceMinter
	dummyHA1 string // compared against for unknown users, in equal time

	mu         sync.Mutex
	aors       map[string][]Binding // newest first; may hold expired until swept
	used       map[string]nonceUse  // nonce → highest nonce-count seen
	nonceFloor time.Time            // nonces issued at or before this and untracked are stale
	sources    map[netip.Addr]*sourceState
	stats      RegistrarStats
	evIssued   uint64 // event batches handed out, under mu

	evMu   sync.Mutex
	evCond *sync.Cond
	evNext uint64 // next batch allowed to fire, under evMu

	responses [7]atomic.Uint64
}

type nonceUse struct {
	nc     uint32
	issued time.Time
}

type sourceState struct {
	failures     int
	since        time.Time
	blockedUntil time.Time
}

type agentEvent struct {
	user  string
	login bool
}

// NewRegistrar checks cfg and fills in defaults.
func NewRegistrar(cfg RegistrarConfig) (*Registrar, error) {
	if cfg.Lookup == nil {
		return nil, errors.New("sip: RegistrarConfig.Lookup is required")
	}
	if cfg.Realm == "" {
		cfg.Realm = "hotline"
	}
	if len(cfg.Algorithms) == 0 {
		// RFC 8760 section 2.4: SHA-256 preferred, MD5 for older phones.
		cfg.Algorithms = []string{DigestSHA256, DigestMD5}
	}
	for _, a := range cfg.Algorithms {
		if _, err := newDigestHash(a); err != nil {
			return nil, fmt.Errorf("sip: registrar algorithms: %w", err)
		}
	}
	if strings.ContainsAny(cfg.Realm, "\"\\\r\n") {
		return nil, fmt.Errorf("sip: realm %q: quotes, backslashes and line breaks are not allowed", cfg.Realm)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.NonceTTL, 5*time.Minute)
	def(&cfg.MinExpires, 60*time.Second)
	def(&cfg.MaxExpires, 3600*time.Second)
	def(&cfg.FailureWindow, 60*time.Second)
	def(&cfg.BlockFor, 5*time.Minute)
	if cfg.FailureLimit <= 0 {
		cfg.FailureLimit = 5
	}
	if cfg.MinExpires > cfg.MaxExpires {
		return nil, fmt.Errorf("sip: MinExpires %v is above MaxExpires %v", cfg.MinExpires, cfg.MaxExpires)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	nm, err := newNonceMinter()
	if err != nil {
		return nil, err
	}
	r := &Registrar{
		cfg: cfg, log: log, nonces: nm,
		dummyHA1: nm.mint(time.Unix(0, 0)),
		aors:     make(map[string][]Binding),
		used:     make(map[string]nonceUse),
		sources:  make(map[netip.Addr]*sourceState),
	}
	r.evCond = sync.NewCond(&r.evMu)
	return r, nil
}

// Responses returns the number of responses sent, by class: index 1 for
// 1xx … 6 for 6xx, as the server's Stats.Responses.
func (r *Registrar) Responses() [7]uint64 {
	var out [7]uint64
	for i := range out {
		out[i] = r.responses[i].Load()
	}
	return out
}

// Stats returns a snapshot of the counters.
func (r *Registrar) Stats() RegistrarStats {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats
	st.Bound = 0
	for _, bs := range r.aors {
		for _, b := range bs {
			if b.Expires.After(now) {
				st.Bound++
			}
		}
	}
	for _, s := range r.sources {
		if now.Before(s.blockedUntil) {
			st.BlockedSources++
		}
	}
	return st
}

// Bindings returns an agent's current, unexpired bindings, most recently
// registered or refreshed first; nil when none.
func (r *Registrar) Bindings(user string) []Binding {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Binding
	for _, b := range r.aors[user] {
		if b.Expires.After(now) {
			out = append(out, b)
		}
	}
	return out
}

// fromAgentPhone reports whether req's From names an agent with a
// current binding registered from req's source address: the agent's own
// phone placing a call, to be authenticated like its REGISTER.
func (r *Registrar) fromAgentPhone(req *sip.Request) bool {
	from := req.From()
	if from == nil {
		return false
	}
	src := sourceOf(req).Addr()
	for _, b := range r.Bindings(from.Address.User) {
		if b.Source.Addr() == src {
			return true
		}
	}
	return false
}

// Target returns the agent's most recent binding, or ErrNoBinding.
func (r *Registrar) Target(user string) (Binding, error) {
	bs := r.Bindings(user)
	if len(bs) == 0 {
		return Binding{}, fmt.Errorf("%w: %s", ErrNoBinding, user)
	}
	return bs[0], nil
}

// Sweep drops bindings that expired by now, firing OnLogout for agents
// left without any, and forgets spent nonces and idle failure counts. The
// owner calls it periodically (every few seconds).
func (r *Registrar) Sweep(now time.Time) {
	var events []agentEvent
	r.mu.Lock()
	for user, bs := range r.aors {
		kept := bs[:0]
		for _, b := range bs {
			if b.Expires.After(now) {
				kept = append(kept, b)
			}
		}
		if n := len(bs) - len(kept); n > 0 {
			r.stats.Expired += uint64(n)
			clear(bs[len(kept):])
			r.log.Info("agent binding expired", "user", user, "expired", n, "left", len(kept))
		}
		if len(kept) == 0 {
			delete(r.aors, user)
			events = append(events, agentEvent{user: user})
		} else {
			r.aors[user] = kept
		}
	}
	r.purgeNonces(now)
	for ip, s := range r.sources {
		if !now.Before(s.blockedUntil) && now.Sub(s.since) > r.cfg.FailureWindow {
			delete(r.sources, ip)
		}
	}
	ticket := r.ticket(events)
	r.mu.Unlock()
	r.fire(ticket, events)
}

// ticket reserves the next place in the event order; called under mu.
func (r *Registrar) ticket(events []agentEvent) uint64 {
	if len(events) == 0 {
		return 0
	}
	t := r.evIssued
	r.evIssued++
	return t
}

// fire delivers a batch of events once all earlier batches have been
// delivered, so a login is never overtaken by the logout that followed.
func (r *Registrar) fire(ticket uint64, events []agentEvent) {
	if len(events) == 0 {
		return
	}
	r.evMu.Lock()
	for r.evNext != ticket {
		r.evCond.Wait()
	}
	r.evMu.Unlock()
	defer func() {
		r.evMu.Lock()
		r.evNext++
		r.evCond.Broadcast()
		r.evMu.Unlock()
	}()
	for _, e := range events {
		if e.login {
			r.log.Info("agent logged in", "user", e.user)
			if r.cfg.OnLogin != nil {
				r.cfg.OnLogin(e.user)
			}
		} else {
			r.log.Info("agent logged out", "user", e.user)
			if r.cfg.OnLogout != nil {
				r.cfg.OnLogout(e.user)
			}
		}
	}
}

func (r *Registrar) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, headers ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		r.log.Warn("sending response failed", "call_id", callIDOf(req), "status", code, "error", err)
		return
	}
	if c := code / 100; c >= 1 && c <= 6 {
		r.responses[c].Add(1)
	}
	if r.cfg.Count != nil {
		r.cfg.Count(code)
	}
}

// challenge answers 401 with one WWW-Authenticate per algorithm offered
// to the user, the preferred first (RFC 8760 section 2.4: challenges in
// order of preference), sharing one nonce.
func (r *Registrar) challenge(tx sip.ServerTransaction, req *sip.Request, now time.Time, stale bool) {
	c := DigestChallenge{Realm: r.cfg.Realm, Nonce: r.nonces.mint(now), Opaque: r.nonces.opaque, Stale: stale}
	algs := r.algorithmsFor(challengedUser(req))
	hdrs := make([]sip.Header, 0, len(algs))
	for _, a := range algs {
		ch := c
		ch.Algorithm = a
		hdrs = append(hdrs, sip.NewHeader("WWW-Authenticate", ch.String()))
	}
	r.respond(tx, req, 401, "Unauthorized", hdrs...)
}

// algorithmsFor is what the user's phone is offered; unknown users get
// the registrar's default, like any agent without a setting of its own.
func (r *Registrar) algorithmsFor(user string) []string {
	if user != "" {
		if cred, ok := r.cfg.Lookup(user); ok && len(cred.Algorithms) > 0 {
			return cred.Algorithms
		}
	}
	return r.cfg.Algorithms
}

// challengedUser is the agent a request speaks for before it has
// authenticated: the To user of a REGISTER (the address being bound), the
// From user of anything else.
func challengedUser(req *sip.Request) string {
	if req.Method == sip.REGISTER {
		if to := req.To(); to != nil {
			return to.Address.User
		}
		return ""
	}
	if from := req.From(); from != nil {
		return from.Address.User
	}
	return ""
}

func offered(algs []string, a string) bool {
	for _, x := range algs {
		if strings.EqualFold(x, a) {
			return true
		}
	}
	return false
}

type authResult int

const (
	authOK        authResult = iota
	authNone                 // no credentials for our realm: challenge
	authStale                // right credentials, nonce expired or not ours: challenge stale=true
	authMalformed            // unparsable or unsupported: failure, challenge
	authBadURI               // uri is not the Request-URI: failure, 400
	authFailed               // wrong response or unknown user: failure, challenge
	authReplay               // nonce-count not increasing: failure, challenge
)

func (a authResult) String() string {
	return [...]string{"ok", "none", "stale", "malformed", "uri mismatch", "wrong credentials", "replayed nonce-count"}[a]
}

// Authenticate checks the digest credentials of any request (REGISTER, or
// an agent's INVITE). If they are missing or wrong it sends the 401
// challenge (403 with Retry-After when the source is blocked, 400 when the
// credentials' uri is not the Request-URI) itself and returns ok=false.
//
// Unknown users are treated exactly as known users with a wrong password,
// so responses never reveal which users exist: both get a fresh 401 until
// their source reaches FailureLimit failures within FailureWindow, then
// 403 Forbidden with Retry-After for BlockFor, without further checks.
// Right credentials on an expired nonce get 401 with stale=true (RFC 7616
// section 3.3) and count as no failure. Success resets the source's count.
func (r *Registrar) Authenticate(req *sip.Request, tx sip.ServerTransaction) (user string, ok bool) {
	now := r.cfg.Now()
	src := sourceOf(req)
	if wait, blocked := r.blocked(src.Addr(), now); blocked {
		r.mu.Lock()
		r.stats.Throttled++
		r.mu.Unlock()
		r.respond(tx, req, 403, "Forbidden", retryAfter(wait), warning("too many authentication failures"))
		return "", false
	}
	user, known, res, detail := r.verify(req, now)
	switch res {
	case authOK:
		r.succeeded(src.Addr())
		return user, true
	case authNone:
		r.challenge(tx, req, now, false)
		return "", false
	case authStale:
		r.log.Debug("stale nonce", "user", user, "source", src.String())
		r.challenge(tx, req, now, true)
		return "", false
	}
	wait, blocked := r.failed(src.Addr(), now)
	attrs := []any{"source", src.String(), "method", req.Method.String(), "reason", res.String()}
	if known {
		// Only names of configured agents are logged: an attacker's
		// guesses could be anything, a caller's number included (R12).
		attrs = append(attrs, "user", user)
	}
	if detail != "" {
		attrs = append(attrs, "detail", detail)
	}
	r.log.Info("authentication failed", attrs...)
	switch {
	case blocked:
		r.log.Warn("source blocked after repeated authentication failures", "source", src.Addr().String(), "for", wait)
		r.respond(tx, req, 403, "Forbidden", retryAfter(wait), warning("too many authentication failures"))
	case res == authBadURI:
		// RFC 7616 section 3.4.6: a uri that is not the request target
		// gets 400.
		r.respond(tx, req, 400, "Bad Request", warning("digest uri does not match the Request-URI"))
	default:
		r.challenge(tx, req, now, false)
	}
	return "", false
}

// verify checks the request's credentials for this realm. user is the
// credentials' username; known says whether it is a configured agent.
func (r *Registrar) verify(req *sip.Request, now time.Time) (user string, known bool, res authResult, detail string) {
	var (
		cred     DigestCredentials
		found    bool
		parseErr error
	)
	for _, h := range req.GetHeaders("Authorization") {
		c, err := ParseDigestCredentials(h.Value())
		if err != nil {
			parseErr = err
			continue
		}
		// RFC 3261 section 22.2: credentials for another realm are not ours.
		if c.Realm == r.cfg.Realm {
			cred, found = c, true
			break
		}
	}
	if !found {
		if parseErr != nil {
			return "", false, authMalformed, parseErr.Error()
		}
		return "", false, authNone, ""
	}
	user = cred.Username
	newHash, err := newDigestHash(cred.Algorithm)
	if err != nil {
		return user, false, authMalformed, err.Error()
	}
	alg := cred.Algorithm
	if alg == "" {
		alg = DigestMD5
	}
	if !offered(r.algorithmsFor(user), alg) {
		// No downgrade: only an algorithm offered to this agent counts.
		return user, false, authMalformed, "algorithm " + alg + " not offered"
	}
	switch {
	case cred.UserHash:
		return user, false, authMalformed, "userhash is not supported"
	case !strings.EqualFold(cred.QOP, "auth"):
		// Without qop there is no nonce-count, hence no replay
		// protection: hotline insists on qop=auth (RFC 7616 section 3.4).
		return user, false, authMalformed, "qop=auth required"
	case cred.CNonce == "":
		return user, false, authMalformed, "cnonce missing"
	}
	nc, ok := parseNC(cred.NC)
	if !ok || nc == 0 {
		return user, false, authMalformed, "bad nonce-count"
	}
	if !digestURIMatches(cred.URI, req.Recipient) {
		return user, false, authBadURI, ""
	}
	ha1, known := r.ha1(user, strings.EqualFold(cred.Algorithm, DigestSHA256), newHash)
	if !known {
		ha1 = r.dummyHA1 // same work, same answer as a wrong password
	}
	want := hashHex(newHash, ha1, cred.Nonce, cred.NC, cred.CNonce, cred.QOP, hashHex(newHash, req.Method.String(), cred.URI))
	if !equalHex(want, cred.Response) || !known {
		return user, known, authFailed, ""
	}
	// The credentials are right; only now does the nonce matter.
	issued, ours := r.nonces.issued(cred.Nonce)
	if !ours || now.Sub(issued) > r.cfg.NonceTTL || issued.After(now.Add(time.Minute)) ||
		(cred.Opaque != "" && cred.Opaque != r.nonces.opaque) {
		return user, true, authStale, ""
	}
	r.mu.Lock()
	res = r.useNonce(cred.Nonce, issued, nc, now)
	r.mu.Unlock()
	return user, true, res, ""
}

// ha1 finds the agent's HA1 for the algorithm: stored, or from the password.
func (r *Registrar) ha1(user string, sha256 bool, newHash func() hash.Hash) (string, bool) {
	c, ok := r.cfg.Lookup(user)
	if !ok {
		return "", false
	}
	stored := c.HA1MD5
	if sha256 {
		stored = c.HA1SHA256
	}
	switch {
	case stored != "":
		return strings.ToLower(stored), true
	case c.Password != "":
		return hashHex(newHash, user, r.cfg.Realm, c.Password), true
	}
	return "", false
}

// useNonce records a verified nonce-count; under mu. Each nonce's count
// must increase (RFC 7616 section 3.4: nc lets the server detect replays).
func (r *Registrar) useNonce(nonce string, issued time.Time, nc uint32, now time.Time) authResult {
	if e, ok := r.used[nonce]; ok {
		if nc <= e.nc {
			return authReplay
		}
		e.nc = nc
		r.used[nonce] = e
		return authOK
	}
	if !issued.After(r.nonceFloor) {
		// It may have been tracked and evicted: a fresh nonce is safe.
		return authStale
	}
	if len(r.used) >= maxNonceEntries {
		r.purgeNonces(now)
	}
	if len(r.used) >= maxNonceEntries {
		// Evict the oldest and refuse anything as old from now on, so an
		// evicted nonce cannot be replayed.
		var oldest time.Time
		for _, e := range r.used {
			if oldest.IsZero() || e.issued.Before(oldest) {
				oldest = e.issued
			}
		}
		r.nonceFloor = oldest
		for k, e := range r.used {
			if !e.issued.After(oldest) {
				delete(r.used, k)
			}
		}
		if !issued.After(r.nonceFloor) {
			return authStale
		}
	}
	r.used[nonce] = nonceUse{nc: nc, issued: issued}
	return authOK
}

// purgeNonces forgets nonces past their TTL (they are refused as stale
// before their count matters); under mu.
func (r *Registrar) purgeNonces(now time.Time) {
	for k, e := range r.used {
		if now.Sub(e.issued) > r.cfg.NonceTTL {
			delete(r.used, k)
		}
	}
}

// blocked reports whether ip is blocked and for how much longer.
func (r *Registrar) blocked(ip netip.Addr, now time.Time) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.sources[ip]; s != nil && now.Before(s.blockedUntil) {
		return s.blockedUntil.Sub(now), true
	}
	return 0, false
}

// failed counts an authentication failure from ip; at FailureLimit within
// FailureWindow the source is blocked for BlockFor.
func (r *Registrar) failed(ip netip.Addr, now time.Time) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.AuthFailures++
	s := r.sources[ip]
	if s == nil {
		r.makeRoomForSource(now)
		s = &sourceState{since: now}
		r.sources[ip] = s
	}
	if now.Sub(s.since) > r.cfg.FailureWindow {
		s.failures, s.since = 0, now
	}
	s.failures++
	if s.failures < r.cfg.FailureLimit {
		return 0, false
	}
	s.failures, s.since = 0, now
	s.blockedUntil = now.Add(r.cfg.BlockFor)
	r.stats.Blocks++
	return r.cfg.BlockFor, true
}

// makeRoomForSource keeps the failure table bounded; under mu. Idle
// entries go first, then unblocked ones, blocked ones last.
func (r *Registrar) makeRoomForSource(now time.Time) {
	if len(r.sources) < maxSources {
		return
	}
	for ip, s := range r.sources {
		if !now.Before(s.blockedUntil) && now.Sub(s.since) > r.cfg.FailureWindow {
			delete(r.sources, ip)
		}
	}
	if len(r.sources) < maxSources {
		return
	}
	for ip, s := range r.sources {
		if !now.Before(s.blockedUntil) {
			delete(r.sources, ip)
			return
		}
	}
	for ip := range r.sources {
		delete(r.sources, ip)
		return
	}
}

// succeeded resets a source's failure count.
func (r *Registrar) succeeded(ip netip.Addr) {
	r.mu.Lock()
	delete(r.sources, ip)
	r.mu.Unlock()
}

func retryAfter(d time.Duration) sip.Header {
	secs := int64(math.Ceil(d.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return sip.NewHeader("Retry-After", strconv.FormatInt(secs, 10))
}

// sourceOf is the address the request came from (the connection's remote
// address for network requests).
func sourceOf(req *sip.Request) netip.AddrPort { return parseSource(req.Source()) }

// parseSource reads a message's source "host:port", unmapping IPv4.
func parseSource(src string) netip.AddrPort {
	if ap, err := netip.ParseAddrPort(src); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	host, port, err := net.SplitHostPort(src)
	if err != nil {
		return netip.AddrPort{}
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return netip.AddrPort{}
	}
	p, _ := strconv.ParseUint(port, 10, 16)
	return netip.AddrPortFrom(ip.Unmap(), uint16(p))
}

// digestURIMatches checks the credentials' uri against the Request-URI
// (RFC 7616 section 3.4.6). Clients copy the
// Request-URI, some without its parameters, so scheme, user, host and port
// are compared; a uri that does not parse as SIP must be identical.
func digestURIMatches(credURI string, reqURI sip.Uri) bool {
	if credURI == reqURI.String() {
		return true
	}
	var u sip.Uri
	if err := sip.ParseUri(credURI, &u); err != nil {
		return false
	}
	scheme := func(s string) string {
		if s == "" {
			return "sip"
		}
		return strings.ToLower(s)
	}
	return scheme(u.Scheme) == scheme(reqURI.Scheme) &&
		u.User == reqURI.User &&
		strings.EqualFold(u.Host, reqURI.Host) &&
		u.Port == reqURI.Port
}

// HandleRegister serves a REGISTER (RFC 3261 section 10.3): authenticate,
// check the To address-of-record is the authenticated agent, then add,
// refresh or remove the Contact bindings and answer 200 with every current
// binding, or with them unchanged for a query without Contact.
func (r *Registrar) HandleRegister(req *sip.Request, tx sip.ServerTransaction) {
	if err := checkRequest(req); err != nil {
		r.respond(tx, req, 400, "Bad Request", warning(err.Error()))
		return
	}
	if h := req.GetHeader("Require"); h != nil && strings.TrimSpace(h.Value()) != "" {
		// RFC 3261 section 8.2.2.3: hotline supports no extensions a
		// client could require of a registrar.
		r.respond(tx, req, 420, "Bad Extension", sip.NewHeader("Unsupported", h.Value()))
		return
	}
	user, ok := r.Authenticate(req, tx)
	if !ok {
		return
	}
	now := r.cfg.Now()
	// RFC 3261 section 10.3 step 4: the authenticated agent may only
	// register its own address-of-record.
	if aor := req.To().Address.User; aor != user {
		r.respond(tx, req, 403, "Forbidden", warning("credentials do not match the To address"))
		return
	}
	changes, wildcard, err := r.readContacts(req)
	if err != nil {
		r.respond(tx, req, 400, "Bad Request", warning(err.Error()))
		return
	}
	for _, c := range changes {
		if c.expires > 0 && c.expires < r.cfg.MinExpires {
			// RFC 3261 section 10.3 step 7 and 20.23.
			r.respond(tx, req, 423, "Interval Too Brief",
				sip.NewHeader("Min-Expires", strconv.FormatInt(int64(r.cfg.MinExpires/time.Second), 10)))
			return
		}
	}

	src := sourceOf(req)
	transport := strings.ToUpper(req.Transport())
	callID := callIDOf(req)
	cseq := req.CSeq().SeqNo
	r.mu.Lock()
	stored := r.aors[user]
	base := make([]Binding, 0, len(stored)+len(changes))
	for _, b := range stored {
		if b.Expires.After(now) {
			base = append(base, b)
		}
	}
	// RFC 3261 section 10.3 steps 6 and 7: a REGISTER from the same Call-ID
	// that is not newer than the one a binding came from is out of order;
	// nothing is changed and the request fails.
	outOfOrder := func(b Binding) bool { return b.CallID == callID && cseq <= b.CSeq }
	for _, b := range base {
		if wildcard && outOfOrder(b) {
			r.mu.Unlock()
			r.respond(tx, req, 500, "Server Internal Error", warning("out-of-order REGISTER"))
			return
		}
		for _, c := range changes {
			if c.key == contactKey(b.Contact) && outOfOrder(b) {
				r.mu.Unlock()
				r.respond(tx, req, 500, "Server Internal Error", warning("out-of-order REGISTER"))
				return
			}
		}
	}
	next := base
	added, removed := 0, 0
	if wildcard {
		removed = len(next)
		next = nil
	}
	for _, c := range changes {
		for i, b := range next {
			if contactKey(b.Contact) == c.key {
				next = append(next[:i], next[i+1:]...)
				if c.expires == 0 {
					removed++
				}
				break
			}
		}
		if c.expires == 0 {
			continue
		}
		nb := Binding{
			User: user, Contact: c.contact, Target: natTarget(c.uri, src),
			Transport: transport, Source: src, Expires: now.Add(c.expires),
			CallID: callID, CSeq: cseq,
		}
		next = append([]Binding{nb}, next...)
		added++
	}
	if len(next) > maxBindingsPerUser {
		next = next[:maxBindingsPerUser]
	}
	var events []agentEvent
	switch {
	case len(stored) == 0 && len(next) > 0:
		events = append(events, agentEvent{user: user, login: true})
	case len(stored) > 0 && len(next) == 0:
		events = append(events, agentEvent{user: user})
	}
	if len(next) == 0 {
		delete(r.aors, user)
	} else {
		r.aors[user] = next
	}
	if n := len(stored) - len(base); n > 0 {
		r.stats.Expired += uint64(n)
	}
	if added > 0 {
		r.stats.Registrations++
	}
	if removed > 0 || wildcard {
		r.stats.Unregistrations++
	}
	current := append([]Binding(nil), next...)
	ticket := r.ticket(events)
	r.mu.Unlock()

	headers := make([]sip.Header, 0, len(current)+1)
	for _, b := range current {
		secs := int64(math.Ceil(b.Expires.Sub(now).Seconds()))
		headers = append(headers, sip.NewHeader("Contact", "<"+b.Contact+">;expires="+strconv.FormatInt(secs, 10)))
	}
	// RFC 3261 section 10.3 step 8: a Date header helps clients without
	// a clock.
	headers = append(headers, sip.NewHeader("Date", now.UTC().Format(http1123)))
	r.respond(tx, req, 200, "OK", headers...)
	switch {
	case added > 0:
		r.log.Info("agent registered", "user", user, "source", src.String(), "transport", transport, "bindings", len(current))
	case len(changes) > 0 || wildcard:
		r.log.Info("agent unregistered contacts", "user", user, "source", src.String(), "removed", removed, "bindings", len(current))
	}
	r.fire(ticket, events)
}

// http1123 is the SIP-date format (RFC 3261 section 25.1, RFC 1123).
const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

type contactChange struct {
	key, contact string
	uri          sip.Uri
	expires      time.Duration
}

// readContacts reads the Contact bindings and their expiry (RFC 3261
// section 10.3 steps 6 and 7): each contact's expires parameter, else the
// Expires header, else the default; above MaxExpires it is clamped.
func (r *Registrar) readContacts(req *sip.Request) ([]contactChange, bool, error) {
	headerExpires, hasHeaderExpires := time.Duration(0), false
	if h := req.GetHeader("Expires"); h != nil {
		headerExpires, hasHeaderExpires = parseExpires(h.Value()), true
	}
	var (
		changes  []contactChange
		wildcard bool
	)
	contacts := req.GetHeaders("Contact")
	for _, h := range contacts {
		ch, ok := h.(*sip.ContactHeader)
		if !ok {
			return nil, false, errors.New("unreadable Contact")
		}
		if ch.Address.Wildcard {
			wildcard = true
			continue
		}
		scheme := strings.ToLower(ch.Address.Scheme)
		if scheme != "sip" && scheme != "sips" {
			return nil, false, fmt.Errorf("contact scheme %q is not sip", truncate(scheme, 16))
		}
		if ch.Address.Host == "" {
			return nil, false, errors.New("contact without host")
		}
		exp := defaultExpires
		if v, ok := paramFold(ch.Params, "expires"); ok {
			exp = parseExpires(v)
		} else if hasHeaderExpires {
			exp = headerExpires
		}
		if exp > r.cfg.MaxExpires {
			exp = r.cfg.MaxExpires
		}
		contact := ch.Address.String()
		changes = append(changes, contactChange{key: contactKey(contact), contact: contact, uri: ch.Address, expires: exp})
	}
	if wildcard {
		// RFC 3261 section 10.3 step 6: "*" only alone and with Expires: 0.
		if len(contacts) != 1 || !hasHeaderExpires || headerExpires != 0 {
			return nil, false, errors.New(`Contact "*" needs Expires: 0 and no other contact`)
		}
	}
	return changes, wildcard, nil
}

// parseExpires reads delta-seconds; an unreadable value counts as 3600
// (RFC 3261 section 20.19), a huge one as very long (it is clamped).
func parseExpires(s string) time.Duration {
	s = strings.TrimSpace(s)
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return math.MaxInt64
		}
		return defaultExpires
	}
	if v > uint64(math.MaxInt64/int64(time.Second)) {
		return math.MaxInt64
	}
	return time.Duration(v) * time.Second
}

func paramFold(p sip.HeaderParams, key string) (string, bool) {
	for _, kv := range p {
		if strings.EqualFold(kv.K, key) {
			return kv.V, true
		}
	}
	return "", false
}

// contactKey identifies a binding's contact: the URI with scheme and host
// lower-cased (they are case-insensitive, RFC 3261 section 19.1.4); the
// rest compares as sent, which is how phones repeat it.
func contactKey(contact string) string {
	var u sip.Uri
	if err := sip.ParseUri(contact, &u); err != nil {
		return contact
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	return u.String()
}

// natTarget is where to reach a contact registered from src: the contact
// itself when its host:port is src, else the contact with src's address
// (a phone behind NAT advertises its private address; its packets, and the
// pinhole it keeps open, come from the public one).
func natTarget(contact sip.Uri, src netip.AddrPort) string {
	if !src.IsValid() {
		return contact.String()
	}
	port := contact.Port
	if port == 0 {
		port = 5060
		if strings.EqualFold(contact.Scheme, "sips") {
			port = 5061
		}
	}
	if ip, err := netip.ParseAddr(strings.Trim(contact.Host, "[]")); err == nil &&
		ip.Unmap() == src.Addr() && port == int(src.Port()) {
		return contact.String()
	}
	t := contact.Clone()
	if src.Addr().Is6() {
		t.Host = "[" + src.Addr().String() + "]"
	} else {
		t.Host = src.Addr().String()
	}
	t.Port = int(src.Port())
	return t.String()
}
