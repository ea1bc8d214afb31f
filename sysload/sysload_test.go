package sysload

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// machine is a fake kernel and media engine: two CPUs, this process
// busy with a fixed base, the calls' signalling and its legs' audio, and
// the machine with a neighbour's load plus response times this
// process's (a load generator beside it does work of its own for each
// of ours). Each sample is a quarter of a second.
type machine struct {
	c                   Counters
	media               time.Duration
	legs                atomic.Int64
	at                  time.Time
	fail                error
	perLeg              float64 // CPUs of audio per leg in this process
	base                float64 // CPUs this process uses without calls
	setup               float64 // CPUs this process spends on arriving calls
	neighbour, response float64
}

func (m *machine) read() (Counters, error) {
	if m.fail != nil {
		return Counters{}, m.fail
	}
	return m.c, nil
}

func (m *machine) Legs() int               { return int(m.legs.Load()) }
func (m *machine) MediaCPU() time.Duration { return m.media }

// run advances the fake machine by quarters of a second, sampling each.
func (m *machine) run(s *Sampler, quarters int) {
	for range quarters {
		audio := m.perLeg * float64(m.legs.Load())
		self := m.base + m.setup + audio
		m.at = m.at.Add(every)
		m.c.MachineTotal += 2 * every
		m.c.MachineBusy += time.Duration(min(m.neighbour+m.response*self, 2) * float64(every))
		m.c.Self += time.Duration(self * float64(every))
		m.media += time.Duration(audio * float64(every))
		_ = s.sample(m.at)
	}
}

// ramp adds perSecond legs a second for seconds, spending setup CPUs on
// the arriving calls meanwhile.
func (m *machine) ramp(s *Sampler, seconds, perSecond int, setup float64) {
	m.setup = setup
	for range seconds * 4 {
		m.legs.Add(int64(perSecond / 4))
		m.run(s, 1)
	}
	m.setup = 0
}

func newMachine(perLeg, response float64) (*machine, *Sampler) {
	m := &machine{at: time.Unix(1e9, 0), perLeg: perLeg, response: response, base: 0.02}
	s := newSampler(m.read, m)
	_ = s.sample(m.at)
	return m, s
}

// A leg costs the machine the audio CPU this process spends on it, times
// how much the machine's load moves with this process's. A neighbour's
// steady load is not a leg's cost; the forecast asks whether the coming
// legs at that cost keep the machine within its budget.
func TestForecastWeighsComingLegsAtWhatALegCosts(t *testing.T) {
	tests := []struct {
		name                string
		neighbour, response float64
		legs, coming        int
		over                bool
	}{
		{name: "room for the coming legs", neighbour: 0.2, response: 1.5, legs: 2000, coming: 1000},
		{name: "coming legs past 80 %", neighbour: 0.2, response: 1.5, legs: 2000, coming: 3000, over: true},
		{name: "a busy neighbour is not the legs' cost", neighbour: 1.0, response: 1.2, legs: 400, coming: 400},
		{name: "already past the budget", neighbour: 0.2, response: 1.5, legs: 5000, coming: 1, over: true},
	}
	const perLeg = 0.0002
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, s := newMachine(perLeg, tt.response)
			m.neighbour = tt.neighbour
			m.run(s, 20)
			// Calls arrive for 10 s, their signalling busy with 0.1
			// CPUs; the legs grow evenly to tt.legs; 3 s steady.
			m.ramp(s, 10, tt.legs/10, 0.1)
			m.run(s, 12)
			f, over := s.Overloaded(tt.coming, 0.8)
			self := m.base + perLeg*float64(tt.legs)
			machine := tt.neighbour + tt.response*self
			if !near(f.CPUs, 2) || !near(f.Response, tt.response) || !near(f.PerLeg, perLeg*tt.response) || !near(f.Budget, 1.6) || !near(f.Machine, machine) {
				t.Errorf("%s: want 2 CPUs, %g busy, the machine moving %g× with this process, %g per leg, a budget of 1.6", f, machine, tt.response, perLeg*tt.response)
			}
			if want := machine + float64(tt.coming)*perLeg*tt.response; !near(f.Projected, want) || over != tt.over {
				t.Errorf("%s: overloaded %v; want %g projected, overloaded %v", f, over, want, tt.over)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }

// At the end of a ramp of calls, the signalling stops while the legs of
// the calls admitted last still arrive (agents answering queued callers):
// the machine's load hardly grows with the legs then. Neither end of the
// ramp changes what a leg costs.
func TestTheRampsSignallingIsNotALegsCost(t *testing.T) {
	const perLeg, response = 0.0002, 1.5
	m, s := newMachine(perLeg, response)
	m.run(s, 8)
	m.ramp(s, 2, 200, 0.4) // the first calls: signalling rises at once
	if f, _ := s.Overloaded(1, 0.8); !near(f.PerLeg, perLeg*response) {
		t.Errorf("at the start of the ramp: %s; want %g per leg", f, perLeg*response)
	}
	m.ramp(s, 10, 200, 0.4)
	m.ramp(s, 3, 200, 0) // refusing: no signalling, legs still arriving
	if f, _ := s.Overloaded(1, 0.8); !near(f.PerLeg, perLeg*response) {
		t.Errorf("at the end of the ramp: %s; want %g per leg", f, perLeg*response)
	}
}

// With a handful of legs a tick's fixed work would be charged to each,
// so there is no cost to weigh coming legs at and the forecast says
// nothing; while this process's load stays put, the machine is taken to
// move with it one for one.
func TestCostNeedsLegsAndResponseNeedsMovement(t *testing.T) {
	m, s := newMachine(0.0002, 1.5)
	m.neighbour = 1.5
	m.legs.Store(10)
	m.run(s, 40)
	if f, over := s.Overloaded(100000, 0.8); over || f.PerLeg != 0 {
		t.Errorf("10 legs: %s, overloaded %v; want no forecast", f, over)
	}
	m, s = newMachine(0.0002, 1.5)
	m.legs.Store(1000)
	m.run(s, 40)
	if f, _ := s.Overloaded(1, 0.8); !near(f.Response, 1) || !near(f.PerLeg, 0.0002) {
		t.Errorf("1,000 legs, steady: %s; want the machine moving 1× with this process, 0.0002 per leg", f)
	}
}

// A neighbour whose load rises and falls with ours must not make a leg
// look more than four times dearer than this process's own audio.
func TestResponseIsHeldWithinFourTimes(t *testing.T) {
	m, s := newMachine(0.0002, 6)
	m.run(s, 8)
	m.ramp(s, 20, 72, 0) // this process from 0.02 to 0.31 CPUs, the machine 6× that

	if f, _ := s.Overloaded(1, 0.8); !near(f.Response, 4) {
		t.Errorf("%s; want the response held at 4", f)
	}
}

// Without counters there is nothing to forecast from, and no refusal.
func TestNoCountersNoForecast(t *testing.T) {
	m, s := newMachine(0.0002, 1)
	m.legs.Store(1000)
	m.run(s, 12)
	m.fail = ErrUnavailable
	m.run(s, 1)
	if _, err := s.Load(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Load after a failed read: %v, want ErrUnavailable", err)
	}
	if f, over := s.Overloaded(100000, 0.1); over {
		t.Errorf("overloaded without counters: %s", f)
	}
	if _, err := New(m.read, nil); !errors.Is(err, ErrUnavailable) {
		t.Errorf("New on a failing source: %v", err)
	}
}

// On this machine the kernel's counters read, and a second of sampling
// sees its CPUs and this process spinning one of them.
func TestSamplerReadsThisMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU counters come from Linux's /proc")
	}
	s, err := New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	deadline := time.Now().Add(1100 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	l, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if l.CPUs < 0.9 || l.Machine > l.CPUs+0.05 || l.Self < 0.5 || l.Self > l.Machine+0.1 {
		t.Errorf("load %+v: want at least a CPU, this process spinning most of one, the machine at least that busy", l)
	}
}
