package sysload

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// machine is a fake kernel: two CPUs whose busy time and this process's
// CPU time advance at the rates the test sets, a quarter of a second per
// sample.
type machine struct {
	c          Counters
	busy, self float64 // CPUs
	legs       atomic.Int64
	at         time.Time
	fail       error
}

func (m *machine) read() (Counters, error) {
	if m.fail != nil {
		return Counters{}, m.fail
	}
	return m.c, nil
}

// run advances the fake machine by quarters of a second, sampling each.
func (m *machine) run(s *Sampler, quarters int) {
	for range quarters {
		m.at = m.at.Add(every)
		m.c.MachineTotal += 2 * every
		m.c.MachineBusy += time.Duration(m.busy * float64(every))
		m.c.Self += time.Duration(m.self * float64(every))
		_ = s.sample(m.at)
	}
}

// ramp grows the legs by perSecond for seconds, the machine busy with
// base plus cost per leg, this process with half of it.
func (m *machine) ramp(s *Sampler, seconds, perSecond int, base, cost float64) {
	for range seconds * 4 {
		m.legs.Add(int64(perSecond / 4))
		m.busy = base + cost*float64(m.legs.Load())
		m.self = m.busy / 2
		m.run(s, 1)
	}
}

func newMachine() (*machine, *Sampler) {
	m := &machine{at: time.Unix(1e9, 0)}
	s := newSampler(m.read, func() int { return int(m.legs.Load()) })
	_ = s.sample(m.at)
	return m, s
}

// A leg's cost is what the machine's load grew by per leg as the legs
// grew: load that does not grow with them (a neighbour, the signalling
// of the calls arriving) is not the legs'. The forecast asks whether the
// coming legs at that cost would keep the machine within its budget.
func TestForecastWeighsComingLegsAtWhatALegAdds(t *testing.T) {
	tests := []struct {
		name         string
		base         float64 // CPUs busy whatever the legs
		cost         float64 // CPUs per leg
		legs, coming int
		over         bool
	}{
		{name: "room for the coming legs", base: 0.2, cost: 0.0004, legs: 2000, coming: 1000},
		{name: "coming legs past 80 %", base: 0.2, cost: 0.0004, legs: 2000, coming: 1600, over: true},
		{name: "a busy neighbour is not the legs' cost", base: 1.0, cost: 0.0004, legs: 400, coming: 400},
		{name: "already past the budget", base: 0.2, cost: 0.0004, legs: 4000, coming: 1, over: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, s := newMachine()
			m.busy = tt.base
			m.run(s, 20)
			// Calls arrive for 10 s; the legs grow evenly to tt.legs.
			m.ramp(s, 10, tt.legs/10, tt.base, tt.cost)
			f, over := s.Overloaded(tt.coming, 0.8)
			// The load is the last second's: its four quarters were
			// busy with the legs each ended with.
			quarter := float64(tt.legs) / 40
			machine := tt.base + tt.cost*(float64(tt.legs)-1.5*quarter)
			if !near(f.CPUs, 2) || !near(f.PerLeg, tt.cost) || !near(f.Budget, 1.6) || !near(f.Machine, machine) {
				t.Errorf("%s: want 2 CPUs, %g busy, %g per leg, a budget of 1.6", f, machine, tt.cost)
			}
			if want := machine + float64(tt.coming)*tt.cost; !near(f.Projected, want) || over != tt.over {
				t.Errorf("%s: overloaded %v; want %g projected, overloaded %v", f, over, want, tt.over)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }

// Before the legs have grown there is no cost to weigh coming legs at,
// and the forecast says nothing; a steady load keeps the cost learned.
func TestCostIsLearnedFromGrowthAndKept(t *testing.T) {
	m, s := newMachine()
	m.busy = 0.5
	m.legs.Store(10)
	m.run(s, 40)
	if f, over := s.Overloaded(100000, 0.8); over || f.PerLeg != 0 {
		t.Errorf("no growth seen: %s, overloaded %v; want no forecast", f, over)
	}
	m.ramp(s, 5, 400, 0.5, 0.0002)
	m.run(s, 400) // 100 s steady
	f, over := s.Overloaded(1000, 0.8)
	if !near(f.PerLeg, 0.0002) || over {
		t.Errorf("after growth and 100 s steady: %s, overloaded %v; want 0.0002 per leg kept, room for 1,000", f, over)
	}
}

// Without counters there is nothing to forecast from, and no refusal.
func TestNoCountersNoForecast(t *testing.T) {
	m, s := newMachine()
	m.run(s, 4)
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

func TestParseStat(t *testing.T) {
	busy, total, err := parseStat([]byte("cpu  2165139 0 1222360 8316717 22227 0 371147 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if wantBusy, wantTotal := (2165139+1222360+371147)*10*time.Millisecond, (2165139+1222360+8316717+22227+371147)*10*time.Millisecond; busy != wantBusy || total != wantTotal {
		t.Errorf("busy %v total %v, want %v and %v", busy, total, wantBusy, wantTotal)
	}
	for _, bad := range []string{"", "intr 1 2 3", "cpu 1 2 3", "cpu 1 2 3 x 5 6 7 8"} {
		if _, _, err := parseStat([]byte(bad)); !errors.Is(err, ErrUnavailable) {
			t.Errorf("parseStat(%q): %v, want ErrUnavailable", bad, err)
		}
	}
}

// On this machine the kernel's counters read, and a second of sampling
// sees its CPUs and this process spinning one of them.
func TestSamplerReadsThisMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU counters come from Linux's /proc")
	}
	s, err := New(nil, func() int { return 0 })
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

// Once the machine is saturated its load stops growing with the legs;
// that is not the legs getting cheaper, and the cost learned before is
// kept.
func TestASaturatedMachineTeachesNoCost(t *testing.T) {
	m, s := newMachine()
	m.busy = 0.2
	m.run(s, 20)
	m.ramp(s, 5, 400, 0.2, 0.0004) // 2,000 legs, 1.0 CPUs busy
	// 4,000 more legs: the load grows as before to 1.5 CPUs, then
	// ever less as the CPUs run out, and stays at 1.9 of 2.
	for range 10 * 4 {
		m.legs.Add(100)
		m.busy = 0.2 + 0.0004*float64(m.legs.Load())
		if m.busy > 1.5 {
			m.busy = min(1.5+(m.busy-1.5)/3, 1.9)
		}
		m.run(s, 1)
	}
	// Within 5 %: the last second learned from may end in a quarter
	// past the bend.
	if f, over := s.Overloaded(100, 0.8); f.PerLeg < 0.00038 || f.PerLeg > 0.0004 || !over {
		t.Errorf("%s, overloaded %v; want the cost of 0.0004 per leg kept within 5 %%, overloaded", f, over)
	}
}
