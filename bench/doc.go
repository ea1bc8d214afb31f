// Package bench holds hotline's load programs and the micro-benchmarks that
// sit outside a single package. The latest figures, the machine they were
// taken on and the commands that produced them are in README.md.
//
// pacerload drives the media engine's shared pacer with thousands of
// concurrent prompt streams over loopback and reports CPU per stream-second,
// send lateness, skipped frames and allocations per packet.
package bench
