package main

import (
	"bytes"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
)

// gcPercent reads the collector's current target without changing it.
func gcPercent(t *testing.T) int {
	t.Helper()
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Fatalf("/gc/gogc:percent unavailable: %v", s[0].Value.Kind())
	}
	return int(s[0].Value.Uint64())
}

func TestApplyGCPercent(t *testing.T) {
	tests := []struct {
		name    string
		percent int
		gogcEnv string
		want    int
		logs    string
	}{
		{"the configured target is set", 25, "", 25, "garbage collector target set"},
		{"0 leaves the target as started", 0, "", 100, ""},
		{"GOGC in the environment wins", 25, "200", 100, "as GOGC sets it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := debug.SetGCPercent(100) // as a process without GOGC starts
			t.Cleanup(func() { debug.SetGCPercent(old) })
			var buf bytes.Buffer
			applyGCPercent(tt.percent, tt.gogcEnv, slog.New(slog.NewTextHandler(&buf, nil)))
			if got := gcPercent(t); got != tt.want {
				t.Errorf("GC target %d, want %d", got, tt.want)
			}
			if tt.logs == "" && buf.Len() > 0 || !strings.Contains(buf.String(), tt.logs) {
				t.Errorf("log %q, want a line with %q", buf.String(), tt.logs)
			}
		})
	}
}
