//go:build linux

package main

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// RFC 3261 section 17 timer values.
const (
	t1 = 500 * time.Millisecond
	t2 = 4 * time.Second
	// transactionTimeout is 64*T1 (Timers B, F and H).
	transactionTimeout = 64 * t1
	// uaTick is the signalling loop's timer resolution.
	uaTick = 10 * time.Millisecond
)

type callState uint8

const (
	callIdle       callState = iota
	callInviting             // INVITE sent, nothing heard (Timer A retransmits)
	callProceeding           // a provisional response came
	callTalking              // 2xx ACKed, media flowing, waiting for -hold
	callByeing               // our BYE sent, waiting for its final response
	callDone
)

// Outcomes of a call.
const (
	outcomeCompleted = "completed" // answered, held, our BYE answered 2xx
	outcomeRefused   = "refused"   // 503 to the INVITE: hotline is at capacity, not a failure
	outcomeFailed    = "failed"
)

// call is one caller's dialog. Only the signalling loop touches it.
type call struct {
	idx              int
	id               string
	fromTag, toTag   string
	state            callState
	invite, bye, ack []byte
	dialogURI        string // the 200's Contact: the target of ACK and BYE

	sentAt, at180, at200, byeSentAt, endAt time.Time
	hangupAt                               time.Time
	retransAt                              time.Time
	interval                               time.Duration
	giveUpAt                               time.Time

	outcome    string
	reason     string
	status     int // final response to the INVITE
	retryAfter int
	reinvites  int
	remote     netip.AddrPort
	sdpVersion int
}

type agentState uint8

const (
	agentUnregistered agentState = iota
	agentRegistering
	agentRegistered
	agentFailed
)

// agent is one simulated agent softphone: a SIP user that registers with
// MD5 digest and answers every call offered to it.
type agent struct {
	idx   int // media endpoint index
	user  string
	state agentState

	regCallID, regTag string
	regCSeq           int
	regMsg            []byte
	retransAt         time.Time
	interval          time.Duration
	giveUpAt          time.Time
	authTries         int
	failReason        string

	leg *agentLeg // the call in progress, nil when idle

	legs, legsAnswered, busy, cancelled int
}

type legState uint8

const (
	legRinging legState = iota
	legAnswering
	legTalking
	legDone
)

// agentLeg is hotline's call to an agent.
type agentLeg struct {
	agent     *agent
	id        string
	invite    *sipMessage
	from      netip.AddrPort
	toTag     string
	state     legState
	last      []byte // the last response to the INVITE, for retransmitted INVITEs
	answerAt  time.Time
	retransAt time.Time
	interval  time.Duration
	giveUpAt  time.Time
	remote    netip.AddrPort
}

// inbound is a datagram from hotline, parsed, with its arrival time.
type inbound struct {
	msg  *sipMessage
	from netip.AddrPort
	at   time.Time
}

// uaConfig is what the signalling loop needs to know.
type uaConfig struct {
	Mode          string
	Calls         int
	CPS           float64
	Hold          time.Duration
	Agents        int
	AgentPrefix   string
	AgentPassword string
	AnswerDelay   time.Duration
	Target        netip.AddrPort
	Deadline      time.Time
	Log           *slog.Logger
}

// ua runs every caller's and agent's signalling from one goroutine.
type ua struct {
	cfg   uaConfig
	conn  *net.UDPConn
	local netip.AddrPort
	media *mediaEngine
	in    chan inbound

	calls     []*call
	byCallID  map[string]*call
	agents    []*agent
	byUser    map[string]*agent
	byRegID   map[string]*agent
	legs      map[string]*agentLeg
	firstLive int

	callsStartedAt, lastCallAt time.Time
	registeredAt               time.Time
	parseErrors, unmatched     int
	sendErrors                 int
	// onAnswered, if set, is told about every answered call (the measurement
	// follows concurrency with it).
	onAnswered func(c *call)
	// onTalkEnd is told when an answered call stops talking (our BYE, the
	// server's BYE, or the deadline).
	onTalkEnd func(c *call)
	// onBridged is told +1 when an agent leg starts talking and -1 when it
	// ends: in bridged mode the steady window is where every call is
	// relayed, not still in its greeting.
	onBridged func(delta int)
	stopping  atomic.Bool
}

// stopNow ends the run at the next tick, as the deadline would.
func (u *ua) stopNow() { u.stopping.Store(true) }

// leaveTalking stops a talking call's media and tells the measurement.
func (u *ua) leaveTalking(c *call) {
	u.media.stopMedia(c.idx)
	if c.state == callTalking && u.onTalkEnd != nil {
		u.onTalkEnd(c)
	}
}

// agentEndpoint is the media endpoint of agent j: after all the callers.
func (u *ua) agentEndpoint(j int) int { return u.cfg.Calls + j }

func newUA(cfg uaConfig, media *mediaEngine) (*ua, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("SIP socket: %w", err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	u := &ua{
		cfg: cfg, conn: conn, local: conn.LocalAddr().(*net.UDPAddr).AddrPort(), media: media,
		in:       make(chan inbound, 8192),
		calls:    make([]*call, cfg.Calls),
		byCallID: make(map[string]*call, cfg.Calls),
		byUser:   map[string]*agent{}, byRegID: map[string]*agent{}, legs: map[string]*agentLeg{},
	}
	for j := range cfg.Agents {
		a := &agent{idx: u.agentEndpoint(j), user: agentUser(cfg.AgentPrefix, j)}
		u.agents = append(u.agents, a)
		u.byUser[a.user] = a
	}
	return u, nil
}

// agentUser is the SIP user name of agent j, the same in the generated
// hotline config.
func agentUser(prefix string, j int) string { return fmt.Sprintf("%s%04d", prefix, j+1) }

// read feeds the signalling loop until the socket closes.
func (u *ua) read() {
	buf := make([]byte, 65535)
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			close(u.in)
			return
		}
		at := time.Now()
		m, err := parseSIP(buf[:n])
		if err != nil {
			u.in <- inbound{at: at, from: from}
			continue
		}
		u.in <- inbound{msg: m, from: from, at: at}
	}
}

func (u *ua) send(b []byte, to netip.AddrPort) {
	if _, err := u.conn.WriteToUDPAddrPort(b, to); err != nil {
		u.sendErrors++
	}
}

func newID(prefix string) string {
	return prefix + strconv.FormatUint(rand.Uint64(), 36) + strconv.FormatUint(rand.Uint64(), 36)
}

// run drives the whole population: agents register first (bridged mode),
// then calls start at cps; it returns when every call has ended, or at the
// deadline.
func (u *ua) run() {
	go u.read()
	tick := time.NewTicker(uaTick)
	defer tick.Stop()
	defer u.conn.Close()
	registering := len(u.agents) > 0
	nextAgent, nextCall := 0, 0
	var regStart time.Time
	for {
		select {
		case m, ok := <-u.in:
			if !ok {
				return
			}
			if m.msg == nil {
				u.parseErrors++
				continue
			}
			u.handle(m)
		case now := <-tick.C:
			if now.After(u.cfg.Deadline) || u.stopping.Load() {
				u.expire(now)
				return
			}
			if registering {
				if regStart.IsZero() {
					regStart = now
				}
				// Register at up to 500 agents a second.
				for nextAgent < len(u.agents) && now.Sub(regStart) >= time.Duration(nextAgent)*2*time.Millisecond {
					u.register(u.agents[nextAgent], now)
					nextAgent++
				}
				done, failed := 0, 0
				for _, a := range u.agents {
					switch a.state {
					case agentRegistered:
						done++
					case agentFailed:
						failed++
					}
				}
				if done+failed == len(u.agents) {
					registering = false
					u.registeredAt = now
					u.cfg.Log.Info("agents registered", "ok", done, "failed", failed, "took", now.Sub(regStart).Round(time.Millisecond))
				}
			} else {
				if u.callsStartedAt.IsZero() {
					u.callsStartedAt = now
				}
				for nextCall < u.cfg.Calls && now.Sub(u.callsStartedAt).Seconds()*u.cfg.CPS >= float64(nextCall) {
					u.startCall(nextCall, now)
					nextCall++
				}
			}
			u.timers(now)
			if nextCall == u.cfg.Calls && u.firstLive == u.cfg.Calls && !registering {
				return
			}
		}
	}
}

// expire ends the run at the deadline: whatever has not finished failed.
func (u *ua) expire(now time.Time) {
	for _, c := range u.calls {
		if c == nil {
			continue
		}
		if c.state != callDone {
			u.leaveTalking(c)
			reason := "unfinished at the deadline"
			if u.stopping.Load() {
				reason = "interrupted"
			}
			u.finish(c, now, outcomeFailed, reason)
		}
	}
	for _, a := range u.agents {
		if a.leg != nil {
			u.media.stopMedia(a.idx)
		}
	}
}

func (u *ua) startCall(i int, now time.Time) {
	c := &call{idx: i, id: newID("lg-"), fromTag: newID("")[:10], sdpVersion: 1}
	u.calls[i] = c
	u.byCallID[c.id] = c
	target := u.cfg.Target.String()
	c.invite = request("INVITE", "sip:hotline@"+target, []sipHeader{
		{"Via", "SIP/2.0/UDP " + u.local.String() + ";branch=z9hG4bK" + newID("") + ";rport"},
		{"From", `"Caller ` + strconv.Itoa(i) + `" <sip:caller` + strconv.Itoa(i) + "@" + u.local.Addr().String() + ">;tag=" + c.fromTag},
		{"To", "<sip:hotline@" + target + ">"},
		{"Call-ID", c.id},
		{"CSeq", "1 INVITE"},
		{"Contact", "<sip:load" + strconv.Itoa(i) + "@" + u.local.String() + ">"},
		{"Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, MESSAGE, NOTIFY"},
	}, sdpOffer(u.media.addr(i), uint64(i)+1, c.sdpVersion))
	c.state = callInviting
	c.sentAt = time.Now()
	c.interval = t1
	c.retransAt = now.Add(t1)
	c.giveUpAt = now.Add(transactionTimeout)
	u.send(c.invite, u.cfg.Target)
}

// timers fires retransmissions, hang-ups and timeouts.
func (u *ua) timers(now time.Time) {
	for u.firstLive < len(u.calls) && u.calls[u.firstLive] != nil && u.calls[u.firstLive].state == callDone {
		u.firstLive++
	}
	for i := u.firstLive; i < len(u.calls); i++ {
		c := u.calls[i]
		if c == nil {
			break
		}
		switch c.state {
		case callInviting:
			if now.After(c.giveUpAt) {
				u.finish(c, now, outcomeFailed, "INVITE timeout")
			} else if now.After(c.retransAt) {
				// RFC 3261 section 17.1.1.2, Timer A: retransmit with a
				// doubling interval until a response.
				u.send(c.invite, u.cfg.Target)
				c.interval *= 2
				c.retransAt = now.Add(c.interval)
			}
		case callTalking:
			if now.After(c.hangupAt) {
				u.sendBye(c, now)
			}
		case callByeing:
			if now.After(c.giveUpAt) {
				u.finish(c, now, outcomeFailed, "BYE timeout")
			} else if now.After(c.retransAt) {
				// Timer E: doubling up to T2.
				u.send(c.bye, u.cfg.Target)
				c.interval = min(2*c.interval, t2)
				c.retransAt = now.Add(c.interval)
			}
		}
	}
	for _, a := range u.agents {
		if a.state == agentRegistering {
			if now.After(a.giveUpAt) {
				a.state, a.failReason = agentFailed, "REGISTER timeout"
			} else if now.After(a.retransAt) {
				u.send(a.regMsg, u.cfg.Target)
				a.interval = min(2*a.interval, t2)
				a.retransAt = now.Add(a.interval)
			}
		}
		l := a.leg
		if l == nil {
			continue
		}
		switch l.state {
		case legRinging:
			if !now.Before(l.answerAt) {
				u.answerLeg(l, now)
			}
		case legAnswering:
			if now.After(l.giveUpAt) {
				// Timer H: no ACK for our 2xx.
				u.endLeg(l)
			} else if now.After(l.retransAt) {
				// RFC 3261 section 13.3.1.4: retransmit the 2xx until the ACK.
				u.send(l.last, l.from)
				l.interval = min(2*l.interval, t2)
				l.retransAt = now.Add(l.interval)
			}
		}
	}
}

func (u *ua) finish(c *call, now time.Time, outcome, reason string) {
	c.state = callDone
	c.endAt = now
	c.outcome = outcome
	if c.reason == "" {
		c.reason = reason
	}
}

func (u *ua) sendBye(c *call, now time.Time) {
	c.bye = request("BYE", c.dialogURI, []sipHeader{
		{"Via", "SIP/2.0/UDP " + u.local.String() + ";branch=z9hG4bK" + newID("") + ";rport"},
		{"From", "<sip:caller" + strconv.Itoa(c.idx) + "@" + u.local.Addr().String() + ">;tag=" + c.fromTag},
		{"To", "<sip:hotline@" + u.cfg.Target.String() + ">;tag=" + c.toTag},
		{"Call-ID", c.id},
		{"CSeq", "2 BYE"},
	}, nil)
	u.leaveTalking(c)
	c.state = callByeing
	c.byeSentAt = now
	c.interval = t1
	c.retransAt = now.Add(t1)
	c.giveUpAt = now.Add(transactionTimeout)
	u.send(c.bye, u.cfg.Target)
}

// handle dispatches one message from hotline.
func (u *ua) handle(in inbound) {
	m := in.msg
	if c := u.byCallID[m.CallID()]; c != nil {
		if m.Request {
			u.callRequest(c, in)
		} else {
			u.callResponse(c, in)
		}
		return
	}
	if a := u.byRegID[m.CallID()]; a != nil && !m.Request {
		u.registerResponse(a, in)
		return
	}
	if l := u.legs[m.CallID()]; l != nil && m.Request {
		u.legRequest(l, in)
		return
	}
	if !m.Request {
		u.unmatched++
		return
	}
	switch m.Method {
	case "INVITE":
		if headerParam(m.Get("To"), "tag") == "" {
			if a := u.byUser[uriUser(m.URI)]; a != nil {
				u.offer(a, in)
				return
			}
			u.send(response(m, 404, "Not Found", newID("")[:8], nil, nil), in.from)
			return
		}
		u.send(response(m, 481, "Call/Transaction Does Not Exist", "", nil, nil), in.from)
	case "ACK":
	case "OPTIONS", "MESSAGE", "NOTIFY", "INFO":
		u.send(response(m, 200, "OK", newID("")[:8], nil, nil), in.from)
	default:
		u.unmatched++
		u.send(response(m, 481, "Call/Transaction Does Not Exist", "", nil, nil), in.from)
	}
}

func (u *ua) callResponse(c *call, in inbound) {
	m := in.msg
	_, method := m.CSeq()
	switch method {
	case "INVITE":
		switch {
		case m.Status < 200:
			if c.state == callInviting {
				c.state = callProceeding
			}
			if (m.Status == 180 || m.Status == 183) && c.at180.IsZero() {
				c.at180 = in.at
			}
		case m.Status < 300:
			if c.toTag == "" {
				c.toTag = headerParam(m.Get("To"), "tag")
			}
			if c.state == callInviting || c.state == callProceeding {
				c.at200 = in.at
				c.status = m.Status
				c.dialogURI = uriOf(m.Get("Contact"))
				if c.dialogURI == "" {
					c.dialogURI = "sip:hotline@" + u.cfg.Target.String()
				}
				remote, err := parseSDPAudio(m.Body)
				if err != nil {
					c.reason = "200 OK without a usable SDP: " + err.Error()
				} else {
					c.remote = remote
					u.media.startMedia(c.idx, remote)
				}
				c.state = callTalking
				c.hangupAt = in.at.Add(u.cfg.Hold)
				if u.onAnswered != nil {
					u.onAnswered(c)
				}
			}
			// RFC 3261 section 13.2.2.4: ACK every 2xx, retransmissions too.
			if c.ack == nil {
				c.ack = request("ACK", c.dialogURI, []sipHeader{
					{"Via", "SIP/2.0/UDP " + u.local.String() + ";branch=z9hG4bK" + newID("") + ";rport"},
					{"From", "<sip:caller" + strconv.Itoa(c.idx) + "@" + u.local.Addr().String() + ">;tag=" + c.fromTag},
					{"To", m.Get("To")},
					{"Call-ID", c.id},
					{"CSeq", "1 ACK"},
				}, nil)
			}
			u.send(c.ack, u.cfg.Target)
			if c.reason != "" && c.state == callTalking {
				u.sendBye(c, in.at)
			}
		default:
			// RFC 3261 section 17.1.1.3: the ACK of a non-2xx final
			// response is part of the INVITE transaction (same branch).
			u.send(ackFor(c.invite, m), in.from)
			if c.state == callInviting || c.state == callProceeding {
				c.status = m.Status
				if m.Status == 503 {
					c.retryAfter = m.retryAfter()
					u.finish(c, in.at, outcomeRefused, "503 "+m.Reason)
				} else {
					u.finish(c, in.at, outcomeFailed, fmt.Sprintf("INVITE answered %d %s", m.Status, m.Reason))
				}
			}
		}
	case "BYE":
		if m.Status >= 200 && c.state == callByeing {
			if m.Status < 300 {
				u.finish(c, in.at, outcomeCompleted, "")
			} else {
				u.finish(c, in.at, outcomeFailed, fmt.Sprintf("BYE answered %d %s", m.Status, m.Reason))
			}
		}
	}
}

// ackFor builds the ACK of a non-2xx final response from the INVITE it
// answers: same Request-URI, Via, From, Call-ID, the response's To.
func ackFor(invite []byte, res *sipMessage) []byte {
	inv, err := parseSIP(invite)
	if err != nil {
		return nil
	}
	return request("ACK", inv.URI, []sipHeader{
		{"Via", inv.Get("Via")},
		{"From", inv.Get("From")},
		{"To", res.Get("To")},
		{"Call-ID", inv.CallID()},
		{"CSeq", strings.Fields(inv.Get("CSeq"))[0] + " ACK"},
	}, nil)
}

func (u *ua) callRequest(c *call, in inbound) {
	m := in.msg
	switch m.Method {
	case "BYE":
		u.send(response(m, 200, "OK", "", nil, nil), in.from)
		u.leaveTalking(c)
		switch c.state {
		case callByeing:
			// Our BYEs crossed: the call ended as planned.
			u.finish(c, in.at, outcomeCompleted, "")
		case callDone:
		default:
			u.finish(c, in.at, outcomeFailed, "hotline hung up before the caller")
		}
	case "INVITE":
		// A re-INVITE: accept the new offer and keep our address.
		c.reinvites++
		if remote, err := parseSDPAudio(m.Body); err == nil && c.state == callTalking {
			c.remote = remote
			u.media.startMedia(c.idx, remote)
		}
		c.sdpVersion++
		u.send(response(m, 200, "OK", "", []sipHeader{{"Contact", "<sip:load" + strconv.Itoa(c.idx) + "@" + u.local.String() + ">"}},
			sdpOffer(u.media.addr(c.idx), uint64(c.idx)+1, c.sdpVersion)), in.from)
	case "ACK":
	default:
		u.send(response(m, 200, "OK", "", nil, nil), in.from)
	}
}

// register sends an agent's first REGISTER.
func (u *ua) register(a *agent, now time.Time) {
	a.regCallID = newID("reg-")
	a.regTag = newID("")[:10]
	u.byRegID[a.regCallID] = a
	u.sendRegister(a, now, "")
}

func (u *ua) sendRegister(a *agent, now time.Time, authorization string) {
	a.regCSeq++
	target := u.cfg.Target.String()
	aor := "<sip:" + a.user + "@" + target + ">"
	h := []sipHeader{
		{"Via", "SIP/2.0/UDP " + u.local.String() + ";branch=z9hG4bK" + newID("") + ";rport"},
		{"From", aor + ";tag=" + a.regTag},
		{"To", aor},
		{"Call-ID", a.regCallID},
		{"CSeq", strconv.Itoa(a.regCSeq) + " REGISTER"},
		{"Contact", "<sip:" + a.user + "@" + u.local.String() + ">"},
		{"Expires", "3600"},
	}
	if authorization != "" {
		h = append(h, sipHeader{"Authorization", authorization})
	}
	a.regMsg = request("REGISTER", "sip:"+target, h, nil)
	a.state = agentRegistering
	a.interval = t1
	a.retransAt = now.Add(t1)
	a.giveUpAt = now.Add(transactionTimeout)
	u.send(a.regMsg, u.cfg.Target)
}

func (u *ua) registerResponse(a *agent, in inbound) {
	m := in.msg
	if num, _ := m.CSeq(); num != a.regCSeq || a.state != agentRegistering || m.Status < 200 {
		return
	}
	switch {
	case m.Status < 300:
		a.state = agentRegistered
	case m.Status == 401 && a.authTries < 3:
		a.authTries++
		var ch digestChallenge
		var err error = errMalformed
		for _, v := range m.All("WWW-Authenticate") {
			c, perr := parseDigestChallenge(v)
			if perr == nil && (c.Algorithm == "" || strings.EqualFold(c.Algorithm, "MD5")) && c.offersAuth() {
				ch, err = c, nil
				break
			}
		}
		if err != nil {
			a.state, a.failReason = agentFailed, "no MD5 qop=auth challenge"
			return
		}
		auth := digestAuthorization(ch, "REGISTER", "sip:"+u.cfg.Target.String(), a.user, u.cfg.AgentPassword, newID("")[:16], 1)
		u.sendRegister(a, in.at, auth)
	default:
		a.state, a.failReason = agentFailed, fmt.Sprintf("REGISTER answered %d %s", m.Status, m.Reason)
	}
}

// offer handles hotline's INVITE to an agent: ringing at once, answer
// after AnswerDelay, or 486 when the agent is on a call already.
func (u *ua) offer(a *agent, in inbound) {
	m := in.msg
	if a.leg != nil && a.leg.state != legDone {
		a.busy++
		u.send(response(m, 486, "Busy Here", newID("")[:8], nil, nil), in.from)
		return
	}
	l := &agentLeg{agent: a, id: m.CallID(), invite: m, from: in.from, toTag: newID("")[:10], state: legRinging}
	if remote, err := parseSDPAudio(m.Body); err == nil {
		l.remote = remote
	}
	a.leg = l
	a.legs++
	u.legs[l.id] = l
	l.last = response(m, 180, "Ringing", l.toTag, []sipHeader{{"Contact", "<sip:" + a.user + "@" + u.local.String() + ">"}}, nil)
	u.send(l.last, in.from)
	l.answerAt = in.at.Add(u.cfg.AnswerDelay)
}

func (u *ua) answerLeg(l *agentLeg, now time.Time) {
	a := l.agent
	l.last = response(l.invite, 200, "OK", l.toTag, []sipHeader{{"Contact", "<sip:" + a.user + "@" + u.local.String() + ">"}},
		sdpOffer(u.media.addr(a.idx), uint64(a.idx)+1, a.legs))
	l.state = legAnswering
	l.interval = t1
	l.retransAt = now.Add(t1)
	l.giveUpAt = now.Add(transactionTimeout)
	u.send(l.last, l.from)
}

func (u *ua) endLeg(l *agentLeg) {
	if l.state == legTalking && u.onBridged != nil {
		u.onBridged(-1)
	}
	l.state = legDone
	u.media.stopMedia(l.agent.idx)
	if l.agent.leg == l {
		l.agent.leg = nil
	}
}

func (u *ua) legRequest(l *agentLeg, in inbound) {
	m := in.msg
	switch m.Method {
	case "INVITE":
		if headerParam(m.Get("To"), "tag") == "" {
			// A retransmission of the offer: repeat our last answer.
			if l.state == legRinging || l.state == legAnswering {
				u.send(l.last, in.from)
			}
			return
		}
		if remote, err := parseSDPAudio(m.Body); err == nil && l.state == legTalking {
			l.remote = remote
			u.media.startMedia(l.agent.idx, remote)
		}
		u.send(response(m, 200, "OK", "", []sipHeader{{"Contact", "<sip:" + l.agent.user + "@" + u.local.String() + ">"}},
			sdpOffer(u.media.addr(l.agent.idx), uint64(l.agent.idx)+1, l.agent.legs+1)), in.from)
	case "ACK":
		if l.state == legAnswering {
			l.state = legTalking
			l.agent.legsAnswered++
			if u.onBridged != nil {
				u.onBridged(+1)
			}
			if l.remote.IsValid() {
				u.media.startMedia(l.agent.idx, l.remote)
			}
		}
	case "CANCEL":
		u.send(response(m, 200, "OK", l.toTag, nil, nil), in.from)
		if l.state == legRinging {
			// RFC 3261 section 9.2: the INVITE ends with 487.
			u.send(response(l.invite, 487, "Request Terminated", l.toTag, nil, nil), in.from)
			l.agent.cancelled++
			u.endLeg(l)
		}
	case "BYE":
		u.send(response(m, 200, "OK", "", nil, nil), in.from)
		u.endLeg(l)
	default:
		u.send(response(m, 200, "OK", "", nil, nil), in.from)
	}
}

// collect turns the calls and counters into the report's figures.
func (u *ua) collect(r *report, media *mediaEngine) {
	r.Calls = u.cfg.Calls
	var i180, i200, first []float64
	var sent, recv uint64
	var lost, tsGap int64
	answered := 0
	for i, c := range u.calls {
		ep := &media.eps[i]
		cr := callResult{Invite180MS: -1, Invite200MS: -1, FirstAudioMS: -1}
		if c == nil {
			cr.Outcome, cr.Reason = outcomeFailed, "never started"
			r.Failed++
			r.FailReasons[cr.Reason]++
			r.PerCall = append(r.PerCall, cr)
			continue
		}
		cr.CallID, cr.Outcome, cr.Reason, cr.Status, cr.RetryAfter = c.id, c.outcome, c.reason, c.status, c.retryAfter
		switch c.outcome {
		case outcomeCompleted:
			r.Completed++
		case outcomeRefused:
			r.Refused++
		default:
			r.Failed++
			r.FailReasons[c.reason]++
		}
		if !c.at180.IsZero() {
			cr.Invite180MS = ms(c.at180.Sub(c.sentAt))
			i180 = append(i180, cr.Invite180MS)
		}
		cr.RTPSent, cr.RTPReceived, cr.RTPLost = ep.txPackets.Load(), ep.rxPackets.Load(), ep.lost()
		if !c.at200.IsZero() {
			answered++
			cr.Invite200MS = ms(c.at200.Sub(c.sentAt))
			i200 = append(i200, cr.Invite200MS)
			if !c.byeSentAt.IsZero() {
				cr.HoldMS = ms(c.byeSentAt.Sub(c.at200))
			}
			fr := ep.firstRx.Load()
			if fr != 0 {
				// Received audio is stamped at the sender loop's 10 ms tick
				// that read it, so a packet read in the tick before the
				// one in which the 200 OK was handled comes out a few ms
				// "before" the answer: that is audio at the answer.
				cr.FirstAudioMS = max(0, ms(media.base.Add(time.Duration(fr)).Sub(c.at200)))
				first = append(first, cr.FirstAudioMS)
			}
			if fr == 0 || cr.FirstAudioMS > 2000 {
				r.NoAudio2s++
			}
			sent += cr.RTPSent
			recv += cr.RTPReceived
			lost += cr.RTPLost
			tsGap += ep.rxTSGap
		}
		r.PerCall = append(r.PerCall, cr)
	}
	r.Answered = answered
	r.Invite180, r.Invite200, r.FirstAudio = quantilesOf(i180), quantilesOf(i200), quantilesOf(first)
	if answered > 0 {
		r.RTPSentPerCall = float64(sent) / float64(answered)
		r.RTPReceivedPerCall = float64(recv) / float64(answered)
	}
	if recv+uint64(max(lost, 0)) > 0 {
		r.RTPLossPercent = 100 * float64(lost) / float64(recv+uint64(max(lost, 0)))
	}
	if recv > 0 {
		r.RTPSkippedPercent = 100 * float64(tsGap) / float64(int64(recv)+tsGap)
	}
	for _, a := range u.agents {
		switch a.state {
		case agentRegistered:
			r.AgentsRegistered++
		case agentFailed:
			r.AgentsFailed++
			r.FailReasons["agent: "+a.failReason]++
		}
		r.AgentLegs += a.legs
		r.AgentLegsAnswered += a.legsAnswered
		r.AgentBusy += a.busy
		r.AgentCancelled += a.cancelled
		ep := &media.eps[a.idx]
		r.AgentRTPSent += ep.txPackets.Load()
		r.AgentRTPReceived += ep.rxPackets.Load()
		r.AgentRTPLost += ep.lost()
	}
	r.RTPSkipped, r.RTPSendErrors, r.RTPStray = media.skipped.Load(), media.sendErrors.Load(), media.stray.Load()
	if u.parseErrors > 0 || u.unmatched > 0 || u.sendErrors > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("SIP: %d unparsable datagrams, %d unmatched messages, %d send errors", u.parseErrors, u.unmatched, u.sendErrors))
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
