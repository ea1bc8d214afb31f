//go:build linux

package media

import "golang.org/x/sys/unix"

// threadCPU reads the calling thread's ID and the CPU time that thread
// has used. A goroutine can move to another thread at any point, even
// between two system calls, so the clock read is the one of the thread
// named by the ID read first (clock_getcpuclockid(3)'s encoding), not
// whichever thread the goroutine is on when it reads: a pair of readings
// with the same ID is always one thread's.
func threadCPU() (cpu int64, tid int, ok bool) {
	tid = unix.Gettid()
	var ts unix.Timespec
	if err := unix.ClockGettime(threadClock(tid), &ts); err != nil {
		return 0, 0, false
	}
	return ts.Nano(), tid, true
}

// threadClock is the clock ID of thread tid's CPU time: the kernel's
// MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED), ((~tid) << 3) | 4 | 2.
func threadClock(tid int) int32 { return int32(^tid<<3) | 6 }
