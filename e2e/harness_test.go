//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"
)

var hotlineBin string

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("sipp"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: sipp not found on PATH: install Debian's sip-tester (the README's test command does)")
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "hotline-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// HOTLINE_BIN runs the suite against an already built server (say,
	// one built from another revision); by default it is built from here.
	hotlineBin = os.Getenv("HOTLINE_BIN")
	if hotlineBin == "" {
		hotlineBin = filepath.Join(dir, "hotline")
		build := exec.Command("go", "build", "-o", hotlineBin, "../cmd/hotline")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building hotline:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// portBlock hands each test its own 200-port block below the kernel's
// ephemeral ports: hotline's RTP range at +0..+98, sipp's media socket at
// +150 (and +152 for video), the test's ear at +180. A block with any of
// those ports taken by another process is skipped.
var portBlock atomic.Int32

func nextPortBlock(t *testing.T) int {
	t.Helper()
	for {
		base := 20000 + 200*int(portBlock.Add(1))
		if base > 32000 {
			t.Fatal("no free 200-port block between 20000 and 32000")
		}
		if udpPortsFree(base, base+2, base+50, base+98, base+150, base+152, base+180) {
			return base
		}
	}
}

func udpPortsFree(ports ...int) bool {
	for _, p := range ports {
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return false
		}
		pc.Close()
	}
	return true
}

// freeSIPPort finds a port free on both UDP and TCP (hotline listens on both).
func freeSIPPort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no port free on both UDP and TCP")
	return 0
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type server struct {
	t        *testing.T
	dir      string
	db       string
	cfgPath  string
	sipPort  int
	httpAddr string
	rtpMin   int
	cmd      *exec.Cmd
	logBuf   *lockedBuffer
	exited   chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServer runs hotline with the built-in config plus extraYAML, on
// fresh ports, and waits until /readyz answers.
func startServer(t *testing.T, extraYAML string) *server {
	t.Helper()
	s := &server{t: t, dir: t.TempDir(), sipPort: freeSIPPort(t), rtpMin: nextPortBlock(t), logBuf: &lockedBuffer{}, exited: make(chan struct{})}
	s.db = filepath.Join(s.dir, "hotline.db")
	s.httpAddr = fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	cfg := fmt.Sprintf(`sip:
  listen: "127.0.0.1:%d"
http:
  listen: %q
rtp:
  bind: 127.0.0.1
  port_min: %d
  port_max: %d
database:
  path: %q
%s`, s.sipPort, s.httpAddr, s.rtpMin, s.rtpMin+98, s.db, extraYAML)
	s.cfgPath = filepath.Join(s.dir, "hotline.yaml")
	if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(hotlineBin, "serve", "--config", s.cfgPath)
	s.cmd.Stdout, s.cmd.Stderr = s.logBuf, s.logBuf
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(s.stop)
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get("http://" + s.httpAddr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("hotline exited at start:\n%s", s.logBuf.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hotline not ready after 15 s:\n%s", s.logBuf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the server by PID: TERM, then KILL after a grace period.
func (s *server) stop() {
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	if s.t.Failed() {
		s.t.Logf("hotline log:\n%s", s.logBuf.String())
	}
}

// record is one row of `hotline calls --json`.
type record struct {
	CallID        string   `json:"call_id"`
	Caller        string   `json:"caller"`
	Called        string   `json:"called"`
	Arrival       string   `json:"arrival"`
	Answer        string   `json:"answer"`
	End           string   `json:"end"`
	AnswerDelayMS int64    `json:"answer_delay_ms"`
	AnswerRings   int      `json:"answer_rings"`
	Greeting      string   `json:"greeting"`
	Digits        string   `json:"digits"`
	Prompts       []string `json:"prompts"`
	HangupBy      string   `json:"hangup_by"`
	HangupReason  string   `json:"hangup_reason"`
	Disposition   string   `json:"disposition"`
	SIPStatus     int      `json:"sip_status"`
	Queue         string   `json:"queue"`
	QueuePosition int      `json:"queue_position"`
	QueueWaitMS   int64    `json:"queue_wait_ms"`
	QueueResult   string   `json:"queue_result"`
	RingAttempts  []struct {
		Agent  string `json:"agent"`
		RingMS int64  `json:"ring_ms"`
		Result string `json:"result"`
	} `json:"ring_attempts"`
	Agent            string `json:"agent"`
	TalkMS           int64  `json:"talk_ms"`
	WrapUpMS         int64  `json:"wrap_up_ms"`
	HoldCount        int    `json:"hold_count"`
	HoldMS           int64  `json:"hold_ms"`
	HoldsOverPromise int    `json:"holds_over_promise"`
	Transfers        []struct {
		From, To, Result string
		RingMS           int64 `json:"ring_ms"`
	} `json:"transfers"`
	EndedBy string `json:"ended_by"`
}

// calls runs `hotline calls --json` against the server's database, as an
// operator would while it runs.
func (s *server) calls() []record {
	s.t.Helper()
	out, err := exec.Command(hotlineBin, "calls", "--json", "--last", "100", "--db", s.db).CombinedOutput()
	if err != nil {
		s.t.Fatalf("hotline calls: %v\n%s", err, out)
	}
	var recs []record
	if err := json.Unmarshal(out, &recs); err != nil {
		s.t.Fatalf("hotline calls --json: %v\n%s", err, out)
	}
	return recs
}

// waitRecord polls until the call's record is there.
func (s *server) waitRecord(callID string) record {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, r := range s.calls() {
			if r.CallID == callID {
				return r
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no call record for %s", callID)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metric reads one sample from /metrics (exact series text, e.g.
// `hotline_calls_total{outcome="completed"}`).
func (s *server) metric(series string) float64 {
	s.t.Helper()
	res, err := http.Get("http://" + s.httpAddr + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, series+" ") {
			var v float64
			fmt.Sscanf(strings.TrimPrefix(line, series+" "), "%g", &v)
			return v
		}
	}
	s.t.Fatalf("series %s not in /metrics", series)
	return 0
}

// sipMsg is one message from sipp's -trace_msg log.
type sipMsg struct {
	At    time.Time
	Sent  bool
	First string // request or status line
	Text  string
}

func (m sipMsg) header(name string) string {
	for _, l := range strings.Split(m.Text, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (m sipMsg) body() string {
	_, b, _ := strings.Cut(m.Text, "\n\n")
	return b
}

type sippRun struct {
	Msgs   []sipMsg
	Exit   int
	Output string
}

// find returns the first message whose first line starts with prefix and
// that went in the given direction.
func (r sippRun) find(t *testing.T, sent bool, prefix string) sipMsg {
	t.Helper()
	for _, m := range r.Msgs {
		if m.Sent == sent && strings.HasPrefix(m.First, prefix) {
			return m
		}
	}
	t.Fatalf("sipp %s no %q; messages: %v", map[bool]string{true: "sent", false: "received"}[sent], prefix, r.firstLines())
	return sipMsg{}
}

func (r sippRun) firstLines() []string {
	var out []string
	for _, m := range r.Msgs {
		dir := "<-"
		if m.Sent {
			dir = "->"
		}
		out = append(out, dir+" "+m.First)
	}
	return out
}

// scenario renders a scenario template from scenarios/ into dir.
func scenario(t *testing.T, dir, name string, data any) string {
	t.Helper()
	tpl, err := template.ParseFiles(filepath.Join("scenarios", name))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tpl.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runSipp runs one sipp call against s and returns its message log. It
// never waits longer than limit.
func runSipp(t *testing.T, s *server, scenarioPath string, limit time.Duration, args ...string) sippRun {
	t.Helper()
	return runSippOn(t, s, scenarioPath, limit, freeSIPPort(t), s.rtpMin+150, args...)
}

// runSippOn is runSipp with the SIP and media ports chosen by the
// caller (a scripted agent keeps its registered port; two callers at once
// need two media ports) and a Call-ID the test knows in advance. Safe to
// call from a goroutine: it reports problems with Errorf.
func runSippOn(t *testing.T, s *server, scenarioPath string, limit time.Duration, sipPort, mediaPort int, args ...string) sippRun {
	dir := t.TempDir()
	msgFile := filepath.Join(dir, "messages.log")
	base := []string{"-sf", scenarioPath, "-m", "1", "-l", "1", "-i", "127.0.0.1", "-p", fmt.Sprint(sipPort),
		"-mp", fmt.Sprint(mediaPort), "-trace_msg", "-message_file", msgFile, "-nostdin",
		"-timeout", fmt.Sprint(int(limit.Seconds())) + "s", "-timeout_error", "-max_recv_loops", "1000"}
	base = append(base, args...)
	base = append(base, fmt.Sprintf("127.0.0.1:%d", s.sipPort))
	ctx, cancel := context.WithTimeout(context.Background(), limit+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sipp", base...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	run := sippRun{Output: string(out)}
	if ee, ok := err.(*exec.ExitError); ok {
		run.Exit = ee.ExitCode()
	} else if err != nil {
		t.Errorf("sipp: %v", err)
		run.Exit = -1
		return run
	}
	raw, err := os.ReadFile(msgFile)
	if err != nil {
		t.Errorf("sipp message log: %v\n%s", err, out)
		return run
	}
	run.Msgs = parseSippLog(t, string(raw))
	return run
}

var sippStamp = regexp.MustCompile(`^-{20,} (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d+)\s*$`)

func parseSippLog(t *testing.T, raw string) []sipMsg {
	var msgs []sipMsg
	var cur *sipMsg
	var body []string
	flush := func() {
		if cur == nil {
			return
		}
		text := strings.TrimSpace(strings.ReplaceAll(strings.Join(body, "\n"), "\r", ""))
		cur.Text = text
		cur.First, _, _ = strings.Cut(text, "\n")
		if cur.First != "" {
			msgs = append(msgs, *cur)
		}
		cur, body = nil, nil
	}
	lines := strings.Split(raw, "\n")
	for i := 0; i < len(lines); i++ {
		if m := sippStamp.FindStringSubmatch(lines[i]); m != nil {
			flush()
			at, err := time.ParseInLocation("2006-01-02 15:04:05.000000", m[1]+" "+m[2], time.Local)
			if err != nil {
				t.Fatalf("sipp log time %q: %v", lines[i], err)
			}
			cur = &sipMsg{At: at}
			if i+1 < len(lines) {
				cur.Sent = strings.Contains(lines[i+1], "message sent")
				i++ // the "UDP message sent (N bytes):" line
			}
			continue
		}
		if cur != nil {
			body = append(body, lines[i])
		}
	}
	flush()
	return msgs
}

// execHotline runs the built hotline binary with args.
func execHotline(args ...string) ([]byte, error) {
	return exec.Command(hotlineBin, args...).Output()
}

// callerStayedOn fails the test unless the caller's sipp ended normally
// (the caller was never dropped, R4) and hotline never sent the caller a
// BYE (the caller hangs up first, R7).
func callerStayedOn(t *testing.T, run sippRun) {
	t.Helper()
	if run.Exit != 0 {
		t.Fatalf("caller's sipp exit %d (never dropped, R4): %v\n%s", run.Exit, run.firstLines(), run.Output)
	}
	for _, m := range run.Msgs {
		if !m.Sent && strings.HasPrefix(m.First, "BYE") {
			t.Error("hotline sent BYE to the caller (R7)")
		}
	}
}
