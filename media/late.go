package media

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	// lateBucket is the grain of the judgement, and lateBuckets how many
	// completed buckets it looks at: the last second.
	lateBucket  = 250 * time.Millisecond
	lateBuckets = 4
	// LateWindow is the span Engine.Lateness reports on.
	LateWindow = lateBuckets * lateBucket
	// lateRing is how many buckets a meter keeps: the one being filled,
	// the window, and slack for readers that look while a pacer moves on.
	lateRing = 8

	// overloadShare: more than 1 % of a bucket's frames late is a p99
	// past the bar.
	overloadShare = 100
)

// Lateness is how an engine kept time over the last LateWindow (the
// completed buckets before the current one): the frames its pacers sent
// or skipped, how many of those left later than EngineConfig.LateBar (a
// skipped frame counts as late), and in how many of the window's buckets
// the late ones were more than 1 %. With legs coming (Overloaded's
// argument) it also says in how many buckets they would have been, had
// the pacers carried those legs too.
type Lateness struct {
	Frames, Late uint64
	// Behind counts the window's buckets whose p99 was past the bar.
	Behind int
	// Legs is how many legs the pacers carry; Coming the legs the caller
	// of Overloaded expects on top of them.
	Legs, Coming int
	// Foreseen counts the window's buckets whose p99 would have been past
	// the bar with the coming legs too (see lateMeter).
	Foreseen int
	// Recovering: the engine fell behind and has not had a whole second
	// on time since (Overloaded).
	Recovering bool
	// Bar is EngineConfig.LateBar; 0 when the engine does not judge.
	Bar time.Duration
}

// overloadEnter and overloadLeave are the hysteresis of Engine.Overloaded:
// it starts refusing once this many of the window's quarters had their p99
// past the bar, and refuses until none of them has.
const (
	overloadEnter = 3
	overloadLeave = 0
)

// Overloaded judges whether the engine can take another call without the
// calls it carries losing their timing, and returns the Lateness it judged
// by. coming is how many legs the calls already admitted, and the one
// asking, will add soon (0 if the caller cannot tell).
//
// It says yes in two cases. The first is the engine being behind: three
// of the last second's four quarters had their p99 past the bar. Then it
// goes on saying yes until a whole second has none. One stall (a GC, a
// busy neighbour, a suspended process) fills one or two quarters and is
// not overload, nor a reason to turn callers away once it is over. At the
// edge of capacity, where quarters come and go past the bar, the engine
// keeps refusing rather than creep past the edge one admitted call at a
// time.
//
// The second is a forecast. A call's cost can arrive well after its
// INVITE: a caller admitted now is bridged to an agent seconds later, and
// only then does the agent's leg start. Judged by lateness alone, the
// calls admitted while the first of them are still on their way would
// all be let in. So it also says yes while three of the four quarters
// would have had their p99 past the bar with coming more legs (see
// lateMeter for how that is told). This needs no hysteresis:
// once the coming legs have arrived they are judged by what they cost.
//
// With no LateBar it never says yes.
func (e *Engine) Overloaded(coming int) (Lateness, bool) { return e.overloadedAt(e.now(), coming) }

func (e *Engine) overloadedAt(now int64, coming int) (Lateness, bool) {
	l := e.latenessAt(now, coming)
	if l.Bar <= 0 {
		return l, false
	}
	switch {
	case l.Behind >= overloadEnter:
		e.refusing.Store(true)
	case l.Behind <= overloadLeave:
		e.refusing.Store(false)
	}
	l.Recovering = e.refusing.Load()
	return l, l.Recovering || l.Foreseen >= overloadEnter
}

// String says what Overloaded judged by, for logs and the 503's Warning.
func (l Lateness) String() string {
	if l.Frames == 0 {
		return "no frames sent in the last " + LateWindow.String()
	}
	s := fmt.Sprintf("%.1f%% of %d frames in the last %s later than %s, p99 past it in %d of %d quarters",
		100*float64(l.Late)/float64(l.Frames), l.Frames, LateWindow, l.Bar, l.Behind, lateBuckets)
	if l.Coming > 0 {
		s += fmt.Sprintf("; with %d legs coming on top of %d, in %d", l.Coming, l.Legs, l.Foreseen)
	}
	return s
}

// Lateness sums every pacer's buckets of the window, bucket by bucket. It
// is cheap (BenchmarkOverloaded) so it can be asked for every new call.
func (e *Engine) Lateness() Lateness { return e.latenessAt(e.now(), 0) }

// Legs is how many legs the pacers carried at the end of their last tick.
func (e *Engine) Legs() int {
	n := 0
	for _, p := range e.pacers {
		n += int(p.legs.Load())
	}
	return n
}

// MediaCPU is the CPU time the pacers have spent in their ticks since the
// engine started, measured one tick in five (pacer.tick): reading,
// analysing, relaying and sending every leg's audio (with TransportPortPerCall, reading is the legs' own goroutines'
// and not counted). Per leg it is what a leg costs this process, which
// the overload guard's CPU forecast weighs coming legs at (package
// sysload).
func (e *Engine) MediaCPU() time.Duration {
	var n int64
	for _, p := range e.pacers {
		n += p.cpu.Load()
	}
	return time.Duration(n)
}

// latenessAt is Lateness at engine time now, with coming legs foreseen.
func (e *Engine) latenessAt(now int64, coming int) Lateness {
	l := Lateness{Bar: e.cfg.LateBar, Coming: coming, Legs: e.Legs()}
	current := now / int64(lateBucket)
	for id := max(current-lateBuckets, 0); id < current; id++ {
		var frames uint64
		var bins [headroomBins]uint64
		for _, p := range e.pacers {
			frames += p.late.bucket(id, &bins)
		}
		l.Frames += frames
		l.Late += bins[lateBin]
		if bins[lateBin]*overloadShare > frames {
			l.Behind++
		}
		if coming > 0 && foreseenLate(&bins, stretch(frames, l.Legs+coming))*overloadShare > frames {
			l.Foreseen++
		}
	}
	return l
}

// stretch is how much longer a bucket's ticks would have taken with legs
// to send instead of those that sent its frames: every leg sends a frame
// per FrameDuration whatever it carries, so the pacers' work grows with
// the legs.
func stretch(frames uint64, legs int) float64 {
	sent := float64(frames) * float64(FrameDuration) / float64(lateBucket)
	if sent == 0 {
		return 0
	}
	return max(float64(legs)/sent-1, 0)
}

// foreseenLate is how many of a bucket's frames, counted by headroom bin,
// a stretch of every tick's work by x would have made late (see
// lateMeter). A bin counts whole as soon as x passes its lowest edge, so
// the forecast errs on the side of refusing.
func foreseenLate(bins *[headroomBins]uint64, x float64) uint64 {
	n := bins[lateBin]
	for i := 1; i < headroomBins-1 && headroomLow[i] < x; i++ {
		n += bins[i]
	}
	return n
}

// lateMeter counts a pacer's frames and those later than the engine's bar,
// in buckets of lateBucket numbered on the engine clock, so the shards'
// buckets line up. The pacer goroutine is its only writer: the senders it
// owns call observe for every frame written, service calls skip for frames
// it jumps over, and tick calls start and fold at its ends. Any goroutine
// may call bucket.
//
// It also keeps what a forecast needs: how much more work each tick could
// have taken before a frame became late. Take a frame written o after its
// tick started, with lateness ℓ. Had the tick had (1+x) times the work,
// everything before the frame would have taken x·o longer, and the frame
// would have left at ℓ + x·o. It stays within the bar while
// x ≤ (bar−ℓ)/o, its headroom. The meter counts frames by headroom (headroomBin), so a
// bucket can say how many of its frames a stretch of x would have made
// late. Work that does not grow with the legs (a stall, the tick starting
// late) is in ℓ, not o, and is not stretched.
type lateMeter struct {
	next prometheus.Observer // the lateness histogram; may be nil
	bar  int64               // nanoseconds; 0 counts nothing as late

	tickStart int64 // engine time the current tick started

	frames uint64 // since the last fold
	// byHeadroom counts the frames since the last fold by headroomBin;
	// lateBin holds the late ones.
	byHeadroom [headroomBins]uint64

	ring [lateRing]struct {
		id         atomic.Int64 // which bucket the slot holds; -1 none
		frames     atomic.Uint64
		byHeadroom [headroomBins]atomic.Uint64
	}
}

// Headroom bins: lateBin for frames past the bar, then headroom below
// 2^minHeadroomExp, then four bins per power of two (edges at 1, 1.25,
// 1.5 and 1.75 times it) up to 2^maxHeadroomExp, then the rest.
const (
	minHeadroomExp = -6 // a stretch of 1.6 %
	maxHeadroomExp = 6  // 64 times the work
	lateBin        = 0
	headroomBins   = 2 + (maxHeadroomExp-minHeadroomExp)*4 + 1
)

// headroomLow[i] is the lowest headroom bin i holds.
var headroomLow = func() (low [headroomBins]float64) {
	low[lateBin] = math.Inf(-1)
	low[1] = 0
	for i := 2; i < headroomBins; i++ {
		j := i - 2
		low[i] = math.Ldexp(1+float64(j%4)/4, minHeadroomExp+j/4)
	}
	return low
}()

// headroomBin is the bin of a frame written offset after its tick
// started with lateness late (both in nanoseconds), against bar.
func headroomBin(late, offset, bar int64) int {
	room := bar - late
	switch {
	case room < 0:
		return lateBin
	case offset <= 0:
		return headroomBins - 1
	}
	// The exponent and the top two bits of the mantissa of a positive
	// float64 pick its bin without a logarithm.
	bits := math.Float64bits(float64(room) / float64(offset))
	exp := int(bits>>52&0x7ff) - 1023
	switch {
	case exp < minHeadroomExp:
		return 1
	case exp >= maxHeadroomExp:
		return headroomBins - 1
	}
	return 2 + (exp-minHeadroomExp)*4 + int(bits>>50&3)
}

func newLateMeter(next prometheus.Observer, bar time.Duration) *lateMeter {
	m := &lateMeter{next: next, bar: int64(bar)}
	for i := range m.ring {
		m.ring[i].id.Store(-1)
	}
	return m
}

// start marks the start of a tick at engine time now.
func (m *lateMeter) start(now int64) { m.tickStart = now }

// observe takes one frame, due at due and written at written (engine
// time), and passes its lateness on to the histogram. It does not
// allocate.
func (m *lateMeter) observe(written, due int64) {
	late := written - due
	m.frames++
	if m.bar > 0 {
		m.byHeadroom[headroomBin(late, written-m.tickStart, m.bar)]++
	}
	if m.next != nil {
		m.next.Observe(float64(late) / float64(time.Second))
	}
}

// skip counts n frames the pacer skipped: due, never sent, so late.
func (m *lateMeter) skip(n uint64) {
	m.frames += n
	m.byHeadroom[lateBin] += n
}

// fold publishes the counts since the last fold into the bucket of now
// (engine clock). A bucket in which the pacer did not fold is missing from
// the ring, and counts nothing.
func (m *lateMeter) fold(now int64) {
	if m.frames == 0 {
		return
	}
	id := now / int64(lateBucket)
	slot := &m.ring[id%lateRing]
	if slot.id.Load() != id {
		slot.id.Store(-1)
		slot.frames.Store(0)
		for i := range slot.byHeadroom {
			slot.byHeadroom[i].Store(0)
		}
		slot.id.Store(id)
	}
	slot.frames.Add(m.frames)
	for i, n := range m.byHeadroom {
		if n != 0 {
			slot.byHeadroom[i].Add(n)
		}
	}
	m.frames = 0
	clear(m.byHeadroom[:])
}

// bucket adds what the meter counted in bucket id to bins, and returns
// its frames.
func (m *lateMeter) bucket(id int64, bins *[headroomBins]uint64) (frames uint64) {
	slot := &m.ring[id%lateRing]
	if slot.id.Load() != id {
		return 0
	}
	var read [headroomBins]uint64
	frames = slot.frames.Load()
	for i := range read {
		read[i] = slot.byHeadroom[i].Load()
	}
	if slot.id.Load() != id {
		return 0 // reused while we read
	}
	for i, n := range read {
		bins[i] += n
	}
	return frames
}
