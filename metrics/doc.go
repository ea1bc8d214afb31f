// Package metrics owns hotline's Prometheus series: the collectors the call
// flow feeds as calls progress (arrivals, answer delay against the ring
// cadence, outcomes, who hung up) and the gauges and counters read from the
// SIP server, the media engine and the call log when Prometheus scrapes.
//
// Labels are bounded: outcome, party, reason, class. Never a number, a call
// ID or a name (R12).
package metrics
