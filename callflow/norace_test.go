//go:build !race

package callflow

const raceEnabled = false
