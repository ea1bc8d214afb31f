// Command pacerload measures the media engine's shared pacer: N sessions on
// 127.0.0.1, each playing a long prompt without pause, sending to a sink.
//
//	go run ./bench/pacerload -streams 3000 -duration 20s
//
// What is measured: the CPU time (getrusage, user+system) of this process,
// which holds the engine — the pacer loops, one idle receive goroutine per
// session and one goroutine per session waiting in Play. The sink runs as a
// child process (this binary again, -role sink) so its receive cost is not
// counted; its CPU is printed separately because on a small machine it
// competes with the pacer for cores. Lateness comes from the pacer itself
// (EngineConfig.Lateness, observed per frame after the socket write).
// Counters are taken after a warm-up, over the measured window only.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/hotline-dev/hotline/media"
)

func main() {
	var (
		role     = flag.String("role", "load", "load | sink (internal: the child process)")
		streams  = flag.Int("streams", 1000, "concurrent sessions")
		duration = flag.Duration("duration", 20*time.Second, "measured window (at most 30s)")
		warmup   = flag.Duration("warmup", 3*time.Second, "run time before measuring")
		shards   = flag.Int("shards", 0, "pacer shards (0: one per CPU)")
		sinks    = flag.Int("sinks", 8, "sink sockets")
		sinkMode = flag.String("sink", "read", "read: the sink process reads and counts every packet; drop: it holds the sockets but never reads (the kernel drops what overflows the buffer)")
		portMin  = flag.Int("portmin", 20000, "first RTP port")
		profile  = flag.String("cpuprofile", "", "write a CPU profile of the measured window to this file")
	)
	flag.Parse()
	if *role == "sink" {
		runSink(*sinks, *sinkMode == "read")
		return
	}
	if *duration > 30*time.Second {
		*duration = 30 * time.Second
	}
	cpuProfile = *profile
	if err := run(*streams, *duration, *warmup, *shards, *sinks, *sinkMode, *portMin); err != nil {
		log.Fatal(err)
	}
}

var cpuProfile string

func run(streams int, duration, warmup time.Duration, shards, sinks int, sinkMode string, portMin int) error {
	if err := raiseFileLimit(streams + 256); err != nil {
		return err
	}
	sink, sinkAddrs, err := startSink(sinks, sinkMode)
	if err != nil {
		return err
	}
	defer sink.stop()

	late := newLatencyHistogram()
	engine, err := media.NewEngine(media.EngineConfig{
		BindIP:      netip.MustParseAddr("127.0.0.1"),
		PortMin:     portMin,
		PortMax:     portMin + 2*streams + 2000,
		Lateness:    late,
		PacerShards: shards,
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
	sessions := make([]*media.Session, 0, streams)
	for i := range streams {
		s, err := engine.NewSession(fmt.Sprintf("load-%d", i))
		if err != nil {
			return fmt.Errorf("session %d: %w", i, err)
		}
		if err := s.Configure(sinkAddrs[i%len(sinkAddrs)], media.PayloadPCMU, 101); err != nil {
			return err
		}
		sessions = append(sessions, s)
	}
	// Calls arrive at random moments, so their 20 ms phases are spread:
	// start the streams over one frame time rather than all at once.
	for i, s := range sessions {
		s.Start()
		if i%max(1, streams/20) == 0 {
			time.Sleep(time.Millisecond)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_ = s.Play(ctx, clip)
			}
		}()
	}

	time.Sleep(warmup)
	late.reset()
	cpu0 := cpuTime()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	st0 := engine.Stats()
	t0 := time.Now()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	time.Sleep(duration)
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	st1 := engine.Stats()
	elapsed := time.Since(t0)
	cpu1 := cpuTime()
	runtime.ReadMemStats(&ms1)
	snap := late.snapshot()

	cancel()
	wg.Wait()
	for _, s := range sessions {
		s.Close()
	}
	sinkPackets, sinkCPU := sink.stop()

	sent := st1.PacketsSent - st0.PacketsSent
	cpu := (cpu1 - cpu0).Seconds()
	streamSeconds := float64(streams) * elapsed.Seconds()
	expected := streamSeconds * 50
	fmt.Printf("streams            %d (pacer shards: %d, GOMAXPROCS %d)\n", streams, shardsOf(shards), runtime.GOMAXPROCS(0))
	fmt.Printf("measured window    %.1f s after %v warm-up\n", elapsed.Seconds(), warmup)
	fmt.Printf("packets sent       %d (%.1f%% of the %d due)\n", sent, 100*float64(sent)/expected, int64(expected))
	fmt.Printf("frames skipped     %d\n", st1.FramesSkipped-st0.FramesSkipped)
	fmt.Printf("send errors        %d\n", st1.SendErrors-st0.SendErrors)
	fmt.Printf("process CPU        %.2f s (%.1f%% of one core)\n", cpu, 100*cpu/elapsed.Seconds())
	fmt.Printf("CPU per stream-s   %.3f ms\n", 1000*cpu/streamSeconds)
	fmt.Printf("CPU per packet     %.2f µs\n", 1e6*cpu/float64(max(sent, 1)))
	fmt.Printf("lateness           p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (%d frames)\n",
		snap.quantile(0.5), snap.quantile(0.99), snap.quantile(0.999), snap.max, snap.count)
	fmt.Printf("allocs per packet  %.4f (%d mallocs)\n", float64(ms1.Mallocs-ms0.Mallocs)/float64(max(sent, 1)), ms1.Mallocs-ms0.Mallocs)
	fmt.Printf("sink               %s mode, %d packets over the whole run, %.2f s CPU\n", sinkMode, sinkPackets, sinkCPU)
	fmt.Printf("load average       %s\n", loadAverage())
	fmt.Printf("| %d | %.0f s | %d | %d | %.2f | %.3f | %.2f | %.2f | %.2f | %.2f | %.4f |\n",
		streams, elapsed.Seconds(), sent, st1.FramesSkipped-st0.FramesSkipped, cpu, 1000*cpu/streamSeconds,
		1e6*cpu/float64(max(sent, 1)), snap.quantile(0.5), snap.quantile(0.99), snap.max,
		float64(ms1.Mallocs-ms0.Mallocs)/float64(max(sent, 1)))
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

// sinkProc is the child process receiving the streams.
type sinkProc struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	out   *bufio.Scanner
}

func startSink(n int, mode string) (*sinkProc, []netip.AddrPort, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(self, "-role", "sink", "-sinks", strconv.Itoa(n), "-sink", mode)
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
	if !sc.Scan() {
		return nil, nil, fmt.Errorf("sink did not report its ports")
	}
	var addrs []netip.AddrPort
	for _, f := range strings.Fields(sc.Text()) {
		ap, err := netip.ParseAddrPort(f)
		if err != nil {
			return nil, nil, fmt.Errorf("sink port %q: %w", f, err)
		}
		addrs = append(addrs, ap)
	}
	return &sinkProc{cmd: cmd, stdin: stdin, out: sc}, addrs, nil
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

// runSink is the child: n sockets with large buffers, read with recvmmsg
// batches (the cheapest receive path) or never read at all.
func runSink(n int, read bool) {
	var total atomic.Uint64
	var conns []*net.UDPConn
	var addrs []string
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			log.Fatal(err)
		}
		c.SetReadBuffer(4 << 20)
		conns = append(conns, c)
		addrs = append(addrs, c.LocalAddr().String())
	}
	fmt.Println(strings.Join(addrs, " "))
	if read {
		for _, c := range conns {
			go func() {
				pc := ipv4.NewPacketConn(c)
				msgs := make([]ipv4.Message, 64)
				for i := range msgs {
					msgs[i].Buffers = [][]byte{make([]byte, 1500)}
				}
				for {
					k, err := pc.ReadBatch(msgs, 0)
					if err != nil {
						return
					}
					total.Add(uint64(k))
				}
			}()
		}
	}
	// The parent closes stdin when it is done.
	bufio.NewReader(os.Stdin).ReadString('\n')
	for _, c := range conns {
		c.Close()
	}
	fmt.Println(total.Load(), cpuTime().Seconds())
}
