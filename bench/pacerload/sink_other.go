//go:build !linux

package main

import "log"

// runSink needs sendmmsg, recvmmsg and IP_PKTINFO: Linux only.
func runSink(n int, read, inbound bool, audioDir string) {
	log.Fatal("pacerload: the sink runs on Linux only")
}
