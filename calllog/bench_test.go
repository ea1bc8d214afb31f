package calllog

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppendEvent measures the cost of AppendEvent on the calling
// goroutine while the writer drains the queue concurrently; with b.N larger
// than the queue it also reflects the writer's sustained throughput.
func BenchmarkAppendEvent(b *testing.B) {
	s := openStore(b, testPath(b))
	data := map[string]string{"prompt": "greeting.morning"}
	var g atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		call := "bench-" + strconv.FormatInt(g.Add(1), 10)
		at := time.Now()
		for pb.Next() {
			if err := s.AppendEvent(Event{CallID: call, At: at, Type: EventPromptStart, Data: data}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAppendEventCallerCost measures what AppendEvent costs a call
// goroutine when the queue has room (sized to b.N, so the writer never
// pushes back): encoding the event and queueing it.
func BenchmarkAppendEventCallerCost(b *testing.B) {
	s, err := Open(context.Background(), Options{Path: testPath(b), QueueSize: b.N + 1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := map[string]string{"prompt": "greeting.morning"}
	at := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.AppendEvent(Event{CallID: "caller-cost", At: at, Type: EventPromptStart, Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

// BenchmarkAppendEventToDisk measures end-to-end journal throughput: b.N
// events from 5,000 calls appended and flushed to disk.
func BenchmarkAppendEventToDisk(b *testing.B) {
	s := openStore(b, testPath(b))
	calls := make([]string, 5000)
	for i := range calls {
		calls[i] = "call-" + strconv.Itoa(i)
	}
	data := map[string]string{"digit": "5"}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := s.AppendEvent(Event{CallID: calls[i%len(calls)], At: start, Type: EventDTMF, Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkWriteRecord measures the latency of one durable WriteRecord with
// nothing else queued.
func BenchmarkWriteRecord(b *testing.B) {
	s := openStore(b, testPath(b))
	ctx := context.Background()
	rec := answeredRecord("", time.Now())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec.CallID = "rec-" + strconv.Itoa(i)
		if err := s.WriteRecord(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteRecordParallel measures WriteRecord when many calls end at
// once: their records share commits.
func BenchmarkWriteRecordParallel(b *testing.B) {
	s := openStore(b, testPath(b))
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(64)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rec := answeredRecord("", time.Now())
		for pb.Next() {
			rec.CallID = "rec-" + strconv.FormatInt(n.Add(1), 10)
			if err := s.WriteRecord(ctx, rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCall measures whole calls as the server produces them: 20
// events, then the record, from many calls at once. One op is one call.
func BenchmarkCall(b *testing.B) {
	s := openStore(b, testPath(b))
	ctx := context.Background()
	var n atomic.Int64
	types := []string{EventArrival, "ringing", EventAnswered, EventPromptStart, "prompt_end"}
	b.SetParallelism(64)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		rec := answeredRecord("", start)
		data := map[string]string{DataPrompt: "greeting.morning"}
		for pb.Next() {
			rec.CallID = "call-" + strconv.FormatInt(n.Add(1), 10)
			for i := range 20 {
				if err := s.AppendEvent(Event{CallID: rec.CallID, At: start, Type: types[i%len(types)], Data: data}); err != nil {
					b.Error(err)
					return
				}
			}
			if err := s.WriteRecord(ctx, rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)/el, "calls/s")
	b.ReportMetric(float64(b.N*20)/el, "events/s")
}

// BenchmarkRecordOfInterleavedCall measures a record written while 5,000
// calls are in progress whose events interleave in the journal, as at
// peak: the call's 13 events lie on as many journal pages. One op is one
// record (with the copy of its events); the journal is refilled, untimed,
// whenever the calls run out.
func BenchmarkRecordOfInterleavedCall(b *testing.B) {
	const calls, events = 5000, 13
	s := openStore(b, testPath(b))
	ctx := context.Background()
	start := time.Now()
	data := map[string]string{DataPrompt: "greeting.morning", "ms": "9500"}
	var round int
	fill := func() []string {
		ids := make([]string, calls)
		for i := range ids {
			ids[i] = "call-" + strconv.Itoa(round) + "-" + strconv.Itoa(i)
		}
		round++
		for range events {
			for _, id := range ids {
				if err := s.AppendEvent(Event{CallID: id, At: start, Type: EventPromptStart, Data: data}); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := s.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		return ids
	}
	var ids []string
	rec := answeredRecord("", start)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(ids) == 0 {
			b.StopTimer()
			ids = fill()
			b.StartTimer()
		}
		rec.CallID, ids = ids[0], ids[1:]
		if err := s.WriteRecord(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
}
