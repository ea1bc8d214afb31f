//go:build linux

package main

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// speedProbe measures how fast the machine's CPUs run a fixed piece of
// work: probeLoops rounds of integer arithmetic, timed by the probing
// thread's own CPU clock every probeEvery. Being descheduled does not
// count, so a slower probe is a slower CPU. On a VM the same
// instructions take more CPU time while the host's other tenants share
// the physical core (its other hyperthread) or its clock drops, and
// every process on the machine, hotline and the generator alike, then
// spends more CPU on the same calls. The probe tells such seconds from
// hotline doing more work. It costs about 0.2 % of a CPU.
type speedProbe struct {
	mu      sync.Mutex
	pending []float64 // µs of CPU per probe since the last take
	stop    chan struct{}
	done    chan struct{}
}

const (
	probeEvery = 250 * time.Millisecond
	probeLoops = 200_000
)

func startSpeedProbe() *speedProbe {
	p := &speedProbe{stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *speedProbe) run() {
	defer close(p.done)
	// One thread from start to end of each probe, so that its CPU clock
	// is the probe's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			if us, ok := probeOnce(); ok {
				p.mu.Lock()
				p.pending = append(p.pending, us)
				p.mu.Unlock()
			}
		}
	}
}

// probeSink keeps the probe's and the neighbour's results alive, so their
// loops are not optimised away.
var probeSink uint64

// xorshift runs rounds of a xorshift generator from x: fixed integer work
// for the speed probe to time and for a neighbour to keep a CPU busy with.
func xorshift(x uint64, rounds int) uint64 {
	for range rounds {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// probeOnce runs the probe's work and returns the thread CPU it took, in
// µs.
func probeOnce() (float64, bool) {
	var t0, t1 unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &t0) != nil {
		return 0, false
	}
	probeSink += xorshift(88172645463325252, probeLoops)
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &t1) != nil {
		return 0, false
	}
	return float64(t1.Nano()-t0.Nano()) / 1000, true
}

// take returns the median of the probes since the last take (NaN if
// none), and starts over.
func (p *speedProbe) take() float64 {
	p.mu.Lock()
	s := p.pending
	p.pending = nil
	p.mu.Unlock()
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	return s[len(s)/2]
}

func (p *speedProbe) close() {
	close(p.stop)
	<-p.done
}
