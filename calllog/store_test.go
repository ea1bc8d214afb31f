package calllog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// base is a fixed arrival time with sub-millisecond digits, in a non-UTC zone,
// so tests see both the truncation to milliseconds and the conversion to UTC.
var base = time.Date(2025, 3, 14, 9, 26, 53, 589_793_238, time.FixedZone("CST", 8*3600))

func testPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "calls.db")
}

func openStore(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Path: path})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// toMillis is what storage keeps of a time: UTC, millisecond precision.
func toMillis(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

func answeredRecord(id string, arrival time.Time) Record {
	return Record{
		CallID:       id,
		Caller:       "+8613812345678",
		Called:       "4008001234",
		Arrival:      arrival,
		Answer:       arrival.Add(1234567 * time.Microsecond),
		End:          arrival.Add(95*time.Second + 321*time.Millisecond),
		AnswerDelay:  1234567 * time.Microsecond,
		AnswerRings:  1,
		Greeting:     "morning",
		Digits:       "12#",
		Prompts:      []string{"greeting.morning", "company", "offer_help", "closing.thanks"},
		HangupBy:     HangupCaller,
		HangupReason: "bye",
		Disposition:  DispositionCompleted,
		SIPStatus:    200,
	}
}

func TestRecordRoundTripKeepsEveryFieldToTheMillisecond(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
	}{
		{"answered call with prompts and digits", answeredRecord("rt-answered", base)},
		{"caller abandoned while ringing", Record{
			CallID:       "rt-abandoned",
			Caller:       "sip:alice@example.com",
			Called:       "hotline",
			Arrival:      base,
			End:          base.Add(7 * time.Second),
			HangupBy:     HangupCaller,
			HangupReason: "cancel",
			Disposition:  DispositionAbandonedRinging,
			SIPStatus:    487,
		}},
		{"queued call answered by an agent who hung up first", func() Record {
			r := answeredRecord("rt-queued", base)
			r.Queue, r.QueuePosition, r.QueueWait, r.QueueResult = "support", 3, 42*time.Second+17*time.Millisecond, "answered"
			r.RingAttempts = []RingAttempt{{Agent: "1001", RingMS: 15000, Result: "no_answer"}, {Agent: "1002", RingMS: 2300, Result: "answered"}}
			r.Agent, r.TalkTime, r.WrapUp = "1002", 95*time.Second+5*time.Millisecond, 10*time.Second
			r.HangupBy, r.EndedBy = HangupAgent, HangupCaller
			r.HoldCount, r.HoldTotal, r.LongestHold, r.HoldsOverPromise = 2, 95*time.Second, 70*time.Second, 1
			r.Transfers = []TransferAttempt{{From: "1001", To: "1002", Result: "completed", RingMS: 2100, TotalMS: 4500}}
			r.Speech = &Speech{Caller: PartySpeech{TalkMS: 30000, SilenceMS: 65000, Segments: 12, Syllables: 61, PaceSPM: 122},
				Agent: &PartySpeech{TalkMS: 40000, Segments: 15, Syllables: 90, PaceSPM: 135}, OvertalkMS: 1200,
				DeadAirMS: 9000, LongestDeadAirMS: 8400, DeadAirEvents: 1, TalkRatio: 0.57}
			return r
		}()},
		{"rejected call with unicode and empty strings", Record{
			CallID:       "rt-rejected-呼叫",
			Caller:       "张三",
			Arrival:      base,
			End:          base,
			HangupBy:     HangupSystem,
			HangupReason: "rejected",
			Disposition:  DispositionRejected,
			SIPStatus:    488,
		}},
	}
	s := openStore(t, testPath(t))
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.WriteRecord(ctx, tt.rec); err != nil {
				t.Fatalf("WriteRecord: %v", err)
			}
			got, err := s.Get(ctx, tt.rec.CallID)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			want := tt.rec
			want.Arrival, want.Answer, want.End = toMillis(want.Arrival), toMillis(want.Answer), toMillis(want.End)
			want.AnswerDelay = want.AnswerDelay.Truncate(time.Millisecond)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip differs\n got: %+v\nwant: %+v", got, want)
			}
			if got.Arrival.Location() != time.UTC {
				t.Errorf("Arrival location = %v, want UTC", got.Arrival.Location())
			}
		})
	}
}

func TestRecentReturnsNewestFirstAndHonoursLimit(t *testing.T) {
	s := openStore(t, testPath(t))
	ctx := context.Background()
	// Written out of End order, so ordering must come from End, not insertion.
	ends := []int{3, 1, 4, 5, 2}
	for _, e := range ends {
		rec := answeredRecord("call-"+strconv.Itoa(e), base)
		rec.End = base.Add(time.Duration(e) * time.Minute)
		if err := s.WriteRecord(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		n    int
		want []string
	}{
		{n: 3, want: []string{"call-5", "call-4", "call-3"}},
		{n: 1, want: []string{"call-5"}},
		{n: 10, want: []string{"call-5", "call-4", "call-3", "call-2", "call-1"}},
		{n: 0, want: []string{}},
		{n: -1, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("n=%d", tt.n), func(t *testing.T) {
			recs, err := s.Recent(ctx, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, r := range recs {
				got = append(got, r.CallID)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Recent(%d) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}

func TestGetUnknownCallReturnsErrNotFound(t *testing.T) {
	s := openStore(t, testPath(t))
	_, err := s.Get(context.Background(), "no-such-call")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(unknown) error = %v, want ErrNotFound", err)
	}
}

func TestWriteRecordTwiceFailsWithErrDuplicateAndFirstStands(t *testing.T) {
	s := openStore(t, testPath(t))
	ctx := context.Background()
	first := answeredRecord("dup", base)
	if err := s.WriteRecord(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := first
	second.Disposition = DispositionFailed
	second.HangupReason = "second write"
	err := s.WriteRecord(ctx, second)
	if !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second WriteRecord error = %v, want ErrDuplicate", err)
	}
	got, err := s.Get(ctx, "dup")
	if err != nil {
		t.Fatal(err)
	}
	if got.Disposition != DispositionCompleted || got.HangupReason != "bye" {
		t.Errorf("stored record = %s/%s, want the first (completed/bye)", got.Disposition, got.HangupReason)
	}
	if st := s.Stats(); st.RecordsWritten != 1 || st.WriteErrors != 0 {
		t.Errorf("Stats = %+v, want 1 record written and no write errors", st)
	}
	// The store keeps working after a rejected duplicate.
	if err := s.WriteRecord(ctx, answeredRecord("after-dup", base)); err != nil {
		t.Errorf("WriteRecord after duplicate: %v", err)
	}
}

func TestEventsKeepAppendOrderUnderConcurrentAppenders(t *testing.T) {
	const (
		goroutines = 50
		perG       = 200
		calls      = 5 // goroutines share calls, so each call interleaves appenders
	)
	s := openStore(t, testPath(t))
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				err := s.AppendEvent(Event{
					CallID: "call-" + strconv.Itoa(g%calls),
					At:     base.Add(time.Duration(i) * time.Millisecond),
					Type:   "step",
					Data:   map[string]string{"g": strconv.Itoa(g), "i": strconv.Itoa(i)},
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("AppendEvent: %v", err)
	}
	ctx := context.Background()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	total := 0
	for c := range calls {
		evs, err := s.Events(ctx, "call-"+strconv.Itoa(c))
		if err != nil {
			t.Fatal(err)
		}
		total += len(evs)
		next := map[string]int{} // per appender, the next expected i
		for _, ev := range evs {
			g, i := ev.Data["g"], ev.Data["i"]
			if want := strconv.Itoa(next[g]); i != want {
				t.Fatalf("call-%d: appender %s event i=%s out of order, want %s", c, g, i, want)
			}
			next[g]++
		}
		for g, n := range next {
			if n != perG {
				t.Errorf("call-%d: appender %s has %d events, want %d", c, g, n, perG)
			}
		}
	}
	if total != goroutines*perG {
		t.Errorf("events on disk = %d, want %d", total, goroutines*perG)
	}
	if st := s.Stats(); st.EventsWritten != goroutines*perG || st.QueueDepth != 0 {
		t.Errorf("Stats = %+v, want %d events written and an empty queue", st, goroutines*perG)
	}
}

func TestFullQueueBlocksAppendersInsteadOfLosingEvents(t *testing.T) {
	s, err := Open(context.Background(), Options{Path: testPath(t), QueueSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const goroutines, perG = 8, 250
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perG {
				if err := s.AppendEvent(Event{CallID: "busy-" + strconv.Itoa(g), Type: "step"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for g := range goroutines {
		evs, err := s.Events(context.Background(), "busy-"+strconv.Itoa(g))
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != perG {
			t.Errorf("busy-%d has %d events, want %d", g, len(evs), perG)
		}
	}
}

func TestEventRoundTripKeepsTypeTimeAndData(t *testing.T) {
	s := openStore(t, testPath(t))
	in := []Event{
		{CallID: "ev", At: base, Type: EventArrival, Data: map[string]string{DataCaller: "+8613812345678", DataCalled: "400"}},
		{CallID: "ev", At: base.Add(time.Second), Type: "ringing"},
		{CallID: "ev", At: base.Add(2 * time.Second), Type: EventDTMF, Data: map[string]string{}},
		{CallID: "ev", At: base.Add(3 * time.Second), Type: "menu", Data: map[string]string{"quote": `"x"`, "nl": "a\nb"}},
	}
	for _, ev := range in {
		if err := s.AppendEvent(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := s.Events(context.Background(), "ev")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("got %d events, want %d", len(got), len(in))
	}
	for i := range in {
		want := in[i]
		want.At = toMillis(want.At)
		if len(want.Data) == 0 {
			want.Data = nil // empty data is stored as NULL
		}
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want)
		}
	}
}

func TestZeroEventTimeIsStampedOnAppend(t *testing.T) {
	s := openStore(t, testPath(t))
	before := time.Now().Add(-time.Millisecond)
	if err := s.AppendEvent(Event{CallID: "now", Type: "ringing"}); err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Millisecond)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events(context.Background(), "now")
	if err != nil || len(evs) != 1 {
		t.Fatalf("Events = %v, %v; want one event", evs, err)
	}
	if at := evs[0].At; at.Before(before) || at.After(after) {
		t.Errorf("stamped time %v not within [%v, %v]", at, before, after)
	}
}

func TestEventsOfUnknownCallAreEmpty(t *testing.T) {
	s := openStore(t, testPath(t))
	evs, err := s.Events(context.Background(), "nobody")
	if err != nil || len(evs) != 0 {
		t.Fatalf("Events(unknown) = %v, %v; want empty, nil", evs, err)
	}
}

func TestWriteRecordCommitsTheCallsQueuedEventsFirst(t *testing.T) {
	path := testPath(t)
	s := openStore(t, path)
	const n = 500
	for i := range n {
		if err := s.AppendEvent(Event{CallID: "ordered", At: base, Type: "step", Data: map[string]string{"i": strconv.Itoa(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	// No Flush: WriteRecord alone must put the call's events on disk.
	if err := s.WriteRecord(context.Background(), answeredRecord("ordered", base)); err != nil {
		t.Fatal(err)
	}
	// Read through a separate connection, as `hotline calls` would.
	ro, err := OpenReadOnly(context.Background(), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	evs, err := ro.Events(context.Background(), "ordered")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != n {
		t.Errorf("after WriteRecord, %d events on disk, want %d", len(evs), n)
	}
}

func TestOpenRecoversCallsLeftWithoutRecordAsInterrupted(t *testing.T) {
	path := testPath(t)
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if s.RecoveredCount() != 0 {
		t.Errorf("fresh database RecoveredCount = %d, want 0", s.RecoveredCount())
	}
	unfinished := []Event{
		{CallID: "lost", At: base, Type: EventArrival, Data: map[string]string{DataCaller: "+8613812345678", DataCalled: "400"}},
		{CallID: "lost", At: base.Add(2 * time.Second), Type: EventAnswered},
		{CallID: "lost", At: base.Add(3 * time.Second), Type: EventPromptStart, Data: map[string]string{DataPrompt: "greeting.morning"}},
		{CallID: "lost", At: base.Add(9 * time.Second), Type: EventDTMF, Data: map[string]string{DataDigit: "1"}},
		{CallID: "lost", At: base.Add(10 * time.Second), Type: EventDTMF, Data: map[string]string{DataDigit: "#"}},
		{CallID: "lost", At: base.Add(12 * time.Second), Type: "menu"},
	}
	// A finished call, and a late event after its record: neither is
	// interrupted.
	finished := []Event{
		{CallID: "done", At: base, Type: EventArrival},
		{CallID: "done", At: base.Add(time.Second), Type: "hangup"},
	}
	for _, ev := range append(unfinished, finished...) {
		if err := s.AppendEvent(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WriteRecord(ctx, answeredRecord("done", base)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvent(Event{CallID: "done", At: base.Add(2 * time.Second), Type: "late"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, path)
	if got := s2.RecoveredCount(); got != 1 {
		t.Fatalf("RecoveredCount = %d, want 1", got)
	}
	got, err := s2.Get(ctx, "lost")
	if err != nil {
		t.Fatalf("Get(lost): %v", err)
	}
	want := Record{
		CallID:       "lost",
		Caller:       "+8613812345678",
		Called:       "400",
		Arrival:      toMillis(base),
		Answer:       toMillis(base.Add(2 * time.Second)),
		End:          toMillis(base.Add(12 * time.Second)),
		AnswerDelay:  toMillis(base.Add(2 * time.Second)).Sub(toMillis(base)),
		Digits:       "1#",
		Prompts:      []string{"greeting.morning"},
		HangupBy:     HangupSystem,
		HangupReason: ReasonInterrupted,
		Disposition:  DispositionInterrupted,
		SIPStatus:    200,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("recovered record\n got: %+v\nwant: %+v", got, want)
	}
	done, err := s2.Get(ctx, "done")
	if err != nil || done.Disposition != DispositionCompleted {
		t.Errorf("finished call = %+v, %v; want its own completed record", done, err)
	}
	doneEvents, err := s2.Events(ctx, "done")
	if err != nil {
		t.Fatal(err)
	}
	if gotTypes := eventTypes(doneEvents); !reflect.DeepEqual(gotTypes, []string{EventArrival, "hangup", "late"}) {
		t.Errorf("finished call events = %v, want arrival, hangup and the late event after them", gotTypes)
	}
	lostEvents, err := s2.Events(ctx, "lost")
	if err != nil || len(lostEvents) != len(unfinished) {
		t.Errorf("interrupted call has %d events (%v), want all %d", len(lostEvents), err, len(unfinished))
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}

	s3 := openStore(t, path)
	if got := s3.RecoveredCount(); got != 0 {
		t.Errorf("second reopen RecoveredCount = %d, want 0", got)
	}
}

// crashEnv names the database a re-executed test binary writes to before
// exiting without Close, as a crashed server would.
const crashEnv = "CALLLOG_CRASH_DB"

// TestCrashingWriterProcess is the body of the crashed process started by
// TestRecoveryAfterProcessCrash; run directly it does nothing.
func TestCrashingWriterProcess(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("runs only inside TestRecoveryAfterProcessCrash")
	}
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: path})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	for i := range 10 {
		_ = s.AppendEvent(Event{CallID: "in-progress", At: base.Add(time.Duration(i) * time.Second), Type: "step"})
	}
	_ = s.AppendEvent(Event{CallID: "finished", At: base, Type: EventArrival})
	if err := s.WriteRecord(ctx, answeredRecord("finished", base)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if err := s.Flush(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	os.Exit(42) // no Close: the process dies with the call in progress
}

func TestRecoveryAfterProcessCrash(t *testing.T) {
	path := testPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashingWriterProcess$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 42 {
		t.Fatalf("crashing process: %v\n%s", err, out)
	}

	s := openStore(t, path)
	if got := s.RecoveredCount(); got != 1 {
		t.Fatalf("RecoveredCount = %d, want 1", got)
	}
	rec, err := s.Get(context.Background(), "in-progress")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Disposition != DispositionInterrupted || rec.HangupBy != HangupSystem ||
		!rec.Arrival.Equal(toMillis(base)) || !rec.End.Equal(toMillis(base.Add(9*time.Second))) {
		t.Errorf("recovered record = %+v", rec)
	}
	evs, err := s.Events(context.Background(), "in-progress")
	if err != nil || len(evs) != 10 {
		t.Errorf("events of crashed call = %d, %v; want all 10", len(evs), err)
	}
}

func TestReadOnlyStoreSeesRecordsOfAWritingStore(t *testing.T) {
	path := testPath(t)
	ctx := context.Background()
	w := openStore(t, path)
	ro, err := OpenReadOnly(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()

	for i := range 3 {
		if err := w.WriteRecord(ctx, answeredRecord("live-"+strconv.Itoa(i), base.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
		recs, err := ro.Recent(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != i+1 || recs[0].CallID != "live-"+strconv.Itoa(i) {
			t.Fatalf("reader sees %d records (newest %v), want %d with live-%d newest", len(recs), recs, i+1, i)
		}
	}
	if _, err := ro.Get(ctx, "live-1"); err != nil {
		t.Errorf("reader Get: %v", err)
	}
	if err := ro.AppendEvent(Event{CallID: "x", Type: "y"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only AppendEvent error = %v, want ErrReadOnly", err)
	}
	if err := ro.WriteRecord(ctx, answeredRecord("x", base)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only WriteRecord error = %v, want ErrReadOnly", err)
	}
}

func TestReadOnlyOpenWorksAfterTheWriterClosed(t *testing.T) {
	path := testPath(t)
	ctx := context.Background()
	w := openStore(t, path)
	if err := w.WriteRecord(ctx, answeredRecord("kept", base)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenReadOnly(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Get(ctx, "kept"); err != nil {
		t.Errorf("Get after writer closed: %v", err)
	}
}

func TestReadOnlyOpenOfMissingFileFailsWithoutCreatingIt(t *testing.T) {
	path := testPath(t)
	if _, err := OpenReadOnly(context.Background(), Options{Path: path}); err == nil {
		t.Fatal("OpenReadOnly of a missing file succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenReadOnly created %s (stat error %v)", path, err)
	}
}

func TestMigrationsAreAppliedOnce(t *testing.T) {
	path := testPath(t)
	ctx := context.Background()
	d, _ := dialectFor(DriverSQLite)
	latest, err := latestVersion(d)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i, want := range []int{latest, 0, 0} {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		applied, err := migrate(ctx, conn, d)
		conn.Close()
		if err != nil {
			t.Fatalf("migrate #%d: %v", i+1, err)
		}
		if applied != want {
			t.Errorf("migrate #%d applied %d migrations, want %d", i+1, applied, want)
		}
	}
	var rows, version int
	if err := db.QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_version`).Scan(&rows, &version); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || version != latest {
		t.Errorf("schema_version has %d rows at version %d, want 1 row at %d", rows, version, latest)
	}
}

func TestReopeningKeepsExistingData(t *testing.T) {
	path := testPath(t)
	ctx := context.Background()
	s := openStore(t, path)
	if err := s.WriteRecord(ctx, answeredRecord("persist", base)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, path)
	if _, err := s2.Get(ctx, "persist"); err != nil {
		t.Errorf("record lost across reopen: %v", err)
	}
}

func TestFutureSchemaVersionIsRefused(t *testing.T) {
	path := testPath(t)
	ctx := context.Background()
	s := openStore(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	opens := map[string]func(context.Context, Options) (*Store, error){
		"Open": Open, "OpenReadOnly": OpenReadOnly,
	}
	for name, open := range opens {
		t.Run(name, func(t *testing.T) {
			s, err := open(ctx, Options{Path: path})
			if err == nil {
				s.Close()
				t.Fatal("opened a database with a future schema version")
			}
			if !errors.Is(err, ErrSchemaVersion) {
				t.Errorf("error = %v, want ErrSchemaVersion", err)
			}
			if msg := err.Error(); !containsAll(msg, "99", "upgrade") {
				t.Errorf("error %q should name the version and say to upgrade", msg)
			}
		})
	}
}

func TestOpenRejectsUnsupportedDriver(t *testing.T) {
	for _, driver := range []string{"postgres", "mysql", "SQLite3"} {
		t.Run(driver, func(t *testing.T) {
			if _, err := Open(context.Background(), Options{Driver: driver, Path: testPath(t)}); !errors.Is(err, ErrUnsupportedDriver) {
				t.Errorf("Open error = %v, want ErrUnsupportedDriver", err)
			}
			if _, err := OpenReadOnly(context.Background(), Options{Driver: driver, Path: testPath(t)}); !errors.Is(err, ErrUnsupportedDriver) {
				t.Errorf("OpenReadOnly error = %v, want ErrUnsupportedDriver", err)
			}
		})
	}
}

func TestWritesWithoutCallIDAreRejected(t *testing.T) {
	s := openStore(t, testPath(t))
	if err := s.AppendEvent(Event{Type: "x"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("AppendEvent without call ID error = %v, want ErrInvalid", err)
	}
	if err := s.WriteRecord(context.Background(), Record{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("WriteRecord without call ID error = %v, want ErrInvalid", err)
	}
}

func TestClosedStoreRefusesWritesAndCloseIsIdempotent(t *testing.T) {
	s := openStore(t, testPath(t))
	ctx := context.Background()
	if err := s.AppendEvent(Event{CallID: "c", Type: "arrival"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.AppendEvent(Event{CallID: "c", Type: "hangup"}); !errors.Is(err, ErrClosed) {
		t.Errorf("AppendEvent after Close = %v, want ErrClosed", err)
	}
	if err := s.WriteRecord(ctx, answeredRecord("c", base)); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteRecord after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Recent(ctx, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Recent after Close = %v, want ErrClosed", err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Errorf("Flush after Close = %v, want nil (Close flushed)", err)
	}
}

func TestCloseWritesEverythingQueuedBeforeIt(t *testing.T) {
	path := testPath(t)
	s := openStore(t, path)
	const n = 20000
	for i := range n {
		if err := s.AppendEvent(Event{CallID: "bulk", At: base, Type: "step", Data: map[string]string{"i": strconv.Itoa(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenReadOnly(context.Background(), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	evs, err := ro.Events(context.Background(), "bulk")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != n {
		t.Errorf("after Close %d events on disk, want %d", len(evs), n)
	}
}

func TestParseMigrationName(t *testing.T) {
	tests := []struct {
		name    string
		want    int
		wantErr bool
	}{
		{"0001_init.sql", 1, false},
		{"12_add_index.sql", 12, false},
		{"3.sql", 3, false},
		{"0000_zero.sql", 0, true},
		{"init.sql", 0, true},
		{"0001_init.txt", 0, true},
		{"+1_plus.sql", 0, true},
		{"-1_minus.sql", 0, true},
		{"_x.sql", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMigrationName(tt.name)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseMigrationName(%q) = %d, %v; want %d, error %v", tt.name, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func eventTypes(evs []Event) []string {
	types := make([]string, len(evs))
	for i, ev := range evs {
		types[i] = ev.Type
	}
	return types
}

func journalRows(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM journal`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestJournalIsCutUpToTheOldestCallInProgress(t *testing.T) {
	s := openStore(t, testPath(t))
	ctx := context.Background()
	appendN := func(call string, n int) {
		t.Helper()
		for i := range n {
			if err := s.AppendEvent(Event{CallID: call, At: base, Type: "step", Data: map[string]string{"i": strconv.Itoa(i)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN("first", 3)
	appendN("second", 4)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := journalRows(t, s); got != 7 {
		t.Fatalf("journal rows = %d, want 7", got)
	}
	// "first" is still in progress and older, so nothing can be cut yet.
	if err := s.WriteRecord(ctx, answeredRecord("second", base)); err != nil {
		t.Fatal(err)
	}
	if got := journalRows(t, s); got != 7 {
		t.Errorf("journal rows after the younger call's record = %d, want 7", got)
	}
	if err := s.WriteRecord(ctx, answeredRecord("first", base)); err != nil {
		t.Fatal(err)
	}
	if got := journalRows(t, s); got != 0 {
		t.Errorf("journal rows with no call in progress = %d, want 0", got)
	}
	for call, want := range map[string]int{"first": 3, "second": 4} {
		evs, err := s.Events(ctx, call)
		if err != nil || len(evs) != want {
			t.Errorf("%s has %d events (%v), want %d", call, len(evs), err, want)
		}
	}
}

func TestFailedBatchIsReportedAndLaterWritesStillWork(t *testing.T) {
	s := openStore(t, testPath(t))
	ctx := context.Background()
	// A trigger makes the database refuse one kind of event, as a full disk
	// or an I/O error would refuse a batch.
	if _, err := s.db.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON journal
WHEN NEW.type = 'refused' BEGIN SELECT RAISE(ABORT, 'refused by test'); END`); err != nil {
		t.Fatal(err)
	}
	mustAppend := func(typ string) {
		t.Helper()
		if err := s.AppendEvent(Event{CallID: "flaky", At: base, Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend(EventArrival)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The refused event takes down its whole batch, the event before it
	// included (both are queued well within one batch window).
	mustAppend("menu")
	mustAppend("refused")
	if err := s.Flush(ctx); err == nil {
		t.Fatal("Flush after a refused batch returned nil, want the write error")
	}
	if err := s.Flush(ctx); err != nil {
		t.Errorf("second Flush = %v, want nil (the loss was already reported)", err)
	}
	mustAppend("hangup")
	if err := s.WriteRecord(ctx, answeredRecord("flaky", base)); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events(ctx, "flaky")
	if err != nil {
		t.Fatal(err)
	}
	if got := eventTypes(evs); !reflect.DeepEqual(got, []string{EventArrival, "hangup"}) {
		t.Errorf("events = %v, want the ones written before and after the failure", got)
	}
	if st := s.Stats(); st.WriteErrors != 2 || st.EventsWritten != 2 || st.RecordsWritten != 1 {
		t.Errorf("Stats = %+v, want 2 write errors, 2 events, 1 record", st)
	}
	if got := journalRows(t, s); got != 0 {
		t.Errorf("journal rows = %d, want 0 once the call is recorded", got)
	}
}

// A call whose record turns up in the database while its events are still
// journaled (written by an earlier run, say) keeps those events: they are
// copied after the record's as late events, in order, with their data.
func TestJournaledEventsOfACallRecordedElsewhereAreKeptAsLateEvents(t *testing.T) {
	s := openStore(t, testPath(t))
	ctx := context.Background()
	if err := s.WriteRecord(ctx, answeredRecord("template", base)); err != nil {
		t.Fatal(err)
	}
	for i, typ := range []string{EventArrival, EventAnswered, "hangup"} {
		ev := Event{CallID: "twice", At: base.Add(time.Duration(i) * time.Second), Type: typ, Data: map[string]string{"i": strconv.Itoa(i)}}
		if err := s.AppendEvent(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`INSERT INTO records (`+recordColumns+`) SELECT ?, `+
		strings.TrimPrefix(recordColumns, "call_id, ")+` FROM records WHERE call_id = 'template'`, "twice"); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteRecord(ctx, answeredRecord("twice", base)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("WriteRecord = %v, want ErrDuplicate", err)
	}
	evs, err := s.Events(ctx, "twice")
	if err != nil {
		t.Fatal(err)
	}
	if got := eventTypes(evs); !reflect.DeepEqual(got, []string{EventArrival, EventAnswered, "hangup"}) {
		t.Fatalf("events = %v, want arrival, answered, hangup", got)
	}
	for i, ev := range evs {
		if ev.Data["i"] != strconv.Itoa(i) || ev.At.UnixMilli() != base.Add(time.Duration(i)*time.Second).UnixMilli() {
			t.Errorf("event %d = %+v, want its own time and data", i, ev)
		}
	}
	if got := journalRows(t, s); got != 0 {
		t.Errorf("journal rows = %d, want 0 once the call is recorded", got)
	}
	if st := s.Stats(); st.WriteErrors != 0 {
		t.Errorf("Stats = %+v, want no write errors", st)
	}
}
