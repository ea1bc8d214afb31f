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
//
// What a leg adds is measured: the media engine counts the CPU time its
// pacers spend on the legs' audio, and the sampler tells how much the
// machine's load moves for each CPU of this process's (the kernel's
// network work, a recorder or a load generator on the same machine move
// with it; a neighbour's steady load does not). Inferring the cost from
// how the machine's load grows with the legs does not work: the
// signalling of arriving calls grows and stops with the ramp of calls,
// not with the legs, and such an inference was off by a factor of four
// to six in both directions at the ends of a ramp (bench/README.md).
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
	// costSamples is the span a leg's cost is measured over, two
	// seconds: the ratio of two CPU times read a second apart from
	// counters in 10 ms ticks is noisy by a few percent.
	costSamples = 2 * samples
	// minLegs is the fewest legs a cost is measured on: below it, a
	// tick's fixed work (the timer, the socket reads) would be charged to
	// a handful of legs.
	minLegs = 20
	// seconds is how many one-second loads the machine's response to
	// this process's load is fitted over (machineResponse); the fit needs
	// this process's load to have moved by at least minSpread CPUs (its
	// standard deviation over them), and what it finds is held within
	// [1, maxResponse]: the machine cannot do less than this process,
	// and a neighbour whose load happens to rise with ours must not make
	// a leg look several times dearer.
	seconds     = 30
	minSpread   = 0.05
	maxResponse = 4
)

// Counters are cumulative CPU times since some fixed point: the machine's
// busy and total time summed over its CPUs, and this process's.
type Counters struct {
	MachineBusy, MachineTotal time.Duration
	Self                      time.Duration
}

// Source reads the counters; ReadCounters is the kernel's.
type Source func() (Counters, error)

// Media is what the sampler asks of the media engine (media.Engine).
type Media interface {
	// Legs is how many call legs the engine carries now.
	Legs() int
	// MediaCPU is the CPU time the engine has spent on the legs' audio
	// since some fixed point.
	MediaCPU() time.Duration
}

// Load is how busy the machine was over the last second.
type Load struct {
	// CPUs is how many CPUs the machine's total covers.
	CPUs float64
	// Machine is the CPUs busy, every process and the kernel counted;
	// Self those this process used, and Media those of it the legs'
	// audio took.
	Machine, Self, Media float64
	// Legs is how many legs this process carried, the mean over the
	// second's quarters.
	Legs float64
}

// Sampler samples Counters every quarter of a second and keeps the last
// two seconds, from which it tells the machine's load and what a leg
// costs. Create it with New; it is safe for concurrent use.
type Sampler struct {
	read  Source
	media Media
	stop  chan struct{}
	done  chan struct{}

	mu   sync.Mutex
	ring [costSamples + 1]sample
	n    int // samples taken
	err  error
	// history is the last seconds' loads, one per whole second sampled,
	// for machineResponse.
	history  [seconds]Load
	nHistory int
}

type sample struct {
	at    time.Time
	c     Counters
	legs  int
	media time.Duration
}

// ErrUnavailable: the machine's counters cannot be read here (not Linux,
// or /proc not mounted); there is nothing to forecast from.
var ErrUnavailable = errors.New("sysload: CPU counters unavailable")

// New starts sampling read (nil: ReadCounters) and media (nil: no legs,
// so no cost is known). It fails if the first read does.
func New(read Source, media Media) (*Sampler, error) {
	if read == nil {
		read = ReadCounters
	}
	s := newSampler(read, media)
	if err := s.sample(time.Now()); err != nil {
		return nil, err
	}
	go s.run()
	return s, nil
}

// newSampler is a Sampler that samples only when told to.
func newSampler(read Source, media Media) *Sampler {
	if media == nil {
		media = noMedia{}
	}
	return &Sampler{read: read, media: media, stop: make(chan struct{}), done: make(chan struct{})}
}

type noMedia struct{}

func (noMedia) Legs() int               { return 0 }
func (noMedia) MediaCPU() time.Duration { return 0 }

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
	legs, media := s.media.Legs(), s.media.MediaCPU()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = err
		return err
	}
	s.err = nil
	s.ring[s.n%len(s.ring)] = sample{at: now, c: c, legs: legs, media: media}
	s.n++
	if s.n%samples == 1 && s.n > samples {
		if l, err := s.loadOver(samples); err == nil {
			s.history[s.nHistory%len(s.history)] = l
			s.nHistory++
		}
	}
	return nil
}

// machineResponse is how many CPUs the machine's load moves by for each
// CPU this process's load moves by: the slope of a least-squares line
// through the last seconds' loads (Machine against Self). What does not
// move with this process (a neighbour's steady work) is the line's
// intercept and not counted. It is 1 (this process alone) until this
// process's load has moved enough for the slope to be told from the
// counters' 10 ms ticks.
func (s *Sampler) machineResponse() float64 {
	n := min(s.nHistory, len(s.history))
	if n < 3 {
		return 1
	}
	var meanS, meanM float64
	for _, l := range s.history[:n] {
		meanS += l.Self
		meanM += l.Machine
	}
	meanS /= float64(n)
	meanM /= float64(n)
	var sxx, sxy float64
	for _, l := range s.history[:n] {
		sxx += (l.Self - meanS) * (l.Self - meanS)
		sxy += (l.Self - meanS) * (l.Machine - meanM)
	}
	if sxx/float64(n) < minSpread*minSpread {
		return 1
	}
	return min(max(sxy/sxx, 1), maxResponse)
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
	return s.loadOver(samples)
}

// loadOver is the load over the last span samples (or what there is of
// them).
func (s *Sampler) loadOver(span int) (Load, error) {
	end := s.n - 1
	start := max(end-span, 0)
	if end <= start {
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
	media := (newest.media - oldest.media).Seconds() / wall
	// Each sample's legs are those at the end of the quarter it closes.
	legs := 0
	for i := start + 1; i <= end; i++ {
		legs += s.ring[i%len(s.ring)].legs
	}
	return Load{CPUs: cpus, Machine: busy * cpus, Self: self, Media: media, Legs: float64(legs) / float64(end-start)}, nil
}

// perLegOf is the CPUs a leg costs the machine by the load l: the audio's
// CPU per leg, times response, the machine's CPU per CPU of this
// process. It is unknown (false) with fewer than minLegs legs or no audio
// CPU counted.
func perLegOf(l Load, response float64) (float64, bool) {
	if l.Legs < minLegs || l.Media <= 0 {
		return 0, false
	}
	return l.Media / l.Legs * response, true
}

// Forecast is what Overloaded judged by.
type Forecast struct {
	Load
	Coming int
	// Response is the CPUs the machine's load moves by per CPU of this
	// process's (Sampler.machineResponse).
	Response float64
	// PerLeg is the CPUs a leg costs the machine: the audio's CPU per leg
	// over the last two seconds, times Response; 0 while unknown.
	PerLeg float64
	// Projected is the CPUs the machine would use with the coming legs.
	Projected float64
	// Budget is the CPUs it may use: maxBusy of them.
	Budget float64
}

func (f Forecast) String() string {
	return fmt.Sprintf("%.2f of %.0f CPUs busy (%.2f this process, %.2f of it the audio of %.0f legs; the machine moves %.2f× with it), %.3f ms of CPU per leg-second; %d legs coming would make it %.2f, past %.2f",
		f.Machine, f.CPUs, f.Self, f.Media, f.Legs, f.Response, f.PerLeg*1000, f.Coming, f.Projected, f.Budget)
}

// Overloaded forecasts whether the machine would stay within maxBusy (a
// share of its CPUs, 0 < maxBusy ≤ 1) with coming more legs on top of
// those carried now, each costing what a leg costs now. While that cost
// is unknown (fewer than minLegs legs), or without counters, it never
// says yes.
func (s *Sampler) Overloaded(coming int, maxBusy float64) (Forecast, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return Forecast{}, false
	}
	l, err := s.loadOver(samples)
	if err != nil {
		return Forecast{}, false
	}
	span, err := s.loadOver(costSamples)
	if err != nil {
		return Forecast{}, false
	}
	response := s.machineResponse()
	perLeg, known := perLegOf(span, response)
	if !known {
		return Forecast{}, false
	}
	f := Forecast{Load: l, Coming: coming, Response: response, PerLeg: perLeg, Budget: maxBusy * l.CPUs}
	f.Projected = l.Machine + float64(coming)*f.PerLeg
	return f, f.Projected > f.Budget
}
