package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hotlineConfig is what the generated configuration depends on.
type hotlineConfig struct {
	SIPPort, HTTPPort   int
	RTPMin, RTPMax      int
	DBPath              string
	Agents              []string // agent user names (bridged mode)
	AgentPassword       string
	InactivityTimeout   time.Duration
	ReassuranceInterval time.Duration
}

// yamlSection is a top-level key of the generated YAML with its indented
// lines (empty for a scalar written on the key's own line).
type yamlSection struct {
	key   string
	line  string   // the top-level line itself ("rtp:" or "language: en")
	lines []string // indented child lines
}

// generatedConfig writes hotline's YAML for a load run: loopback only, a
// RTP range big enough, a queue in which bridged-mode callers wait for an
// agent (IVR mode has no agents, so no queue: its callers hear the
// greeting, the no-agent apology and the closing), and the registrar's
// brute-force guard out of the way of thousands of registrations from one
// source address.
func generatedConfig(c hotlineConfig) []yamlSection {
	secs := []yamlSection{
		{key: "sip", line: "sip:", lines: []string{fmt.Sprintf("  listen: \"127.0.0.1:%d\"", c.SIPPort)}},
		{key: "http", line: "http:", lines: []string{fmt.Sprintf("  listen: \"127.0.0.1:%d\"", c.HTTPPort)}},
		{key: "rtp", line: "rtp:", lines: []string{
			"  bind: 127.0.0.1",
			fmt.Sprintf("  port_min: %d", c.RTPMin),
			fmt.Sprintf("  port_max: %d", c.RTPMax),
			fmt.Sprintf("  inactivity_timeout: %s", c.InactivityTimeout),
		}},
		{key: "database", line: "database:", lines: []string{"  driver: sqlite", fmt.Sprintf("  path: %q", c.DBPath)}},
		{key: "registrar", line: "registrar:", lines: []string{
			"  algorithms: [MD5]",
			// One source address registers every simulated agent: keep the
			// failure guard from ever blocking it.
			"  failure_limit: 1000000",
			"  failure_window: 1s",
			"  block_for: 1s",
			"  max_expires: 2h",
		}},
		{key: "queues", line: "queues:", lines: []string{
			"  - name: support",
			"    strategy: longest_idle",
			"    wrap_up: 0s",
			"    on_no_agents: wait",
			"    max_wait: 1h",
			fmt.Sprintf("    reassurance_interval: %s", c.ReassuranceInterval),
			"    retry_avoid: 0s",
			"    max_no_answer: 0",
		}},
		{key: "routing", line: "routing:", lines: []string{"  default_queue: support"}},
	}
	if len(c.Agents) > 0 {
		ag := yamlSection{key: "agents", line: "agents:"}
		for _, u := range c.Agents {
			ag.lines = append(ag.lines, fmt.Sprintf("  - {user: %q, password: %q, queues: [support]}", u, c.AgentPassword))
		}
		secs = append(secs, ag)
	}
	return secs
}

// parseYAMLSections splits YAML text into top-level sections. It knows only
// what -extra-yaml needs: top-level keys, each followed by lines indented
// below it; comments and blank lines are kept with the section before them.
func parseYAMLSections(text string) ([]yamlSection, error) {
	var secs []yamlSection
	for n, l := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		trimmed := strings.TrimSpace(l)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || l[0] == ' ' || l[0] == '\t' || strings.HasPrefix(l, "- ") {
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
			if len(secs) == 0 {
				return nil, fmt.Errorf("%w: extra YAML line %d is indented before any top-level key", errMalformed, n+1)
			}
			secs[len(secs)-1].lines = append(secs[len(secs)-1].lines, l)
			continue
		}
		key, _, ok := strings.Cut(l, ":")
		if !ok || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("%w: extra YAML line %d: want \"key:\"", errMalformed, n+1)
		}
		secs = append(secs, yamlSection{key: key, line: l})
	}
	return secs, nil
}

// childKey is the key of a child line indented by two spaces ("  port_min:
// 1" → "port_min"), or "" for deeper lines and list items.
func childKey(l string) string {
	if !strings.HasPrefix(l, "  ") || strings.HasPrefix(l, "   ") || strings.HasPrefix(l, "  -") {
		return ""
	}
	k, _, ok := strings.Cut(strings.TrimSpace(l), ":")
	if !ok {
		return ""
	}
	return k
}

// mergeYAML lays extra over base: a top-level key only in extra is added; a
// scalar, or a list, in extra replaces base's; a mapping in extra replaces
// base's children of the same name (with their nested lines) and adds the
// others. That is enough for keys like rtp.transport or limits.max_calls
// without a YAML library.
func mergeYAML(base, extra []yamlSection) []yamlSection {
	out := append([]yamlSection(nil), base...)
	for _, x := range extra {
		i := -1
		for j := range out {
			if out[j].key == x.key {
				i = j
			}
		}
		isMap := len(x.lines) > 0 && childKey(x.lines[0]) != ""
		if i < 0 || !isMap || len(out[i].lines) == 0 || childKey(out[i].lines[0]) == "" {
			if i < 0 {
				out = append(out, x)
			} else {
				out[i] = x
			}
			continue
		}
		replaced := map[string]bool{}
		for _, l := range x.lines {
			if k := childKey(l); k != "" {
				replaced[k] = true
			}
		}
		var kept []string
		skipping := false
		for _, l := range out[i].lines {
			if k := childKey(l); k != "" {
				skipping = replaced[k]
			}
			if !skipping {
				kept = append(kept, l)
			}
		}
		out[i].lines = append(kept, x.lines...)
	}
	return out
}

func renderYAML(secs []yamlSection) string {
	var b strings.Builder
	b.WriteString("# Generated by bench/loadgen for one load run.\n")
	for _, s := range secs {
		b.WriteString(s.line + "\n")
		for _, l := range s.lines {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// hotlineProc is a hotline the generator started.
type hotlineProc struct {
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	exited  chan struct{}
}

// startHotline runs `hotline serve --config cfgPath`, its output to logPath,
// and waits until /readyz answers 200.
func startHotline(ctx context.Context, bin, cfgPath, logPath, httpAddr string) (*hotlineProc, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Dir = filepath.Dir(cfgPath)
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start hotline: %w", err)
	}
	p := &hotlineProc{cmd: cmd, logPath: logPath, logFile: lf, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		res, err := client.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p, nil
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%w at start; log %s:\n%s", errHotlineExited, logPath, tail(logPath, 20))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%w after 30 s; log:\n%s", errNotReady, tail(logPath, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *hotlineProc) pid() int { return p.cmd.Process.Pid }

// alive reports whether the process is still running.
func (p *hotlineProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop ends hotline by PID: TERM, then KILL after a grace period.
func (p *hotlineProc) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.logFile.Close()
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logLevels counts the WARN and ERROR lines of hotline's log (slog text or
// JSON), and keeps a few distinct examples as evidence.
func logLevels(path string) (warn, errs int, examples []string) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, nil
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		isWarn := strings.Contains(l, "level=WARN") || strings.Contains(l, `"level":"WARN"`)
		isErr := strings.Contains(l, "level=ERROR") || strings.Contains(l, `"level":"ERROR"`)
		if isWarn {
			warn++
		}
		if isErr {
			errs++
		}
		if (isWarn || isErr) && len(examples) < 8 {
			key := msgOf(l)
			if !seen[key] {
				seen[key] = true
				examples = append(examples, l)
			}
		}
	}
	return warn, errs, examples
}

// msgOf is a log line's msg= text, to keep one example per kind.
func msgOf(l string) string {
	if _, after, ok := strings.Cut(l, "msg="); ok {
		if strings.HasPrefix(after, `"`) {
			if end := strings.Index(after[1:], `"`); end >= 0 {
				return after[1 : end+1]
			}
		}
		f, _, _ := strings.Cut(after, " ")
		return f
	}
	return l
}

// procStat is a process's CPU time and resident memory.
type procStat struct {
	CPU   time.Duration // utime + stime
	RSSKB int64
}

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc on every
// architecture Go runs on.
const clockTicks = 100

// readProcStat reads /proc/PID/stat (utime and stime, fields 14 and 15)
// and /proc/PID/status (VmRSS).
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	var st procStat
	st.CPU, err = parseStatCPU(string(b))
	if err != nil {
		return procStat{}, err
	}
	s, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return procStat{}, err
	}
	for _, l := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				st.RSSKB, _ = strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return st, nil
}

// statFields returns the fields of a /proc/PID/stat line from field 3 on,
// requiring at least up to field upTo: f[0] is field 3. The command name
// (field 2) may hold spaces and parentheses, so fields are counted after
// its last ')'.
func statFields(line string, upTo int) ([]string, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return nil, fmt.Errorf("%w: /proc stat line", errMalformed)
	}
	f := strings.Fields(line[i+1:])
	if len(f) < upTo-2 {
		return nil, fmt.Errorf("%w: /proc stat line with %d fields", errMalformed, len(f))
	}
	return f, nil
}

// parseStatCPU returns utime+stime from a /proc/PID/stat line.
func parseStatCPU(line string) (time.Duration, error) {
	// utime is field 14, stime 15.
	f, err := statFields(line, 15)
	if err != nil {
		return 0, err
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%w: /proc stat times: %w", errMalformed, err)
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

// scrapeClient asks for the exposition uncompressed: loadgen reads it
// every second over loopback, fifteen times Prometheus's usual rate, and
// gzip would cost hotline a compressor (about 700 KB of heap) and its CPU
// per scrape, charged to the calls under test.
var scrapeClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableCompression: true}}

// scrape fetches a Prometheus text exposition.
func scrape(url string) (*metricSet, error) {
	res, err := scrapeClient.Get(url)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	return parseMetrics(string(b))
}

// freePort returns a port free on UDP and TCP at 127.0.0.1 (hotline's SIP
// listens on both), or just TCP.
func freePort(udpToo bool) (int, error) {
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		if !udpToo {
			ln.Close()
			return port, nil
		}
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		ln.Close()
		if err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}

// machineBusy returns the CPU time all CPUs spent busy (user, nice,
// system, irq, softirq, steal) from /proc/stat's first line.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseMachineBusy(line)
}

func parseMachineBusy(line string) (time.Duration, error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("%w: /proc/stat cpu line %q", errMalformed, line)
	}
	var busy uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: /proc/stat cpu line: %w", errMalformed, err)
		}
		busy += v
	}
	return time.Duration(busy) * time.Second / clockTicks, nil
}
