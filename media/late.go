package media

import (
	"fmt"
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
// the late ones were more than 1 %.
type Lateness struct {
	Frames, Late uint64
	// Behind counts the window's buckets whose p99 was past the bar.
	Behind int
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
// by. It starts saying yes once three of the last second's four quarters
// had their p99 past the bar, and goes on until a whole second has none.
// One stall (a GC, a busy neighbour, a suspended process) fills one or two
// quarters and is not overload, nor a reason to turn callers away once it
// is over. At the edge of capacity, where quarters come and go past the
// bar, the engine keeps refusing rather than creep past the edge one
// admitted call at a time. With no LateBar it never says yes.
func (e *Engine) Overloaded() (Lateness, bool) { return e.overloadedAt(e.now()) }

func (e *Engine) overloadedAt(now int64) (Lateness, bool) {
	l := e.latenessAt(now)
	if l.Bar <= 0 {
		return l, false
	}
	switch {
	case l.Behind >= overloadEnter:
		e.refusing.Store(true)
	case l.Behind <= overloadLeave:
		e.refusing.Store(false)
	}
	return l, e.refusing.Load()
}

// String says what Overloaded judged by, for logs and the 503's Warning.
func (l Lateness) String() string {
	if l.Frames == 0 {
		return "no frames sent in the last " + LateWindow.String()
	}
	return fmt.Sprintf("%.1f%% of %d frames in the last %s later than %s, p99 past it in %d of %d quarters",
		100*float64(l.Late)/float64(l.Frames), l.Frames, LateWindow, l.Bar, l.Behind, lateBuckets)
}

// Lateness sums every pacer's buckets of the window, bucket by bucket. It
// is cheap (a few dozen atomic loads) so it can be asked for every new
// call.
func (e *Engine) Lateness() Lateness { return e.latenessAt(e.now()) }

// latenessAt is Lateness at engine time now.
func (e *Engine) latenessAt(now int64) Lateness {
	l := Lateness{Bar: e.cfg.LateBar}
	current := now / int64(lateBucket)
	for id := max(current-lateBuckets, 0); id < current; id++ {
		var frames, late uint64
		for _, p := range e.pacers {
			f, n := p.late.bucket(id)
			frames += f
			late += n
		}
		l.Frames += frames
		l.Late += late
		if late*overloadShare > frames {
			l.Behind++
		}
	}
	return l
}

// lateMeter counts a pacer's frames and those later than the engine's bar,
// in buckets of lateBucket numbered on the engine clock, so the shards'
// buckets line up. The pacer goroutine is its only writer: the senders it
// owns call Observe for every frame written, service calls skip for frames
// it jumps over, and tick calls fold at its end. Any goroutine may call
// bucket.
type lateMeter struct {
	next prometheus.Observer // the lateness histogram; may be nil
	bar  float64             // seconds; 0 counts nothing as late

	frames, late uint64 // since the last fold

	ring [lateRing]struct {
		id           atomic.Int64 // which bucket the slot holds; -1 none
		frames, late atomic.Uint64
	}
}

func newLateMeter(next prometheus.Observer, bar time.Duration) *lateMeter {
	m := &lateMeter{next: next, bar: bar.Seconds()}
	for i := range m.ring {
		m.ring[i].id.Store(-1)
	}
	return m
}

// Observe takes one written frame's lateness in seconds; it passes it on
// to the histogram. It does not allocate.
func (m *lateMeter) Observe(seconds float64) {
	m.frames++
	if m.bar > 0 && seconds > m.bar {
		m.late++
	}
	if m.next != nil {
		m.next.Observe(seconds)
	}
}

// skip counts n frames the pacer skipped: due, never sent, so late.
func (m *lateMeter) skip(n uint64) {
	m.frames += n
	m.late += n
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
		slot.late.Store(0)
		slot.id.Store(id)
	}
	slot.frames.Add(m.frames)
	slot.late.Add(m.late)
	m.frames, m.late = 0, 0
}

// bucket is what the meter counted in bucket id.
func (m *lateMeter) bucket(id int64) (frames, late uint64) {
	slot := &m.ring[id%lateRing]
	if slot.id.Load() != id {
		return 0, 0
	}
	frames, late = slot.frames.Load(), slot.late.Load()
	if slot.id.Load() != id {
		return 0, 0 // reused while we read
	}
	return frames, late
}
