//go:build linux

package e2e

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// agentPhone is a baresip softphone acting as an agent: it registers
// with digest credentials, answers automatically or never, talks from a
// WAV file and records what it hears.
type agentPhone struct {
	t       *testing.T
	user    string
	dir     string
	sipPort int
	ctrl    int
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *lockedBuffer
}

type agentOpts struct {
	user, password string
	autoAnswer     bool
	mic            string // WAV the agent "speaks"
	slot           int    // 0 or 1: which ports of the test's block to use
	ip             string // loopback address the phone binds (default 127.0.0.1)
}

// startAgent runs baresip for one agent against s.
func startAgent(t *testing.T, s *server, o agentOpts) *agentPhone {
	t.Helper()
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Fatal("baresip not found on PATH: install Debian's baresip-core (the README's test command does)")
	}
	a := &agentPhone{t: t, user: o.user, dir: t.TempDir(), log: &lockedBuffer{}, exited: make(chan struct{}),
		sipPort: s.rtpMin + 100 + 2*o.slot, ctrl: s.rtpMin + 130 + 2*o.slot}
	rtpLo := s.rtpMin + 110 + 10*o.slot
	if o.ip == "" {
		o.ip = "127.0.0.1"
	}
	cfg := fmt.Sprintf(`module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module alsa.so
module sndfile.so
module account.so
module ctrl_tcp.so
module menu.so
ctrl_tcp_listen 127.0.0.1:%d
sip_listen %s:%d
rtp_ports %d-%d
audio_source aufile,%s
audio_player alsa,null
snd_path %s
`, a.ctrl, o.ip, a.sipPort, rtpLo, rtpLo+9, o.mic, a.dir)
	answer := "manual"
	if o.autoAnswer {
		answer = "auto"
	}
	account := fmt.Sprintf("<sip:%s@127.0.0.1:%d>;auth_pass=%s;regint=60;answermode=%s\n", o.user, s.sipPort, o.password, answer)
	if err := os.WriteFile(filepath.Join(a.dir, "config"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.dir, "accounts"), []byte(account), 0o644); err != nil {
		t.Fatal(err)
	}
	a.cmd = exec.Command("baresip", "-f", a.dir)
	a.cmd.Dir = a.dir
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(a.stop)
	return a
}

// stop ends baresip by PID: TERM, then KILL after a short grace (it
// waits ~30 s for un-REGISTER replies otherwise).
func (a *agentPhone) stop() {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(2 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
	if a.t.Failed() {
		a.t.Logf("baresip %s log:\n%s", a.user, a.log.String())
	}
}

// command sends a ctrl_tcp command (JSON in a netstring).
func (a *agentPhone) command(cmd string) { a.commandWith(cmd, "") }

// commandWith sends a ctrl_tcp command with parameters, e.g. dial URI.
func (a *agentPhone) commandWith(cmd, params string) {
	a.t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", a.ctrl), 2*time.Second)
	if err != nil {
		a.t.Fatalf("baresip %s control: %v", a.user, err)
	}
	defer c.Close()
	msg, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": "t1"})
	fmt.Fprintf(c, "%d:%s,", len(msg), msg)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	bufio.NewReader(c).ReadString(',')
}

// heard returns the audio the agent's phone decoded (sndfile dump).
func (a *agentPhone) heard() []int16 {
	a.t.Helper()
	matches, _ := filepath.Glob(filepath.Join(a.dir, "dump-*-dec.wav"))
	if len(matches) == 0 {
		return nil
	}
	raw, err := os.ReadFile(matches[len(matches)-1])
	if err != nil || len(raw) < 44 {
		return nil
	}
	data := raw[44:]
	out := make([]int16, len(data)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
	}
	return out
}

// agentState reads one agent's state from the server's agent API.
func (s *server) agentState(user string) (state, reason string) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.httpAddr+"/api/agents", nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var agents []struct{ User, State, Reason string }
	if err := json.NewDecoder(res.Body).Decode(&agents); err != nil {
		s.t.Fatalf("agent API: %v", err)
	}
	for _, a := range agents {
		if a.User == user {
			return a.State, a.Reason
		}
	}
	s.t.Fatalf("agent %s not in the agent API", user)
	return "", ""
}

func (s *server) waitAgentState(user, want string, within time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, _ := s.agentState(user)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("agent %s is %s after %v, want %s", user, got, within, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const apiToken = "e2e-agent-api-token-0123"

// agentsYAML is a config block with agents 1001 and 1002 for baresip
// (Debian's baresip 1.0 answers MD5 digest challenges only).
func agentsYAML(extra string) string {
	return `api: {token: "` + apiToken + `"}
registrar: {algorithms: [MD5]}
agents:
  - {user: "1001", name: "Alice", password: "alice-secret-1"}
  - {user: "1002", name: "Bob", password: "bob-secret-22"}
` + extra
}

// writeToneWAV writes a 16-bit 8 kHz mono WAV of a sine tone.
func writeToneWAV(t *testing.T, path string, hz float64, seconds int) {
	t.Helper()
	n := 8000 * seconds
	b := make([]byte, 44+2*n)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], 8000)
	binary.LittleEndian.PutUint32(b[28:], 16000)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	for i := 0; i < n; i++ {
		v := int16(8000 * math.Sin(2*math.Pi*hz*float64(i)/8000))
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// toneShare is the share of the signal's energy at hz (Goertzel over the
// whole block): near 1 for a pure tone, near 0 for speech, music or silence.
func toneShare(samples []int16, hz float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	coeff := 2 * math.Cos(2*math.Pi*hz/8000)
	var s1, s2, energy float64
	for _, v := range samples {
		x := float64(v)
		energy += x * x
		s0 := x + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	if energy == 0 {
		return 0
	}
	return 2 * power / (float64(len(samples)) * energy)
}

// toneSeconds counts the 100 ms windows dominated by hz.
func toneSeconds(samples []int16, hz float64) float64 {
	const win = 800
	n := 0
	for i := 0; i+win <= len(samples); i += win {
		if toneShare(samples[i:i+win], hz) > 0.5 && rms16(samples[i:i+win]) > 300 {
			n++
		}
	}
	return float64(n) / 10
}

func rms16(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max(1, len(s))))
}

var _ = strconv.Itoa
var _ = strings.Contains

// setAgent changes an agent's state through the agent API.
func (s *server) setAgent(t *testing.T, user, state string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+s.httpAddr+"/api/agents/"+user+"/"+state, nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("agent API %s %s: %s", user, state, res.Status)
	}
}
