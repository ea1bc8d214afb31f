//go:build linux

package e2e

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/calllog"
	"github.com/zaf/g711"
)

// This file drives an agent's side of a call without a softphone's
// conveniences: a scripted phone (sipp for SIP, featureAgentRTP for its
// media) that keys feature codes as RFC 4733 telephone-events (R3), and
// baresip agents whose transfer fails after they left (R4).

// featAgentsYAML is the config block of this file's tests: the agent API,
// MD5 digest (Debian's baresip 1.0 and sipp answer nothing else), three
// baresip agents and one scripted agent, then queues.
func featAgentsYAML(queues string) string {
	return `api: {token: "` + apiToken + `"}
registrar: {algorithms: [MD5]}
agents:
  - {user: "1001", name: "Alice", password: "alice-secret-1"}
  - {user: "1002", name: "Bob", password: "bob-secret-22"}
  - {user: "1003", name: "Carol", password: "carol-secret-3"}
  - {user: "1004", name: "Dan", password: "dan-secret-444", algorithms: [MD5]}
` + queues
}

// featCallID is a Call-ID for sipp's -cid_str (%u is sipp's call number,
// 1 with -m 1), so a test can follow a call's events while it runs.
func featCallID(name string) (cidStr, callID string) {
	id := fmt.Sprintf("feat-%s-%d", name, time.Now().UnixNano())
	return id + "-%u@%s", id + "-1@127.0.0.1"
}

// featPlaceCall starts a caller (sipp, caller_hangs_up.xml, PCMU) with a
// Call-ID named after tag, who stays on for stay after the answer and then
// hangs up first. The returned ear records what hotline sends the caller;
// done receives sipp's run, which may take up to limit.
func featPlaceCall(t *testing.T, s *server, dir, tag string, stay, limit time.Duration) (e *ear, callID string, done chan sippRun) {
	t.Helper()
	earPort := s.rtpMin + 180
	e = listenEar(t, earPort)
	cid, callID := featCallID(tag)
	sc := scenario(t, dir, "caller_hangs_up.xml", hangsUp{Ear: earPort, Codecs: "0"})
	done = make(chan sippRun, 1)
	go func() {
		done <- runSipp(t, s, sc, limit, "-d", strconv.FormatInt(stay.Milliseconds(), 10), "-cid_str", cid)
	}()
	return e, callID, done
}

// featEvents reads a call's events (the journal while it runs, the events
// table once recorded), as an operator's tool would.
func featEvents(t *testing.T, s *server, callID string) []calllog.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := calllog.OpenReadOnly(ctx, calllog.Options{Path: s.db})
	if err != nil {
		t.Fatalf("open the call log: %v", err)
	}
	defer st.Close()
	evs, err := st.Events(ctx, callID)
	if err != nil {
		t.Fatalf("events of %s: %v", callID, err)
	}
	return evs
}

// featWaitEvent polls until the call has an event of type typ (the
// first one after index after) and returns it with its index.
func featWaitEvent(t *testing.T, s *server, callID, typ string, after int, within time.Duration) (calllog.Event, int) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		evs := featEvents(t, s, callID)
		for i := after + 1; i < len(evs); i++ {
			if evs[i].Type == typ {
				return evs[i], i
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event for %s within %v; events: %s", typ, callID, within, featEventList(evs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// featEventIndex returns the index of the first event of type typ after
// index after for which match holds (nil matches any), or -1.
func featEventIndex(evs []calllog.Event, typ string, after int, match func(calllog.Event) bool) int {
	for i := after + 1; i < len(evs); i++ {
		if evs[i].Type == typ && (match == nil || match(evs[i])) {
			return i
		}
	}
	return -1
}

func featEventList(evs []calllog.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "\n  %s %s %v", e.At.Format("15:04:05.000"), e.Type, e.Data)
	}
	return b.String()
}

// featRecord is the part of a call record this file reads beyond the
// shared record type: the longest hold and the transfers' total time.
type featRecord struct {
	HoldCount     int                       `json:"hold_count"`
	HoldMS        int64                     `json:"hold_ms"`
	LongestHoldMS int64                     `json:"longest_hold_ms"`
	Transfers     []calllog.TransferAttempt `json:"transfers"`
}

func featRecordOf(t *testing.T, s *server, callID string) (featRecord, string) {
	t.Helper()
	s.waitRecord(callID)
	out, err := exec.Command(hotlineBin, "calls", "--json", "--last", "100", "--db", s.db).Output()
	if err != nil {
		t.Fatalf("hotline calls: %v", err)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(out, &raws); err != nil {
		t.Fatalf("hotline calls --json: %v", err)
	}
	for _, raw := range raws {
		var id struct {
			CallID string `json:"call_id"`
		}
		if json.Unmarshal(raw, &id) == nil && id.CallID == callID {
			var r featRecord
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatal(err)
			}
			return r, string(raw)
		}
	}
	t.Fatalf("no call record for %s", callID)
	return featRecord{}, ""
}

// featBetween returns the packets that arrived in [from, to).
func featBetween(pkts []rtpIn, from, to time.Time) []rtpIn {
	var out []rtpIn
	for _, p := range pkts {
		if !p.At.Before(from) && p.At.Before(to) {
			out = append(out, p)
		}
	}
	return out
}

// featLongestSilence is the longest run of silent 20 ms frames, with any
// arrival gap counted as silence too: what "never silence" (R3, R10)
// forbids.
func featLongestSilence(pkts []rtpIn) time.Duration {
	var run, longest time.Duration
	for i, p := range pkts {
		if i > 0 {
			if gap := p.At.Sub(pkts[i-1].At); gap > 60*time.Millisecond {
				run += gap - 20*time.Millisecond
			}
		}
		if rmsPCMU(p.Payload) < 50 {
			run += 20 * time.Millisecond
		} else {
			run = 0
		}
		longest = max(longest, run)
	}
	return longest
}

// featDTMFPairs are the row and column frequencies of the keys the
// agents press in this file.
var featDTMFPairs = map[byte][2]float64{'*': {941, 1209}, '3': {697, 1477}, '#': {941, 1477}}

// featDTMFHeard counts the 100 ms windows that sound like a DTMF key:
// both of a key's frequencies strong at once.
func featDTMFHeard(samples []int16) int {
	const win = 800
	n := 0
	for i := 0; i+win <= len(samples); i += win {
		w := samples[i : i+win]
		if rms16(w) < 300 {
			continue
		}
		for _, f := range featDTMFPairs {
			if toneShare(w, f[0]) > 0.25 && toneShare(w, f[1]) > 0.25 {
				n++
				break
			}
		}
	}
	return n
}

// featNonAudio counts packets that are not PCMU audio, e.g. relayed
// telephone-events.
func featNonAudio(pkts []rtpIn) int {
	n := 0
	for _, p := range pkts {
		if p.PT != 0 {
			n++
		}
	}
	return n
}

// featureAgentRTP is the media of a scripted agent's phone: a socket the
// phone's SDP points at. It learns hotline's address from the first
// packet (symmetric RTP), then sends a steady 20 ms PCMU frame — a tone
// while the agent "talks", silence otherwise — and key presses as RFC 4733
// telephone-events in place of audio, as a phone does.
type featureAgentRTP struct {
	conn   *net.UDPConn
	hz     float64
	dtmfPT uint8

	mu      sync.Mutex
	remote  *net.UDPAddr
	heard   []rtpIn
	toneOn  bool
	presses chan *featKeyPress

	stop chan struct{}
	done sync.WaitGroup
}

type featKeyPress struct {
	event uint8
	done  chan struct{}
}

// startFeatureAgentRTP listens on port and speaks a tone of hz; key
// presses use dtmfPT, the telephone-event payload type of the agent leg.
func startFeatureAgentRTP(t *testing.T, port int, hz float64, dtmfPT uint8) *featureAgentRTP {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatalf("agent RTP socket: %v", err)
	}
	a := &featureAgentRTP{conn: conn, hz: hz, dtmfPT: dtmfPT, presses: make(chan *featKeyPress, 16), stop: make(chan struct{})}
	a.done.Add(2)
	go a.read()
	go a.send()
	t.Cleanup(func() {
		close(a.stop)
		conn.Close()
		a.done.Wait()
	})
	return a
}

func (a *featureAgentRTP) read() {
	defer a.done.Done()
	buf := make([]byte, 2048)
	for {
		n, src, err := a.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if n < 12 || buf[0]>>6 != 2 {
			continue
		}
		p := rtpIn{At: time.Now(), Marker: buf[1]&0x80 != 0, PT: buf[1] & 0x7f,
			Seq: binary.BigEndian.Uint16(buf[2:]), TS: binary.BigEndian.Uint32(buf[4:]), SSRC: binary.BigEndian.Uint32(buf[8:]),
			Payload: append([]byte(nil), buf[12:n]...)}
		a.mu.Lock()
		if a.remote == nil {
			a.remote = src
		}
		a.heard = append(a.heard, p)
		a.mu.Unlock()
	}
}

// send is the phone's 20 ms clock: one packet per tick, audio or the
// current key press's next event packet.
func (a *featureAgentRTP) send() {
	defer a.done.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	const ssrc = 0xa9e47004
	var (
		seq   uint16 = 4000
		ts    uint32 = 80000
		cur   *featKeyPress
		evTS  uint32
		step  int
		phase int // samples of tone sent
		pkt   = make([]byte, 12+160)
	)
	for {
		select {
		case <-a.stop:
			return
		case <-tick.C:
		}
		a.mu.Lock()
		to, tone := a.remote, a.toneOn
		a.mu.Unlock()
		if to == nil {
			continue
		}
		if cur == nil {
			select {
			case cur = <-a.presses:
				evTS, step = ts, 0
			default:
			}
		}
		pkt[0] = 0x80
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[8:], ssrc)
		if cur != nil {
			// RFC 4733 section 2.5: the start packet marked, updates
			// every 20 ms with the same timestamp and a growing
			// duration (a 100 ms press), then the end packet three
			// times (section 2.5.1.4).
			step++
			pkt[1] = a.dtmfPT
			if step == 1 {
				pkt[1] |= 0x80
			}
			binary.BigEndian.PutUint32(pkt[4:], evTS)
			pkt[12] = cur.event
			pkt[13] = 10 // volume -10 dBm0
			if step > 5 {
				pkt[13] |= 0x80
			}
			binary.BigEndian.PutUint16(pkt[14:], uint16(min(step, 5)*160))
			a.conn.WriteToUDP(pkt[:16], to)
			if step == 8 {
				close(cur.done)
				cur = nil
			}
		} else {
			pkt[1] = 0
			binary.BigEndian.PutUint32(pkt[4:], ts)
			for i := 0; i < 160; i++ {
				var v int16
				if tone {
					v = int16(8000 * math.Sin(2*math.Pi*a.hz*float64(phase+i)/8000))
				}
				pkt[12+i] = g711.EncodeUlawFrame(v)
			}
			if tone {
				phase += 160
			}
			a.conn.WriteToUDP(pkt, to)
		}
		seq++
		ts += 160
	}
}

// tone starts (true) or stops (false) the agent's voice; silence frames
// keep the stream going meanwhile.
func (a *featureAgentRTP) tone(on bool) {
	a.mu.Lock()
	a.toneOn = on
	a.mu.Unlock()
}

// keys presses the keys one after another (100 ms each, 100 ms apart)
// and returns once the last end packet has gone out.
func (a *featureAgentRTP) keys(t *testing.T, keys string) {
	t.Helper()
	for i := 0; i < len(keys); i++ {
		k := keys[i]
		var ev uint8
		switch {
		case k >= '0' && k <= '9':
			ev = k - '0'
		case k == '*':
			ev = 10
		case k == '#':
			ev = 11
		default:
			t.Fatalf("no telephone-event for key %q", k)
		}
		p := &featKeyPress{event: ev, done: make(chan struct{})}
		a.presses <- p
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			t.Fatalf("key %q not sent within 3 s (hotline never sent the agent any RTP?)", k)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitRemote waits for hotline's first RTP packet on the agent leg.
func (a *featureAgentRTP) waitRemote(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		a.mu.Lock()
		ok := a.remote != nil
		a.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no RTP from hotline on the agent leg within %v", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// featScriptedAgent is an agent's phone scripted with sipp: it registers
// (digest), then answers one call whose media is m.
type featScriptedAgent struct {
	user  string
	media *featureAgentRTP
	done  chan sippRun
}

// featStartScriptedAgent registers user from a sipp UAC on a port of its
// own, then leaves a sipp UAS on that port to answer the queue call after
// ringMS, with its SDP pointing at the agent's RTP socket.
func featStartScriptedAgent(t *testing.T, s *server, user, password string, hz float64, ringMS int) *featScriptedAgent {
	t.Helper()
	dir := t.TempDir()
	sipPort := freeSIPPort(t)
	mediaPort, rtpPort := s.rtpMin+160, s.rtpMin+170
	reg := scenario(t, dir, "agent_register.xml", struct{ User, Password string }{user, password})
	run := runSippOn(t, s, reg, 10*time.Second, sipPort, mediaPort)
	if run.Exit != 0 {
		t.Fatalf("agent %s could not register (sipp exit %d): %v\n%s", user, run.Exit, run.firstLines(), run.Output)
	}
	s.waitAgentState(user, "ready", 5*time.Second)
	a := &featScriptedAgent{user: user, media: startFeatureAgentRTP(t, rtpPort, hz, 101), done: make(chan sippRun, 1)}
	ans := scenario(t, dir, "agent_answers.xml", struct {
		User        string
		RTP, RingMS int
	}{user, rtpPort, ringMS})
	go func() { a.done <- runSippOn(t, s, ans, 90*time.Second, sipPort, mediaPort) }()
	return a
}

// The feature-code detector must hear a key when there is one, or the
// "no DTMF reaches the caller" checks below could never fail.
func TestFeatureDTMFDetectorHearsKeysAndNotTones(t *testing.T) {
	t.Parallel()
	synth := func(freqs ...float64) []int16 {
		out := make([]int16, 8000)
		for i := range out {
			var v float64
			for _, f := range freqs {
				v += 6000 * math.Sin(2*math.Pi*f*float64(i)/8000)
			}
			out[i] = int16(v)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		audio []int16
		heard bool
	}{
		{"the star key is heard", synth(941, 1209), true},
		{"the three key is heard", synth(697, 1477), true},
		{"an agent's 1 kHz voice tone is not a key", synth(1000), false},
		{"silence is not a key", make([]int16, 8000), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := featDTMFHeard(tc.audio) > 0; got != tc.heard {
				t.Fatalf("heard a key = %v, want %v", got, tc.heard)
			}
		})
	}
}

// R3 from a phone without a hold button: the agent keys *3 as RFC 4733
// telephone-events. The caller at once hears the hold prompt with its
// promise, then music and reassurance — never silence, never the agent,
// never the keys (feature codes are consumed by the server). *3 again
// brings the agent back. The record counts one hold with its time, and
// the hold and unhold are events of the call (R6).
func TestAgentHoldByFeatureCode(t *testing.T) {
	t.Parallel()
	s := startServer(t, "language: en\n"+featAgentsYAML(`queues:
  - {name: support, reassurance_interval: 3s, hold_promise: 1m}
`))
	dir := t.TempDir()
	agent := featStartScriptedAgent(t, s, "1004", "dan-secret-444", 1000, 500)

	e, callID, done := featPlaceCall(t, s, dir, "hold", 23*time.Second, 60*time.Second)

	s.waitAgentState("1004", "on_call", 20*time.Second)
	agent.media.waitRemote(t, 3*time.Second)
	agent.media.tone(true)
	time.Sleep(2500 * time.Millisecond)
	agent.media.keys(t, "*3")
	held := time.Now()
	// A phone keeps sending what its microphone hears while the server
	// holds the caller: the caller must not hear it.
	time.Sleep(8 * time.Second)
	agent.media.keys(t, "*3")
	resumed := time.Now()

	run := <-done
	if run.Exit != 0 {
		t.Fatalf("caller's sipp exit %d: %v\n%s", run.Exit, run.firstLines(), run.Output)
	}
	var agentRun sippRun
	select {
	case agentRun = <-agent.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the agent's phone got no BYE after the caller hung up")
	}
	if agentRun.Exit != 0 {
		t.Fatalf("agent's sipp exit %d: %v\n%s", agentRun.Exit, agentRun.firstLines(), agentRun.Output)
	}
	if inv := agentRun.find(t, false, "INVITE"); !strings.Contains(inv.body(), "a=rtpmap:101 telephone-event/8000") {
		t.Fatalf("hotline's offer to the agent has no telephone-event at 101 (the agent keys at 101):\n%s", inv.body())
	}

	rec := s.waitRecord(callID)
	frec, raw := featRecordOf(t, s, callID)
	holdLen := resumed.Sub(held)
	if rec.Agent != "1004" || rec.HangupBy != "caller" {
		t.Errorf("record agent %q hangup_by %q, want 1004 and the caller (R7)", rec.Agent, rec.HangupBy)
	}
	if frec.HoldCount != 1 || rec.HoldsOverPromise != 0 {
		t.Errorf("record holds %d (over promise %d), want one hold within its promise\n%s", frec.HoldCount, rec.HoldsOverPromise, raw)
	}
	if d := time.Duration(frec.HoldMS) * time.Millisecond; d < holdLen-700*time.Millisecond || d > holdLen+700*time.Millisecond {
		t.Errorf("record hold_ms %d, want about %d (between the two *3)", frec.HoldMS, holdLen.Milliseconds())
	}
	if frec.LongestHoldMS != frec.HoldMS {
		t.Errorf("record longest_hold_ms %d, want the one hold's %d", frec.LongestHoldMS, frec.HoldMS)
	}

	evs := featEvents(t, s, callID)
	code1 := featEventIndex(evs, "agent_feature_code", -1, func(e calllog.Event) bool { return e.Data["code"] == "*3" && e.Data["agent"] == "1004" })
	hold := featEventIndex(evs, "hold", code1, nil)
	code2 := featEventIndex(evs, "agent_feature_code", hold, func(e calllog.Event) bool { return e.Data["code"] == "*3" })
	unhold := featEventIndex(evs, "unhold", code2, nil)
	if code1 < 0 || hold < 0 || code2 < 0 || unhold < 0 {
		t.Fatalf("events want *3, hold, *3, unhold in order; got:%s", featEventList(evs))
	}
	if featEventIndex(evs, "hold", hold, nil) >= 0 {
		t.Errorf("more than one hold event:%s", featEventList(evs))
	}
	holdAt, unholdAt := evs[hold].At, evs[unhold].At
	t.Logf("hold %d ms in the record, the two *3 %d ms apart", frec.HoldMS, holdLen.Milliseconds())

	// What the caller heard.
	cat := catalogue(t, "en")
	pkts := e.packets()
	if n := featNonAudio(pkts); n != 0 {
		t.Errorf("the caller received %d non-PCMU packets: the agent's telephone-events were relayed", n)
	}
	if n := featDTMFHeard(decodedPCMU(pkts)); n != 0 {
		t.Errorf("the caller heard DTMF tones in %d windows of 100 ms: the agent's keys reached the caller", n)
	}
	if err := featContinuity(pkts, evs); err != nil {
		t.Errorf("the caller's stream broke around the hold: %v", err)
	}
	before := featBetween(pkts, holdAt.Add(-2*time.Second), holdAt)
	if got := toneSeconds(decodedPCMU(before), 1000); got < 1.5 {
		t.Errorf("the caller heard the agent %.1f s in the 2 s before the hold, want ≥ 1.5 s", got)
	}
	during := featBetween(pkts, holdAt, unholdAt)
	i, _, err := findClip(during, pcmu(cat, "hold_pre", "hold_one_minute"))
	if err != nil {
		t.Errorf("the caller did not hear the hold prompt with its promise: %v", err)
	} else if late := during[i].At.Sub(holdAt); late > 300*time.Millisecond {
		t.Errorf("the hold prompt began %v after the hold, want at once", late)
	}
	if got := toneSeconds(decodedPCMU(during), 1000); got > 0.2 {
		t.Errorf("the caller heard the agent for %.1f s while on hold", got)
	}
	if got := featLongestSilence(during); got > time.Second {
		t.Errorf("the caller heard %v of silence while on hold (R3: never silence)", got)
	}
	if k := strings.Index(strings.Join(rec.Prompts, " "), "hold_one_minute queue_reassurance"); k < 0 {
		t.Errorf("no reassurance after the hold prompt within 8 s (reassurance_interval 3 s): prompts %v", rec.Prompts)
	}
	after := featBetween(pkts, unholdAt.Add(200*time.Millisecond), unholdAt.Add(2200*time.Millisecond))
	if got := toneSeconds(decodedPCMU(after), 1000); got < 1.5 {
		t.Errorf("the caller heard the agent %.1f s in the 2 s after *3 again, want ≥ 1.5 s", got)
	}
}

// featTransferSetup starts the server, Alice (1001, 1 kHz voice) and Bob
// (1002, never answers, kept out of the queue's offers); Alice answers
// on her own when aliceAnswers.
func featTransferSetup(t *testing.T, queues string, aliceAnswers bool) (*server, *agentPhone, string) {
	t.Helper()
	s := startServer(t, "language: en\nring: {on: 1s, off: 1s}\n"+featAgentsYAML(queues))
	dir := t.TempDir()
	aliceMic := filepath.Join(dir, "alice-1khz.wav")
	writeToneWAV(t, aliceMic, 1000, 60)
	bobMic := filepath.Join(dir, "bob-1200hz.wav")
	writeToneWAV(t, bobMic, 1200, 60)
	alice := startAgent(t, s, agentOpts{user: "1001", password: "alice-secret-1", autoAnswer: aliceAnswers, mic: aliceMic, slot: 0})
	s.waitAgentState("1001", "ready", 10*time.Second)
	startAgent(t, s, agentOpts{user: "1002", password: "bob-secret-22", autoAnswer: false, mic: bobMic, slot: 1})
	s.waitAgentState("1002", "ready", 10*time.Second)
	s.setAgent(t, "1002", "not-ready")
	return s, alice, dir
}

// featTransferAndLeave has Alice blind-transfer the caller to Bob (a
// REFER from baresip) and hang up while Bob is still ringing.
func featTransferAndLeave(t *testing.T, s *server, alice *agentPhone, callID string) {
	t.Helper()
	alice.commandWith("transfer", fmt.Sprintf("sip:1002@127.0.0.1:%d", s.sipPort))
	featWaitEvent(t, s, callID, "transfer_target_ringing", -1, 5*time.Second)
	time.Sleep(1500 * time.Millisecond)
	alice.command("hangup")
}

// R4's guarantee when the transferring agent leaves: Alice transfers to
// Bob and hangs up while Bob rings; Bob never answers. The caller is not
// dropped: hotline rings Alice back, she answers, and the caller hears
// her again. The record has the failed attempt and the ring-back, and the
// caller still hangs up first (R7).
func TestFailedTransferRingsTheAgentBack(t *testing.T) {
	t.Parallel()
	s, alice, dir := featTransferSetup(t, "", true)
	e, callID, done := featPlaceCall(t, s, dir, "ringback", 30*time.Second, 60*time.Second)

	s.waitAgentState("1001", "on_call", 20*time.Second)
	time.Sleep(1500 * time.Millisecond)
	featTransferAndLeave(t, s, alice, callID)
	_, back := featWaitEvent(t, s, callID, "returned_to_agent", -1, 20*time.Second)
	backAt := featEvents(t, s, callID)[back].At

	run := <-done
	callerStayedOn(t, run)
	rec := s.waitRecord(callID)
	frec, raw := featRecordOf(t, s, callID)
	if len(frec.Transfers) != 1 || frec.Transfers[0].From != "1001" || frec.Transfers[0].To != "1002" || frec.Transfers[0].Result != "no_answer" {
		t.Errorf("record transfers %+v, want one 1001 → 1002 no_answer\n%s", frec.Transfers, raw)
	} else if ms := frec.Transfers[0].RingMS; ms < 5800 || ms > 7500 {
		t.Errorf("Bob rang %d ms, want three 2 s ring cycles (R1)", ms)
	}
	if rec.Agent != "1001" || rec.HangupBy != "caller" || rec.EndedBy != "caller" {
		t.Errorf("record agent %q hangup_by %q ended_by %q, want 1001, caller, caller (R7)\n%s", rec.Agent, rec.HangupBy, rec.EndedBy, raw)
	}
	evs := featEvents(t, s, callID)
	start := featEventIndex(evs, "transfer_start", -1, nil)
	failed := featEventIndex(evs, "transfer_failed", start, func(e calllog.Event) bool { return e.Data["reason"] == "no_answer" })
	gone := featEventIndex(evs, "transfer_agent_gone", failed, func(e calllog.Event) bool { return e.Data["agent"] == "1001" })
	ring := featEventIndex(evs, "ring_back", gone, func(e calllog.Event) bool { return e.Data["agent"] == "1001" && e.Data["result"] == "answered" })
	ret := featEventIndex(evs, "returned_to_agent", ring, func(e calllog.Event) bool { return e.Data["agent"] == "1001" })
	conn := featEventIndex(evs, "connected", ret, func(e calllog.Event) bool { return e.Data["agent"] == "1001" })
	if start < 0 || failed < 0 || gone < 0 || ring < 0 || ret < 0 || conn < 0 {
		t.Fatalf("events want transfer_start, transfer_failed (no_answer), transfer_agent_gone, ring_back (answered), returned_to_agent, connected in order; got:%s", featEventList(evs))
	}
	if featEventIndex(evs, "returned_to_queue", -1, nil) >= 0 {
		t.Errorf("the caller was re-queued although Alice answered the ring-back:%s", featEventList(evs))
	}

	cat := catalogue(t, "en")
	pkts := e.packets()
	if _, _, err := findClip(pkts, pcmu(cat, "transfer_failed")); err != nil {
		t.Errorf("the caller did not hear the apology for the failed transfer (R4): %v", err)
	}
	if got := toneSeconds(decodedPCMU(featBetween(pkts, evs[start].At.Add(-1500*time.Millisecond), evs[start].At)), 1000); got < 1 {
		t.Errorf("the caller heard Alice %.1f s before the transfer, want ≥ 1 s", got)
	}
	afterBack := featBetween(pkts, backAt, backAt.Add(time.Hour))
	if got := toneSeconds(decodedPCMU(afterBack), 1000); got < 2 {
		t.Errorf("the caller heard Alice %.1f s after she was rung back, want ≥ 2 s", got)
	} else {
		t.Logf("the caller heard Alice %.1f s of the %d ms after she was rung back", got, 20*len(afterBack))
	}
	if got := featLongestSilence(featBetween(pkts, evs[start].At, backAt)); got > time.Second {
		t.Errorf("the caller heard %v of silence between the transfer and Alice's return (never silence)", got)
	}
	if err := featContinuity(pkts, evs); err != nil {
		t.Errorf("the caller's stream broke: %v", err)
	}
}

// R4 when neither the target nor the transferring agent is there: Alice
// transfers to Bob and hangs up; Bob does not answer and neither does
// Alice's ring-back. The caller is re-queued — at the front, ahead of a
// caller who joined meanwhile, since they have waited longest — hears
// queue audio again, and Carol, the next agent to become ready, takes
// the call.
func TestFailedTransferRequeuesTheCaller(t *testing.T) {
	t.Parallel()
	s, alice, dir := featTransferSetup(t, "queues:\n  - {name: support, on_no_agents: wait, reassurance_interval: 4s}\n", false)
	carolMic := filepath.Join(dir, "carol-1500hz.wav")
	writeToneWAV(t, carolMic, 1500, 60)
	startAgent(t, s, agentOpts{user: "1003", password: "carol-secret-3", autoAnswer: true, mic: carolMic, slot: 2})
	s.waitAgentState("1003", "ready", 10*time.Second)
	s.setAgent(t, "1003", "not-ready")

	e, callID, done := featPlaceCall(t, s, dir, "requeue", 36*time.Second, 70*time.Second)

	s.waitAgentState("1001", "ringing", 20*time.Second)
	alice.command("accept")
	s.waitAgentState("1001", "on_call", 5*time.Second)
	// Alice's phone will not answer the ring-back; after this call she is
	// not offered calls either (a not-ready asked for during a call
	// applies after its wrap-up).
	s.setAgent(t, "1001", "not-ready")

	// A second caller joins the queue while the first talks to Alice.
	listenEar(t, s.rtpMin+184)
	cid2, callID2 := featCallID("second")
	sc2 := scenario(t, t.TempDir(), "caller_hangs_up.xml", hangsUp{Ear: s.rtpMin + 184, Codecs: "0"})
	sip2 := freeSIPPort(t)
	done2 := make(chan sippRun, 1)
	go func() {
		done2 <- runSippOn(t, s, sc2, 70*time.Second, sip2, s.rtpMin+190, "-d", "30000", "-cid_str", cid2)
	}()

	time.Sleep(1500 * time.Millisecond)
	featTransferAndLeave(t, s, alice, callID)
	featWaitEvent(t, s, callID2, "enqueued", -1, 15*time.Second)
	_, requeued := featWaitEvent(t, s, callID, "returned_to_queue", -1, 25*time.Second)
	requeuedAt := featEvents(t, s, callID)[requeued].At
	time.Sleep(3 * time.Second) // the caller waits in the queue again
	carolReady := time.Now()
	s.setAgent(t, "1003", "ready")

	run := <-done
	run2 := <-done2
	if run.Exit != 0 {
		t.Fatalf("sipp exit %d (the caller must never be dropped): %v\n%s", run.Exit, run.firstLines(), run.Output)
	}
	if run2.Exit != 0 {
		t.Errorf("second caller's sipp exit %d: %v\n%s", run2.Exit, run2.firstLines(), run2.Output)
	}
	rec := s.waitRecord(callID)
	frec, raw := featRecordOf(t, s, callID)
	evs := featEvents(t, s, callID)
	if len(frec.Transfers) != 1 || frec.Transfers[0].To != "1002" || frec.Transfers[0].Result != "no_answer" {
		t.Errorf("record transfers %+v, want one to 1002, no_answer\n%s", frec.Transfers, raw)
	}
	gone := featEventIndex(evs, "transfer_agent_gone", -1, func(e calllog.Event) bool { return e.Data["agent"] == "1001" })
	ring := featEventIndex(evs, "ring_back", gone, func(e calllog.Event) bool { return e.Data["agent"] == "1001" && e.Data["result"] == "no_answer" })
	back := featEventIndex(evs, "returned_to_queue", ring, nil)
	again := featEventIndex(evs, "enqueued", back, nil)
	if gone < 0 || ring < 0 || back < 0 || again < 0 {
		t.Fatalf("events want transfer_agent_gone, ring_back (no_answer), returned_to_queue, enqueued in order; got:%s", featEventList(evs))
	}
	if d := evs[ring].At.Sub(evs[gone].At); d < 5800*time.Millisecond || d > 7500*time.Millisecond {
		t.Errorf("Alice's ring-back rang %v, want three 2 s ring cycles (R1)", d)
	}
	if pos := evs[again].Data["position"]; pos != "1" {
		t.Errorf("the re-queued caller joined at position %s, want 1: ahead of the caller who joined while they talked to Alice (issue #4)", pos)
	}
	carol := featEventIndex(evs, "connected", again, func(e calllog.Event) bool { return e.Data["agent"] == "1003" })
	if carol < 0 || rec.Agent != "1003" || rec.HangupBy != "caller" {
		t.Errorf("record agent %q hangup_by %q, want Carol (1003) to take the re-queued caller, who hangs up first; events:%s", rec.Agent, rec.HangupBy, featEventList(evs))
	}
	if rec2 := s.waitRecord(callID2); rec2.Agent == "1003" {
		t.Errorf("Carol took the second caller, who joined later, before the re-queued one (queue result %q)", rec2.QueueResult)
	}

	pkts := e.packets()
	connectedAt := time.Now()
	if carol >= 0 {
		connectedAt = evs[carol].At
		if got := toneSeconds(decodedPCMU(featBetween(pkts, connectedAt, connectedAt.Add(time.Hour))), 1500); got < 2 {
			t.Errorf("the caller heard Carol %.1f s, want ≥ 2 s", got)
		}
	}
	waitEnd := carolReady.Add(500 * time.Millisecond)
	if connectedAt.Before(waitEnd) {
		waitEnd = connectedAt
	}
	waitedAgain := featBetween(pkts, requeuedAt, waitEnd)
	if len(waitedAgain) < 100 || rmsPCMU(featPayloads(waitedAgain)) < 100 {
		t.Errorf("the caller heard no queue audio after being re-queued (%d packets)", len(waitedAgain))
	}
	if got := featLongestSilence(waitedAgain); got > time.Second {
		t.Errorf("the re-queued caller heard %v of silence (R10: never left in silence)", got)
	}
	ringBack := featBetween(pkts, evs[gone].At, requeuedAt)
	if got := featLongestSilence(ringBack); got > time.Second {
		t.Errorf("the caller heard %v of silence while Alice was rung back (%v): never left in silence (R3, R10)", got, requeuedAt.Sub(evs[gone].At).Round(100*time.Millisecond))
	}
	if err := featContinuity(pkts, evs); err != nil {
		t.Errorf("the caller's stream broke: %v", err)
	}
}

// featContinuity checks the caller's stream as checkContinuity does —
// one SSRC, no sequence gap, +160 timestamps, steady arrival — and says
// where in the call it broke (the events around it). Two allowances for
// these tests' machine, where baresip phones and other suites run beside
// the server and a scheduler stall hits every process at once (two
// servers in parallel tests have shown the same 100 ms gap at the same
// instant, and gaps up to 230 ms while other suites ran): arrival gaps up
// to 400 ms, and a timestamp that skips as much time as the stall took (a
// sender catching up on its clock). A stream that stops, or jumps without
// a stall, still fails; the silence checks catch anything over 1 s.
func featContinuity(pkts []rtpIn, evs []calllog.Event) error {
	const maxGap = 400 * time.Millisecond
	where := func(i int, err error) error {
		at := pkts[i].At
		var near []string
		for _, e := range evs {
			if d := e.At.Sub(at); d > -3*time.Second && d < 3*time.Second {
				near = append(near, fmt.Sprintf("%s %+dms", e.Type, d.Milliseconds()))
			}
		}
		return fmt.Errorf("packet %d: %w (at %s; events within 3 s: %v)", i, err, at.Format("15:04:05.000"), near)
	}
	for i := 1; i < len(pkts); i++ {
		a, b := pkts[i-1], pkts[i]
		gap := b.At.Sub(a.At)
		switch {
		case b.SSRC != a.SSRC:
			return where(i, fmt.Errorf("SSRC changed"))
		case b.Seq != a.Seq+1:
			return where(i, fmt.Errorf("sequence %d after %d", b.Seq, a.Seq))
		case gap > maxGap:
			return where(i, fmt.Errorf("arrived %v after the previous one (max %v)", gap, maxGap))
		case b.TS != a.TS+160:
			skipped := time.Duration(b.TS-a.TS) * time.Second / 8000
			if b.TS-a.TS > 8000 || skipped > gap+60*time.Millisecond {
				return where(i, fmt.Errorf("timestamp %d after %d (+%v of audio, arrival gap %v)", b.TS, a.TS, skipped, gap))
			}
		}
	}
	return nil
}

// featPayloads joins the packets' payloads.
func featPayloads(pkts []rtpIn) []byte {
	var b []byte
	for _, p := range pkts {
		b = append(b, p.Payload...)
	}
	return b
}
