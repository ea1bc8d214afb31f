//go:build !linux

package media

// threadCPU has no per-thread CPU clock to read outside Linux; the pacer
// counts its ticks' wall time instead.
func threadCPU() (cpu int64, tid int, ok bool) { return 0, 0, false }
