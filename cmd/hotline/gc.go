package main

import (
	"log/slog"
	"runtime/debug"
)

// applyGCPercent sets the garbage collector's target to process.gc_percent
// unless the operator set GOGC in hotline's environment (gogcEnv), which
// wins. A call that is up allocates next to nothing per packet, so the
// heap grows while calls are set up and a lower target costs collections
// only then; at Go's default of 100 the heap may reach twice what the
// calls hold before one runs, and the pages it grew into stay resident.
// The measurements behind the default are in bench/README.md.
func applyGCPercent(percent int, gogcEnv string, log *slog.Logger) {
	switch {
	case percent == 0:
		return
	case gogcEnv != "":
		log.Info("garbage collector target as GOGC sets it", "GOGC", gogcEnv, "process.gc_percent", percent)
		return
	}
	debug.SetGCPercent(percent)
	log.Info("garbage collector target set", "gc_percent", percent)
}
