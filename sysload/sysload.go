// Package sysload owns how busy the machine and this process are, sampled
// from the kernel, what a call leg costs the machine, and the overload
// guard's forecast from them: whether the machine would stay within its
// CPU budget with the legs the calls in progress are about to add.
//
// The pacers' own lateness (media.Engine.Overloaded) says when the audio
// is late now, and how much longer each tick would take with more legs;
// it cannot see that the machine is running out of CPU until the pacers
// are already queueing for it. A caller admitted now is bridged to an
// agent seconds later, so by then the calls admitted meanwhile are on
// their way. The machine's busy share, and what each leg adds to it, say
// that in advance.
package sysload

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

const (
	// every is the sampling period; a Load covers the last `samples` of
	// them, a second.
	every   = 250 * time.Millisecond
	samples = 4
	// apart is how many samples lie between the two seconds whose loads
	// and legs give a leg's cost (learnLocked): the second just gone and
	// the one three seconds before it.
	apart = 3 * samples
	// The least growth in legs between those two seconds that a cost is
	// told from: a minGrowthShare-th of the legs carried, and at least
	// minGrowthLegs.
	minGrowthShare = 10
	minGrowthLegs  = 50
	// saturated is the machine's busy share past which its growth no
	// longer tells what a leg costs: as the CPUs run out, threads queue
	// and the load grows less than the work does.
	saturated = 0.75
)

// Counters are cumulative CPU times since some fixed point: the machine's
// busy and total time summed over its CPUs, and this process's.
type Counters struct {
	MachineBusy, MachineTotal time.Duration
	Self                      time.Duration
}

// Source reads the counters; ReadCounters is the kernel's.
type Source func() (Counters, error)

// Load is how busy the machine was over the last second.
type Load struct {
	// CPUs is how many CPUs the machine's total covers.
	CPUs float64
	// Machine is the CPUs busy, every process and the kernel counted;
	// Self those this process used.
	Machine, Self float64
	// Legs is how many legs this process carried, the mean over the
	// second's quarters.
	Legs float64
}

// Sampler samples Counters every quarter of a second, keeps the last
// four seconds, and learns from them what a leg costs the machine. Create
// it with New; it is safe for concurrent use.
type Sampler struct {
	read Source
	legs func() int
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	ring [apart + samples + 1]sample
	n    int // samples taken
	// perLeg is the CPUs a leg costs the machine, once known.
	perLeg      float64
	perLegKnown bool
	err         error
}

type sample struct {
	at   time.Time
	c    Counters
	legs int
}

// ErrUnavailable: the machine's counters cannot be read here (not Linux,
// or /proc not mounted); there is nothing to forecast from.
var ErrUnavailable = errors.New("sysload: CPU counters unavailable")

// New starts sampling read (nil: ReadCounters); legs says how many legs
// this process carries (nil: none, so no cost is learned). It fails if
// the first read does.
func New(read Source, legs func() int) (*Sampler, error) {
	if read == nil {
		read = ReadCounters
	}
	s := newSampler(read, legs)
	if err := s.sample(time.Now()); err != nil {
		return nil, err
	}
	go s.run()
	return s, nil
}

// newSampler is a Sampler that samples only when told to.
func newSampler(read Source, legs func() int) *Sampler {
	if legs == nil {
		legs = func() int { return 0 }
	}
	return &Sampler{read: read, legs: legs, stop: make(chan struct{}), done: make(chan struct{})}
}

func (s *Sampler) run() {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			_ = s.sample(now) // kept in s.err for Load
		}
	}
}

// Close stops sampling.
func (s *Sampler) Close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

func (s *Sampler) sample(now time.Time) error {
	c, err := s.read()
	legs := s.legs()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = err
		return err
	}
	s.err = nil
	s.ring[s.n%len(s.ring)] = sample{at: now, c: c, legs: legs}
	s.n++
	s.learnLocked()
	return nil
}

// learnLocked tells what a leg costs from how the machine's load grew
// with the legs: the load of the second just gone against the second
// three seconds before, when the legs grew enough between them for the
// difference to be the legs' and not noise. Load that does not grow with
// the legs (a neighbour, the signalling of a steady stream of calls) is
// in both seconds and cancels out; what grows with them outside this
// process (the kernel's network work, a recorder, a load generator on
// the same machine) is counted. Each cost told is averaged with the one
// before, and kept while the legs do not grow, or while the machine is
// over 75 % busy and its load no longer grows with them as it did.
func (s *Sampler) learnLocked() {
	if s.n < len(s.ring) {
		return
	}
	now, errNow := s.loadAt(0)
	then, errThen := s.loadAt(apart)
	if errNow != nil || errThen != nil {
		return
	}
	grew := now.Legs - then.Legs
	if grew < max(minGrowthLegs, now.Legs/minGrowthShare) || now.Machine <= then.Machine {
		return
	}
	if now.Machine >= saturated*now.CPUs {
		// The machine's load cannot grow with the legs any more: the
		// growth would make them look cheaper than they are.
		return
	}
	cost := (now.Machine - then.Machine) / grew
	if s.perLegKnown {
		cost = (cost + s.perLeg) / 2
	}
	s.perLeg, s.perLegKnown = cost, true
}

// Load is the machine's load over the last second (less right after New:
// over the samples there are). It fails until two samples were taken, or
// if the last read failed.
func (s *Sampler) Load() (Load, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return Load{}, s.err
	}
	return s.loadAt(0)
}

// loadAt is the load over the second (or what there is of it) that ended
// back samples before the newest.
func (s *Sampler) loadAt(back int) (Load, error) {
	end := s.n - 1 - back
	start := max(end-samples, 0)
	if end <= start || s.n-start > len(s.ring) {
		return Load{}, errors.New("sysload: not enough samples")
	}
	newest, oldest := s.ring[end%len(s.ring)], s.ring[start%len(s.ring)]
	wall := newest.at.Sub(oldest.at).Seconds()
	total := (newest.c.MachineTotal - oldest.c.MachineTotal).Seconds()
	if wall <= 0 || total <= 0 {
		return Load{}, errors.New("sysload: no time between samples")
	}
	// The kernel's clock ticks and ours need not agree on the window to
	// the millisecond, so the CPUs and the machine's share come from the
	// kernel's own totals.
	cpus := total / wall
	busy := (newest.c.MachineBusy - oldest.c.MachineBusy).Seconds() / total
	self := (newest.c.Self - oldest.c.Self).Seconds() / wall
	// Each sample's legs are those at the end of the quarter it closes.
	legs := 0
	for i := start + 1; i <= end; i++ {
		legs += s.ring[i%len(s.ring)].legs
	}
	return Load{CPUs: cpus, Machine: busy * cpus, Self: self, Legs: float64(legs) / float64(end-start)}, nil
}

// Forecast is what Overloaded judged by.
type Forecast struct {
	Load
	Coming int
	// PerLeg is the CPUs a leg costs the machine, as learned (see
	// Sampler.learnLocked); 0 while unknown.
	PerLeg float64
	// Projected is the CPUs the machine would use with the coming legs.
	Projected float64
	// Budget is the CPUs it may use: maxBusy of them.
	Budget float64
}

func (f Forecast) String() string {
	return fmt.Sprintf("%.2f of %.0f CPUs busy (%.2f this process) with %.0f legs, %.3f ms of CPU per leg-second; %d legs coming would make it %.2f, past %.2f",
		f.Machine, f.CPUs, f.Self, f.Legs, f.PerLeg*1000, f.Coming, f.Projected, f.Budget)
}

// Overloaded forecasts whether the machine would stay within maxBusy (a
// share of its CPUs, 0 < maxBusy ≤ 1) with coming more legs on top of
// those carried now, each costing what the machine learned a leg costs.
// Until it has seen the legs grow, or without counters, it never says
// yes.
func (s *Sampler) Overloaded(coming int, maxBusy float64) (Forecast, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || !s.perLegKnown {
		return Forecast{}, false
	}
	l, err := s.loadAt(0)
	if err != nil {
		return Forecast{}, false
	}
	f := Forecast{Load: l, Coming: coming, PerLeg: s.perLeg, Budget: maxBusy * l.CPUs}
	f.Projected = l.Machine + float64(coming)*f.PerLeg
	return f, f.Projected > f.Budget
}
