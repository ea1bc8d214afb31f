package media

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// observeFrames feeds a meter n frames, late of them past its bar, as the
// senders of one tick would, and folds them at now.
func observeFrames(m *lateMeter, now time.Duration, n, late int) {
	m.start(int64(now))
	for i := range n {
		lateness := 4 * time.Millisecond
		if i < late {
			lateness = time.Duration(m.bar) + time.Millisecond
		}
		m.observe(int64(now), int64(now-lateness))
	}
	m.fold(int64(now))
}

// ticks feeds a meter a tick every 10 ms from `from` to `to` (excluded),
// each with n frames of which late are past the bar.
func ticks(m *lateMeter, from, to time.Duration, n, late int) {
	for at := from; at < to; at += 10 * time.Millisecond {
		observeFrames(m, at, n, late)
	}
}

func TestOverloadIsAP99PastTheBarForMostOfASecond(t *testing.T) {
	const bar = 20 * time.Millisecond
	s := time.Second
	ms := time.Millisecond
	tests := []struct {
		name   string
		shards int
		feed   func(m []*lateMeter)
		at     time.Duration
		want   Lateness
		over   bool
	}{
		{
			name: "1 % late is not past p99", shards: 1,
			feed: func(m []*lateMeter) { ticks(m[0], 0, 2*s, 100, 1) },
			at:   2 * s,
			want: Lateness{Frames: 10000, Late: 100, Behind: 0, Bar: bar},
		},
		{
			name: "2 % late for a second is overload", shards: 1,
			feed: func(m []*lateMeter) { ticks(m[0], 0, 2*s, 100, 2) },
			at:   2 * s,
			want: Lateness{Frames: 10000, Late: 200, Behind: 4, Bar: bar},
			over: true,
		},
		{
			name: "one stall is not overload", shards: 1,
			feed: func(m []*lateMeter) {
				ticks(m[0], 0, 1500*ms, 100, 0)
				m[0].skip(75) // frames of a 1.5 s stall, found at the next tick
				ticks(m[0], 1500*ms, 2*s, 100, 0)
			},
			at:   2 * s,
			want: Lateness{Frames: 10075, Late: 75, Behind: 1, Bar: bar},
		},
		{
			name: "two late quarters and two on time are not overload", shards: 1,
			feed: func(m []*lateMeter) {
				ticks(m[0], 0, 1500*ms, 100, 0)
				ticks(m[0], 1500*ms, 2*s, 100, 5)
			},
			at:   2 * s,
			want: Lateness{Frames: 10000, Late: 250, Behind: 2, Bar: bar},
		},
		{
			name: "three late quarters of four are", shards: 1,
			feed: func(m []*lateMeter) {
				ticks(m[0], 0, 1250*ms, 100, 0)
				ticks(m[0], 1250*ms, 2*s, 100, 5)
			},
			at:   2 * s,
			want: Lateness{Frames: 10000, Late: 375, Behind: 3, Bar: bar},
			over: true,
		},
		{
			name: "the quarter being filled is not judged yet", shards: 1,
			feed: func(m []*lateMeter) {
				ticks(m[0], 0, 1*s, 100, 50)
				ticks(m[0], 1*s, 1100*ms, 100, 0)
			},
			at:   1100 * ms,
			want: Lateness{Frames: 10000, Late: 5000, Behind: 4, Bar: bar},
			over: true,
		},
		{
			name: "lateness that is over is forgotten within a second", shards: 1,
			feed: func(m []*lateMeter) {
				ticks(m[0], 0, 1*s, 100, 50)
				ticks(m[0], 1*s, 2*s, 100, 0)
			},
			at:   2 * s,
			want: Lateness{Frames: 10000, Late: 0, Behind: 0, Bar: bar},
		},
		{
			name: "shards are judged together, quarter by quarter", shards: 2,
			feed: func(m []*lateMeter) {
				// One shard always 3 % late, the other on time with
				// twice the frames: 1 % together, not past p99.
				ticks(m[0], 0, 2*s, 100, 3)
				ticks(m[1], 5*ms, 2*s, 200, 0)
			},
			at:   2 * s,
			want: Lateness{Frames: 30000, Late: 300, Behind: 0, Bar: bar},
		},
		{
			name: "a pacer that stopped folding counts nothing", shards: 1,
			feed: func(m []*lateMeter) { ticks(m[0], 0, 1*s, 100, 50) },
			at:   10 * s,
			want: Lateness{Bar: bar},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Engine{cfg: EngineConfig{LateBar: bar}}
			var meters []*lateMeter
			for range tt.shards {
				m := newLateMeter(nil, bar)
				meters = append(meters, m)
				e.pacers = append(e.pacers, &pacer{e: e, late: m})
			}
			tt.feed(meters)
			got, over := e.overloadedAt(int64(tt.at), 0)
			tt.want.Recovering = tt.over // with nothing coming, only being behind refuses
			if got != tt.want {
				t.Errorf("Lateness = %+v, want %+v", got, tt.want)
			}
			if over != tt.over {
				t.Errorf("Overloaded = %v, want %v (%s)", over, tt.over, got)
			}
		})
	}
}

func TestLatenessWithoutABarJudgesNothing(t *testing.T) {
	m := newLateMeter(nil, 0)
	ticks(m, 0, 2*time.Second, 100, 0)
	m.observe(int64(1990*time.Millisecond), 0)
	m.fold(int64(1990 * time.Millisecond))
	e := &Engine{pacers: []*pacer{{late: m}}}
	if l, over := e.overloadedAt(int64(2*time.Second), 1000); l.Late != 0 || l.Frames != 10001 || l.Foreseen != 0 || over {
		t.Errorf("Lateness = %+v (overloaded %v), want 10001 frames, none late", l, over)
	}
}

// Once overloaded, the engine refuses until a whole second is on time: a
// window with one quarter past the bar, which would not have started the
// refusal, does not end it either.
func TestOverloadLastsUntilASecondIsOnTime(t *testing.T) {
	const bar = 20 * time.Millisecond
	ms := time.Millisecond
	m := newLateMeter(nil, bar)
	e := &Engine{cfg: EngineConfig{LateBar: bar}}
	e.pacers = []*pacer{{e: e, late: m}}
	steps := []struct {
		from, to time.Duration
		late     int // of 100 frames a tick
		want     bool
	}{
		{0, 1000 * ms, 0, false},
		{1000 * ms, 2000 * ms, 5, true},  // a second late: refusing
		{2000 * ms, 2750 * ms, 0, true},  // one quarter of the window still late
		{2750 * ms, 3000 * ms, 0, false}, // a whole second on time
		{3000 * ms, 3250 * ms, 5, false}, // one late quarter does not start it again
		{3250 * ms, 3500 * ms, 0, false},
	}
	for _, st := range steps {
		ticks(m, st.from, st.to, 100, st.late)
		if l, over := e.overloadedAt(int64(st.to), 0); over != st.want {
			t.Errorf("at %v: Overloaded = %v, want %v (%s)", st.to, over, st.want, l)
		}
	}
}

// A real engine sending one stream judges by what its pacer really did:
// a bar of a nanosecond is missed by every frame (the pacer sends a frame
// once it is due, never before), so the engine reports overload after a
// second of it; a bar of a second is never missed, now or with a thousand
// legs more.
func TestEngineLatenessIsWhatItsPacersSent(t *testing.T) {
	for _, tr := range []Transport{TransportShared, TransportPortPerCall} {
		t.Run(tr.String(), func(t *testing.T) {
			strict := newTestEngine(t, tr, func(c *EngineConfig) { c.LateBar = time.Nanosecond })
			lenient := newTestEngine(t, tr, func(c *EngineConfig) { c.LateBar = time.Second })
			sendingToPeer(t, strict)
			sendingToPeer(t, lenient)
			deadline := time.Now().Add(5 * time.Second)
			for !overloaded(strict) || lenient.Lateness().Frames < 40 {
				if time.Now().After(deadline) {
					t.Fatalf("after 5 s: a 1 ns bar: %+v, want overloaded; a 1 s bar: %+v, want a second's frames",
						strict.Lateness(), lenient.Lateness())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if l, over := lenient.Overloaded(0); over || l.Late != 0 {
				t.Errorf("a 1 s bar: Lateness() = %+v, want none late", l)
			}
			// One leg's frames leave microseconds into their ticks: a
			// thousand more legs would still leave well within a second.
			if l, over := lenient.Overloaded(1000); over || l.Legs != 1 || l.Foreseen != 0 {
				t.Errorf("a 1 s bar, 1,000 legs coming: %+v, overloaded %v; want 1 leg, none foreseen late", l, over)
			}
		})
	}
}

func overloaded(e *Engine) bool {
	_, over := e.Overloaded(0)
	return over
}

// workTicks feeds a meter a tick every 10 ms from `from` to `to`
// (excluded), as a pacer under load sends them: each tick starts lead
// after its first frame was due, and its n frames leave one after
// another over work, each as late as lead plus the work before it.
func workTicks(m *lateMeter, from, to time.Duration, n int, lead, work time.Duration) {
	for at := from; at < to; at += 10 * time.Millisecond {
		m.start(int64(at))
		for i := range n {
			written := at + work*time.Duration(i+1)/time.Duration(n)
			m.observe(int64(written), int64(at-lead))
		}
		m.fold(int64(at))
	}
}

// A call admitted now may cost its second leg seconds later, once an
// agent answers. The forecast asks what the last second's ticks would
// have looked like with the coming legs too: each tick's work stretched
// by the share they add, on top of the lateness that does not grow with
// the legs (the tick starting after its first frame was due).
func TestOverloadForeseesTheLegsComing(t *testing.T) {
	const bar = 20 * time.Millisecond
	ms := time.Millisecond
	// 100 frames a tick, a tick every 10 ms, a frame per leg every 20 ms:
	// 200 legs.
	const legs = 200
	tests := []struct {
		name         string
		work         time.Duration // each tick's, for 200 legs
		legs, coming int
		foreseen     int
		over         bool
	}{
		{name: "twice the legs in 4 ms ticks fit", work: 4 * ms, legs: legs, coming: legs},
		{name: "half as many again in 8 ms ticks do not", work: 8 * ms, legs: legs, coming: legs / 2, foreseen: 4, over: true},
		{name: "a tenth more in 8 ms ticks fit", work: 8 * ms, legs: legs, coming: legs / 10},
		{name: "one more leg in 9.9 ms ticks fits", work: 9900 * time.Microsecond, legs: legs, coming: 1},
		{name: "a quarter more in 9.9 ms ticks does not", work: 9900 * time.Microsecond, legs: legs, coming: legs / 4, foreseen: 4, over: true},
		{name: "legs that left since make room", work: 8 * ms, legs: legs / 2, coming: legs / 2},
		{name: "nothing coming foresees nothing", work: 9900 * time.Microsecond, legs: legs, coming: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Engine{cfg: EngineConfig{LateBar: bar}}
			m := newLateMeter(nil, bar)
			p := &pacer{e: e, late: m}
			p.legs.Store(int64(tt.legs))
			e.pacers = []*pacer{p}
			// Every frame leaves within the bar: the latest 10 ms + work.
			workTicks(m, 0, 2*time.Second, 100, 10*ms, tt.work)
			got, over := e.overloadedAt(int64(2*time.Second), tt.coming)
			if got.Behind != 0 || got.Late != 0 || got.Frames != 10000 {
				t.Fatalf("Lateness = %+v, want 10000 frames, none late", got)
			}
			if got.Legs != tt.legs || got.Coming != tt.coming || got.Foreseen != tt.foreseen || over != tt.over {
				t.Errorf("Lateness = %+v, overloaded %v; want %d legs, %d coming, foreseen in %d quarters, overloaded %v",
					got, over, tt.legs, tt.coming, tt.foreseen, tt.over)
			}
		})
	}
}

// The forecast counts frames by headroom in bins a quarter of a power of
// two wide. A frame's bin must hold its headroom, or the forecast would
// be off by more than a bin.
func TestHeadroomBinHoldsTheFramesHeadroom(t *testing.T) {
	const bar = int64(20 * time.Millisecond)
	for late := -bar; late <= bar; late += bar / 37 {
		for offset := int64(1); offset < 4*bar; offset = offset*3/2 + 1 {
			bin := headroomBin(late, offset, bar)
			if late > bar {
				if bin != lateBin {
					t.Errorf("late %d: bin %d, want lateBin", late, bin)
				}
				continue
			}
			room := float64(bar-late) / float64(offset)
			if bin == lateBin || headroomLow[bin] > room || (bin+1 < headroomBins && headroomLow[bin+1] <= room) {
				t.Errorf("late %d offset %d: headroom %g in bin %d [%g, next)", late, offset, room, bin, headroomLow[bin])
			}
		}
	}
	if b := headroomBin(0, 0, bar); b != headroomBins-1 {
		t.Errorf("a frame at its tick's start: bin %d, want the last", b)
	}
}

// Overloaded is asked for every INVITE: it reads every shard's buckets of
// the last second.
func BenchmarkOverloaded(b *testing.B) {
	const bar = 20 * time.Millisecond
	e := &Engine{cfg: EngineConfig{LateBar: bar}}
	for range 4 { // the shards of two CPUs
		m := newLateMeter(nil, bar)
		p := &pacer{e: e, late: m}
		p.legs.Store(1000)
		e.pacers = append(e.pacers, p)
		workTicks(m, 0, 2*time.Second, 500, 10*time.Millisecond, 5*time.Millisecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, over := e.overloadedAt(int64(2*time.Second), 300); over {
			b.Fatal("overloaded")
		}
	}
}

// The pacers count the CPU their ticks take (the overload guard's cost of
// a leg is made of it): it grows while legs are paced, and is never more
// than this process's own CPU time over the same span, even while other
// goroutines keep both CPUs busy and the pacers move between threads.
func TestMediaCPUIsThePacersOwnCPU(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, func(c *EngineConfig) { c.PortMax = c.PortMin + 500 })
		for range 100 {
			s, p := newTestSession(t, e), newPeer(t)
			s.Configure(p.addr(), PayloadPCMU, 0)
			s.Start()
		}
		stop := make(chan struct{})
		defer close(stop)
		for range runtime.GOMAXPROCS(0) + 1 {
			go spin(stop)
		}
		for range 4 {
			media0, self0 := e.MediaCPU(), processCPU(t)
			time.Sleep(250 * time.Millisecond)
			media1, self1 := e.MediaCPU(), processCPU(t)
			if media, self := media1-media0, self1-self0; media <= 0 || media > self {
				t.Errorf("over 250 ms of 100 legs: the pacers counted %v of CPU, the process used %v; want more than none, no more than the process", media, self)
			}
		}
	})
}

// spin keeps a CPU busy until stop closes.
func spin(stop <-chan struct{}) {
	for x := 0; ; x++ {
		if x%100000 == 0 {
			select {
			case <-stop:
				return
			default:
			}
		}
	}
}

// threadCPU reads the clock of the thread it names: on a thread of its
// own, a spin of 20 ms shows as about that much CPU.
func TestThreadCPUIsTheThreadsOwn(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0, tid0, ok := threadCPU()
	if !ok {
		if runtime.GOOS == "linux" {
			t.Fatal("no thread CPU clock on Linux")
		}
		t.Skip("no thread CPU clock here")
	}
	start := time.Now()
	for time.Since(start) < 20*time.Millisecond {
	}
	wall := time.Since(start)
	cpu1, tid1, _ := threadCPU()
	if used := time.Duration(cpu1 - cpu0); tid1 != tid0 || used < 10*time.Millisecond || used > wall+time.Millisecond {
		t.Errorf("a 20 ms spin on thread %d (then %d): %v of CPU in %v; want the same thread, 10 ms to the wall time", tid0, tid1, used, wall)
	}
}

func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
