//go:build linux

package e2e

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// R12: a softphone with the wrong password is not logged in; a flood of
// wrong passwords from one address is throttled (403), and an agent with
// the right password from another address still registers.
func TestDigestRegistrationAndThrottling(t *testing.T) {
	t.Parallel()
	s := startServer(t, strings.Replace(agentsYAML(""), "registrar: {algorithms: [MD5]}",
		"registrar: {algorithms: [MD5], failure_limit: 5, failure_window: 1m, block_for: 5m}", 1))
	mic := filepath.Join(t.TempDir(), "mic.wav")
	writeToneWAV(t, mic, 440, 5)

	// A misconfigured phone on its own address: it retries at once and
	// gets its own address blocked, nobody else's.
	startAgent(t, s, agentOpts{user: "1001", password: "not-alices-password", mic: mic, slot: 0, ip: "127.0.0.3"})
	time.Sleep(2 * time.Second)
	if st, _ := s.agentState("1001"); st != "logged_out" {
		t.Fatalf("a phone with a wrong password is %s, want logged_out", st)
	}
	if got := s.metric("hotline_registrar_auth_failures_total"); got < 1 {
		t.Fatalf("auth failures = %v, want ≥ 1", got)
	}

	// The flood: REGISTERs with wrong credentials from 127.0.0.2.
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	server := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: s.sipPort}
	var statuses []string
	for i := 1; i <= 8; i++ {
		conn.WriteToUDP([]byte(badRegister(conn.LocalAddr().(*net.UDPAddr), s.sipPort, i)), server)
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 4096)
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("REGISTER %d unanswered: %v", i, err)
		}
		statuses = append(statuses, strings.SplitN(string(buf[:n]), "\r\n", 2)[0])
	}
	last := statuses[len(statuses)-1]
	if !strings.HasPrefix(last, "SIP/2.0 403") {
		t.Fatalf("after 8 wrong passwords the source still gets %q (all: %v), want 403", last, statuses)
	}
	if got := s.metric("hotline_registrar_throttled_total"); got < 1 {
		t.Fatalf("throttled = %v, want ≥ 1", got)
	}

	// Bob, from 127.0.0.1 with the right password, still gets in.
	startAgent(t, s, agentOpts{user: "1002", password: "bob-secret-22", mic: mic, slot: 1})
	s.waitAgentState("1002", "ready", 10*time.Second)
}

// badRegister is a REGISTER for agent 1001 with credentials that do not
// verify (the response is made up).
func badRegister(from *net.UDPAddr, port, n int) string {
	uri := fmt.Sprintf("sip:127.0.0.1:%d", port)
	return fmt.Sprintf("REGISTER %s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;rport;branch=z9hG4bK-flood-%d\r\n"+
		"From: <sip:1001@127.0.0.1>;tag=flood%d\r\nTo: <sip:1001@127.0.0.1>\r\n"+
		"Call-ID: flood-%d@127.0.0.2\r\nCSeq: %d REGISTER\r\nMax-Forwards: 70\r\n"+
		"Contact: <sip:1001@%s>\r\nExpires: 60\r\n"+
		`Authorization: Digest username="1001", realm="hotline", nonce="bm9uY2U", uri="%s", response="00000000000000000000000000000000", algorithm=MD5, qop=auth, nc=00000001, cnonce="abc"`+"\r\n"+
		"Content-Length: 0\r\n\r\n", uri, from.String(), n, n, n, n, from.String(), uri)
}

// An agent switches between ready and not ready by dialling *0 from the
// phone; the call is authenticated with the agent's credentials.
func TestAgentTogglesReadyWithFeatureCode(t *testing.T) {
	t.Parallel()
	s := startServer(t, "language: en\n"+agentsYAML(""))
	mic := filepath.Join(t.TempDir(), "mic.wav")
	writeToneWAV(t, mic, 440, 5)
	bob := startAgent(t, s, agentOpts{user: "1002", password: "bob-secret-22", autoAnswer: true, mic: mic, slot: 1})
	s.waitAgentState("1002", "ready", 10*time.Second)

	dial := fmt.Sprintf("sip:*0@127.0.0.1:%d", s.sipPort)
	bob.commandWith("dial", dial)
	s.waitAgentState("1002", "not_ready", 10*time.Second)
	if _, reason := s.agentState("1002"); reason != "manual" {
		t.Errorf("not-ready reason %q, want manual", reason)
	}
	time.Sleep(4 * time.Second) // the confirmation plays, then hotline hangs up
	bob.commandWith("dial", dial)
	s.waitAgentState("1002", "ready", 10*time.Second)
}
