package callflow

import (
	"bytes"
	"context"
	"log/slog"
	"runtime/debug"
	"strings"
	"testing"
)

func TestCallLoggerWritesWhatItsHandlerWouldInOrder(t *testing.T) {
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	opts := &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: noTime}
	for _, format := range []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, opts) }},
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, opts) }},
	} {
		var direct, off bytes.Buffer
		logs := []*slog.Logger{slog.New(format.new(&direct)), callLogger(slog.New(format.new(&off)))}
		for _, l := range logs {
			c := l.With("call_id", "c1")
			c.Info("caller connected to agent", "agent", "1001", "queue", "sales")
			c.Debug("not at this level")
			c.WithGroup("rtp").Warn("late", "ms", 21)
			c.With("leg", "agent").WithGroup("rtp").With("port", 4000).Warn("late", "ms", 22)
			c.Error("journal event lost", "error", context.Canceled)
		}
		if off.String() != direct.String() {
			t.Fatalf("%s through the call logger:\n%s\nthe handler itself:\n%s", format.name, off.String(), direct.String())
		}
		if n := strings.Count(off.String(), "\n"); n != 4 {
			t.Fatalf("%s: %d lines, want 4 (Debug is below the level):\n%s", format.name, n, off.String())
		}
	}
	call := callLogger(slog.New(slog.NewTextHandler(&bytes.Buffer{}, opts)))
	if call.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("Debug enabled through the call logger; the handler's level is Info")
	}
	if again := callLogger(call); again != call {
		t.Error("callLogger wrapped its own logger again")
	}
}

// stackRecorder keeps the stack its Handle ran on.
type stackRecorder struct{ stacks *[]string }

func (h stackRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h stackRecorder) Handle(context.Context, slog.Record) error {
	*h.stacks = append(*h.stacks, string(debug.Stack()))
	return nil
}
func (h stackRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h stackRecorder) WithGroup(string) slog.Handler      { return h }

// TestCallLoggerHandlesOffTheCallersStack: the handler's work must not
// run on the call's goroutine, whose stack it would grow for the call's
// life.
func TestCallLoggerHandlesOffTheCallersStack(t *testing.T) {
	var stacks []string
	callLogger(slog.New(stackRecorder{&stacks})).With("call_id", "c1").Info("caller connected to agent")
	if len(stacks) != 1 {
		t.Fatalf("handled %d records, want 1 before Info returned", len(stacks))
	}
	if strings.Contains(stacks[0], "TestCallLoggerHandlesOffTheCallersStack") {
		t.Fatalf("the handler ran on the caller's goroutine:\n%s", stacks[0])
	}
}
