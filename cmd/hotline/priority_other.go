//go:build !linux

package main

import (
	"errors"
	"fmt"
)

// raisePriority is only built for Linux, where nice values are per thread.
func raisePriority(nice int) (int, error) {
	return 0, fmt.Errorf("nice %d on this system: %w", nice, errors.ErrUnsupported)
}
