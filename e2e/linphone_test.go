//go:build linux

package e2e

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// linphonePhone is a linphonec (liblinphone 5.1) softphone acting as an
// agent. Unlike baresip 1.0 it can transfer attended (REFER with Replaces,
// RFC 3891), so it is the agent phone of the warm-transfer tests (R4).
//
// linphonec runs its SIP stack only when its console is a terminal, so it
// runs on a pseudo-terminal: commands are typed into the terminal and its
// console output (call events, `calls` tables) is read back from it. Its
// log (level 6, in the phone's directory) holds every SIP message it sent
// and received; sipMessages parses them.
//
// All methods that can fail the test must be called from the test's
// goroutine.
type linphonePhone struct {
	t       *testing.T
	user    string
	dir     string
	rcPath  string
	logPath string
	recPath string // what the phone hears (`record`)
	sipPort int
	rtpLo   int
	rtpHi   int

	proc   *exec.Cmd
	pty    *os.File // master side of the phone's terminal
	exited chan struct{}
	read   chan struct{} // closed when the terminal reader ends

	mu      sync.Mutex
	out     strings.Builder // console output, escapes and CRs removed
	pending []byte          // an escape sequence cut by a read
	cursor  int             // waitOutput searches from here
	stopped bool
}

// linphoneOpts configures one linphonec agent phone.
type linphoneOpts struct {
	user, password string
	name           string // display name in From/Contact (default: the user)
	mic            string // 8 kHz mono 16-bit WAV the agent "speaks"; empty = silence
	// slot (0 or 1) picks the phone's ports in the test's port block:
	// SIP at +160+10·slot, RTP +162+10·slot … +167+10·slot (three calls).
	slot int
	// noWait skips waiting for hotline to report the agent ready (for
	// agents the test expects not to become ready).
	noWait bool
}

// linphoneAgentsYAML is a config block with agents 1001 and 1002 and the
// registrar's default digest algorithms (SHA-256 and MD5): linphonec
// answers the SHA-256 challenge, unlike Debian's baresip 1.0.
func linphoneAgentsYAML(extra string) string {
	return `api: {token: "` + apiToken + `"}
agents:
  - {user: "1001", name: "Alice", password: "alice-secret-1"}
  - {user: "1002", name: "Bob", password: "bob-secret-22"}
` + extra
}

// startLinphone runs linphonec for one agent against s: UDP only, IPv4,
// sound from files (its microphone plays o.mic, what it hears is
// recorded), auto-answer off. It registers with digest credentials and
// returns once hotline reports the agent ready (unless o.noWait). The
// phone is stopped by PID when the test ends.
func startLinphone(t *testing.T, s *server, o linphoneOpts) *linphonePhone {
	t.Helper()
	if _, err := exec.LookPath("linphonec"); err != nil {
		t.Fatal("linphonec not found on PATH: install Debian's linphone-cli (scripts/install-test-deps.sh does)")
	}
	if o.name == "" {
		o.name = o.user
	}
	p := &linphonePhone{t: t, user: o.user, dir: t.TempDir(), exited: make(chan struct{}), read: make(chan struct{}),
		sipPort: s.rtpMin + 160 + 10*o.slot, rtpLo: s.rtpMin + 162 + 10*o.slot}
	p.rtpHi = p.rtpLo + 5
	p.rcPath = filepath.Join(p.dir, "linphonerc")
	p.logPath = filepath.Join(p.dir, "linphonec.log")
	p.recPath = filepath.Join(p.dir, "heard.wav")
	// use_ipv6=0 sticks only with ipv6_migration_done=1 (else the SDP
	// says IP6); guess_hostname=0 and contact= give a sane From. TCP and
	// TLS are off (0), so the phone listens on UDP only. inc_timeout is
	// past any ring the server does: hotline decides when ringing stops.
	rc := fmt.Sprintf(`[sip]
sip_port=%[1]d
sip_tcp_port=0
sip_tls_port=0
use_ipv6=0
ipv6_migration_done=1
guess_hostname=0
contact="%[2]s" <sip:%[3]s@127.0.0.1>
default_proxy=0
inc_timeout=120
register_only_when_network_is_up=0

[net]
firewall_policy=0
mtu=1300

[rtp]
audio_rtp_port=%[4]d-%[5]d

[video]
enabled=0
capture=0
display=0
automatically_initiate=0
automatically_accept=0

[sound]
echocancellation=0

[proxy_0]
reg_proxy=<sip:127.0.0.1:%[6]d;transport=udp>
reg_identity="%[2]s" <sip:%[3]s@127.0.0.1>
reg_expires=60
reg_sendregister=1
publish=0
dial_escape_plus=0

[auth_info_0]
username=%[3]s
passwd=%[7]s
domain=127.0.0.1
`, p.sipPort, o.name, o.user, p.rtpLo, p.rtpHi, s.sipPort, o.password)
	if err := os.WriteFile(p.rcPath, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	// liblinphone keeps a database under $HOME: keep it in the test's dir.
	if err := os.MkdirAll(filepath.Join(p.dir, ".local", "share", "linphone"), 0o755); err != nil {
		t.Fatal(err)
	}

	master, slave, err := linphoneOpenPTY()
	if err != nil {
		t.Fatalf("linphonec %s: %v", o.user, err)
	}
	p.pty = master
	p.proc = exec.Command("linphonec", "-c", p.rcPath, "-d", "6", "-l", p.logPath)
	p.proc.Dir = p.dir
	p.proc.Env = append(os.Environ(), "HOME="+p.dir, "TERM=dumb",
		"XDG_DATA_HOME="+filepath.Join(p.dir, ".local", "share"), "XDG_CONFIG_HOME="+filepath.Join(p.dir, ".config"))
	p.proc.Stdin, p.proc.Stdout, p.proc.Stderr = slave, slave, slave
	// Its own session with the terminal as controlling tty (fd 0 in the
	// child); killed with the test binary should that die first.
	p.proc.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Pdeathsig: syscall.SIGKILL}
	if err := p.proc.Start(); err != nil {
		master.Close()
		slave.Close()
		t.Fatalf("linphonec %s: %v", o.user, err)
	}
	slave.Close() // the child holds its own copy; EOF/EIO on the master once it exits
	go p.readTerminal()
	go func() { p.proc.Wait(); close(p.exited) }()
	t.Cleanup(p.stop)

	p.cmd("autoanswer disable")
	p.cmd("soundcard use files")
	if o.mic != "" {
		p.cmd("play " + o.mic)
	}
	p.cmd("record " + p.recPath)
	if !o.noWait {
		p.waitRegistered(s, 15*time.Second)
	}
	return p
}

// waitRegistered waits until hotline's agent API reports the agent ready,
// failing early if linphonec exits.
func (p *linphonePhone) waitRegistered(s *server, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, _ := s.agentState(p.user)
		if st == "ready" {
			return
		}
		select {
		case <-p.exited:
			p.t.Fatalf("linphonec %s exited before registering:\n%s", p.user, p.output())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("agent %s is %s %v after linphonec started, want ready\nconsole:\n%s\nSIP:\n%s",
				p.user, st, within, p.output(), p.sipTrace())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// linphoneOpenPTY opens a pseudo-terminal pair (/dev/ptmx, unlock, find the
// slave's number) with a wide window, so readline never wraps a command.
func linphoneOpenPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	var n uint32
	var ioErr error
	rc, err := master.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) {
			var unlock int32
			if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
				ioErr = fmt.Errorf("unlock pty: %w", e)
				return
			}
			if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
				ioErr = fmt.Errorf("pty number: %w", e)
			}
		})
	}
	if err == nil {
		err = ioErr
	}
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("open pty slave: %w", err)
	}
	ws := struct{ row, col, x, y uint16 }{50, 400, 0, 0}
	src, err := slave.SyscallConn()
	if err == nil {
		err = src.Control(func(fd uintptr) {
			syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws)))
		})
	}
	if err != nil {
		master.Close()
		slave.Close()
		return nil, nil, fmt.Errorf("pty window size: %w", err)
	}
	return master, slave, nil
}

// linphoneEscape matches the terminal control sequences readline prints.
var linphoneEscape = regexp.MustCompile(`\x1b(\[[0-9;?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[=>])`)

// readTerminal appends the phone's console output, cleaned of control
// sequences and carriage returns, until the terminal closes.
func (p *linphonePhone) readTerminal() {
	defer close(p.read)
	buf := make([]byte, 4096)
	for {
		n, err := p.pty.Read(buf)
		if n > 0 {
			p.mu.Lock()
			data := append(p.pending, buf[:n]...)
			p.pending = nil
			// Keep an escape sequence cut by this read for the next one.
			if i := strings.LastIndexByte(string(data), 0x1b); i >= 0 && len(data)-i < 16 {
				tail := data[i:]
				if !linphoneEscape.Match(tail) {
					p.pending = append([]byte(nil), tail...)
					data = data[:i]
				}
			}
			clean := linphoneEscape.ReplaceAll(data, nil)
			p.out.WriteString(strings.ReplaceAll(string(clean), "\r", ""))
			p.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// output is the whole console output so far.
func (p *linphonePhone) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// cmd types one console command (a line) into linphonec.
func (p *linphonePhone) cmd(line string) {
	p.t.Helper()
	if _, err := p.pty.Write([]byte(line + "\n")); err != nil {
		p.t.Fatalf("linphonec %s: typing %q: %v", p.user, line, err)
	}
}

// waitOutput waits until re matches the console output printed since the
// previous successful waitOutput (or since start), and returns the
// matched text; later waits search only after the match. It fails the
// test after within.
func (p *linphonePhone) waitOutput(re *regexp.Regexp, within time.Duration) string {
	p.t.Helper()
	if m, ok := p.tryOutput(re, within); ok {
		return m
	}
	p.t.Fatalf("linphonec %s printed no %q within %v; console:\n%s", p.user, re, within, p.output())
	return ""
}

// tryOutput is waitOutput that reports a miss instead of failing.
func (p *linphonePhone) tryOutput(re *regexp.Regexp, within time.Duration) (string, bool) {
	deadline := time.Now().Add(within)
	for {
		p.mu.Lock()
		out := p.out.String()
		if loc := re.FindStringIndex(out[p.cursor:]); loc != nil {
			m := out[p.cursor+loc[0] : p.cursor+loc[1]]
			p.cursor += loc[1]
			p.mu.Unlock()
			return m, true
		}
		p.mu.Unlock()
		if time.Now().After(deadline) {
			return "", false
		}
		select {
		case <-p.read:
			// Terminal closed: one last look happens on the next turn.
			deadline = time.Now()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// linphoneCall is one row of linphonec's `calls` table.
type linphoneCall struct {
	ID     int
	Remote string // e.g. "support" <sip:13800138000@127.0.0.1>
	State  string // liblinphone state: IncomingReceived, OutgoingRinging, StreamsRunning, Paused, PausedByRemote…
	Flags  string
}

var (
	linphoneCallsRe = regexp.MustCompile(`(?s)(?:No active call\.|Call states\n.*?-{20,}\n(.*?))\s*linphonec>`)
	linphoneRowRe   = regexp.MustCompile(`^\s*(\d+)\s+\|\s*(.*?)\s*\|\s*(\S+)\s*\|\s*(.*?)\s*\|?\s*$`)
)

// calls lists the phone's current calls (console command `calls`).
func (p *linphonePhone) calls() []linphoneCall {
	p.t.Helper()
	p.cmd("calls")
	m := linphoneCallsRe.FindStringSubmatch(p.waitOutput(linphoneCallsRe, 5*time.Second))
	var out []linphoneCall
	for _, line := range strings.Split(m[1], "\n") {
		r := linphoneRowRe.FindStringSubmatch(line)
		if r == nil {
			continue
		}
		id, _ := strconv.Atoi(r[1])
		out = append(out, linphoneCall{ID: id, Remote: r[2], State: r[3], Flags: r[4]})
	}
	return out
}

// callIDs lists the ids of the phone's current calls, lowest first.
func (p *linphonePhone) callIDs() []int {
	p.t.Helper()
	var ids []int
	for _, c := range p.calls() {
		ids = append(ids, c.ID)
	}
	sort.Ints(ids)
	return ids
}

// waitCallState polls `calls` until call id is in state (e.g.
// "StreamsRunning", "Paused") and fails the test after within.
func (p *linphonePhone) waitCallState(id int, state string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	var last []linphoneCall
	for {
		last = p.calls()
		for _, c := range last {
			if c.ID == id && c.State == state {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("linphonec %s: call %d not %s after %v; calls %+v", p.user, id, state, within, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var (
	linphoneIncomingRe  = regexp.MustCompile(`Receiving new incoming call from (.*), assigned id (\d+)`)
	linphoneConnectedRe = regexp.MustCompile(`Call (\d+) with .* connected\.`)
	linphoneOutgoingRe  = regexp.MustCompile(`Establishing call id to (.*), assigned id (\d+)`)
	linphoneCallStartRe = regexp.MustCompile(`Establishing call id to (.*), assigned id (\d+)|Terminate or hold on the current call first\.`)
	linphoneEndedRe     = regexp.MustCompile(`Call (\d+) with .* ended \((.*)\)\.`)
)

// waitIncoming waits for an incoming call to ring and returns its id.
func (p *linphonePhone) waitIncoming(within time.Duration) int {
	p.t.Helper()
	m := linphoneIncomingRe.FindStringSubmatch(p.waitOutput(linphoneIncomingRe, within))
	id, _ := strconv.Atoi(m[2])
	return id
}

// answer answers the ringing call and waits until linphonec reports it
// connected.
func (p *linphonePhone) answer() {
	p.t.Helper()
	p.cmd("answer")
	p.waitOutput(linphoneConnectedRe, 5*time.Second)
}

// call places a call to uri (e.g. sip:1002@127.0.0.1:5060) and returns
// the id linphonec assigned it; it does not wait for an answer.
// linphonec refuses to call while another call is active ("Terminate or
// hold on the current call first."): pause that call first, as an agent
// does before consulting (R4).
func (p *linphonePhone) call(uri string) int {
	p.t.Helper()
	p.cmd("call " + uri)
	m := linphoneOutgoingRe.FindStringSubmatch(p.waitOutput(linphoneCallStartRe, 5*time.Second))
	if m == nil {
		p.t.Fatalf("linphonec %s refused to call %s while a call is active: pause it first", p.user, uri)
	}
	id, _ := strconv.Atoi(m[2])
	return id
}

// waitEnded waits until linphonec reports a call ended and returns its id
// and reason (e.g. "No error", "Not answered", "Call declined").
func (p *linphonePhone) waitEnded(within time.Duration) (int, string) {
	p.t.Helper()
	m := linphoneEndedRe.FindStringSubmatch(p.waitOutput(linphoneEndedRe, within))
	id, _ := strconv.Atoi(m[1])
	return id, m[2]
}

// transferAttended transfers call callID to the far end of call toCallID
// (`transfer <id> --to-call <id>`): linphonec sends a REFER on callID's
// dialog whose Refer-To carries Replaces= for toCallID's dialog.
func (p *linphonePhone) transferAttended(callID, toCallID int) {
	p.t.Helper()
	p.cmd(fmt.Sprintf("transfer %d --to-call %d", callID, toCallID))
}

// transferBlind transfers call callID to uri (REFER without Replaces).
func (p *linphonePhone) transferBlind(callID int, uri string) {
	p.t.Helper()
	p.cmd(fmt.Sprintf("transfer %d %s", callID, uri))
}

// pause holds call id (re-INVITE a=sendonly).
func (p *linphonePhone) pause(id int) { p.t.Helper(); p.cmd(fmt.Sprintf("pause %d", id)) }

// resume takes call id off hold.
func (p *linphonePhone) resume(id int) { p.t.Helper(); p.cmd(fmt.Sprintf("resume %d", id)) }

// terminate hangs up call id.
func (p *linphonePhone) terminate(id int) { p.t.Helper(); p.cmd(fmt.Sprintf("terminate %d", id)) }

// heard returns what the phone heard (its `record` file) as 8 kHz mono
// samples. The file is readable while a call runs; liblinphone rewrites
// it for every call, so it holds the latest call only.
func (p *linphonePhone) heard() []int16 {
	p.t.Helper()
	raw, err := os.ReadFile(p.recPath)
	if err != nil {
		return nil
	}
	return linphoneWAVTo8k(raw)
}

// linphoneWAVTo8k decodes a 16-bit PCM WAV (any channel count, any rate
// that is a multiple of 8 kHz) to 8 kHz mono. A data chunk whose size was
// not written yet (file still recording) runs to the end of the file.
func linphoneWAVTo8k(raw []byte) []int16 {
	if len(raw) < 12 || string(raw[:4]) != "RIFF" || string(raw[8:12]) != "WAVE" {
		return nil
	}
	channels, rate, bits := 1, 8000, 16
	for off := 12; off+8 <= len(raw); {
		id, size := string(raw[off:off+4]), int(binary.LittleEndian.Uint32(raw[off+4:]))
		body := raw[off+8:]
		switch id {
		case "fmt ":
			if len(body) >= 16 {
				channels = int(binary.LittleEndian.Uint16(body[2:]))
				rate = int(binary.LittleEndian.Uint32(body[4:]))
				bits = int(binary.LittleEndian.Uint16(body[14:]))
			}
		case "data":
			if size == 0 || size > len(body) {
				size = len(body)
			}
			if bits != 16 || channels < 1 || rate < 8000 || rate%8000 != 0 {
				return nil
			}
			step := channels * rate / 8000 // samples (of all channels) per output sample
			frames := size / 2 / step
			out := make([]int16, frames)
			for i := range out {
				var sum int
				for k := 0; k < step; k++ {
					sum += int(int16(binary.LittleEndian.Uint16(body[2*(i*step+k):])))
				}
				out[i] = int16(sum / step)
			}
			return out
		}
		off += 8 + size + size%2
	}
	return nil
}

var linphoneLogStamp = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3} `)

// sipMessages parses the SIP messages linphonec sent and received from
// its log, in order (At is not filled in).
func (p *linphonePhone) sipMessages() []sipMsg {
	raw, err := os.ReadFile(p.logPath)
	if err != nil {
		return nil
	}
	var msgs []sipMsg
	lines := strings.Split(strings.ReplaceAll(string(raw), "\r", ""), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		sent := strings.Contains(l, "]: message sent to [")
		if !sent && !(strings.Contains(l, "]: received [") && strings.Contains(l, "new bytes from [")) {
			continue
		}
		var body []string
		for i+1 < len(lines) && !linphoneLogStamp.MatchString(lines[i+1]) {
			i++
			body = append(body, lines[i])
		}
		text := strings.TrimSpace(strings.Join(body, "\n"))
		if text == "" {
			continue
		}
		m := sipMsg{Sent: sent, Text: text}
		m.First, _, _ = strings.Cut(text, "\n")
		msgs = append(msgs, m)
	}
	return msgs
}

// waitByeAnswered waits until linphonec has sent or received a BYE on the
// dialog of callID and the BYE was answered 200: the call is over on
// both sides, whatever its console said.
func (p *linphonePhone) waitByeAnswered(callID string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		bye, answered := false, false
		for _, m := range p.sipMessages() {
			if m.header("Call-ID") != callID {
				continue
			}
			if strings.HasPrefix(m.First, "BYE ") {
				bye = true
			}
			if bye && strings.HasPrefix(m.First, "SIP/2.0 200") && strings.HasSuffix(m.header("CSeq"), " BYE") {
				answered = true
			}
		}
		if answered {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("linphonec %s: no BYE answered 200 on dialog %s within %v; SIP:\n%s", p.user, callID, within, p.sipTrace())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sentRequest returns the last request of method that linphonec sent, or
// fails the test.
func (p *linphonePhone) sentRequest(method string) sipMsg {
	p.t.Helper()
	msgs := p.sipMessages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Sent && strings.HasPrefix(msgs[i].First, method+" ") {
			return msgs[i]
		}
	}
	p.t.Fatalf("linphonec %s sent no %s; SIP:\n%s", p.user, method, p.sipTrace())
	return sipMsg{}
}

// sipTrace is the phone's SIP conversation as one text, for failure logs.
func (p *linphonePhone) sipTrace() string {
	var b strings.Builder
	for _, m := range p.sipMessages() {
		if m.Sent {
			b.WriteString("---- sent\n")
		} else {
			b.WriteString("---- received\n")
		}
		b.WriteString(m.Text)
		b.WriteString("\n")
	}
	return b.String()
}

// stop ends linphonec by PID: TERM, then KILL after a short grace, and
// checks that no linphonec of this phone is left running.
func (p *linphonePhone) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	_ = p.proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(3 * time.Second):
		_ = p.proc.Process.Kill()
		<-p.exited
	}
	p.pty.Close()
	<-p.read
	if p.t.Failed() {
		p.t.Logf("linphonec %s console:\n%s", p.user, p.output())
		p.t.Logf("linphonec %s SIP:\n%s", p.user, p.sipTrace())
	}
	// Every linphonec of this phone has its private rc path on its
	// command line.
	if out, err := exec.Command("pgrep", "-f", "--", p.rcPath).Output(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
		p.t.Errorf("linphonec %s still running after stop: pids %s", p.user, strings.Fields(string(out)))
	}
}

// R1/R7 with a linphonec agent: a queued caller is offered to the only
// ready agent, whose phone rings until the agent answers; both hear each
// other through the server (the agent's 1 kHz tone, the caller's 600 Hz
// tone). The caller hangs up first, so the server ends the agent's leg
// (the agent never has to hang up on a caller, R7) and the record names
// the agent and says the caller hung up.
func TestLinphoneAgentAnswersAQueueCall(t *testing.T) {
	t.Parallel()
	s := startServer(t, "language: en\n"+linphoneAgentsYAML(""))
	dir := t.TempDir()
	mic := filepath.Join(dir, "agent-1khz.wav")
	writeToneWAV(t, mic, 1000, 60)
	alice := startLinphone(t, s, linphoneOpts{user: "1001", name: "Alice", password: "alice-secret-1", mic: mic})

	earPort := s.rtpMin + 180
	e := listenEar(t, earPort)
	e.speak(t, 600)
	sc := scenario(t, dir, "caller_hangs_up.xml", hangsUp{Ear: earPort, Codecs: "0"})
	done := make(chan sippRun, 1)
	// en greeting ~8 s, then the queue offers the call to Alice; the
	// caller listens 17 s after hotline's answer in all.
	go func() { done <- runSipp(t, s, sc, 60*time.Second, "-d", "17000") }()

	id := alice.waitIncoming(30 * time.Second)
	time.Sleep(time.Second) // let it ring, as a person would
	alice.answer()
	alice.waitCallState(id, "StreamsRunning", 5*time.Second)
	s.waitAgentState("1001", "on_call", 5*time.Second)

	run := <-done
	if run.Exit != 0 {
		t.Fatalf("sipp exit %d: %v\n%s", run.Exit, run.firstLines(), run.Output)
	}
	// R7: the caller hung up; the server, not the agent, ends the agent's leg.
	if ended, reason := alice.waitEnded(5 * time.Second); ended != id {
		t.Errorf("linphonec reported call %d ended (%s), want call %d", ended, reason, id)
	}
	if bye := alice.sipMessages(); !linphoneReceived(bye, "BYE ") {
		t.Error("the agent's leg was not ended by a BYE from the server after the caller hung up")
	}
	rec := s.waitRecord(run.find(t, true, "INVITE").header("Call-ID"))
	if rec.Agent != "1001" || rec.QueueResult != "answered" || rec.HangupBy != "caller" {
		t.Errorf("record agent %q queue result %q hangup_by %q, want 1001, answered, caller", rec.Agent, rec.QueueResult, rec.HangupBy)
	}
	if len(rec.RingAttempts) != 1 || rec.RingAttempts[0].Agent != "1001" || rec.RingAttempts[0].Result != "answered" || rec.RingAttempts[0].RingMS < 800 {
		t.Errorf("ring attempts %+v, want one to 1001 answered after ≥ 1 s of ringing", rec.RingAttempts)
	}
	if rec.TalkMS < 3000 {
		t.Errorf("talk %d ms, want ≥ 3 s", rec.TalkMS)
	}
	callerHeard, agentHeard := toneSeconds(decodedPCMU(e.packets()), 1000), toneSeconds(alice.heard(), 600)
	t.Logf("talk %d ms; the caller heard the agent %.1f s, the agent heard the caller %.1f s", rec.TalkMS, callerHeard, agentHeard)
	if callerHeard < 2 {
		t.Errorf("the caller heard the agent (1 kHz) for %.1f s, want ≥ 2 s", callerHeard)
	}
	if agentHeard < 2 {
		t.Errorf("the agent heard the caller (600 Hz) for %.1f s, want ≥ 2 s", agentHeard)
	}
}

// linphoneReceived reports whether msgs hold a received message whose
// first line starts with prefix.
func linphoneReceived(msgs []sipMsg, prefix string) bool {
	for _, m := range msgs {
		if !m.Sent && strings.HasPrefix(m.First, prefix) {
			return true
		}
	}
	return false
}
