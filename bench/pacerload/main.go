//go:build unix

// Command pacerload measures the media engine under load: N sessions on
// 127.0.0.1, each playing a long prompt without pause, sending to a sink.
//
//	go run ./bench/pacerload -streams 3000 -duration 20s
//	go run ./bench/pacerload -streams 5000 -transport shared -inbound
//	go run ./bench/pacerload -streams 5000 -transport shared -inbound -bridged
//
// What is measured: the CPU time (getrusage, user+system) of this process,
// which holds the engine — the pacer loops, the receive goroutines (one per
// session with -transport per-call, one per shard with shared) and one
// goroutine per session waiting in Play. The sink runs as a child process
// (this binary again, -role sink) so its cost is not counted; its CPU is
// printed separately because on a small machine it competes with the
// engine for cores. Lateness comes from the pacer itself
// (EngineConfig.Lateness, observed per frame after the socket write).
// Counters are taken after a warm-up, over the measured window only.
//
// -inbound makes it a call: the sink also sends one 20 ms PCMU frame of
// speech (the zh-CN prompts) per stream every 20 ms to the stream's
// session, from an address of its own per stream (127.1.x.y, chosen per
// packet with IP_PKTINFO), and every session has a leg analyser and a
// conversation attached, as the call flow does for a caller. Each session
// is configured with its stream's address, so symmetric RTP and the shared
// transport's demultiplexer find it. -bridged pairs the sessions into
// bridged calls (caller and agent, both analysed) instead of playing.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hotline-dev/hotline/analysis"
	"github.com/hotline-dev/hotline/media"
)

type options struct {
	streams          int
	duration, warmup time.Duration
	shards, sinks    int
	sinkMode         string
	portMin          int
	profile          string
	transport        media.Transport
	inbound, bridged bool
	audio            string
}

// speechEvents counts the conversations' events (dead air started and ended).
var speechEvents atomic.Uint64

func main() {
	var (
		o         options
		role      = flag.String("role", "load", "load | sink (internal: the child process)")
		transport = flag.String("transport", "per-call", "per-call | shared (media.EngineConfig.Transport)")
	)
	flag.IntVar(&o.streams, "streams", 1000, "concurrent sessions (with -bridged: legs, two per call)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measured window (at most 30s)")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "run time before measuring")
	flag.IntVar(&o.shards, "shards", 0, "pacer shards (0: one per CPU)")
	flag.IntVar(&o.sinks, "sinks", 8, "sink sockets")
	flag.StringVar(&o.sinkMode, "sink", "read", "read: the sink process reads and counts every packet; drop: it holds the sockets but never reads (the kernel drops what overflows the buffer)")
	flag.IntVar(&o.portMin, "portmin", 20000, "first RTP port")
	flag.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the measured window to this file")
	flag.BoolVar(&o.inbound, "inbound", false, "the sink sends each stream's caller audio back, and every session analyses it")
	flag.BoolVar(&o.bridged, "bridged", false, "pair the sessions into bridged calls (implies -inbound)")
	flag.StringVar(&o.audio, "audio", "prompts/audio/zh-CN", "directory of µ-law WAV files the sink speaks with -inbound")
	flag.Parse()
	if *role == "sink" {
		runSink(o.sinks, o.sinkMode == "read", o.inbound, o.audio)
		return
	}
	tr, err := media.ParseTransport(*transport)
	if err != nil {
		log.Fatal(err)
	}
	o.transport = tr
	if o.bridged {
		o.inbound = true
		o.streams += o.streams % 2
	}
	if o.duration > 30*time.Second {
		o.duration = 30 * time.Second
	}
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

// streamAddr is the sink's address for stream i: its own loopback IP
// (127.1.0.0/16 and up) on one of the sink's ports. Without -inbound all
// streams share the sink's 127.0.0.1 sockets, as in the first version.
func streamAddr(i int, ports []uint16, inbound bool) netip.AddrPort {
	port := ports[i%len(ports)]
	if !inbound {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, byte(1 + i>>16), byte(i >> 8), byte(i)}), port)
}

func run(o options) error {
	if err := raiseFileLimit(o.streams + 256); err != nil {
		return err
	}
	sink, sinkPorts, err := startSink(o)
	if err != nil {
		return err
	}
	defer sink.kill()

	rss0 := rssBytes()
	late := newLatencyHistogram()
	engine, err := media.NewEngine(media.EngineConfig{
		BindIP:      netip.MustParseAddr("127.0.0.1"),
		PortMin:     o.portMin,
		PortMax:     o.portMin + 2*o.streams + 2000,
		Lateness:    late,
		PacerShards: o.shards,
		Transport:   o.transport,
	})
	if err != nil {
		return err
	}
	defer engine.Close()

	// One minute of a 440 Hz tone, encoded once and shared by every stream
	// as the prompt catalogue is.
	pcm := make([]int16, 60*8000)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/8000))
	}
	clip := make([]byte, len(pcm))
	media.EncodePCMU(clip, pcm)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	sessions := make([]*media.Session, 0, o.streams)
	ports := make([]string, 0, o.streams)
	for i := range o.streams {
		// Named as the call flow names them: a bridged call's agent leg
		// is "<call-id>/<agent>", which keeps it on its caller's shard.
		id := fmt.Sprintf("load-%d", i)
		if o.bridged && i%2 == 1 {
			id = fmt.Sprintf("load-%d/agent", i-1)
		}
		s, err := engine.NewSession(id)
		if err != nil {
			return fmt.Errorf("session %d: %w", i, err)
		}
		if err := s.Configure(streamAddr(i, sinkPorts, o.inbound), media.PayloadPCMU, 101); err != nil {
			return err
		}
		sessions = append(sessions, s)
		ports = append(ports, strconv.Itoa(s.LocalPort()))
	}
	var bridges []*media.Bridge
	if o.inbound {
		// Analysis as the call flow attaches it (callflow/speech.go): a
		// leg analyser and a conversation on the caller's leg; bridged,
		// the agent's leg is analysed too and the conversation spans both.
		for i := 0; i < len(sessions); i++ {
			caller := analysis.NewLeg()
			sessions[i].Analyse(caller)
			sessions[i].OnSpeechEvent(func(analysis.Event) { speechEvents.Add(1) })
			if !o.bridged {
				sessions[i].Converse(analysis.NewConversation(caller, nil))
				continue
			}
			agent := analysis.NewLeg()
			br, err := engine.Bridge(sessions[i], sessions[i+1])
			if err != nil {
				return err
			}
			bridges = append(bridges, br)
			sessions[i+1].Analyse(agent)
			sessions[i].Converse(analysis.NewConversation(caller, agent))
			i++
		}
		if err := sink.startSending(ports); err != nil {
			return err
		}
	}
	// Calls arrive at random moments, so their 20 ms phases are spread:
	// start the streams over one frame time rather than all at once.
	for i, s := range sessions {
		s.Start()
		if i%max(1, o.streams/20) == 0 {
			time.Sleep(time.Millisecond)
		}
		if o.bridged {
			continue // the relay is the stream
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_ = s.Play(ctx, clip)
			}
		}()
	}

	time.Sleep(o.warmup)
	late.reset()
	cpu0 := cpuTime()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	st0 := engine.Stats()
	t0 := time.Now()
	if o.profile != "" {
		f, err := os.Create(o.profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	time.Sleep(o.duration)
	if o.profile != "" {
		pprof.StopCPUProfile()
	}
	st1 := engine.Stats()
	elapsed := time.Since(t0)
	cpu1 := cpuTime()
	runtime.ReadMemStats(&ms1)
	rss1 := rssBytes()
	snap := late.snapshot()
	var brStats media.BridgeStats
	for _, br := range bridges {
		s := br.Stats()
		brStats.AtoB += s.AtoB
		brStats.BtoA += s.BtoA
		brStats.Dropped += s.Dropped
		brStats.Underruns += s.Underruns
	}
	var overruns uint64
	for _, s := range sessions {
		overruns += s.Stats().AnalysisOverruns
	}
	var talk time.Duration
	var syllables int
	for _, s := range sessions {
		if sum, ok := s.LegSummary(); ok {
			talk += sum.Talk
			syllables += sum.Syllables
		}
	}

	// Loss, each way, over the whole run: stop the sink's sending and
	// compare with what the engine took in; then stop the engine's sending
	// and compare with what the sink read.
	var sinkSent uint64
	if o.inbound {
		if sinkSent, err = sink.stopSending(); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond)
	}
	stIn := engine.Stats()
	cancel()
	wg.Wait()
	for _, s := range sessions {
		s.Close()
	}
	stOut := engine.Stats()
	time.Sleep(300 * time.Millisecond)
	sinkPackets, sinkCPU := sink.stop()

	sent := st1.PacketsSent - st0.PacketsSent
	recv := st1.PacketsReceived - st0.PacketsReceived
	cpu := (cpu1 - cpu0).Seconds()
	streamSeconds := float64(o.streams) * elapsed.Seconds()
	expected := streamSeconds * 50
	mode := "prompt out"
	switch {
	case o.bridged:
		mode = fmt.Sprintf("%d bridged calls, caller audio in on both legs, relayed, analysed", o.streams/2)
	case o.inbound:
		mode = "prompt out, caller audio in, analysed"
	}
	fmt.Printf("streams            %d, %s (transport %v, pacer shards %d, GOMAXPROCS %d)\n", o.streams, mode, o.transport, shardsOf(o.shards), runtime.GOMAXPROCS(0))
	fmt.Printf("measured window    %.1f s after %v warm-up\n", elapsed.Seconds(), o.warmup)
	fmt.Printf("packets sent       %d (%.1f%% of the %d due)\n", sent, 100*float64(sent)/expected, int64(expected))
	if o.inbound {
		fmt.Printf("packets received   %d in the window (%.1f%% of the %d the sink's pace gives)\n", recv, 100*float64(recv)/expected, int64(expected))
	}
	fmt.Printf("frames skipped     %d\n", st1.FramesSkipped-st0.FramesSkipped)
	fmt.Printf("send errors        %d\n", st1.SendErrors-st0.SendErrors)
	fmt.Printf("dropped/unmatched  %d / %d\n", st1.PacketsDropped-st0.PacketsDropped, st1.PacketsUnmatched-st0.PacketsUnmatched)
	fmt.Printf("process CPU        %.2f s (%.1f%% of one core)\n", cpu, 100*cpu/elapsed.Seconds())
	fmt.Printf("CPU per stream-s   %.3f ms\n", 1000*cpu/streamSeconds)
	fmt.Printf("CPU per packet     %.2f µs (sent + received)\n", 1e6*cpu/float64(max(sent+recv, 1)))
	fmt.Printf("lateness           p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (%d frames)\n",
		snap.quantile(0.5), snap.quantile(0.99), snap.quantile(0.999), snap.max, snap.count)
	fmt.Printf("allocs per packet  %.4f (%d mallocs)\n", float64(ms1.Mallocs-ms0.Mallocs)/float64(max(sent+recv, 1)), ms1.Mallocs-ms0.Mallocs)
	fmt.Printf("RSS                %.1f MiB growth since before the engine, %.1f KiB per stream (Go heap in use %.1f MiB, stacks %.1f MiB)\n",
		float64(rss1-rss0)/(1<<20), float64(rss1-rss0)/1024/float64(o.streams), float64(ms1.HeapInuse)/(1<<20), float64(ms1.StackInuse)/(1<<20))
	if o.inbound {
		delivered := stIn.PacketsReceived + stIn.PacketsDropped + stIn.PacketsUnmatched
		fmt.Printf("inbound            sink sent %d, engine took %d (valid %d, dropped %d, unmatched %d): lost %d (%.3f%%)\n",
			sinkSent, delivered, stIn.PacketsReceived, stIn.PacketsDropped, stIn.PacketsUnmatched,
			int64(sinkSent)-int64(delivered), 100*(float64(sinkSent)-float64(delivered))/float64(max(sinkSent, 1)))
		fmt.Printf("analysis           %d frames overran the analysis rings, %d speech events; talk heard %.0f s, %d syllables\n",
			overruns, speechEvents.Load(), talk.Seconds(), syllables)
	}
	if o.bridged {
		fmt.Printf("relay              %d + %d frames relayed, %d dropped, %d underruns (window)\n", brStats.AtoB, brStats.BtoA, brStats.Dropped, brStats.Underruns)
	}
	if o.sinkMode == "read" {
		fmt.Printf("outbound           engine sent %d, sink read %d: lost %d (%.3f%%)\n",
			stOut.PacketsSent, sinkPackets, int64(stOut.PacketsSent)-int64(sinkPackets),
			100*(float64(stOut.PacketsSent)-float64(sinkPackets))/float64(max(stOut.PacketsSent, 1)))
	}
	fmt.Printf("sink               %s mode, %.2f s CPU over the whole run\n", o.sinkMode, sinkCPU)
	fmt.Printf("load average       %s\n", loadAverage())
	fmt.Printf("| %d | %v | %v | %d | %.1f%% | %.2f | %.3f | %.2f | %.2f | %.2f | %.1f | %s |\n",
		o.streams, o.transport, o.inbound, sent, 100*float64(sent)/expected, cpu, 1000*cpu/streamSeconds,
		snap.quantile(0.5), snap.quantile(0.99), snap.max,
		float64(rss1-rss0)/1024/float64(o.streams), loadAverage())
	return nil
}

func shardsOf(n int) int {
	if n <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return n
}

// latencyHistogram is an allocation-free, concurrency-safe Observer with
// 50 µs buckets up to 2 s, so quantiles are exact to 50 µs.
type latencyHistogram struct {
	buckets [40001]atomic.Uint64
	maxNs   atomic.Int64
}

const bucketWidth = 50 * time.Microsecond

func newLatencyHistogram() *latencyHistogram { return &latencyHistogram{} }

// Observe records one lateness in seconds.
func (h *latencyHistogram) Observe(seconds float64) {
	ns := int64(seconds * 1e9)
	if ns < 0 {
		ns = 0
	}
	i := min(int(ns/int64(bucketWidth)), len(h.buckets)-1)
	h.buckets[i].Add(1)
	for {
		m := h.maxNs.Load()
		if ns <= m || h.maxNs.CompareAndSwap(m, ns) {
			break
		}
	}
}

func (h *latencyHistogram) reset() {
	for i := range h.buckets {
		h.buckets[i].Store(0)
	}
	h.maxNs.Store(0)
}

type latencySnapshot struct {
	counts []uint64
	count  uint64
	max    float64 // ms
}

func (h *latencyHistogram) snapshot() latencySnapshot {
	s := latencySnapshot{counts: make([]uint64, len(h.buckets)), max: float64(h.maxNs.Load()) / 1e6}
	for i := range h.buckets {
		s.counts[i] = h.buckets[i].Load()
		s.count += s.counts[i]
	}
	return s
}

// quantile returns the upper edge of the bucket holding quantile q, in ms.
func (s latencySnapshot) quantile(q float64) float64 {
	target := uint64(math.Ceil(q * float64(s.count)))
	var seen uint64
	for i, c := range s.counts {
		seen += c
		if seen >= target && c > 0 {
			return float64(time.Duration(i+1)*bucketWidth) / 1e6
		}
	}
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssBytes is the process's resident set (VmRSS), 0 where unknown.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func raiseFileLimit(need int) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if rl.Cur >= uint64(need) {
		return nil
	}
	rl.Cur = min(max(uint64(need), rl.Cur), rl.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE to %d: %w", need, err)
	}
	if rl.Cur < uint64(need) {
		return fmt.Errorf("RLIMIT_NOFILE hard limit %d is below the %d sockets needed", rl.Max, need)
	}
	return nil
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

// sinkProc is the child process receiving (and with -inbound sending) the
// streams. It is driven by lines on its stdin.
type sinkProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startSink(o options) (*sinkProc, []uint16, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	args := []string{"-role", "sink", "-sinks", strconv.Itoa(o.sinks), "-sink", o.sinkMode, "-audio", o.audio}
	if o.inbound {
		args = append(args, "-inbound")
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	if !sc.Scan() {
		return nil, nil, fmt.Errorf("sink did not report its ports")
	}
	var ports []uint16
	for _, f := range strings.Fields(sc.Text()) {
		p, err := strconv.ParseUint(f, 10, 16)
		if err != nil {
			return nil, nil, fmt.Errorf("sink port %q: %w", f, err)
		}
		ports = append(ports, uint16(p))
	}
	return &sinkProc{cmd: cmd, stdin: stdin, out: sc}, ports, nil
}

// startSending gives the sink each stream's engine port; it starts sending.
func (p *sinkProc) startSending(enginePorts []string) error {
	_, err := fmt.Fprintf(p.stdin, "send %s\n", strings.Join(enginePorts, " "))
	return err
}

// stopSending stops the sink's sending and returns how many it sent.
func (p *sinkProc) stopSending() (uint64, error) {
	if _, err := fmt.Fprintln(p.stdin, "stop"); err != nil {
		return 0, err
	}
	if !p.out.Scan() {
		return 0, errors.New("sink did not report what it sent")
	}
	return strconv.ParseUint(strings.TrimSpace(p.out.Text()), 10, 64)
}

// stop closes the child's stdin, which ends it, and returns what it counted.
func (p *sinkProc) stop() (packets uint64, cpu float64) {
	if p.cmd == nil {
		return 0, 0
	}
	p.stdin.Close()
	if p.out.Scan() {
		fmt.Sscan(p.out.Text(), &packets, &cpu)
	}
	p.cmd.Wait()
	p.cmd = nil
	return packets, cpu
}

func (p *sinkProc) kill() {
	if p.cmd != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.cmd = nil
	}
}

// loadSpeech joins the µ-law WAV files of dir (8 kHz, format 7, as the
// built-in prompts are stored) into one clip.
func loadSpeech(dir string) ([]byte, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.wav"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var clip []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if data, ok := mulawData(b); ok {
			clip = append(clip, data...)
		}
	}
	if len(clip) < 50*media.FrameSize {
		return nil, fmt.Errorf("no µ-law speech in %s (run from the repository root or set -audio)", dir)
	}
	return clip, nil
}

// mulawData returns the data chunk of an 8 kHz mono µ-law WAV file.
func mulawData(b []byte) ([]byte, bool) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, false
	}
	mulaw := false
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:]))
		body := b[off+8 : min(len(b), off+8+size)]
		switch id {
		case "fmt ":
			mulaw = len(body) >= 16 && binary.LittleEndian.Uint16(body) == 7 &&
				binary.LittleEndian.Uint16(body[2:]) == 1 && binary.LittleEndian.Uint32(body[4:]) == 8000
		case "data":
			return body, mulaw
		}
		off += 8 + size + size%2
	}
	return nil, false
}
