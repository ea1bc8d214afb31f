package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"time"
)

// lateBarMS is the pacer lateness the capacity targets hold p99 within.
const lateBarMS = 20.0

// callResult is one call as the JSON report lists it.
type callResult struct {
	CallID       string  `json:"call_id"`
	Outcome      string  `json:"outcome"`
	Reason       string  `json:"reason,omitempty"`
	Status       int     `json:"status"`
	RetryAfter   int     `json:"retry_after,omitempty"`
	Invite180MS  float64 `json:"invite_180_ms"`  // -1: no 180/183
	Invite200MS  float64 `json:"invite_200_ms"`  // -1: not answered
	HoldMS       float64 `json:"hold_ms"`        // 200 OK to our BYE
	FirstAudioMS float64 `json:"first_audio_ms"` // 200 OK to the first RTP packet; -1: none
	RTPSent      uint64  `json:"rtp_sent"`
	RTPReceived  uint64  `json:"rtp_received"`
	RTPLost      int64   `json:"rtp_lost"`
}

// quantiles are p50/p99/max of a set of durations, in milliseconds.
type quantiles struct {
	N             int
	P50, P99, Max float64
}

func quantilesOf(ms []float64) quantiles {
	if len(ms) == 0 {
		return quantiles{P50: math.NaN(), P99: math.NaN(), Max: math.NaN()}
	}
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return quantiles{N: len(s), P50: at(0.5), P99: at(0.99), Max: s[len(s)-1]}
}

func (q quantiles) String() string {
	if q.N == 0 {
		return "—"
	}
	return fmt.Sprintf("%s / %s / %s ms", fmtMS(q.P50), fmtMS(q.P99), fmtMS(q.Max))
}

func fmtMS(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case math.IsInf(v, 1):
		return "> last bucket"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// report is everything a run measured.
type report struct {
	Command, Mode, Generator string
	Machine                  machineInfo
	LoadBefore, LoadAfter    string
	Started                  time.Time
	Duration                 time.Duration
	Audio                    string

	Calls, Answered, Completed, Refused, Failed int
	FailReasons                                 map[string]int
	NoAudio2s                                   int // answered calls without RTP within 2 s of the 200 OK
	Invite180, Invite200, FirstAudio            quantiles

	AgentsRegistered, AgentsFailed, AgentLegs, AgentLegsAnswered, AgentBusy, AgentCancelled int
	AgentRTPSent, AgentRTPReceived                                                          uint64
	AgentRTPLost                                                                            int64

	WindowStart, WindowSeconds, Concurrent float64
	HotlineCPUSeconds                      float64
	CPUPerCallSecondMS                     float64 // hotline CPU ms per call-second
	RSSBeforeMB, RSSSteadyMB, RSSPerCallKB float64 // from VmRSS, whose "kB" are KiB: MiB and KiB

	RTPSentPerCall, RTPReceivedPerCall, RTPLossPercent float64
	// RTPSkippedPercent is the audio hotline skipped (timestamp jumps
	// without sequence gaps) against what callers received plus that.
	RTPSkippedPercent                               float64
	RTPSkipped, RTPSendErrors, RTPStray             uint64
	PacerP50MS, PacerP99MS, PacerMaxMS, PacerFrames float64
	// PacerDuePercent is the frames hotline's pacer sent in the window
	// against those due (50 a second per leg): below 100 hotline could not
	// keep up, and its CPU per call-second then understates a full call.
	PacerDuePercent float64
	// SecondsWithinBar counts the window's seconds whose own p99 lateness
	// was within lateBarMS, of WindowWholeSeconds: it tells a tail spread
	// over the whole window from a few bad seconds. WorstSecondP99MS is
	// the worst of them, WorstSecondAt its time in the timeline.
	SecondsWithinBar, WindowWholeSeconds int
	WorstSecondP99MS, WorstSecondAt      float64
	GCCount                              float64
	GCMeanMS, GCMaxMS                    float64
	// SetupAllocKB is what hotline allocated on its heap from before the
	// first call to the window's start, per call placed: the garbage that
	// setting calls up leaves, which paces the collector (SetupGCCount
	// cycles over that stretch) while a calls-per-second ramp lasts.
	// GOGC is hotline's collector target (go_gc_gogc_percent), NaN if
	// hotline does not export it.
	SetupAllocKB, SetupGCCount, GOGC float64
	// ProbeFastestUS, ProbeMedianUS and ProbeSlowestUS are the speed
	// probe's per-second figures over the window (timelinePoint.ProbeUS):
	// how much the machine's speed moved while hotline was measured.
	ProbeFastestUS, ProbeMedianUS, ProbeSlowestUS float64

	// NeighbourProcs CPU-bound processes ran beside hotline from
	// NeighbourFrom for NeighbourFor seconds (-neighbour); over those
	// seconds, NeighbourP99MS is the pacer lateness p99,
	// NeighbourSecondsWithinBar of NeighbourSeconds had their own p99
	// within lateBarMS, and NeighbourWorstP99MS is the worst second's.
	NeighbourProcs                              int
	NeighbourFrom, NeighbourFor, NeighbourP99MS float64
	NeighbourSecondsWithinBar, NeighbourSeconds int
	NeighbourWorstP99MS                         float64
	// HotlineNice is the nice values of hotline's threads near the end of
	// the run (process.nice), e.g. "-10 on all 14 threads".
	HotlineNice string

	GeneratorCPUWindow, GeneratorCPUTotal float64 // seconds
	// MachineBusyCores is how many CPUs were busy on average in the
	// window; OtherCores what neither hotline nor the generator used: other
	// jobs on the machine, and interrupt-time work (the loopback softirq).
	MachineBusyCores, OtherCores float64
	HotlineWarn, HotlineErrors   int
	HotlineLogExamples           []string
	HotlineAlive                 bool
	Notes                        []string
	// Timeline is the per-second readings: seconds since the first, the
	// concurrency followed (answered calls, or bridged calls in bridged
	// mode) and hotline's CPU seconds so far.
	Timeline []timelinePoint
	PerCall  []callResult `json:",omitempty"`
}

// machineInfo describes where the run happened.
type machineInfo struct {
	NProc  int
	CPU    string
	Kernel string
	Go     string
}

func machine() machineInfo {
	m := machineInfo{NProc: runtime.NumCPU(), Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// writeText prints the report for a reader at a terminal.
func (r *report) writeText(w io.Writer) {
	p := func(k, format string, a ...any) { fmt.Fprintf(w, "%-28s %s\n", k, fmt.Sprintf(format, a...)) }
	p("command", "%s", r.Command)
	p("machine", "%d CPUs, %s, kernel %s, %s", r.Machine.NProc, r.Machine.CPU, r.Machine.Kernel, r.Machine.Go)
	p("load average", "before %s, after %s", r.LoadBefore, r.LoadAfter)
	p("mode / generator", "%s / %s", r.Mode, r.Generator)
	p("audio sent", "%s", r.Audio)
	p("run time", "%.1f s", r.Duration.Seconds())
	p("calls", "%d attempted, %d answered, %d completed, %d refused (503), %d failed", r.Calls, r.Answered, r.Completed, r.Refused, r.Failed)
	for _, k := range sortedKeys(r.FailReasons) {
		p("  failed", "%d × %s", r.FailReasons[k], k)
	}
	if r.NoAudio2s >= 0 {
		p("no audio within 2 s", "%d of %d answered calls", r.NoAudio2s, r.Answered)
	} else {
		p("no audio within 2 s", "not measured")
	}
	p("INVITE→180 p50/p99/max", "%s", r.Invite180)
	p("INVITE→200 p50/p99/max", "%s", r.Invite200)
	p("200→first RTP p50/p99/max", "%s", r.FirstAudio)
	if r.Mode == "bridged" {
		p("agents", "%d registered, %d failed; %d legs offered, %d answered, %d busy, %d cancelled",
			r.AgentsRegistered, r.AgentsFailed, r.AgentLegs, r.AgentLegsAnswered, r.AgentBusy, r.AgentCancelled)
		p("agent RTP", "%d sent, %d received, %d lost", r.AgentRTPSent, r.AgentRTPReceived, r.AgentRTPLost)
	}
	p("steady window", "%.1f s from t=%.1f s, %.0f concurrent calls", r.WindowSeconds, r.WindowStart, r.Concurrent)
	p("hotline CPU", "%.2f s in the window = %.1f%% of one core; %.3f ms per call-second", r.HotlineCPUSeconds,
		100*r.HotlineCPUSeconds/math.Max(r.WindowSeconds, 1e-9), r.CPUPerCallSecondMS)
	p("hotline RSS", "%.1f MiB before the first call, %.1f MiB steady: %.1f KiB per call", r.RSSBeforeMB, r.RSSSteadyMB, r.RSSPerCallKB)
	p("RTP per call", "%.0f sent, %.0f received, loss %.3f%% by sequence, %.1f%% skipped by hotline (timestamp jumps)", r.RTPSentPerCall, r.RTPReceivedPerCall, r.RTPLossPercent, r.RTPSkippedPercent)
	p("RTP generator", "%d frames skipped (generator behind), %d send errors, %d stray packets", r.RTPSkipped, r.RTPSendErrors, r.RTPStray)
	p("pacer lateness p50/p99/max", "%s / %s / ≤ %s ms (%.0f frames in the window, %.1f%% of those due)", fmtMS(r.PacerP50MS), fmtMS(r.PacerP99MS), fmtMS(r.PacerMaxMS), r.PacerFrames, r.PacerDuePercent)
	p("CPU speed probe", "%s µs of CPU for the same work in the window's median second, %s in its fastest, %s in its slowest (%s)", fmtMS(r.ProbeMedianUS), fmtMS(r.ProbeFastestUS), fmtMS(r.ProbeSlowestUS), probeSpread(r.ProbeFastestUS, r.ProbeSlowestUS))
	p("seconds within 20 ms", "%d of %d seconds had p99 lateness within %.0f ms; the worst %s ms (t=%.0f s)", r.SecondsWithinBar, r.WindowWholeSeconds, lateBarMS, fmtMS(r.WorstSecondP99MS), r.WorstSecondAt)
	p("GC in the window", "%.0f cycles, mean pause %s ms, max %s ms", r.GCCount, fmtMS(r.GCMeanMS), fmtMS(r.GCMaxMS))
	gogc := "—"
	if !math.IsNaN(r.GOGC) {
		gogc = fmt.Sprintf("%.0f %%", r.GOGC)
	}
	p("GC while calls were set up", "%.0f cycles, %.1f KiB allocated per call placed; GC target %s", r.SetupGCCount, r.SetupAllocKB, gogc)
	p("generator CPU", "%.2f s in the window (%.1f%% of one core), %.2f s in all", r.GeneratorCPUWindow,
		100*r.GeneratorCPUWindow/math.Max(r.WindowSeconds, 1e-9), r.GeneratorCPUTotal)
	p("machine in the window", "%.2f cores busy, of which %.2f neither hotline nor the generator (other jobs, softirq)", r.MachineBusyCores, r.OtherCores)
	if r.NeighbourProcs > 0 {
		p("neighbour", "%d CPU-bound processes from t=%.0f s for %.0f s: p99 lateness %s ms, %d of %d seconds within %.0f ms, the worst %s ms",
			r.NeighbourProcs, r.NeighbourFrom, r.NeighbourFor, fmtMS(r.NeighbourP99MS), r.NeighbourSecondsWithinBar, r.NeighbourSeconds, lateBarMS, fmtMS(r.NeighbourWorstP99MS))
	}
	if r.HotlineNice != "" {
		p("hotline priority", "nice %s", r.HotlineNice)
	}
	p("hotline log", "%d WARN, %d ERROR lines; running at the end: %v", r.HotlineWarn, r.HotlineErrors, r.HotlineAlive)
	for _, e := range r.HotlineLogExamples {
		p("  e.g.", "%s", e)
	}
	for _, n := range r.Notes {
		p("note", "%s", n)
	}
}

// markdownHeader and markdownRow are the table bench/README.md collects.
const markdownHeader = "| mode | generator | calls | cps | hold | answered | refused | failed | no audio 2 s | INVITE→180 p50/p99/max | INVITE→200 p50/p99/max | window | concurrent | hotline CPU ms per call-s | hotline cores | RSS KiB per call | RTP out / in per call | loss | hotline frames sent of due | pacer lateness p50/p99/max | GC cycles, mean / max pause | generator cores | other cores | load before → after |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"

func (r *report) markdownRow(cps float64, hold time.Duration) string {
	noAudio, loss := "—", "—"
	if r.NoAudio2s >= 0 {
		noAudio = fmt.Sprint(r.NoAudio2s)
	}
	if !math.IsNaN(r.RTPLossPercent) {
		loss = fmt.Sprintf("%.3f %%", r.RTPLossPercent)
	}
	return fmt.Sprintf("| %s | %s | %d | %g | %s | %d | %d | %d | %s | %s | %s | %.0f s | %.0f | %.3f | %.2f | %.1f | %.0f / %.0f | %s | %.1f %% | %s / %s / ≤ %s ms | %.0f, %s / %s ms | %.2f | %.2f | %s → %s |\n",
		r.Mode, r.Generator, r.Calls, cps, hold, r.Answered, r.Refused, r.Failed, noAudio,
		r.Invite180, r.Invite200, r.WindowSeconds, r.Concurrent, r.CPUPerCallSecondMS,
		r.HotlineCPUSeconds/math.Max(r.WindowSeconds, 1e-9), r.RSSPerCallKB,
		r.RTPSentPerCall, r.RTPReceivedPerCall, loss, r.PacerDuePercent,
		fmtMS(r.PacerP50MS), fmtMS(r.PacerP99MS), fmtMS(r.PacerMaxMS),
		r.GCCount, fmtMS(r.GCMeanMS), fmtMS(r.GCMaxMS),
		r.GeneratorCPUWindow/math.Max(r.WindowSeconds, 1e-9), r.OtherCores, r.LoadBefore, r.LoadAfter)
}

// appendMarkdown appends a section with the machine, the command and the
// table row to path; the header only when the file is new or empty.
func (r *report) appendMarkdown(path string, cps float64, hold time.Duration) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	var b strings.Builder
	if st.Size() == 0 {
		fmt.Fprintf(&b, "Machine: %d CPUs, %s, kernel %s, %s.\n\n", r.Machine.NProc, r.Machine.CPU, r.Machine.Kernel, r.Machine.Go)
	}
	fmt.Fprintf(&b, "\n`%s` (%s, load %s → %s)\n\n", r.Command, r.Started.Format("2006-01-02 15:04"), r.LoadBefore, r.LoadAfter)
	b.WriteString(markdownHeader)
	b.WriteString(r.markdownRow(cps, hold))
	for _, n := range r.Notes {
		b.WriteString("\n- " + n)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	_, err = f.WriteString(b.String())
	return err
}

func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		// NaN marks a figure that could not be measured; JSON has no NaN,
		// so such figures go out as null.
		b, err = json.MarshalIndent(jsonSafe(r), "", "  ")
	}
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// timelinePoint is one reading as the JSON report lists it.
type timelinePoint struct {
	T          float64 `json:"t"`
	Active     int64   `json:"active"`
	HotlineCPU float64 `json:"hotline_cpu"`
	// LateP99MS is the p99 pacer lateness of the second before the
	// reading (NaN, written as null, without a frame or a scrape).
	LateP99MS float64 `json:"late_p99_ms"`
	// MachineCores is how many CPUs the whole machine kept busy in the
	// second before the reading (NaN for the first).
	MachineCores float64 `json:"machine_cores"`
	// ProbeUS is the machine's speed in that second: the CPU time, in µs,
	// a fixed piece of work took (speedProbe); more is slower.
	ProbeUS float64 `json:"probe_us"`
	// GeneratorCores is how many CPUs loadgen itself used in that second.
	GeneratorCores float64 `json:"generator_cores"`
	// GCCycles is how many garbage collections hotline finished in the
	// second before the reading, to tell a collection's mark phase from
	// other causes of a late second.
	GCCycles float64 `json:"gc_cycles"`
}

// sample is one reading of the run, taken every second.
type reading struct {
	At      time.Time
	Hotline procStat
	HotOK   bool
	Gen     time.Duration
	Active  int64
	Machine time.Duration // busy CPU time of the whole machine
	// ProbeUS is the CPU the speed probe took in the second before the
	// reading (median µs; NaN without a probe).
	ProbeUS float64
	Metrics *metricSet
}

// steadyWindow picks the readings between which the load was at its
// plateau: from 2 s after concurrency first reached 99 % of its peak to the
// last reading still at that level.
func steadyWindow(rs []reading) (first, last int, ok bool) {
	var peak int64
	for _, r := range rs {
		peak = max(peak, r.Active)
	}
	if peak == 0 {
		return 0, 0, false
	}
	level := int64(math.Ceil(0.99 * float64(peak)))
	first, last = -1, -1
	for i, r := range rs {
		if r.Active >= level {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return 0, 0, false
	}
	// Let the last calls' greetings and first prompts settle.
	settled := rs[first].At.Add(2 * time.Second)
	for first < last && rs[first].At.Before(settled) {
		first++
	}
	return first, last, last > first
}

// jsonSafe returns r as generic JSON values with NaN and infinities as nil.
// emptyForJSON is what encoding/json's omitempty leaves out: false, 0, a
// nil pointer or interface, and an empty string, slice, map or array.
func emptyForJSON(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
		return v.Len() == 0
	case reflect.Struct:
		return false
	}
	return v.IsZero()
}

func jsonSafe(r *report) any {
	var walk func(v reflect.Value) any
	walk = func(v reflect.Value) any {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if v.IsNil() {
				return nil
			}
			return walk(v.Elem())
		case reflect.Float32, reflect.Float64:
			f := v.Float()
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil
			}
			return f
		case reflect.Struct:
			if t, ok := v.Interface().(time.Time); ok {
				return t
			}
			if d, ok := v.Interface().(time.Duration); ok {
				return d
			}
			m := map[string]any{}
			for i := range v.NumField() {
				f := v.Type().Field(i)
				if !f.IsExported() {
					continue
				}
				// The names json.Marshal would give: the tag's, if any.
				name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name == "-" && opts == "" {
					continue
				}
				if name == "" {
					name = f.Name
				}
				if strings.Contains(","+opts+",", ",omitempty,") && emptyForJSON(v.Field(i)) {
					continue
				}
				m[name] = walk(v.Field(i))
			}
			return m
		case reflect.Slice:
			out := make([]any, v.Len())
			for i := range out {
				out[i] = walk(v.Index(i))
			}
			return out
		case reflect.Map:
			m := map[string]any{}
			for _, k := range v.MapKeys() {
				m[fmt.Sprint(k.Interface())] = walk(v.MapIndex(k))
			}
			return m
		}
		return v.Interface()
	}
	return walk(reflect.ValueOf(r))
}

// probeSpread says how much slower the slowest second ran than the
// fastest.
func probeSpread(fastest, slowest float64) string {
	if math.IsNaN(fastest) || fastest <= 0 {
		return "not measured"
	}
	return fmt.Sprintf("the slowest second %.0f %% slower", 100*(slowest/fastest-1))
}
