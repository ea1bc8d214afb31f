package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/calllog"
)

// shanghai is the default config's timezone, in which --from and --to are
// read.
var shanghai = time.FixedZone("CST", 8*3600)

// seedCommandDB writes a small day of calls and returns the database path.
func seedCommandDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "calls.db")
	s, err := calllog.Open(context.Background(), calllog.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, shanghai)
	rec := func(id string, arrival time.Time, queue, result string, wait time.Duration, by, reason string) calllog.Record {
		return calllog.Record{
			CallID: id, Caller: "+8613800000000", Called: "100",
			Arrival: arrival, Answer: arrival.Add(time.Second), End: arrival.Add(time.Minute),
			AnswerDelay: time.Second, AnswerRings: 1, SIPStatus: 200,
			Queue: queue, QueueResult: result, QueueWait: wait,
			HangupBy: by, HangupReason: reason, Disposition: calllog.DispositionCompleted,
		}
	}
	answered := rec("s1", day.Add(30*time.Minute), "support", "answered", 10*time.Second, calllog.HangupCaller, "bye")
	answered.Agent, answered.TalkTime, answered.WrapUp = "alice", 2*time.Minute, 10*time.Second
	answered.HoldCount, answered.HoldsOverPromise = 1, 1
	answered.Transfers = []calllog.TransferAttempt{{From: "alice", To: "bob", Result: "completed"}}
	late := rec("s2", day.Add(9*time.Hour), "support", "answered", 20*time.Second, calllog.HangupAgent, "bye")
	late.Agent, late.TalkTime = "bob", time.Minute
	recs := []calllog.Record{
		answered, late,
		rec("s3", day.Add(10*time.Hour), "support", "short_abandoned", 2*time.Second, calllog.HangupCaller, "bye"),
		rec("b1", day.Add(11*time.Hour), "billing", "abandoned", 12*time.Second, calllog.HangupCaller, "bye"),
		rec("i1", day.Add(12*time.Hour), "", "", 0, calllog.HangupSystem, "closing timeout"),
		// 23:30 the evening before in Shanghai, but the 23rd in UTC: not
		// in the 23rd's report.
		rec("eve", day.Add(-30*time.Minute), "support", "abandoned", time.Second, calllog.HangupCaller, "bye"),
	}
	for _, r := range recs {
		if err := s.WriteRecord(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// rowOf returns the cells of the text report's row with the label.
func rowOf(out, label string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, label+"  ") {
			return strings.Join(strings.Fields(strings.TrimPrefix(line, label)), " ")
		}
	}
	return ""
}

func TestReportCommandPrintsTheDaysKPIsInTheConfigsTimezone(t *testing.T) {
	db := seedCommandDB(t)
	var out, errOut bytes.Buffer
	code := run([]string{"report", "--db", db, "--from", "2026-11-23", "--to", "2026-11-24"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	text := out.String()
	if !strings.Contains(text, "2026-11-23 00:00 to 2026-11-24 00:00 (Asia/Shanghai), all queues") {
		t.Errorf("heading lacks the range in local time:\n%s", text)
	}
	for label, want := range map[string]string{
		"KPI":                             "ALL billing support NO QUEUE",
		"calls arrived":                   "5 1 3 1",
		"offered to a queue":              "3 1 2 0",
		"service level (answered <= 15s)": "33.3% 0.0% 50.0% n/a",
		"abandon rate":                    "33.3% 100.0% 0.0% n/a",
		"average speed of answer":         "15s n/a 15s n/a",
		"average handle time (+ wrap-up)": "1m35s n/a 1m35s n/a",
		"  over promise":                  "1 (100.0%) 0 (n/a) 1 (100.0%) 0 (n/a)",
		"  completed":                     "1 (100.0%) 0 (n/a) 1 (100.0%) 0 (n/a)",
		"  agent":                         "1 (20.0%) 0 (0.0%) 1 (33.3%) 0 (0.0%)",
		"closing safety timeouts":         "1 0 0 1",
	} {
		if got := rowOf(text, label); got != want {
			t.Errorf("row %q = %q, want %q\n%s", label, got, want, text)
		}
	}
}

func TestReportCommandQueueFilterAndJSON(t *testing.T) {
	db := seedCommandDB(t)
	var out, errOut bytes.Buffer
	code := run([]string{"report", "--db", db, "--from", "2026-11-23T09:00", "--to", "2026-11-24", "--queue", "support", "--json"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var got struct {
		Queue string `json:"queue"`
		Total struct {
			Arrived          int      `json:"arrived"`
			Offered          int      `json:"offered"`
			ServiceLevel     *float64 `json:"service_level"`
			ShortAbandonRate *float64 `json:"short_abandon_rate"`
			AbandonRate      *float64 `json:"abandon_rate"`
		} `json:"total"`
		Queues []struct {
			Name string `json:"name"`
		} `json:"queues"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	// From 09:00: s2 (answered after 20 s) and s3 (short abandon).
	if got.Queue != "support" || got.Total.Arrived != 2 || got.Total.Offered != 1 {
		t.Fatalf("got %+v, want queue support, 2 arrived, 1 offered", got)
	}
	if got.Total.ServiceLevel == nil || *got.Total.ServiceLevel != 0 {
		t.Errorf("service level %v, want 0 (answered after three rings)", got.Total.ServiceLevel)
	}
	if got.Total.ShortAbandonRate == nil || *got.Total.ShortAbandonRate != 0.5 {
		t.Errorf("short abandon rate %v, want 0.5", got.Total.ShortAbandonRate)
	}
	if len(got.Queues) != 1 || got.Queues[0].Name != "support" {
		t.Errorf("queues %+v, want support only", got.Queues)
	}
}

func TestReportCommandOfAnEmptyRangePrintsZerosAndNA(t *testing.T) {
	db := seedCommandDB(t)
	var out, errOut bytes.Buffer
	if code := run([]string{"report", "--db", db, "--from", "2030-01-01", "--to", "2030-01-02"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	text := out.String()
	if got := rowOf(text, "calls arrived"); got != "0 0" {
		t.Errorf("calls arrived %q, want 0 for all calls and no queue\n%s", got, text)
	}
	if got := rowOf(text, "service level (answered <= 15s)"); got != "n/a n/a" {
		t.Errorf("service level %q, want n/a\n%s", got, text)
	}
	if strings.Contains(text, "NaN") {
		t.Errorf("report shows NaN:\n%s", text)
	}
}

func TestReportCommandDefaultsToTodaySoFar(t *testing.T) {
	db := seedCommandDB(t)
	var out, errOut bytes.Buffer
	now := time.Date(2026, 11, 23, 10, 30, 0, 0, shanghai)
	if code := reportAt(now, []string{"--db", db}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "2026-11-23 00:00 to 2026-11-23 10:30") {
		t.Errorf("heading lacks today's range:\n%s", out.String())
	}
	// s1 at 00:30, s2 at 09:00, s3 at 10:00.
	if got := rowOf(out.String(), "calls arrived"); got != "3 3 0" {
		t.Errorf("calls arrived %q, want 3 3 0\n%s", got, out.String())
	}
}

func TestReportCommandRejectsBadRanges(t *testing.T) {
	db := seedCommandDB(t)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unreadable from", []string{"--from", "23/11/2026"}, "--from"},
		{"unreadable to", []string{"--from", "2026-11-23", "--to", "tomorrow"}, "--to"},
		{"to before from", []string{"--from", "2026-11-24", "--to", "2026-11-23"}, "must be after"},
		{"to equal to from", []string{"--from", "2026-11-23", "--to", "2026-11-23"}, "must be after"},
		{"stray argument", []string{"--from", "2026-11-23", "today"}, "unexpected argument"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(append([]string{"report", "--db", db}, c.args...), &out, &errOut); code != 2 || !strings.Contains(errOut.String(), c.want) {
				t.Fatalf("exit %d, stderr %q: want 2 mentioning %q", code, errOut.String(), c.want)
			}
		})
	}
}

func TestReportCommandOnAMissingDatabaseFails(t *testing.T) {
	var out, errOut bytes.Buffer
	missing := filepath.Join(t.TempDir(), "none.db")
	if code := run([]string{"report", "--db", missing, "--from", "2026-11-23", "--to", "2026-11-24"}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, errOut.String())
	}
}

func FuzzParseReportTime(f *testing.F) {
	for _, s := range []string{"2026-11-23", "2026-11-23T09:00", "", "2026-13-40", "2026-11-23T25:61", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseReportTime(s, shanghai)
		if err != nil {
			return
		}
		if got.Location() != shanghai {
			t.Fatalf("%q parsed into %v, want the config's zone", s, got.Location())
		}
		if back := got.Format(reportTimeLayouts[1]); !strings.HasPrefix(back, s[:min(len(s), 10)]) {
			t.Fatalf("%q parsed as %v", s, got)
		}
	})
}
