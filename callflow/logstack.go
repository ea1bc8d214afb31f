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
//
// Attributes given With are held here and put at the front of each
// record, rather than handed to the inner handler's WithAttrs: a text or
// JSON handler answers that with a clone holding the attributes
// preformatted, about 200 bytes that every call's logger (its call ID)
// would keep for the whole call. Formatting one attribute per line costs
// less than holding that for thousands of calls. The lines are the same.
type offStackHandler struct {
	inner slog.Handler
	attrs []slog.Attr // held With attributes, outside any group
}

func (h offStackHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h offStackHandler) Handle(ctx context.Context, r slog.Record) error {
	done := make(chan error, 1)
	go func() { done <- h.inner.Handle(ctx, h.withHeld(r)) }()
	return <-done
}

// withHeld is r with the held attributes in front, as the inner
// handler's WithAttrs would have written them. It runs off the call's
// stack too: a record is a few hundred bytes.
func (h offStackHandler) withHeld(r slog.Record) slog.Record {
	if len(h.attrs) == 0 {
		return r
	}
	full := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	full.AddAttrs(h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		full.AddAttrs(a)
		return true
	})
	return full
}

func (h offStackHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return offStackHandler{inner: h.inner, attrs: append(h.attrs[:len(h.attrs):len(h.attrs)], attrs...)}
}

// WithGroup hands the held attributes to the inner handler first: they
// stay outside the group, and what comes after goes in it.
func (h offStackHandler) WithGroup(name string) slog.Handler {
	inner := h.inner
	if len(h.attrs) > 0 {
		inner = inner.WithAttrs(h.attrs)
	}
	return offStackHandler{inner: inner.WithGroup(name)}
}

// callLogger is the logger of the calls' goroutines: l's handler, off
// their stacks.
func callLogger(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(offStackHandler); ok {
		return l
	}
	return slog.New(offStackHandler{inner: l.Handler()})
}
