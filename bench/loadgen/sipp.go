//go:build linux

package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// sippCall is what the scenario's log actions tell about one call (ms of
// sipp's clock; -1 when the event did not happen).
type sippCall struct {
	ID                         string
	Invite, Ringing, OK, ByeOK int64
}

// parseSippLog reads "I|R|A|B CALL-ID TICK" lines written by the log
// actions of bench/loadgen/sipp/uac.xml, keeping the first of each kind.
func parseSippLog(text string) []*sippCall {
	byID := map[string]*sippCall{}
	var order []*sippCall
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || len(f[0]) != 1 {
			continue
		}
		tick, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			continue
		}
		c := byID[f[1]]
		if c == nil {
			c = &sippCall{ID: f[1], Invite: -1, Ringing: -1, OK: -1, ByeOK: -1}
			byID[f[1]] = c
			order = append(order, c)
		}
		set := func(p *int64) {
			if *p < 0 {
				*p = tick
			}
		}
		switch f[0] {
		case "I":
			set(&c.Invite)
		case "R":
			set(&c.Ringing)
		case "A":
			set(&c.OK)
		case "B":
			set(&c.ByeOK)
		}
	}
	return order
}

// freeUDPPair returns an even port p with p and p+2 free on 127.0.0.1
// (sipp's -mp takes both, for audio and video).
func freeUDPPair() (int, error) {
	for p := 40000; p < 44000; p += 4 {
		ok := true
		for _, q := range []int{p, p + 2} {
			c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", q))
			if err != nil {
				ok = false
				break
			}
			c.Close()
		}
		if ok {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free UDP port pair for sipp's media")
}

// capture is a dumpcap process counting packets that match a filter.
type capture struct {
	cmd  *exec.Cmd
	file string
}

func startCapture(dir, name, filter string) (*capture, error) {
	if _, err := exec.LookPath("dumpcap"); err != nil {
		return nil, err
	}
	c := &capture{file: filepath.Join(dir, name+".pcap")}
	c.cmd = exec.Command("dumpcap", "-q", "-i", "lo", "-f", filter, "-s", "64", "-w", c.file)
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	return c, nil
}

// stop ends dumpcap by PID and counts the packets it wrote.
func (c *capture) stop() (int64, error) {
	if c == nil {
		return -1, nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
	out, err := exec.Command("capinfos", "-c", "-M", c.file).CombinedOutput()
	if err != nil {
		return -1, fmt.Errorf("capinfos: %w: %s", err, out)
	}
	m := regexp.MustCompile(`Number of packets:\s+(\d+)`).FindSubmatch(out)
	if m == nil {
		return -1, fmt.Errorf("capinfos: no packet count in %q", out)
	}
	return strconv.ParseInt(string(m[1]), 10, 64)
}

// runSipp lets sipp place the calls with the scenario given by -sipp and
// measures hotline exactly as for loadgen's own callers. The scenario's
// directory is sipp's working directory (rtp_stream finds speech.wav
// there). RTP in and out is counted by dumpcap on sipp's media port when
// dumpcap and capinfos are installed.
func runSipp(ctx context.Context, o options, t *target, r *report, deadline time.Time, log *slog.Logger) error {
	scen, err := filepath.Abs(o.sippScenario)
	if err != nil {
		return err
	}
	dir := filepath.Dir(scen)
	if _, err := os.Stat(filepath.Join(dir, "speech.wav")); err != nil {
		return fmt.Errorf("%w: sipp's rtp_stream needs speech.wav (8 kHz mono u-law) beside the scenario: %w", errUsage, err)
	}
	sipPort, err := freePort(true)
	if err != nil {
		return err
	}
	mp, err := freeUDPPair()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "loadgen-sipp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	logFile := filepath.Join(work, "calls.log")
	capIn, err := startCapture(work, "in", fmt.Sprintf("udp and dst host 127.0.0.1 and dst port %d", mp))
	if err != nil {
		r.Notes = append(r.Notes, "RTP not counted: "+err.Error())
	}
	capOut, _ := startCapture(work, "out", fmt.Sprintf("udp and src host 127.0.0.1 and src port %d", mp))
	time.Sleep(time.Second) // dumpcap needs a moment before it captures

	limit := time.Until(deadline)
	args := []string{"-sf", scen, "-r", strconv.FormatFloat(o.cps, 'f', -1, 64), "-rp", "1000",
		"-m", strconv.Itoa(o.calls), "-l", strconv.Itoa(o.calls), "-d", strconv.FormatInt(o.hold.Milliseconds(), 10),
		"-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", strconv.Itoa(mp), "-p", strconv.Itoa(sipPort),
		"-nostdin", "-trace_logs", "-log_file", logFile, "-trace_err", "-error_file", filepath.Join(work, "errors.log"),
		"-timeout", strconv.Itoa(int(limit.Seconds())) + "s", "-timeout_error", "-max_recv_loops", "10000",
		t.sip.String()}
	cmd := exec.Command("sipp", args...)
	cmd.Dir = dir
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	r.Command += "   # sipp " + strings.Join(args, " ")
	var active atomic.Int64
	var sippPID atomic.Int64
	genCPU := func() time.Duration {
		if pid := sippPID.Load(); pid > 0 {
			if st, err := readProcStat(int(pid)); err == nil {
				return st.CPU
			}
		}
		return 0
	}
	// Readings before the first call, for the RSS baseline.
	smp := startSampler(t, &active, genCPU)
	time.Sleep(1500 * time.Millisecond)
	callsStarted := time.Now()
	if err := cmd.Start(); err != nil {
		smp.finish()
		return fmt.Errorf("start sipp: %w", err)
	}
	sippPID.Store(int64(cmd.Process.Pid))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	log.Info("sipp started", "pid", cmd.Process.Pid, "calls", o.calls, "cps", o.cps, "hold", o.hold)

	// Follow the log to know how many calls are up (200 seen, BYE not yet
	// answered).
	var lastCPU time.Duration
	follow := func() {
		b, err := os.ReadFile(logFile)
		if err != nil {
			return
		}
		var up int64
		for _, c := range parseSippLog(string(b)) {
			if c.OK >= 0 && c.ByeOK < 0 {
				up++
			}
		}
		active.Store(up)
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	// stopSipp ends sipp by its PID: TERM, then KILL after 5 s.
	stopSipp := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			return <-exited
		}
	}
	var exitErr error
wait:
	for {
		select {
		case exitErr = <-exited:
			break wait
		case <-tick.C:
			follow()
			if cpu := genCPU(); cpu > 0 {
				lastCPU = cpu
			}
			if time.Now().After(deadline.Add(5 * time.Second)) {
				log.Warn("deadline: stopping sipp")
				exitErr = stopSipp()
				break wait
			}
		case <-ctx.Done():
			exitErr = stopSipp()
			break wait
		}
	}
	follow()
	readings := smp.finish()
	// The sipp process is gone: its CPU in the window is in the readings,
	// its total is the last value read while it ran.
	r.GeneratorCPUTotal = lastCPU.Seconds()
	if exitErr != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("sipp exited: %v (%s)", exitErr, lastLine(out.String())))
	}
	in, errIn := capIn.stop()
	outPk, errOut := capOut.stop()
	if errIn != nil || errOut != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("RTP capture: %v %v", errIn, errOut))
	}

	b, _ := os.ReadFile(logFile)
	calls := parseSippLog(string(b))
	r.Calls = o.calls
	var i180, i200 []float64
	for _, c := range calls {
		cr := callResult{CallID: c.ID, Invite180MS: -1, Invite200MS: -1, FirstAudioMS: -1, Outcome: outcomeFailed}
		if c.Ringing >= 0 && c.Invite >= 0 {
			cr.Invite180MS = float64(c.Ringing - c.Invite)
			i180 = append(i180, cr.Invite180MS)
		}
		if c.OK >= 0 && c.Invite >= 0 {
			r.Answered++
			cr.Invite200MS = float64(c.OK - c.Invite)
			i200 = append(i200, cr.Invite200MS)
		}
		switch {
		case c.ByeOK >= 0:
			cr.Outcome = outcomeCompleted
			r.Completed++
		case c.OK >= 0:
			cr.Reason = "no 200 to the BYE"
		default:
			cr.Reason = "no 200 to the INVITE"
		}
		if cr.Outcome == outcomeFailed {
			r.Failed++
			r.FailReasons[cr.Reason]++
		}
		r.PerCall = append(r.PerCall, cr)
	}
	if missing := o.calls - len(calls); missing > 0 {
		r.Failed += missing
		r.FailReasons["never started"] += missing
	}
	r.Invite180, r.Invite200 = quantilesOf(i180), quantilesOf(i200)
	r.FirstAudio = quantilesOf(nil)
	r.NoAudio2s = -1 // sipp does not tell
	r.Audio = filepath.Join(dir, "speech.wav") + " (sipp rtp_stream, looped)"
	r.RTPLossPercent = math.NaN()
	if r.Answered > 0 && in >= 0 && outPk >= 0 {
		r.RTPReceivedPerCall = float64(in) / float64(r.Answered)
		r.RTPSentPerCall = float64(outPk) / float64(r.Answered)
	} else {
		r.RTPReceivedPerCall, r.RTPSentPerCall = math.NaN(), math.NaN()
	}
	r.HotlineAlive = t.proc == nil || t.proc.alive()
	measure(r, readings, callsStarted)
	if t.proc != nil {
		r.HotlineWarn, r.HotlineErrors, r.HotlineLogExamples = logLevels(t.proc.logPath)
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// lockedBuffer collects a child's output from two pipes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 1<<20 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
