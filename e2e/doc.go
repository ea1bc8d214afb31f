// Package e2e holds hotline's end-to-end tests: the server built and run as
// a real process on loopback, called by real SIP peers (sipp, from
// Debian's sip-tester package), its RTP heard on a socket the test owns,
// and its records read back through `hotline calls --json`.
//
// Every test picks free ports, bounds its time, and stops each process it
// started by PID.
package e2e
