//go:build !linux

package main

import (
	"fmt"
	"os"
)

// loadgen reads hotline's CPU and memory from /proc, sends with sendmmsg
// and picks each packet's source with IP_PKTINFO: it runs on Linux only.
func main() {
	fmt.Fprintln(os.Stderr, "loadgen: Linux only (it measures hotline from /proc and sends with sendmmsg)")
	os.Exit(2)
}
