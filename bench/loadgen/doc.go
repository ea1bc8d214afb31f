// Command loadgen is hotline's load benchmark: it starts hotline (or targets
// a running one), places thousands of SIP calls over UDP on loopback, sends
// and counts their RTP, and reports what the load cost hotline.
//
//	go run ./bench/loadgen -hotline /path/to/hotline -mode ivr -calls 5000 -cps 100 -hold 60s
//	go run ./bench/loadgen -hotline /path/to/hotline -mode bridged -calls 2500 -agents 2600 -cps 100 -hold 60s
//
// What it owns:
//   - a minimal SIP user agent written for this job (sip.go, ua.go): callers
//     that INVITE with a PCMU + telephone-event offer, retransmit per
//     RFC 3261 Timer A, ACK the 2xx, answer in-dialog requests, hang up with
//     BYE after -hold; and, in bridged mode, agents that REGISTER with MD5
//     digest and auto-answer. One goroutine runs every call's signalling
//     from a 10 ms tick: no goroutine or timer per call.
//   - the media side (rtp.go): every caller and agent has its own source
//     address 127.x.y.z on a few shared sockets bound to 0.0.0.0; the source
//     of each packet is chosen with IP_PKTINFO in sendmmsg control messages,
//     and received packets are told apart by their destination address, so
//     to hotline every call looks like a separate phone. A few sender loops,
//     each owning some of the sockets, wake every 10 ms, read what their
//     sockets queued with recvmmsg (counting packets and sequence gaps per
//     SSRC) and send every due 20 ms frame in sendmmsg batches.
//   - the measurement (hotline.go, report.go): hotline's CPU (utime+stime
//     from /proc/PID/stat) and RSS over the steady window, the pacer
//     lateness and GC pauses from its /metrics, the generator's own CPU, the
//     machine and load average, as text and optionally a Markdown section.
//   - a sipp mode (-sipp SCENARIO) that lets Debian's sipp place the same
//     calls while loadgen measures hotline the same way (sipp.go and
//     bench/loadgen/sipp/).
//
// The run ends at a hard deadline whatever happens; hotline and sipp are
// stopped by PID (TERM, then KILL) and the temporary directory is removed
// unless -workdir was given.
package main
