package sysload

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// userHZ is the unit of /proc/stat's times. It is 100 on every Linux
// architecture Go supports (the kernel's USER_HZ, not its HZ).
const userHZ = 100

// ReadCounters reads the machine's CPU times from /proc/stat and this
// process's from getrusage(2).
func ReadCounters() (Counters, error) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Counters{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	busy, total, err := parseStat(stat)
	if err != nil {
		return Counters{}, err
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return Counters{}, fmt.Errorf("%w: getrusage: %w", ErrUnavailable, err)
	}
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return Counters{MachineBusy: busy, MachineTotal: total, Self: self}, nil
}

// parseStat reads the "cpu" line of /proc/stat (proc(5)): user, nice,
// system, idle, iowait, irq, softirq and steal times in USER_HZ ticks,
// summed over the CPUs. Guest times are already in user and nice. Busy
// is all but idle and iowait.
func parseStat(stat []byte) (busy, total time.Duration, err error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) < 9 || string(fields[0]) != "cpu" {
		return 0, 0, fmt.Errorf("%w: /proc/stat: no cpu line with 8 times: %q", ErrUnavailable, line)
	}
	var ticks [8]uint64
	for i := range ticks {
		if ticks[i], err = strconv.ParseUint(string(fields[1+i]), 10, 64); err != nil {
			return 0, 0, fmt.Errorf("%w: /proc/stat: cpu time %d: %w", ErrUnavailable, i+1, err)
		}
	}
	var sum uint64
	for _, t := range ticks {
		sum += t
	}
	idle := ticks[3] + ticks[4]
	tick := time.Second / userHZ
	return time.Duration(sum-idle) * tick, time.Duration(sum) * tick, nil
}
