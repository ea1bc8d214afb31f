//go:build linux

package main

import (
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary be a neighbour process, as loadgen's own
// binary is one when it runs with -spin.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "-spin" {
		d, err := time.ParseDuration(os.Args[2])
		if err != nil {
			os.Exit(2)
		}
		spin(d)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestParseStatNiceCountsFieldsAfterTheCommandName(t *testing.T) {
	// Field 18 is the priority (20 + nice), 19 the nice value.
	line := "4242 (hot line) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 10 -10 8 0 100 1000 200\n"
	if got, err := parseStatNice(line); err != nil || got != -10 {
		t.Fatalf("got %v, %v; want -10", got, err)
	}
	if _, err := parseStatNice("4242 (x) S 1 2"); !errors.Is(err, errMalformed) {
		t.Fatalf("short line: err = %v", err)
	}
}

func TestDescribeNices(t *testing.T) {
	for _, tc := range []struct {
		count map[int]int
		want  string
	}{
		{map[int]int{7: 1}, "7 on its one thread"},
		{map[int]int{-10: 14}, "-10 on all 14 threads"},
		{map[int]int{0: 12, -10: 2}, "0 on 12 threads, -10 on 2 threads"},
		{map[int]int{0: 3, -10: 3}, "-10 on 3 threads, 0 on 3 threads"},
	} {
		if got := describeNices(tc.count); got != tc.want {
			t.Errorf("describeNices(%v) = %q, want %q", tc.count, got, tc.want)
		}
	}
}

func TestThreadNicesReadsAnotherProcess(t *testing.T) {
	cmd := exec.Command("nice", "-n", "7", "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("nice(1) not available: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var got string
	var err error
	for range 50 { // nice(1) execs sleep: wait for the exec
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm"); strings.TrimSpace(string(b)) == "sleep" {
			got, err = threadNices(cmd.Process.Pid)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || got != "7 on its one thread" {
		t.Fatalf("threadNices = %q, %v; want %q", got, err, "7 on its one thread")
	}
}

func TestNeighbourRunsAndIsStoppedByItsPID(t *testing.T) {
	nb := startNeighbour(1, 0, time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var pid int
	for range 250 {
		nb.mu.Lock()
		if len(nb.procs) > 0 {
			pid = nb.procs[0].Process.Pid
		}
		nb.mu.Unlock()
		if pid != 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatal("no neighbour process started within 5 s")
	}
	// It works: its CPU time grows while it runs.
	var cpu time.Duration
	for range 250 {
		st, err := readProcStat(pid)
		if err != nil {
			t.Fatalf("neighbour %d: %v", pid, err)
		}
		if cpu = st.CPU; cpu > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cpu == 0 {
		t.Fatal("the neighbour used no CPU in 5 s")
	}
	nb.stop()
	for range 250 {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("neighbour %d still running 5 s after stop", pid)
}

func TestMeasureNeighbourCountsOnlyTheSecondsItRan(t *testing.T) {
	// Readings every second from t=0 to t=10; the neighbour ran from t=3
	// for 4 s, so the seconds ending at t=4..7 are its own.
	base := time.Now()
	var rs []reading
	r := &report{NeighbourProcs: 1, NeighbourFrom: 3, NeighbourFor: 4}
	late := []float64{math.NaN(), 5, 90, 6, 12, 35, 18, 25, 80, 7, 6}
	for i, l := range late {
		rs = append(rs, reading{At: base.Add(time.Duration(i) * time.Second)})
		r.Timeline = append(r.Timeline, timelinePoint{T: float64(i), LateP99MS: l})
	}
	measureNeighbour(r, rs)
	if r.NeighbourSeconds != 4 || r.NeighbourSecondsWithinBar != 2 || r.NeighbourWorstP99MS != 35 {
		t.Fatalf("neighbour seconds %d, within 20 ms %d, worst %v; want 4 (t=4..7), 2 (12 and 18 ms), 35 ms (not the 90 or 80 ms outside)",
			r.NeighbourSeconds, r.NeighbourSecondsWithinBar, r.NeighbourWorstP99MS)
	}
	if !math.IsNaN(r.NeighbourP99MS) {
		t.Fatalf("p99 over the neighbour's seconds = %v with no metrics read, want NaN", r.NeighbourP99MS)
	}
}

func TestNeighbourFlagsThatCannotRunAreRefused(t *testing.T) {
	for _, tc := range []struct {
		n       int
		at, dur time.Duration
	}{
		{-1, 35 * time.Second, 20 * time.Second},
		{1, -time.Second, 20 * time.Second},
		{1, 35 * time.Second, 0},
	} {
		o := options{hotline: "hotline", mode: "ivr", calls: 1, cps: 1, hold: time.Second,
			neighbour: tc.n, neighbourAt: tc.at, neighbourFor: tc.dur}
		if err := o.validate(); !errors.Is(err, errUsage) {
			t.Errorf("-neighbour %d -neighbour-at %v -neighbour-for %v: err = %v, want a usage error", tc.n, tc.at, tc.dur, err)
		}
	}
	o := options{hotline: "hotline", mode: "ivr", calls: 1, cps: 1, hold: time.Second,
		neighbour: 1, neighbourAt: 0, neighbourFor: time.Second}
	if err := o.validate(); err != nil {
		t.Fatalf("-neighbour 1 from t=0 for 1 s: %v", err)
	}
}
