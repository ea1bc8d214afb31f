//go:build !linux

package sysload

// ReadCounters fails: the machine's CPU times come from Linux's /proc.
func ReadCounters() (Counters, error) { return Counters{}, ErrUnavailable }
