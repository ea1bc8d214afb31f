package main

import (
	"errors"
	"log/slog"
)

// errNiceNotPermitted: the process may not raise its scheduling priority.
var errNiceNotPermitted = errors.New("not permitted to raise the scheduling priority (needs root, CAP_SYS_NICE, or an RLIMIT_NICE that allows it)")

// applyNice raises hotline's scheduling priority to process.nice. At
// equal priority, a neighbour's job that takes a core after the calls were
// admitted makes the pacers wait for a CPU behind it, and the audio of calls
// already up goes late; the overload guard cannot take those calls back
// (R7). Telephony servers run their media ahead of other work for this
// reason (Asterisk's -p, FreeSWITCH's -rp). A nice value rather than a
// real-time class: under overload, hotline's signalling and the rest of the
// machine still get a share of the CPUs.
func applyNice(nice int, log *slog.Logger) {
	if nice == 0 {
		return
	}
	threads, err := raisePriority(nice)
	switch {
	case errors.Is(err, errNiceNotPermitted), errors.Is(err, errors.ErrUnsupported):
		log.Info("running at the priority hotline was started with", "process.nice", nice, "reason", err)
	case err != nil:
		log.Warn("scheduling priority not raised", "process.nice", nice, "error", err)
	default:
		log.Info("scheduling priority raised", "nice", nice, "threads", threads)
	}
}
