//go:build linux

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/calllog"
)

// R4 from the agent's softphone: Alice blind-transfers the caller
// (baresip's transfer is a REFER). hotline supervises it: the caller
// hears the transfer prompt and music, and is connected to Bob only once
// Bob answered; if Bob does not answer within three ring cycles, or
// declines, the caller hears an apology and Alice again — never dropped,
// never silence. Alice's phone is told the real outcome by NOTIFY
// (RFC 3515 sipfrag), which it reports itself: "Call transfered" for a
// 2xx, "transfer failed: <status>" otherwise.
//
// baresip 1.0 hangs up its call when told a transfer failed, so on a
// failure Alice leaves right after the NOTIFY and hotline rings her back
// (R4: the agent who left is rung back); the caller hears her again
// either way.
func TestTransferFromTheSoftphone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		bob  string // "answers", "never answers" or "declines" (the phone's hang-up key while ringing)
		// result is the record's transfer result; sipfrag what Alice's
		// phone is told in the final NOTIFY.
		result, sipfrag string
		callMS          int // how long the caller stays after the answer
	}{
		{"target answers: the caller talks to Bob and Alice's phone is told 200 OK", "answers", "completed", "200 OK", 16000},
		{"target never answers: apology, then Alice again, and Alice's phone is told 408", "never answers", "no_answer", "408 Request Timeout", 24000},
		// baresip 1.0's hang-up key on a ringing call answers 486
		// ("Rejected"); hotline counts a 486 as busy (603 would be
		// declined).
		{"target declines: apology, then Alice again, and Alice's phone is told 486", "declines", "busy", "486 Busy Here", 20000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, "language: en\nring: {on: 1s, off: 1s}\n"+agentsYAML(""))
			dir := t.TempDir()
			aliceMic, bobMic := filepath.Join(dir, "alice-1khz.wav"), filepath.Join(dir, "bob-1500hz.wav")
			writeToneWAV(t, aliceMic, 1000, 60)
			writeToneWAV(t, bobMic, 1500, 60)
			alice := startAgent(t, s, agentOpts{user: "1001", password: "alice-secret-1", autoAnswer: true, mic: aliceMic, slot: 0})
			s.waitAgentState("1001", "ready", 10*time.Second)
			alicePhone := xferWatch(t, alice)
			// Bob is kept out of the queue's offers by being not ready,
			// so the caller reaches Alice first.
			bob := startAgent(t, s, agentOpts{user: "1002", password: "bob-secret-22", autoAnswer: tc.bob == "answers", mic: bobMic, slot: 1})
			s.waitAgentState("1002", "ready", 10*time.Second)
			s.setAgent(t, "1002", "not-ready")

			e, callID, done := featPlaceCall(t, s, dir, "blind", time.Duration(tc.callMS)*time.Millisecond, 60*time.Second)

			s.waitAgentState("1001", "on_call", 20*time.Second)
			time.Sleep(1500 * time.Millisecond) // the caller talks to Alice
			alicePhone.command("transfer", fmt.Sprintf("sip:1002@127.0.0.1:%d", s.sipPort))
			featWaitEvent(t, s, callID, "transfer_target_ringing", -1, 5*time.Second)
			if tc.bob == "declines" {
				time.Sleep(time.Second)
				bob.command("hangup")
			}
			featWaitEvent(t, s, callID, "transfer_end", -1, 15*time.Second)

			// What Alice's phone says it was told.
			if tc.result == "completed" {
				ev := alicePhone.waitEvent("CALL_CLOSED", 5*time.Second)
				if ev.Param != "Call transfered" {
					t.Errorf("Alice's call closed with %q, want baresip's %q (its reaction to a NOTIFY whose sipfrag is 2xx)", ev.Param, "Call transfered")
				}
			} else {
				ev := alicePhone.waitEvent("TRANSFER_FAILED", 5*time.Second)
				if ev.Param != tc.sipfrag {
					t.Errorf("Alice's phone reports the transfer failed with %q, want %q", ev.Param, tc.sipfrag)
				}
				if want := "call: transfer failed: " + tc.sipfrag; !strings.Contains(alice.log.String(), want) {
					t.Errorf("baresip's log lacks %q", want)
				}
			}
			if evs := alicePhone.eventsOf("TRANSFER_FAILED"); tc.result == "completed" && len(evs) > 0 {
				t.Errorf("Alice's phone was told the completed transfer failed: %q", evs[0].Param)
			}

			run := <-done
			callerStayedOn(t, run)
			rec := s.waitRecord(callID)
			frec, raw := featRecordOf(t, s, callID)
			if len(frec.Transfers) != 1 {
				t.Fatalf("record transfers %+v, want one\n%s", frec.Transfers, raw)
			}
			tr := frec.Transfers[0]
			if tr.Kind != "blind" || tr.From != "1001" || tr.To != "1002" || tr.Result != tc.result {
				t.Errorf("transfer %+v, want blind 1001 → 1002 %s\n%s", tr, tc.result, raw)
			}
			wantAgent := "1001"
			if tc.result == "completed" {
				wantAgent = "1002"
			}
			if rec.Agent != wantAgent || rec.HangupBy != "caller" {
				t.Errorf("record agent %q hangup_by %q, want %s and the caller hanging up first (R7)\n%s", rec.Agent, rec.HangupBy, wantAgent, raw)
			}
			switch tc.bob {
			case "never answers":
				if tr.RingMS < 5800 || tr.RingMS > 7500 {
					t.Errorf("Bob rang %d ms, want three 2 s ring cycles (R1)", tr.RingMS)
				}
			case "declines":
				if tr.RingMS < 700 || tr.RingMS > 3000 {
					t.Errorf("Bob rang %d ms, want about the 1 s until he declined", tr.RingMS)
				}
			}
			if strings.Contains(s.logBuf.String(), "transfer NOTIFY failed") {
				t.Errorf("hotline could not deliver a NOTIFY to Alice's phone:\n%s", xferLogLines(s.logBuf.String(), "NOTIFY"))
			}

			evs := featEvents(t, s, callID)
			start := featEventIndex(evs, "transfer_start", -1, func(e calllog.Event) bool { return e.Data["kind"] == "blind" })
			ringing := featEventIndex(evs, "transfer_target_ringing", start, nil)
			// The outcome: transfer_completed, or transfer_failed with
			// its reason (before the apology; transfer_end follows it).
			end := featEventIndex(evs, "transfer_completed", ringing, nil)
			outcome := "transfer_completed"
			if tc.result != "completed" {
				outcome = "transfer_failed (" + tc.result + ")"
				end = featEventIndex(evs, "transfer_failed", ringing, func(e calllog.Event) bool { return e.Data["reason"] == tc.result })
			}
			if start < 0 || ringing < 0 || end < 0 || featEventIndex(evs, "transfer_end", end, func(e calllog.Event) bool { return e.Data["result"] == tc.result }) < 0 {
				t.Fatalf("events want transfer_start (blind), transfer_target_ringing, %s, transfer_end in order; got:%s", outcome, featEventList(evs))
			}
			startAt, endAt := evs[start].At, evs[end].At
			t.Logf("%s: the transfer took %v", tc.result, endAt.Sub(startAt).Round(10*time.Millisecond))

			// What the caller heard.
			pkts := e.packets()
			if got := toneSeconds(decodedPCMU(featBetween(pkts, startAt.Add(-1500*time.Millisecond), startAt)), 1000); got < 1 {
				t.Errorf("the caller heard Alice %.1f s in the 1.5 s before the transfer, want ≥ 1 s", got)
			}
			waiting := featBetween(pkts, startAt.Add(200*time.Millisecond), endAt)
			if got := toneSeconds(decodedPCMU(waiting), 1000) + toneSeconds(decodedPCMU(waiting), 1500); got > 0.2 {
				t.Errorf("the caller heard an agent for %.1f s while the transfer ran; they must hear the transfer prompt and music", got)
			}
			if got := featLongestSilence(featBetween(pkts, startAt, endAt)); got > time.Second {
				t.Errorf("the caller heard %v of silence while the transfer ran (R4: never silence)", got)
			}
			after := featBetween(pkts, endAt, endAt.Add(time.Hour))
			if tc.result == "completed" {
				t.Run("the caller talks to Bob once he answered", func(t *testing.T) {
					talk := decodedPCMU(featBetween(pkts, endAt.Add(500*time.Millisecond), endAt.Add(time.Hour)))
					if got := toneSeconds(talk, 1500); got < 2 {
						t.Errorf("the caller heard Bob %.1f s after the transfer, want ≥ 2 s", got)
					}
					if got := toneSeconds(talk, 1000); got > 0.2 {
						t.Errorf("the caller still heard Alice %.1f s after the transfer", got)
					}
				})
			} else {
				t.Run("the caller hears the apology, then Alice again", func(t *testing.T) {
					cat := catalogue(t, "en")
					i, n, err := findClip(after, pcmu(cat, "transfer_failed"))
					if err != nil {
						t.Fatalf("the caller did not hear the apology after the failed transfer (R4): %v", err)
					}
					if late := after[i].At.Sub(endAt); late > 500*time.Millisecond {
						t.Errorf("the apology began %v after the transfer failed, want at once", late)
					}
					apologyEnd := after[i+n-1].At
					back := decodedPCMU(featBetween(after, apologyEnd, apologyEnd.Add(time.Hour)))
					if got := toneSeconds(back, 1000); got < 2 {
						t.Errorf("the caller heard Alice %.1f s after the apology, want ≥ 2 s (R4: back with the same agent)", got)
					}
					if got := toneSeconds(decodedPCMU(after), 1500); got > 0.2 {
						t.Errorf("the caller heard Bob %.1f s although he never took the call", got)
					}
					if got := featLongestSilence(after); got > time.Second {
						t.Errorf("the caller heard %v of silence after the failed transfer (never silence)", got)
					}
					path := "returned to her directly"
					if featEventIndex(evs, "ring_back", end, nil) >= 0 {
						path = "rung back after her phone hung up on the failure NOTIFY"
					}
					t.Logf("Alice was %s; the caller heard her %.1f s after the apology", path, toneSeconds(back, 1000))
				})
			}
			if err := featContinuity(pkts, evs); err != nil {
				t.Errorf("the caller's stream broke: %v", err)
			}
		})
	}
}

// xferPhone watches a baresip phone through its ctrl_tcp socket: it keeps
// one connection open, sends commands on it and keeps every event the
// phone reports. baresip 1.0's ctrl_tcp serves one connection at a time
// (the newest), so a phone watched this way takes its commands from here,
// not from agentPhone.command.
type xferPhone struct {
	t    *testing.T
	user string
	conn net.Conn

	mu     sync.Mutex
	events []xferPhoneEvent
	done   chan struct{}
}

// xferPhoneEvent is one ctrl_tcp event, e.g. CALL_CLOSED "Call
// transfered" or TRANSFER_FAILED "408 Request Timeout".
type xferPhoneEvent struct {
	At    time.Time
	Type  string
	Param string
}

// xferWatch connects to a's ctrl_tcp socket and starts collecting events.
func xferWatch(t *testing.T, a *agentPhone) *xferPhone {
	t.Helper()
	var conn net.Conn
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		conn, err = net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", a.ctrl), time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip %s control: %v", a.user, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p := &xferPhone{t: t, user: a.user, conn: conn, done: make(chan struct{})}
	go p.read()
	t.Cleanup(func() {
		conn.Close()
		<-p.done
		if t.Failed() {
			p.mu.Lock()
			t.Logf("baresip %s events: %+v", a.user, p.events)
			p.mu.Unlock()
		}
	})
	return p
}

// read parses the netstrings the phone sends: events and command
// responses.
func (p *xferPhone) read() {
	defer close(p.done)
	r := bufio.NewReader(p.conn)
	for {
		head, err := r.ReadString(':')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(head, ":")))
		if err != nil || n < 0 || n > 1<<20 {
			return
		}
		msg := make([]byte, n+1) // the JSON and the trailing comma
		if _, err := io.ReadFull(r, msg); err != nil {
			return
		}
		var ev struct {
			Event bool   `json:"event"`
			Type  string `json:"type"`
			Param string `json:"param"`
		}
		if json.Unmarshal(msg[:n], &ev) != nil || !ev.Event {
			continue
		}
		p.mu.Lock()
		p.events = append(p.events, xferPhoneEvent{At: time.Now(), Type: ev.Type, Param: ev.Param})
		p.mu.Unlock()
	}
}

// command sends a ctrl_tcp command, e.g. transfer with the target URI.
func (p *xferPhone) command(cmd, params string) {
	p.t.Helper()
	msg, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": "xfer"})
	p.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(p.conn, "%d:%s,", len(msg), msg); err != nil {
		p.t.Fatalf("baresip %s control: %v", p.user, err)
	}
}

// eventsOf returns the events of type typ so far.
func (p *xferPhone) eventsOf(typ string) []xferPhoneEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []xferPhoneEvent
	for _, e := range p.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// waitEvent waits for the phone's first event of type typ.
func (p *xferPhone) waitEvent(typ string, within time.Duration) xferPhoneEvent {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if evs := p.eventsOf(typ); len(evs) > 0 {
			return evs[0]
		}
		if time.Now().After(deadline) {
			p.mu.Lock()
			all := fmt.Sprintf("%+v", p.events)
			p.mu.Unlock()
			p.t.Fatalf("baresip %s reported no %s within %v; its events: %s", p.user, typ, within, all)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// xferLogLines returns the lines of log that mention word.
func xferLogLines(log, word string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
