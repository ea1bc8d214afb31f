// Package callflow owns the life of a call: the answer policy (R1), the
// greeting by time of day (R2), the optional DTMF menu, the closing and the
// rule that the caller hangs up first (R7), and the call record written only
// after the caller's leg has ended (R6).
//
// Each call runs as one goroutine executing its flow as straight-line code
// (ring, wait, answer, play, collect, close, wait for the caller). Every
// blocking step watches the call's context, cancelled with a cause when the
// caller hangs up, RTP stops or the server shuts down. Timers read an
// injected Clock so flow tests run in milliseconds.
package callflow
