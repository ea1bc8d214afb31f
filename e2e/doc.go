//go:build linux

// Package e2e holds hotline's end-to-end tests: the server built and run as
// a real process on loopback, called by real SIP peers (sipp, from
// Debian's sip-tester package), its RTP heard on a socket the test owns,
// and its records read back through `hotline calls --json`.
//
// Every test picks free ports, bounds its time, and stops each process it
// started by PID. The suite runs on Linux, as the README's test command
// does: its peers come from Debian packages and it uses Linux's process
// and terminal controls.
package e2e
