//go:build linux

package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The floor moves every call's frames both ways, 50 a second each, and
// accounts for them: what it reports as the packets' cost is the cost of
// all of them, with none lost.
func TestFloorMovesEveryCallsAudioBothWays(t *testing.T) {
	const calls = 20
	window := time.Second
	r, err := runFloor(context.Background(), calls, 2, syntheticSpeech(1), 100*time.Millisecond, 300*time.Millisecond, window,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	due := float64(2*calls*framesPerSecond) * r.Window.Seconds()
	for name, got := range map[string]uint64{"sent": r.Sent, "received": r.Packets} {
		if float64(got) < 0.9*due || float64(got) > 1.1*due {
			t.Errorf("%s %d packets in %v, want about %.0f", name, got, r.Window, due)
		}
	}
	if r.Lost != 0 || r.SendErrors != 0 {
		t.Errorf("lost %d, send errors %d", r.Lost, r.SendErrors)
	}
	// The machine's busy time comes from /proc/stat, which counts whole
	// 10 ms ticks by the CPUs' state at each timer interrupt: 20 calls use
	// about 2 % of a CPU, and a second of them can fall between ticks and
	// read 0. This process's own CPU time is exact.
	if r.ProcessCPU <= 0 || r.MachineBusy < 0 {
		t.Errorf("process CPU %v, machine busy %v: the cost was not measured", r.ProcessCPU, r.MachineBusy)
	}
	var out strings.Builder
	r.writeText(&out)
	if !strings.Contains(out.String(), "20 calls") || !strings.Contains(out.String(), "µs per packet") {
		t.Errorf("report:\n%s", out.String())
	}
}
