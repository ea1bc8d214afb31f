package callflow

import (
	"context"
	"log/slog"
)

// offStackHandler writes each log record from a goroutine of its own and
// waits for it, so a line is written, in order, before the logging call
// returns. A call's goroutine lives as long as the call, mostly parked,
// and its stack is memory each of thousands of calls holds: slog's text
// and JSON handlers are about 3 KiB of stack deep (time formatting, the
// attributes, the write), which on the call's goroutine grows its 4 KiB
// stack to 8 KiB until a GC halves it again (see Engine.runCall). The
// goroutine here ends with its line and gives its stack back at once.
// Enabled is the inner handler's, so a disabled level costs nothing.
type offStackHandler struct{ inner slog.Handler }

func (h offStackHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h offStackHandler) Handle(ctx context.Context, r slog.Record) error {
	done := make(chan error, 1)
	go func() { done <- h.inner.Handle(ctx, r) }()
	return <-done
}

func (h offStackHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return offStackHandler{h.inner.WithAttrs(attrs)}
}

func (h offStackHandler) WithGroup(name string) slog.Handler {
	return offStackHandler{h.inner.WithGroup(name)}
}

// callLogger is the logger of the calls' goroutines: l's handler, off
// their stacks.
func callLogger(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(offStackHandler); ok {
		return l
	}
	return slog.New(offStackHandler{l.Handler()})
}
