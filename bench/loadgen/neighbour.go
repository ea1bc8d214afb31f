//go:build linux

package main

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// neighbour is CPU-bound work beside hotline: processes that each keep one
// CPU busy, started at a set time of the run and ending after a set
// while. It stands for another job on the machine (a backup, a log
// compressor) that starts after the calls were admitted, when the overload
// guard can no longer refuse them and hanging up on callers is not an
// option (R7): what is left to keep their audio on time is hotline's
// priority (process.nice).
type neighbour struct {
	mu      sync.Mutex
	procs   []*exec.Cmd
	stopped bool
	timer   *time.Timer
}

// startNeighbour starts n busy processes after at, each ending itself after
// dur. They are this binary run with -spin, so their CPU is neither
// hotline's nor the generator's in the report.
func startNeighbour(n int, at, dur time.Duration, log *slog.Logger) *neighbour {
	nb := &neighbour{}
	if n <= 0 {
		return nb
	}
	nb.timer = time.AfterFunc(at, func() {
		self, err := os.Executable()
		if err != nil {
			log.Warn("neighbour not started", "error", err)
			return
		}
		nb.mu.Lock()
		defer nb.mu.Unlock()
		if nb.stopped {
			return
		}
		for range n {
			cmd := exec.Command(self, "-spin", dur.String())
			if err := cmd.Start(); err != nil {
				log.Warn("neighbour not started", "error", err)
				continue
			}
			nb.procs = append(nb.procs, cmd)
			go func() { _ = cmd.Wait() }()
		}
		log.Info("neighbour started", "processes", len(nb.procs), "for", dur)
	})
	return nb
}

// stop ends every neighbour process still running, by its PID.
func (nb *neighbour) stop() {
	if nb.timer != nil {
		nb.timer.Stop()
	}
	nb.mu.Lock()
	defer nb.mu.Unlock()
	nb.stopped = true
	// Kill on a process that has ended returns an error and does nothing:
	// os.Process knows once its Wait has reaped it, so no other process
	// that got the PID since is hit.
	for _, c := range nb.procs {
		_ = c.Process.Kill()
	}
}

// spin keeps one CPU busy for d: the body of a neighbour process.
func spin(d time.Duration) {
	runtime.GOMAXPROCS(1)
	end := time.Now().Add(d)
	x := uint64(1)
	for time.Now().Before(end) {
		x = xorshift(x, 100_000)
	}
	probeSink += x
}

// threadNices describes the nice values of process pid's threads, e.g.
// "-10 on all 14 threads" or "0 on 12 threads, -10 on 2".
func threadNices(pid int) (string, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	count := map[int]int{}
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/stat")
		if err != nil {
			continue // the thread has ended
		}
		n, err := parseStatNice(string(b))
		if err != nil {
			return "", err
		}
		count[n]++
	}
	if len(count) == 0 {
		return "", fmt.Errorf("%w: no threads in %s", errMalformed, dir)
	}
	return describeNices(count), nil
}

// describeNices words a count of threads by nice value, the most common
// value first.
func describeNices(count map[int]int) string {
	nices := make([]int, 0, len(count))
	total := 0
	for n, c := range count {
		nices = append(nices, n)
		total += c
	}
	switch {
	case total == 1:
		return fmt.Sprintf("%d on its one thread", nices[0])
	case len(nices) == 1:
		return fmt.Sprintf("%d on all %d threads", nices[0], total)
	}
	sort.Slice(nices, func(i, j int) bool {
		if count[nices[i]] != count[nices[j]] {
			return count[nices[i]] > count[nices[j]]
		}
		return nices[i] < nices[j]
	})
	parts := make([]string, len(nices))
	for i, n := range nices {
		parts[i] = fmt.Sprintf("%d on %d threads", n, count[n])
	}
	return strings.Join(parts, ", ")
}

// parseStatNice returns the nice value, field 19, of a /proc stat line.
func parseStatNice(line string) (int, error) {
	f, err := statFields(line, 19)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(f[16])
	if err != nil {
		return 0, fmt.Errorf("%w: /proc stat nice: %w", errMalformed, err)
	}
	return n, nil
}

// measureNeighbour fills the report's figures for the seconds the
// neighbour ran: from the first reading at or after its start to the last
// at or before its end, so every second counted had it running.
func measureNeighbour(r *report, rs []reading) {
	r.NeighbourP99MS, r.NeighbourWorstP99MS = math.NaN(), math.NaN()
	if len(rs) == 0 {
		return
	}
	from, to := -1, -1
	for i, x := range rs {
		t := x.At.Sub(rs[0].At).Seconds()
		if from < 0 && t >= r.NeighbourFrom {
			from = i
		}
		if t <= r.NeighbourFrom+r.NeighbourFor {
			to = i
		}
	}
	if from < 0 || to <= from {
		return
	}
	const name = "hotline_rtp_pacer_lateness_seconds"
	if rs[from].Metrics != nil && rs[to].Metrics != nil {
		if d := histogramDelta(rs[from].Metrics.histogram(name), rs[to].Metrics.histogram(name)); len(d) > 0 && d[len(d)-1].Count > 0 {
			r.NeighbourP99MS = 1000 * histogramQuantile(0.99, d)
		}
	}
	r.NeighbourSecondsWithinBar, r.NeighbourSeconds, r.NeighbourWorstP99MS, _ = lateSeconds(r.Timeline[from+1 : to+1])
}
