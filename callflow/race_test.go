//go:build race

package callflow

// raceEnabled: the race detector's instrumented build has larger frames
// and stack guards than the one hotline ships.
const raceEnabled = true
