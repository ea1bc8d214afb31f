package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// fakeTx is a server transaction that records the responses sent on it.
type fakeTx struct {
	mu        sync.Mutex
	responses []*sip.Response
	done      chan struct{}
}

func newFakeTx() *fakeTx { return &fakeTx{done: make(chan struct{})} }

func (f *fakeTx) Respond(res *sip.Response) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.responses = append(f.responses, res)
	return nil
}
func (f *fakeTx) Terminate()                         {}
func (f *fakeTx) OnTerminate(sip.FnTxTerminate) bool { return true }
func (f *fakeTx) Done() <-chan struct{}              { return f.done }
func (f *fakeTx) Err() error                         { return nil }
func (f *fakeTx) Acks() <-chan *sip.Request          { return nil }
func (f *fakeTx) OnCancel(fn sip.FnTxCancel) bool    { return true }
func (f *fakeTx) only(t testing.TB) *sip.Response {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.responses) != 1 {
		t.Fatalf("%d responses sent, want exactly one", len(f.responses))
	}
	return f.responses[0]
}

// testAgents: alice has a password; bob only HA1 hashes of both
// algorithms; carol only an SHA-256 HA1.
func testAgents(realm string) map[string]Credential {
	bobMD5, _ := DigestHA1(DigestMD5, "bob", realm, "bobpass")
	bobSHA, _ := DigestHA1(DigestSHA256, "bob", realm, "bobpass")
	carolSHA, _ := DigestHA1(DigestSHA256, "carol", realm, "carolpass")
	return map[string]Credential{
		"alice": {Password: "alicepass"},
		"bob":   {HA1MD5: bobMD5, HA1SHA256: strings.ToUpper(bobSHA)},
		"carol": {HA1SHA256: carolSHA},
		"dave":  {Password: "davepass", Algorithms: []string{DigestMD5}},
	}
}

type harness struct {
	r   *Registrar
	cfg RegistrarConfig

	mu      sync.Mutex
	now     time.Time
	events  []string
	callSeq int
}

func newHarness(t testing.TB, mods ...func(*RegistrarConfig)) *harness {
	t.Helper()
	h := &harness{now: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	agents := testAgents("hotline")
	cfg := RegistrarConfig{
		Lookup: func(u string) (Credential, bool) { c, ok := agents[u]; return c, ok },
		Now: func() time.Time {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.now
		},
		OnLogin:  func(u string) { h.mu.Lock(); h.events = append(h.events, "login "+u); h.mu.Unlock() },
		OnLogout: func(u string) { h.mu.Lock(); h.events = append(h.events, "logout "+u); h.mu.Unlock() },
	}
	for _, m := range mods {
		m(&cfg)
	}
	r, err := NewRegistrar(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.r, h.cfg = r, cfg
	return h
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) takeEvents() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.events
	h.events = nil
	return e
}

// reg describes one REGISTER; request builds it as it would arrive.
type reg struct {
	user     string   // To and From user
	src      string   // source address; default 192.168.1.10:5060
	callID   string   // default per user
	cseq     uint32   // default 1
	contacts []string // Contact header values; default one contact at the source
	noCont   bool     // send no Contact (a query)
	expires  string   // Expires header, if any
	ruri     string   // Request-URI; default sip:hotline.test
	auth     string   // Authorization header value, if any
	method   string   // default REGISTER
}

func (g reg) request(t testing.TB) *sip.Request {
	t.Helper()
	if g.src == "" {
		g.src = "192.168.1.10:5060"
	}
	if g.callID == "" {
		g.callID = "reg-" + g.user
	}
	if g.cseq == 0 {
		g.cseq = 1
	}
	if g.ruri == "" {
		g.ruri = "sip:hotline.test"
	}
	if g.method == "" {
		g.method = "REGISTER"
	}
	if len(g.contacts) == 0 && !g.noCont {
		g.contacts = []string{"<sip:" + g.user + "@" + g.src + ">"}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", g.method, g.ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d;rport\r\n", g.src, g.callID, g.cseq)
	fmt.Fprintf(&b, "From: <sip:%s@hotline.test>;tag=ft-%s\r\n", g.user, g.user)
	fmt.Fprintf(&b, "To: <sip:%s@hotline.test>\r\n", g.user)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\n", g.callID, g.cseq, g.method)
	for _, c := range g.contacts {
		fmt.Fprintf(&b, "Contact: %s\r\n", c)
	}
	if g.expires != "" {
		fmt.Fprintf(&b, "Expires: %s\r\n", g.expires)
	}
	if g.auth != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", g.auth)
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	msg, err := sip.NewParser().ParseSIP([]byte(b.String()))
	if err != nil {
		t.Fatalf("test request does not parse: %v\n%s", err, b.String())
	}
	req := msg.(*sip.Request)
	req.SetSource(g.src)
	return req
}

// send hands one request to the registrar and returns its only response.
func (h *harness) send(t testing.TB, req *sip.Request) *sip.Response {
	t.Helper()
	tx := newFakeTx()
	if req.Method == sip.REGISTER {
		h.r.HandleRegister(req, tx)
	} else {
		h.r.Authenticate(req, tx)
	}
	return tx.only(t)
}

// challenges returns the WWW-Authenticate challenges of a response, parsed.
func challenges(t testing.TB, res *sip.Response) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, hd := range res.GetHeaders("WWW-Authenticate") {
		v := hd.Value()
		if !strings.HasPrefix(v, "Digest ") {
			t.Fatalf("challenge %q is not Digest", v)
		}
		m := map[string]string{}
		if err := parseAuthParams(v[len("Digest "):], func(n, val string) error { m[strings.ToLower(n)] = val; return nil }); err != nil {
			t.Fatalf("challenge %q: %v", v, err)
		}
		out = append(out, m)
	}
	return out
}

// answer builds credentials for a challenge, as a phone would.
type answer struct {
	alg      string // default SHA-256
	user     string // default the request's
	password string
	uri      string // default the request's Request-URI
	nc       uint32 // default 1
	nonce    string // override the challenge's nonce
	qop      string // default auth; "-" for none
}

func (a answer) credentials(t testing.TB, res *sip.Response, method string, g reg) string {
	t.Helper()
	if a.alg == "" {
		a.alg = DigestSHA256
	}
	if a.user == "" {
		a.user = g.user
	}
	if a.uri == "" {
		a.uri = g.ruri
		if a.uri == "" {
			a.uri = "sip:hotline.test"
		}
	}
	if a.nc == 0 {
		a.nc = 1
	}
	var ch map[string]string
	for _, c := range challenges(t, res) {
		if c["algorithm"] == a.alg {
			ch = c
		}
	}
	if ch == nil {
		t.Fatalf("no %s challenge in %d response", a.alg, res.StatusCode)
	}
	if a.nonce != "" {
		ch["nonce"] = a.nonce
	}
	nc := fmt.Sprintf("%08x", a.nc)
	ha1, _ := DigestHA1(a.alg, a.user, ch["realm"], a.password)
	qop := "auth"
	if a.qop == "-" {
		qop = ""
	}
	resp, _ := DigestResponse(a.alg, ha1, ch["nonce"], nc, "0a4f113b", qop, method, a.uri)
	c := DigestCredentials{Username: a.user, Realm: ch["realm"], Nonce: ch["nonce"], URI: a.uri, Response: resp,
		Algorithm: a.alg, CNonce: "0a4f113b", Opaque: ch["opaque"], QOP: qop, NC: nc}
	if qop == "" {
		c.NC, c.CNonce = "", ""
	}
	return c.String()
}

// register runs the whole exchange: a REGISTER without credentials, its
// 401, then the REGISTER again (CSeq + 1) with credentials from a. It
// returns the final response.
func (h *harness) register(t testing.TB, g reg, a answer) *sip.Response {
	t.Helper()
	if g.cseq == 0 {
		h.callSeq += 2
		g.cseq = uint32(h.callSeq)
	}
	first := h.send(t, g.request(t))
	if first.StatusCode != 401 {
		t.Fatalf("REGISTER without credentials got %d, want 401", first.StatusCode)
	}
	g.cseq++
	g.auth = a.credentials(t, first, "REGISTER", g)
	return h.send(t, g.request(t))
}

func contactsOf(res *sip.Response) []string {
	var out []string
	for _, hd := range res.GetHeaders("Contact") {
		out = append(out, hd.Value())
	}
	return out
}

func TestRegistrarChallengesWithSHA256FirstThenMD5(t *testing.T) {
	h := newHarness(t)
	res := h.send(t, reg{user: "alice"}.request(t))
	if res.StatusCode != 401 {
		t.Fatalf("status %d, want 401", res.StatusCode)
	}
	chs := challenges(t, res)
	if len(chs) != 2 {
		t.Fatalf("%d challenges, want 2", len(chs))
	}
	// RFC 8760: the preferred algorithm first.
	if chs[0]["algorithm"] != "SHA-256" || chs[1]["algorithm"] != "MD5" {
		t.Fatalf("algorithms %q, %q; want SHA-256 then MD5", chs[0]["algorithm"], chs[1]["algorithm"])
	}
	for _, c := range chs {
		if c["realm"] != "hotline" || c["qop"] != "auth" || c["opaque"] == "" || c["nonce"] == "" || c["stale"] != "" {
			t.Fatalf("challenge %v", c)
		}
	}
	if chs[0]["nonce"] != chs[1]["nonce"] {
		t.Fatal("the two challenges carry different nonces")
	}
	if again := challenges(t, h.send(t, reg{user: "alice"}.request(t))); again[0]["nonce"] == chs[0]["nonce"] {
		t.Fatal("a second challenge reused the nonce")
	}
	if got := h.r.Stats(); got.AuthFailures != 0 {
		t.Fatalf("a request without credentials counted as a failure: %+v", got)
	}
}

// A phone that gives up on any challenge it cannot compute (Debian's
// baresip 1.0) is offered MD5 alone when its agent says so, and then a
// SHA-256 answer from it is not accepted: the setting is no downgrade
// path for anyone else either.
func TestAgentLimitedToMD5IsChallengedWithMD5Only(t *testing.T) {
	h := newHarness(t)
	chs := challenges(t, h.send(t, reg{user: "dave"}.request(t)))
	if len(chs) != 1 || chs[0]["algorithm"] != "MD5" {
		t.Fatalf("challenges %v, want MD5 only", chs)
	}
	if res := h.register(t, reg{user: "dave"}, answer{alg: DigestMD5, password: "davepass"}); res.StatusCode != 200 {
		t.Fatalf("MD5 REGISTER got %d", res.StatusCode)
	}
	if res := h.register(t, reg{user: "alice"}, answer{alg: DigestSHA256, password: "alicepass"}); res.StatusCode != 200 {
		t.Fatalf("other agents keep SHA-256: got %d", res.StatusCode)
	}
}

func TestRegistrarRefusesUnknownAlgorithms(t *testing.T) {
	_, err := NewRegistrar(RegistrarConfig{Lookup: func(string) (Credential, bool) { return Credential{}, false }, Algorithms: []string{"SHA-512"}})
	if err == nil {
		t.Fatal("accepted SHA-512")
	}
}

func TestRegisterAuthentication(t *testing.T) {
	tests := []struct {
		name   string
		user   string
		answer answer
		status int
		stale  bool
	}{
		{"the right password with SHA-256 registers", "alice", answer{password: "alicepass"}, 200, false},
		{"the right password with MD5 registers", "alice", answer{alg: DigestMD5, password: "alicepass"}, 200, false},
		{"a stored SHA-256 HA1 registers", "bob", answer{password: "bobpass"}, 200, false},
		{"a stored MD5 HA1 registers", "bob", answer{alg: DigestMD5, password: "bobpass"}, 200, false},
		{"an agent with only an SHA-256 HA1 cannot use MD5", "carol", answer{alg: DigestMD5, password: "carolpass"}, 401, false},
		{"a wrong password is challenged again", "alice", answer{password: "guess"}, 401, false},
		{"a user that does not exist is challenged like a wrong password", "mallory", answer{password: "x"}, 401, false},
		{"credentials for another Request-URI are a bad request", "alice", answer{password: "alicepass", uri: "sip:other.test"}, 400, false},
		{"credentials without qop are refused", "alice", answer{password: "alicepass", qop: "-"}, 401, false},
		{"a nonce hotline never issued, with the right password, is stale", "alice", answer{password: "alicepass", nonce: "AAAAAGfE2wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, 401, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			res := h.register(t, reg{user: tt.user}, tt.answer)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d %s, want %d", res.StatusCode, res.Reason, tt.status)
			}
			if tt.status == 401 {
				chs := challenges(t, res)
				if len(chs) != 2 || (chs[0]["stale"] == "true") != tt.stale {
					t.Fatalf("challenges %v, want stale=%v", chs, tt.stale)
				}
			}
			bs := h.r.Bindings(tt.user)
			if (tt.status == 200) != (len(bs) == 1) {
				t.Fatalf("bindings %+v after %d", bs, res.StatusCode)
			}
			failures := h.r.Stats().AuthFailures
			if wantFail := tt.status != 200 && !tt.stale; (failures == 1) != wantFail {
				t.Fatalf("auth failures %d", failures)
			}
			if tt.status == 200 {
				b := bs[0]
				if b.User != tt.user || b.Contact != "sip:"+tt.user+"@192.168.1.10:5060" || b.Transport != "UDP" ||
					b.Source != netip.MustParseAddrPort("192.168.1.10:5060") || !b.Expires.Equal(h.clock().Add(time.Hour)) {
					t.Fatalf("binding %+v", b)
				}
				if got := contactsOf(res); len(got) != 1 || got[0] != "<sip:"+tt.user+"@192.168.1.10:5060>;expires=3600" {
					t.Fatalf("200 lists %q", got)
				}
				if res.GetHeader("Date") == nil {
					t.Fatal("200 without Date")
				}
			}
		})
	}
}

func TestUnknownUsersAndWrongPasswordsGetIdenticalAnswersThen403(t *testing.T) {
	h := newHarness(t, func(c *RegistrarConfig) { c.FailureLimit = 3 })
	shape := func(res *sip.Response) string {
		chs := challenges(t, res)
		return fmt.Sprintf("%d %s %d %v", res.StatusCode, res.Reason, len(chs), res.GetHeader("Retry-After") != nil)
	}
	known := h.register(t, reg{user: "alice", src: "198.51.100.1:5060"}, answer{password: "wrong"})
	unknown := h.register(t, reg{user: "mallory", src: "198.51.100.2:5060"}, answer{password: "wrong"})
	if shape(known) != shape(unknown) || known.StatusCode != 401 {
		t.Fatalf("wrong password: %s; unknown user: %s", shape(known), shape(unknown))
	}
	// The unknown user keeps trying from its address: challenged until the
	// failure limit, then refused.
	var last *sip.Response
	for range 2 {
		last = h.register(t, reg{user: "mallory", src: "198.51.100.2:5060"}, answer{password: "wrong"})
	}
	if last.StatusCode != 403 || last.GetHeader("Retry-After") == nil {
		t.Fatalf("at the failure limit: %d %s", last.StatusCode, last.Reason)
	}
}

func TestStaleNonceIsChallengedWithStaleTrue(t *testing.T) {
	h := newHarness(t)
	g := reg{user: "alice", cseq: 1}
	first := h.send(t, g.request(t))
	h.advance(5*time.Minute + time.Second) // past NonceTTL
	g.cseq, g.auth = 2, answer{password: "alicepass"}.credentials(t, first, "REGISTER", g)
	res := h.send(t, g.request(t))
	chs := challenges(t, res)
	if res.StatusCode != 401 || len(chs) != 2 || chs[0]["stale"] != "true" || chs[1]["stale"] != "true" {
		t.Fatalf("expired nonce: %d %v", res.StatusCode, chs)
	}
	if h.r.Stats().AuthFailures != 0 {
		t.Fatal("a stale nonce with the right password counted as a failure")
	}
	// The fresh nonce works at once.
	g.cseq, g.auth = 3, answer{password: "alicepass"}.credentials(t, res, "REGISTER", g)
	if res := h.send(t, g.request(t)); res.StatusCode != 200 {
		t.Fatalf("with the fresh nonce: %d", res.StatusCode)
	}
	// A wrong password on an expired nonce is a failure, not stale.
	g.cseq, g.auth = 4, answer{password: "nope"}.credentials(t, first, "REGISTER", g)
	if res := h.send(t, g.request(t)); res.StatusCode != 401 || challenges(t, res)[0]["stale"] != "" {
		t.Fatalf("wrong password on an old nonce: %d %v", res.StatusCode, challenges(t, res))
	}
}

func TestNonceCountMustIncrease(t *testing.T) {
	h := newHarness(t)
	g := reg{user: "alice", cseq: 1}
	ch := h.send(t, g.request(t))
	send := func(cseq, nc uint32) int {
		g.cseq, g.auth = cseq, answer{password: "alicepass", nc: nc}.credentials(t, ch, "REGISTER", g)
		return h.send(t, g.request(t)).StatusCode
	}
	if got := send(2, 1); got != 200 {
		t.Fatalf("nc=1: %d", got)
	}
	if got := send(3, 1); got != 401 {
		t.Fatalf("nc=1 replayed: %d, want 401", got)
	}
	if got := send(4, 2); got != 200 {
		t.Fatalf("nc=2: %d", got)
	}
	if got := send(5, 5); got != 200 {
		t.Fatalf("nc=5 (skipping is allowed): %d", got)
	}
	if got := send(6, 3); got != 401 {
		t.Fatalf("nc=3 after 5: %d, want 401", got)
	}
	if st := h.r.Stats(); st.AuthFailures != 2 {
		t.Fatalf("auth failures %d, want 2 (the replays)", st.AuthFailures)
	}
}

func TestRepeatedFailuresBlockOnlyThatSource(t *testing.T) {
	h := newHarness(t)
	attacker := reg{user: "alice", src: "203.0.113.66:5060", callID: "attack"}
	for i := range 4 {
		if res := h.register(t, attacker, answer{password: fmt.Sprintf("guess%d", i)}); res.StatusCode != 401 {
			t.Fatalf("failure %d: %d, want 401", i+1, res.StatusCode)
		}
	}
	// The fifth failure reaches FailureLimit.
	res := h.register(t, attacker, answer{password: "guess5"})
	if res.StatusCode != 403 || res.GetHeader("Retry-After") == nil || res.GetHeader("Retry-After").Value() != "300" {
		t.Fatalf("fifth failure: %d %v", res.StatusCode, res.GetHeader("Retry-After"))
	}
	// Now everything from it is refused unchecked, even the right password
	// and requests without credentials.
	for _, g := range []reg{attacker, {user: "bob", src: "203.0.113.66:6000"}} {
		if res := h.send(t, g.request(t)); res.StatusCode != 403 || res.GetHeader("Retry-After") == nil {
			t.Fatalf("blocked source got %d", res.StatusCode)
		}
	}
	// A good agent elsewhere is unaffected.
	if res := h.register(t, reg{user: "bob", src: "198.51.100.7:5060"}, answer{password: "bobpass"}); res.StatusCode != 200 {
		t.Fatalf("agent from another address: %d", res.StatusCode)
	}
	st := h.r.Stats()
	if st.AuthFailures != 5 || st.Throttled != 2 || st.Blocks != 1 || st.BlockedSources != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The block ends after BlockFor.
	h.advance(4 * time.Minute)
	if res := h.send(t, attacker.request(t)); res.StatusCode != 403 || res.GetHeader("Retry-After").Value() != "60" {
		t.Fatalf("one minute before the end: %d %v", res.StatusCode, res.GetHeader("Retry-After"))
	}
	h.advance(time.Minute)
	if res := h.register(t, attacker, answer{password: "alicepass"}); res.StatusCode != 200 {
		t.Fatalf("after the block: %d", res.StatusCode)
	}
	if st := h.r.Stats(); st.BlockedSources != 0 {
		t.Fatalf("still blocked: %+v", st)
	}
}

func TestFailuresOutsideTheWindowAndSuccessResetTheCount(t *testing.T) {
	h := newHarness(t)
	g := reg{user: "alice", src: "198.51.100.9:5060"}
	fail := func() int { return h.register(t, g, answer{password: "bad"}).StatusCode }
	for range 4 {
		fail()
	}
	h.advance(61 * time.Second) // the window has passed
	for range 4 {
		if got := fail(); got != 401 {
			t.Fatalf("failure in a new window: %d", got)
		}
	}
	if res := h.register(t, g, answer{password: "alicepass"}); res.StatusCode != 200 {
		t.Fatalf("right password: %d", res.StatusCode)
	}
	for range 4 {
		if got := fail(); got != 401 {
			t.Fatalf("failure after a success: %d", got)
		}
	}
}

func TestRegisterExpiry(t *testing.T) {
	tests := []struct {
		name     string
		expires  string
		contact  string
		status   int
		want     string // the Contact of the 200
		minHeadr string
	}{
		{"no expiry asked gives an hour", "", "<sip:alice@192.168.1.10:5060>", 200, "<sip:alice@192.168.1.10:5060>;expires=3600", ""},
		{"the Expires header applies", "600", "<sip:alice@192.168.1.10:5060>", 200, "<sip:alice@192.168.1.10:5060>;expires=600", ""},
		{"a contact's expires parameter beats the header", "600", "<sip:alice@192.168.1.10:5060>;expires=120", 200, "<sip:alice@192.168.1.10:5060>;expires=120", ""},
		{"above MaxExpires is clamped", "86400", "<sip:alice@192.168.1.10:5060>", 200, "<sip:alice@192.168.1.10:5060>;expires=3600", ""},
		{"an absurd value is clamped", "99999999999999999999999", "<sip:alice@192.168.1.10:5060>", 200, "<sip:alice@192.168.1.10:5060>;expires=3600", ""},
		{"an unreadable value counts as an hour", "soon", "<sip:alice@192.168.1.10:5060>", 200, "<sip:alice@192.168.1.10:5060>;expires=3600", ""},
		{"below MinExpires is too brief", "30", "<sip:alice@192.168.1.10:5060>", 423, "", "60"},
		{"a contact parameter below MinExpires is too brief", "", "<sip:alice@192.168.1.10:5060>;expires=59", 423, "", "60"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			res := h.register(t, reg{user: "alice", expires: tt.expires, contacts: []string{tt.contact}}, answer{password: "alicepass"})
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			if tt.status == 423 {
				if m := res.GetHeader("Min-Expires"); m == nil || m.Value() != tt.minHeadr {
					t.Fatalf("Min-Expires %v", m)
				}
				if len(h.r.Bindings("alice")) != 0 {
					t.Fatal("a refused REGISTER left a binding")
				}
				return
			}
			if got := contactsOf(res); len(got) != 1 || got[0] != tt.want {
				t.Fatalf("200 lists %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSeveralContactsPerAgentNewestFirst(t *testing.T) {
	h := newHarness(t)
	desk := reg{user: "alice", callID: "desk", src: "192.168.1.10:5060"}
	mobile := reg{user: "alice", callID: "mobile", src: "192.168.1.20:5062", expires: "300"}
	h.register(t, desk, answer{password: "alicepass"})
	h.advance(10 * time.Second)
	res := h.register(t, mobile, answer{password: "alicepass"})
	if got := contactsOf(res); len(got) != 2 || !strings.Contains(got[0], "192.168.1.20:5062>;expires=300") || !strings.Contains(got[1], "192.168.1.10:5060>;expires=3590") {
		t.Fatalf("200 lists %q", got)
	}
	bs := h.r.Bindings("alice")
	if len(bs) != 2 || bs[0].CallID != "mobile" || bs[1].CallID != "desk" {
		t.Fatalf("bindings %+v", bs)
	}
	// A refresh of the desk phone makes it the newest.
	h.register(t, desk, answer{password: "alicepass"})
	if bs := h.r.Bindings("alice"); len(bs) != 2 || bs[0].CallID != "desk" {
		t.Fatalf("after refresh: %+v", bs)
	}
	if b, err := h.r.Target("alice"); err != nil || b.CallID != "desk" {
		t.Fatalf("Target = %+v, %v", b, err)
	}
	if _, err := h.r.Target("bob"); err == nil {
		t.Fatal("Target of an agent never registered")
	}
	if got := h.takeEvents(); len(got) != 1 || got[0] != "login alice" {
		t.Fatalf("events %q, want one login", got)
	}
	if st := h.r.Stats(); st.Bound != 2 || st.Registrations != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestQueryWithoutContactListsBindingsUnchanged(t *testing.T) {
	h := newHarness(t)
	h.register(t, reg{user: "alice"}, answer{password: "alicepass"})
	h.advance(time.Minute)
	res := h.register(t, reg{user: "alice", noCont: true}, answer{password: "alicepass"})
	if got := contactsOf(res); res.StatusCode != 200 || len(got) != 1 || got[0] != "<sip:alice@192.168.1.10:5060>;expires=3540" {
		t.Fatalf("query: %d %q", res.StatusCode, got)
	}
	if st := h.r.Stats(); st.Registrations != 1 || st.Unregistrations != 0 {
		t.Fatalf("a query counted as a change: %+v", st)
	}
}

func TestUnregister(t *testing.T) {
	h := newHarness(t)
	desk := reg{user: "alice", callID: "desk", src: "192.168.1.10:5060"}
	mobile := reg{user: "alice", callID: "mobile", src: "192.168.1.20:5062"}
	h.register(t, desk, answer{password: "alicepass"})
	h.register(t, mobile, answer{password: "alicepass"})
	h.takeEvents()

	// One contact with Expires: 0 removes only it; the agent stays in.
	d0 := desk
	d0.expires = "0"
	res := h.register(t, d0, answer{password: "alicepass"})
	if got := contactsOf(res); res.StatusCode != 200 || len(got) != 1 || !strings.Contains(got[0], "192.168.1.20") {
		t.Fatalf("after removing the desk phone: %d %q", res.StatusCode, got)
	}
	if ev := h.takeEvents(); len(ev) != 0 {
		t.Fatalf("events %q while a contact remains", ev)
	}

	// "*" without Expires: 0 is malformed.
	bad := mobile
	bad.contacts = []string{"*"}
	if res := h.register(t, bad, answer{password: "alicepass"}); res.StatusCode != 400 {
		t.Fatalf(`"*" without Expires: 0: %d`, res.StatusCode)
	}
	// "*" with Expires: 0 removes all: logged out.
	all := bad
	all.expires = "0"
	res = h.register(t, all, answer{password: "alicepass"})
	if res.StatusCode != 200 || len(contactsOf(res)) != 0 {
		t.Fatalf(`"*": %d %q`, res.StatusCode, contactsOf(res))
	}
	if ev := h.takeEvents(); len(ev) != 1 || ev[0] != "logout alice" {
		t.Fatalf("events %q, want logout", ev)
	}
	if st := h.r.Stats(); st.Unregistrations != 2 || st.Bound != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOutOfOrderRegisterIsRefused(t *testing.T) {
	h := newHarness(t)
	g := reg{user: "alice", callID: "same", cseq: 10}
	ch := h.send(t, g.request(t))
	g.cseq, g.auth = 11, answer{password: "alicepass"}.credentials(t, ch, "REGISTER", g)
	if res := h.send(t, g.request(t)); res.StatusCode != 200 {
		t.Fatalf("first: %d", res.StatusCode)
	}
	// RFC 3261 section 10.3 step 7: same Call-ID, CSeq not higher.
	g.cseq, g.expires, g.auth = 11, "0", answer{password: "alicepass", nc: 2}.credentials(t, ch, "REGISTER", g)
	if res := h.send(t, g.request(t)); res.StatusCode != 500 {
		t.Fatalf("same CSeq again: %d, want 500", res.StatusCode)
	}
	if len(h.r.Bindings("alice")) != 1 {
		t.Fatal("an out-of-order REGISTER changed the bindings")
	}
	// Another Call-ID (the phone restarted) may update with any CSeq.
	g.callID, g.cseq, g.expires, g.auth = "restarted", 1, "", answer{password: "alicepass", nc: 3}.credentials(t, ch, "REGISTER", g)
	if res := h.send(t, g.request(t)); res.StatusCode != 200 {
		t.Fatalf("new Call-ID: %d", res.StatusCode)
	}
	if bs := h.r.Bindings("alice"); len(bs) != 1 || bs[0].CallID != "restarted" {
		t.Fatalf("bindings %+v", bs)
	}
}

func TestBindingsExpireAndSweepLogsOut(t *testing.T) {
	h := newHarness(t)
	h.register(t, reg{user: "alice", callID: "a1", expires: "120"}, answer{password: "alicepass"})
	h.register(t, reg{user: "alice", callID: "a2", src: "192.168.1.11:5060", expires: "300"}, answer{password: "alicepass"})
	h.register(t, reg{user: "bob", expires: "600"}, answer{password: "bobpass"})
	if ev := h.takeEvents(); len(ev) != 2 {
		t.Fatalf("events %q", ev)
	}
	h.advance(2 * time.Minute)
	// Lazily: the expired binding is no longer offered, before any sweep.
	if bs := h.r.Bindings("alice"); len(bs) != 1 || bs[0].CallID != "a2" {
		t.Fatalf("bindings %+v", bs)
	}
	h.r.Sweep(h.clock())
	if ev := h.takeEvents(); len(ev) != 0 {
		t.Fatalf("events %q while alice has a contact left", ev)
	}
	h.advance(3 * time.Minute)
	h.r.Sweep(h.clock())
	if ev := h.takeEvents(); len(ev) != 1 || ev[0] != "logout alice" {
		t.Fatalf("events %q, want logout alice", ev)
	}
	st := h.r.Stats()
	if st.Expired != 2 || st.Bound != 1 {
		t.Fatalf("stats %+v", st)
	}
	if len(h.r.Bindings("bob")) != 1 {
		t.Fatal("bob's binding went too")
	}
}

func TestAgentBehindNATIsReachedAtItsSourceAddress(t *testing.T) {
	tests := []struct {
		name, contact, src, want string
	}{
		{"a private contact behind NAT", "<sip:alice@192.168.1.10:5060>", "203.0.113.5:40000", "sip:alice@203.0.113.5:40000"},
		{"parameters are kept", "<sip:alice@192.168.1.10:5060;transport=tcp;ob>", "203.0.113.5:40000", "sip:alice@203.0.113.5:40000;transport=tcp;ob"},
		{"a contact without port means 5060", "<sip:alice@203.0.113.5>", "203.0.113.5:5060", "sip:alice@203.0.113.5"},
		{"a contact that is its source is kept", "<sip:alice@198.51.100.4:5070>", "198.51.100.4:5070", "sip:alice@198.51.100.4:5070"},
		{"a host name is replaced by the source", "<sip:alice@phone.example>", "198.51.100.4:5070", "sip:alice@198.51.100.4:5070"},
		{"IPv6 sources are bracketed", "<sip:alice@[fd00::10]:5060>", "[2001:db8::5]:40000", "sip:alice@[2001:db8::5]:40000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			res := h.register(t, reg{user: "alice", contacts: []string{tt.contact}, src: tt.src}, answer{password: "alicepass"})
			if res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			b := h.r.Bindings("alice")[0]
			if b.Target != tt.want {
				t.Fatalf("Target %q, want %q", b.Target, tt.want)
			}
			if "<"+b.Contact+">" != tt.contact {
				t.Fatalf("Contact %q, want it as sent %q", b.Contact, tt.contact)
			}
			if b.Source != netip.MustParseAddrPort(tt.src) {
				t.Fatalf("Source %v", b.Source)
			}
		})
	}
}

func TestRegisterRefusals(t *testing.T) {
	h := newHarness(t)
	// RFC 3261 section 10.3 step 6: alice may not register bob.
	g := reg{user: "bob"}
	ch := h.send(t, g.request(t))
	g.cseq, g.auth = 2, answer{user: "alice", password: "alicepass"}.credentials(t, ch, "REGISTER", g)
	if res := h.send(t, g.request(t)); res.StatusCode != 403 {
		t.Fatalf("registering another agent: %d", res.StatusCode)
	}
	if len(h.r.Bindings("bob")) != 0 {
		t.Fatal("alice registered bob")
	}
	// A tel: contact cannot be reached.
	if res := h.register(t, reg{user: "alice", contacts: []string{"<tel:+15551234>"}}, answer{password: "alicepass"}); res.StatusCode != 400 {
		t.Fatalf("tel contact: %d", res.StatusCode)
	}
	// Extensions required of us are refused before authentication.
	req := reg{user: "alice"}.request(t)
	req.AppendHeader(sip.NewHeader("Require", "gruu"))
	if res := h.send(t, req); res.StatusCode != 420 || res.GetHeader("Unsupported") == nil {
		t.Fatalf("Require: %d", res.StatusCode)
	}
	// Every response was counted, by class.
	if got := h.r.Responses(); got[2] != 0 || got[4] < 5 {
		t.Fatalf("responses by class %v", got)
	}
}

func TestAuthenticateChecksAnyRequest(t *testing.T) {
	h := newHarness(t)
	g := reg{user: "alice", method: "INVITE", ruri: "sip:*0@hotline.test", noCont: true}
	tx := newFakeTx()
	if _, ok := h.r.Authenticate(g.request(t), tx); ok {
		t.Fatal("an INVITE without credentials passed")
	}
	ch := tx.only(t)
	if ch.StatusCode != 401 {
		t.Fatalf("challenge %d", ch.StatusCode)
	}
	g.cseq, g.auth = 2, answer{password: "alicepass"}.credentials(t, ch, "INVITE", g)
	tx = newFakeTx()
	user, ok := h.r.Authenticate(g.request(t), tx)
	if !ok || user != "alice" || len(tx.responses) != 0 {
		t.Fatalf("Authenticate = %q, %v with %d responses", user, ok, len(tx.responses))
	}
	// The method is part of the digest: the same answer for REGISTER fails.
	g.method, g.cseq, g.auth = "REGISTER", 3, answer{password: "alicepass", nc: 2}.credentials(t, ch, "INVITE", g)
	if _, ok := h.r.Authenticate(g.request(t), newFakeTx()); ok {
		t.Fatal("INVITE credentials accepted on a REGISTER")
	}
}

func TestNewRegistrarChecksItsConfig(t *testing.T) {
	lookup := func(string) (Credential, bool) { return Credential{}, false }
	for name, cfg := range map[string]RegistrarConfig{
		"no Lookup":        {},
		"a quote in realm": {Lookup: lookup, Realm: `a"b`},
		"min above max":    {Lookup: lookup, MinExpires: time.Hour, MaxExpires: time.Minute},
	} {
		if _, err := NewRegistrar(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRegisterOverLoopbackUDPWithSipgoClient runs the registrar behind a
// real sipgo server and registers with sipgo's client, which answers the
// first (SHA-256) challenge.
func TestRegisterOverLoopbackUDPWithSipgoClient(t *testing.T) {
	logins := make(chan string, 1)
	agents := testAgents("hotline")
	r, err := NewRegistrar(RegistrarConfig{
		Lookup:  func(u string) (Credential, bool) { c, ok := agents[u]; return c, ok },
		OnLogin: func(u string) { logins <- u },
	})
	if err != nil {
		t.Fatal(err)
	}
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnRegister(r.HandleRegister)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeUDP(pc)
	defer pc.Close()
	addr := pc.LocalAddr().(*net.UDPAddr)

	cua, err := sipgo.NewUA(sipgo.WithUserAgent("test-phone"))
	if err != nil {
		t.Fatal(err)
	}
	defer cua.Close()
	client, err := sipgo.NewClient(cua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Host: "127.0.0.1", Port: addr.Port})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{User: "alice", Host: "127.0.0.1"}})
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{User: "alice", Host: "127.0.0.1"}, Params: sip.HeaderParams{{K: "tag", V: "t1"}}})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{User: "alice", Host: "127.0.0.1", Port: 5999}})
	req.AppendHeader(sip.NewHeader("Expires", "120"))
	res, err := client.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 401 {
		t.Fatalf("first REGISTER: %d", res.StatusCode)
	}
	res, err = client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "alice", Password: "alicepass"})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("authenticated REGISTER: %d %s", res.StatusCode, res.Reason)
	}
	select {
	case u := <-logins:
		if u != "alice" {
			t.Fatalf("login of %q", u)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no login event")
	}
	bs := r.Bindings("alice")
	if len(bs) != 1 || bs[0].Source.Addr() != netip.MustParseAddr("127.0.0.1") || bs[0].Transport != "UDP" {
		t.Fatalf("bindings %+v", bs)
	}
	// The phone sends from an ephemeral port, not the 5999 of its Contact:
	// it is reached where its packets come from.
	if want := fmt.Sprintf("sip:alice@127.0.0.1:%d", bs[0].Source.Port()); bs[0].Source.Port() != 5999 && bs[0].Target != want {
		t.Fatalf("Target %q, want %q", bs[0].Target, want)
	}
}

func BenchmarkAuthenticatedRegister(b *testing.B) {
	t := b
	h := newHarness(t)
	g := reg{user: "alice", cseq: 1}
	ch := h.send(t, g.request(t))
	nc := uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		nc++
		g.cseq, g.auth = nc+1, answer{password: "alicepass", nc: nc}.credentials(t, ch, "REGISTER", g)
		req := g.request(t)
		tx := newFakeTx()
		h.r.HandleRegister(req, tx)
		if tx.responses[0].StatusCode != 200 {
			b.Fatalf("status %d", tx.responses[0].StatusCode)
		}
	}
}
