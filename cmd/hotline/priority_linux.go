//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// raisePriority gives every thread of the process the nice value nice,
// except threads already at it or higher, and returns how many threads
// the process has. Linux keeps a nice value per thread, not per process
// (setpriority(2), NOTES), and a new thread starts with its creator's, so
// once every thread there is has it, the threads the Go runtime starts
// later have it too. A thread started from one not yet raised shows up in
// the next pass over /proc/self/task; the passes end when one raises
// nothing.
func raisePriority(nice int) (threads int, err error) {
	for range 10 {
		tids, err := threadIDs()
		if err != nil {
			return 0, err
		}
		raised := 0
		for _, tid := range tids {
			cur, err := threadNice(tid)
			if errors.Is(err, unix.ESRCH) {
				continue // the thread has ended
			}
			if err != nil {
				return 0, fmt.Errorf("read the priority of thread %d: %w", tid, err)
			}
			if cur <= nice {
				continue
			}
			switch err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); {
			case errors.Is(err, unix.ESRCH):
			case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
				return 0, fmt.Errorf("nice %d: %w", nice, errNiceNotPermitted)
			case err != nil:
				return 0, fmt.Errorf("set the priority of thread %d: %w", tid, err)
			default:
				raised++
			}
		}
		if raised == 0 {
			return len(tids), nil
		}
	}
	return 0, fmt.Errorf("nice %d: threads kept starting at another priority", nice)
}

// threadNice reads thread tid's nice value. The system call returns
// 20 − nice, so that no valid value is negative (getpriority(2), NOTES).
func threadNice(tid int) (int, error) {
	p, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return 0, err
	}
	return 20 - p, nil
}

// threadIDs lists the process's threads.
func threadIDs() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("list threads: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
