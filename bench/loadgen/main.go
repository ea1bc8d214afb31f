//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	hotline, target, metricsURL string
	pid                         int
	mode                        string
	calls                       int
	cps                         float64
	hold                        time.Duration
	agents                      int
	answerDelay                 time.Duration
	audio, extraYAML, workdir   string
	markdown, jsonOut           string
	timeout                     time.Duration
	rtpMin                      int
	sockets                     int
	sippScenario                string
	agentPassword               string
	quiet                       bool
	cpuProfile                  string
	floor                       int
	floorWindow                 time.Duration
	neighbour                   int
	neighbourAt, neighbourFor   time.Duration
	spin                        time.Duration
}

func main() {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `loadgen places SIP calls with RTP on hotline over loopback and reports what they cost.

  loadgen -hotline ./hotline -mode ivr -calls 1000 -cps 100 -hold 60s
  loadgen -hotline ./hotline -mode bridged -calls 1000 -cps 100 -hold 60s
  loadgen -target 127.0.0.1:5060 -pid 1234 -metrics http://127.0.0.1:9060/metrics -calls 100
  loadgen -hotline ./hotline -sipp bench/loadgen/sipp/uac.xml -calls 200 -cps 20 -hold 30s
  loadgen -floor 5000 -cps 200 -window 20s

By default loadgen starts hotline itself with a generated config in a
temporary directory and stops it (TERM, then KILL) at the end. Wrap heavy runs
on a shared machine in flock.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.hotline, "hotline", "", "hotline binary to start with a generated config (the default way to run)")
	fs.StringVar(&o.target, "target", "", "instead of -hotline: SIP address host:port of a hotline already running (its agents, for bridged mode, must be the generated ones: see -agent-password)")
	fs.IntVar(&o.pid, "pid", 0, "with -target: hotline's PID, for its CPU and RSS")
	fs.StringVar(&o.metricsURL, "metrics", "", "with -target: hotline's /metrics URL, for pacer lateness and GC")
	fs.StringVar(&o.mode, "mode", "ivr", "ivr: callers wait in the queue with music and reassurance; bridged: agents answer and hotline relays the audio")
	fs.IntVar(&o.calls, "calls", 100, "calls to place")
	fs.Float64Var(&o.cps, "cps", 50, "calls started per second")
	fs.DurationVar(&o.hold, "hold", 30*time.Second, "how long each caller stays after the 200 OK before sending BYE")
	fs.IntVar(&o.agents, "agents", 0, "bridged mode: simulated agents (default: calls + 5%)")
	fs.DurationVar(&o.answerDelay, "answer-delay", 300*time.Millisecond, "bridged mode: agents answer this long after ringing")
	fs.StringVar(&o.agentPassword, "agent-password", "loadgen-agent-secret", "bridged mode: the agents' digest password (users are load0001, load0002, ...)")
	fs.StringVar(&o.audio, "audio", "prompts/audio/zh-CN", "what callers and agents say: an 8 kHz mono WAV (16-bit PCM or µ-law) or a directory of them played one after another; \"\" = a synthetic voiced signal")
	fs.StringVar(&o.extraYAML, "extra-yaml", "", "YAML file merged over the generated hotline config (top-level sections and their direct keys, e.g. rtp.transport)")
	fs.StringVar(&o.workdir, "workdir", "", "keep hotline's config, database and log in this directory (default: a temporary directory, removed)")
	fs.StringVar(&o.markdown, "markdown", "", "append the result as a Markdown section with a table row to this file")
	fs.StringVar(&o.jsonOut, "json", "", "write the full result, every call included, as JSON to this file")
	fs.DurationVar(&o.timeout, "timeout", 0, "hard deadline of the whole run (default: ramp + hold + 90 s)")
	fs.IntVar(&o.rtpMin, "rtp-min", 10000, "first port of hotline's RTP range (the range is sized from -calls)")
	fs.IntVar(&o.sockets, "sockets", 4, "generator media sockets (endpoints spread over them; each read and written by one of the sender loops)")
	fs.StringVar(&o.sippScenario, "sipp", "", "let sipp place the calls with this scenario instead of loadgen's own callers (IVR only); hotline is measured the same way")
	fs.BoolVar(&o.quiet, "quiet", false, "log only warnings")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the generator's own CPU profile (the whole run) to this file")
	fs.IntVar(&o.floor, "floor", 0, "instead of loading hotline: move this many calls' RTP both ways between two of the generator's own media engines, with nothing else to do, and report what the packets alone cost (ramped at -cps)")
	fs.DurationVar(&o.floorWindow, "window", 20*time.Second, "with -floor: the measured window, after 3 s of warm-up")
	fs.IntVar(&o.neighbour, "neighbour", 0, "start this many CPU-bound processes beside hotline during the run (another job on the machine, after the calls were admitted)")
	fs.DurationVar(&o.neighbourAt, "neighbour-at", 35*time.Second, "with -neighbour: when they start, in the timeline's seconds")
	fs.DurationVar(&o.neighbourFor, "neighbour-for", 20*time.Second, "with -neighbour: how long they run")
	fs.DurationVar(&o.spin, "spin", 0, "internal: be one neighbour process, keeping a CPU busy this long")
	_ = fs.Parse(os.Args[1:])
	if o.spin > 0 {
		spin(o.spin)
		return
	}

	level := slog.LevelInfo
	if o.quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			log.Error("cpuprofile", "error", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Error("cpuprofile", "error", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if o.floor > 0 {
		if err := floor(ctx, o, log); err != nil {
			log.Error("loadgen", "error", err)
			os.Exit(1)
		}
		return
	}
	r, err := run(ctx, o, log)
	if err != nil {
		log.Error("loadgen", "error", err)
		os.Exit(1)
	}
	r.writeText(os.Stdout)
	if o.markdown != "" {
		if err := r.appendMarkdown(o.markdown, o.cps, o.hold); err != nil {
			log.Error("markdown", "error", err)
			os.Exit(1)
		}
	}
	if o.jsonOut != "" {
		if err := r.writeJSON(o.jsonOut); err != nil {
			log.Error("json", "error", err)
			os.Exit(1)
		}
	}
}

func (o *options) validate() error {
	switch {
	case o.hotline == "" && o.target == "":
		return fmt.Errorf("%w: give -hotline BINARY (started by loadgen) or -target HOST:PORT", errUsage)
	case o.hotline != "" && o.target != "":
		return fmt.Errorf("%w: -hotline and -target exclude each other", errUsage)
	case o.mode != "ivr" && o.mode != "bridged":
		return fmt.Errorf("%w: -mode is ivr or bridged, not %q", errUsage, o.mode)
	case o.calls < 1 || o.cps <= 0 || o.hold <= 0:
		return fmt.Errorf("%w: -calls, -cps and -hold must be positive", errUsage)
	case o.sippScenario != "" && o.mode != "ivr":
		return fmt.Errorf("%w: -sipp runs IVR calls only", errUsage)
	case o.neighbour < 0:
		return fmt.Errorf("%w: -neighbour must not be negative, got %d", errUsage, o.neighbour)
	case o.neighbour > 0 && (o.neighbourAt < 0 || o.neighbourFor <= 0):
		return fmt.Errorf("%w: with -neighbour, -neighbour-at must not be negative and -neighbour-for must be positive (got %v and %v)", errUsage, o.neighbourAt, o.neighbourFor)
	}
	if o.mode == "bridged" && o.agents <= 0 {
		o.agents = o.calls + o.calls/20 + 1
	}
	if o.mode == "ivr" {
		o.agents = 0
	}
	if o.timeout <= 0 {
		o.timeout = time.Duration(float64(o.calls)/o.cps*float64(time.Second)) + o.hold + 90*time.Second
	}
	return nil
}

// raiseFileLimit lifts RLIMIT_NOFILE to its hard limit: thousands of calls
// need more than two descriptors each in hotline, which inherits the limit.
func raiseFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, fmt.Errorf("raise RLIMIT_NOFILE to %d: %w", rl.Max, err)
		}
	}
	return rl.Cur, nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// target is the hotline under load.
type target struct {
	sip        netip.AddrPort
	pid        int
	metricsURL string
	proc       *hotlineProc
	dir        string
	db         string
	removeDir  bool
}

// setupHotline starts hotline with a generated config, or describes the one
// given by -target.
func setupHotline(ctx context.Context, o options, log *slog.Logger) (*target, error) {
	if o.target != "" {
		ap, err := netip.ParseAddrPort(o.target)
		if err != nil {
			return nil, fmt.Errorf("%w: -target %q: %w", errUsage, o.target, err)
		}
		return &target{sip: ap, pid: o.pid, metricsURL: o.metricsURL}, nil
	}
	t := &target{}
	if o.workdir != "" {
		if err := os.MkdirAll(o.workdir, 0o755); err != nil {
			return nil, err
		}
		t.dir = o.workdir
	} else {
		d, err := os.MkdirTemp("", "hotline-loadgen-")
		if err != nil {
			return nil, err
		}
		t.dir, t.removeDir = d, true
	}
	sipPort, err := freePort(true)
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort(false)
	if err != nil {
		return nil, err
	}
	sessions := o.calls
	if o.mode == "bridged" {
		sessions = 2 * o.calls
	}
	// Two ports per session (RTP + its RTCP neighbour), a quarter more for
	// the pool's round-robin cursor, and a margin for ports others hold.
	rtpMax := min(65534, o.rtpMin+2*(sessions+sessions/4)+200)
	t.db = filepath.Join(t.dir, "hotline.db")
	cfg := hotlineConfig{
		SIPPort: sipPort, HTTPPort: httpPort, RTPMin: o.rtpMin, RTPMax: rtpMax - rtpMax%2,
		DBPath: t.db, AgentPassword: o.agentPassword,
		InactivityTimeout: 120 * time.Second, ReassuranceInterval: 15 * time.Second,
	}
	for j := range o.agents {
		cfg.Agents = append(cfg.Agents, agentUser("load", j))
	}
	secs := generatedConfig(cfg)
	if o.extraYAML != "" {
		b, err := os.ReadFile(o.extraYAML)
		if err != nil {
			return nil, err
		}
		extra, err := parseYAMLSections(string(b))
		if err != nil {
			return nil, err
		}
		secs = mergeYAML(secs, extra)
	}
	cfgPath := filepath.Join(t.dir, "hotline.yaml")
	if err := os.WriteFile(cfgPath, []byte(renderYAML(secs)), 0o644); err != nil {
		return nil, err
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", httpPort)
	p, err := startHotline(ctx, o.hotline, cfgPath, filepath.Join(t.dir, "hotline.log"), httpAddr)
	if err != nil {
		return nil, err
	}
	t.proc, t.pid = p, p.pid()
	t.sip = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sipPort))
	t.metricsURL = "http://" + httpAddr + "/metrics"
	log.Info("hotline started", "pid", t.pid, "sip", t.sip, "metrics", t.metricsURL, "rtp", fmt.Sprintf("%d-%d", cfg.RTPMin, cfg.RTPMax), "dir", t.dir)
	return t, nil
}

func (t *target) close() {
	if t.proc != nil {
		t.proc.stop()
	}
	if t.removeDir {
		os.RemoveAll(t.dir)
	}
}

// sampler takes a reading every second until stopped.
type sampler struct {
	mu       sync.Mutex
	readings []reading
	probe    *speedProbe
	stop     chan struct{}
	done     chan struct{}
}

func startSampler(t *target, active *atomic.Int64, genCPU func() time.Duration) *sampler {
	s := &sampler{probe: startSpeedProbe(), stop: make(chan struct{}), done: make(chan struct{})}
	take := func() {
		r := reading{At: time.Now(), Gen: genCPU(), Active: active.Load(), ProbeUS: s.probe.take()}
		r.Machine, _ = machineBusy()
		if t.pid > 0 {
			if st, err := readProcStat(t.pid); err == nil {
				r.Hotline, r.HotOK = st, true
			}
		}
		if t.metricsURL != "" {
			r.Metrics, _ = scrape(t.metricsURL)
		}
		s.mu.Lock()
		s.readings = append(s.readings, r)
		s.mu.Unlock()
	}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		take()
		for {
			select {
			case <-s.stop:
				take()
				return
			case <-tick.C:
				take()
			}
		}
	}()
	return s
}

func (s *sampler) finish() []reading {
	close(s.stop)
	<-s.done
	s.probe.close()
	return s.readings
}

// run does one load run and returns its report.
func run(ctx context.Context, o options, log *slog.Logger) (*report, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	nofile, err := raiseFileLimit()
	if err != nil {
		return nil, err
	}
	if need := uint64(2*o.calls + 2*o.agents + 512); nofile < need {
		log.Warn("RLIMIT_NOFILE may be too low for hotline", "limit", nofile, "want", need)
	}
	audioPath := o.audio
	if audioPath != "" {
		if _, err := os.Stat(audioPath); err != nil && o.audio == "prompts/audio/zh-CN" {
			audioPath = "" // the default, run from elsewhere than the repository root
		}
	}
	clip, audioDesc, err := loadAudio(audioPath)
	if err != nil {
		return nil, err
	}
	r := &report{
		Command: commandLine(), Mode: o.mode, Generator: "loadgen", Machine: machine(),
		LoadBefore: loadAverage(), Started: time.Now(), Audio: audioDesc, FailReasons: map[string]int{},
	}
	deadline := time.Now().Add(o.timeout)
	t, err := setupHotline(ctx, o, log)
	if err != nil {
		return nil, err
	}
	defer t.close()
	if o.sippScenario != "" {
		r.Generator = "sipp"
		err := runSipp(ctx, o, t, r, deadline, log)
		r.LoadAfter = loadAverage()
		r.Duration = time.Since(r.Started)
		return r, err
	}

	media, err := newMediaEngine(o.calls+o.agents, o.sockets, min(2, max(1, o.sockets/2)), clip)
	if err != nil {
		return nil, err
	}
	defer media.close()
	u, err := newUA(uaConfig{
		Mode: o.mode, Calls: o.calls, CPS: o.cps, Hold: o.hold, Agents: o.agents, AgentPrefix: "load",
		AgentPassword: o.agentPassword, AnswerDelay: o.answerDelay, Target: t.sip, Deadline: deadline, Log: log,
	}, media)
	if err != nil {
		return nil, err
	}
	// The concurrency the window is chosen by: answered calls (IVR), or
	// calls relayed to an agent (bridged).
	var active atomic.Int64
	if o.mode == "bridged" {
		u.onBridged = func(d int) { active.Add(int64(d)) }
	} else {
		u.onAnswered = func(*call) { active.Add(1) }
		u.onTalkEnd = func(*call) { active.Add(-1) }
	}
	media.run()

	cpu0 := selfCPU()
	smp := startSampler(t, &active, selfCPU)
	nb := startNeighbour(o.neighbour, o.neighbourAt, o.neighbourFor, log)
	defer nb.stop()
	done := make(chan struct{})
	go func() { u.run(); close(done) }()
	log.Info("load started", "mode", o.mode, "calls", o.calls, "cps", o.cps, "hold", o.hold, "agents", o.agents, "deadline", o.timeout)
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-ctx.Done():
			log.Warn("interrupted: ending the run")
			u.stopNow()
			<-done
			break wait
		case <-progress.C:
			log.Info("progress", "active", active.Load(), "hotline_running", t.proc == nil || t.proc.alive())
		}
	}
	// Let the last BYE responses and agent legs settle before counting.
	time.Sleep(300 * time.Millisecond)
	readings := smp.finish()
	media.close()
	r.GeneratorCPUTotal = (selfCPU() - cpu0).Seconds()
	r.HotlineAlive = t.proc == nil || t.proc.alive()

	u.collect(r, media)
	measure(r, readings, u.callsStartedAt)
	if o.neighbour > 0 {
		r.NeighbourProcs, r.NeighbourFrom, r.NeighbourFor = o.neighbour, o.neighbourAt.Seconds(), o.neighbourFor.Seconds()
		measureNeighbour(r, readings)
	}
	if t.pid > 0 {
		if d, err := threadNices(t.pid); err == nil {
			r.HotlineNice = d
		}
	}
	if t.proc != nil {
		r.HotlineWarn, r.HotlineErrors, r.HotlineLogExamples = logLevels(t.proc.logPath)
		if !r.HotlineAlive {
			r.Notes = append(r.Notes, "hotline exited during the run; last log lines:\n"+tail(t.proc.logPath, 20))
		}
	}
	r.LoadAfter = loadAverage()
	r.Duration = time.Since(r.Started)
	return r, nil
}

// lateSeconds counts the seconds among pts with a p99 lateness of their
// own, and those within lateBarMS, and finds the worst one (NaN if none).
func lateSeconds(pts []timelinePoint) (within, total int, worstMS, worstAt float64) {
	worstMS = math.NaN()
	for _, pt := range pts {
		if math.IsNaN(pt.LateP99MS) {
			continue
		}
		total++
		if pt.LateP99MS <= lateBarMS {
			within++
		}
		if math.IsNaN(worstMS) || pt.LateP99MS > worstMS {
			worstMS, worstAt = pt.LateP99MS, pt.T
		}
	}
	return within, total, worstMS, worstAt
}

// measure fills the window figures from the readings.
func measure(r *report, rs []reading, callsStarted time.Time) {
	if len(rs) == 0 {
		r.Notes = append(r.Notes, "no readings were taken")
		return
	}
	for i, x := range rs {
		pt := timelinePoint{T: x.At.Sub(rs[0].At).Seconds(), Active: x.Active, HotlineCPU: x.Hotline.CPU.Seconds(),
			LateP99MS: math.NaN(), MachineCores: math.NaN(), GeneratorCores: math.NaN(), GCCycles: math.NaN(), ProbeUS: x.ProbeUS}
		if i > 0 {
			prev := rs[i-1]
			if wall := x.At.Sub(prev.At).Seconds(); wall > 0 {
				pt.MachineCores = (x.Machine - prev.Machine).Seconds() / wall
				pt.GeneratorCores = (x.Gen - prev.Gen).Seconds() / wall
			}
			if prev.Metrics != nil && x.Metrics != nil {
				const name = "hotline_rtp_pacer_lateness_seconds"
				if d := histogramDelta(prev.Metrics.histogram(name), x.Metrics.histogram(name)); len(d) > 0 && d[len(d)-1].Count > 0 {
					pt.LateP99MS = 1000 * histogramQuantile(0.99, d)
				}
				c0, ok0 := prev.Metrics.value("go_gc_duration_seconds_count", nil)
				c1, ok1 := x.Metrics.value("go_gc_duration_seconds_count", nil)
				if ok0 && ok1 {
					pt.GCCycles = c1 - c0
				}
			}
		}
		r.Timeline = append(r.Timeline, pt)
	}
	// RSS before the first call: the last reading before calls started.
	before := rs[0]
	for _, x := range rs {
		if !callsStarted.IsZero() && x.At.Before(callsStarted) {
			before = x
		}
	}
	first, last, ok := steadyWindow(rs)
	if !ok {
		r.Notes = append(r.Notes, "no steady window: concurrency never held at its peak for two readings")
		return
	}
	a, b := rs[first], rs[last]
	r.WindowStart = a.At.Sub(rs[0].At).Seconds()
	r.WindowSeconds = b.At.Sub(a.At).Seconds()
	if r.WindowSeconds < 10 {
		r.Notes = append(r.Notes, fmt.Sprintf("the steady window is only %.0f s: raise -hold (it must exceed the ramp, calls/cps, by the window wanted)", r.WindowSeconds))
	}
	var sum float64
	for _, x := range rs[first : last+1] {
		sum += float64(x.Active)
	}
	r.Concurrent = sum / float64(last-first+1)
	var probes []float64
	for _, pt := range r.Timeline[first+1 : last+1] {
		if !math.IsNaN(pt.ProbeUS) {
			probes = append(probes, pt.ProbeUS)
		}
	}
	r.SecondsWithinBar, r.WindowWholeSeconds, r.WorstSecondP99MS, r.WorstSecondAt = lateSeconds(r.Timeline[first+1 : last+1])
	r.ProbeFastestUS, r.ProbeMedianUS, r.ProbeSlowestUS = math.NaN(), math.NaN(), math.NaN()
	if len(probes) > 0 {
		slices.Sort(probes)
		r.ProbeFastestUS, r.ProbeMedianUS, r.ProbeSlowestUS = probes[0], probes[len(probes)/2], probes[len(probes)-1]
	}
	r.GeneratorCPUWindow = (b.Gen - a.Gen).Seconds()
	if r.WindowSeconds > 0 {
		r.MachineBusyCores = (b.Machine - a.Machine).Seconds() / r.WindowSeconds
	}
	if a.HotOK && b.HotOK {
		r.HotlineCPUSeconds = (b.Hotline.CPU - a.Hotline.CPU).Seconds()
		if r.WindowSeconds > 0 {
			r.OtherCores = r.MachineBusyCores - (r.HotlineCPUSeconds+r.GeneratorCPUWindow)/r.WindowSeconds
		}
		if r.Concurrent > 0 && r.WindowSeconds > 0 {
			r.CPUPerCallSecondMS = 1000 * r.HotlineCPUSeconds / (r.Concurrent * r.WindowSeconds)
		}
		r.RSSBeforeMB = float64(before.Hotline.RSSKB) / 1024
		r.RSSSteadyMB = float64(b.Hotline.RSSKB) / 1024
		if r.Concurrent > 0 {
			r.RSSPerCallKB = float64(b.Hotline.RSSKB-before.Hotline.RSSKB) / r.Concurrent
		}
	} else {
		r.Notes = append(r.Notes, "hotline's /proc figures are missing (no -pid?)")
	}
	if a.Metrics != nil && b.Metrics != nil {
		d := histogramDelta(a.Metrics.histogram("hotline_rtp_pacer_lateness_seconds"), b.Metrics.histogram("hotline_rtp_pacer_lateness_seconds"))
		if len(d) > 0 {
			r.PacerFrames = d[len(d)-1].Count
			r.PacerP50MS = 1000 * histogramQuantile(0.5, d)
			r.PacerP99MS = 1000 * histogramQuantile(0.99, d)
			r.PacerMaxMS = 1000 * histogramMax(d)
			legs := 1.0
			if r.Mode == "bridged" {
				legs = 2
			}
			if due := r.Concurrent * legs * r.WindowSeconds * float64(framesPerSecond); due > 0 {
				r.PacerDuePercent = 100 * r.PacerFrames / due
			}
		} else {
			r.PacerP50MS, r.PacerP99MS, r.PacerMaxMS = math.NaN(), math.NaN(), math.NaN()
		}
		c0, _ := a.Metrics.value("go_gc_duration_seconds_count", nil)
		c1, _ := b.Metrics.value("go_gc_duration_seconds_count", nil)
		s0, _ := a.Metrics.value("go_gc_duration_seconds_sum", nil)
		s1, _ := b.Metrics.value("go_gc_duration_seconds_sum", nil)
		r.GCCount = c1 - c0
		r.SetupAllocKB, r.SetupGCCount, r.GOGC = setupGarbage(before.Metrics, a.Metrics, r.Calls)
		r.GCMeanMS = math.NaN()
		if r.GCCount > 0 {
			r.GCMeanMS = 1000 * (s1 - s0) / r.GCCount
		}
		// The summary's quantile 1 is the longest recent pause; take the
		// largest seen at any reading of the window.
		r.GCMaxMS = math.NaN()
		for _, x := range rs[first : last+1] {
			if v, ok := x.Metrics.value("go_gc_duration_seconds", map[string]string{"quantile": "1"}); ok && (math.IsNaN(r.GCMaxMS) || 1000*v > r.GCMaxMS) {
				r.GCMaxMS = 1000 * v
			}
		}
	} else {
		r.PacerP50MS, r.PacerP99MS, r.PacerMaxMS, r.GCMeanMS, r.GCMaxMS = math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()
		r.Notes = append(r.Notes, "hotline's /metrics was not read (no -metrics?)")
	}
}

// commandLine is the exact command, quoted for a shell where needed.
func commandLine() string {
	parts := make([]string, len(os.Args))
	for i, a := range os.Args {
		if i == 0 {
			a = "loadgen"
		}
		if a == "" || strings.ContainsAny(a, " \t'\"$`\\|&;<>()*?[]#~") {
			a = strconv.Quote(a)
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}
