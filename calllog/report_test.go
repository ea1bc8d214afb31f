package calllog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// reportDay is the seeded day; ring cycle 5 s makes three rings 15 s.
var (
	reportFrom = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	reportTo   = reportFrom.Add(24 * time.Hour)
)

const reportRingCycle = 5 * time.Second

// seedReport writes the records the report tests compute by hand, closes
// the writing store and returns the database path.
func seedReport(t *testing.T) string {
	t.Helper()
	path := testPath(t)
	s := openStore(t, path)
	at := func(h int) time.Time { return reportFrom.Add(time.Duration(h) * time.Hour) }
	rec := func(id string, arrival time.Time, queue, result string, wait time.Duration, rings int, by, reason string) Record {
		r := Record{
			CallID: id, Caller: "+8613800000000", Called: "100",
			Arrival: arrival, End: arrival.Add(5 * time.Minute),
			SIPStatus: 200, AnswerRings: rings, Answer: arrival.Add(time.Second), AnswerDelay: time.Second,
			Queue: queue, QueueResult: result, QueueWait: wait,
			HangupBy: by, HangupReason: reason, Disposition: DispositionCompleted,
		}
		return r
	}
	bridged := func(r Record, agent string, talk, wrap time.Duration) Record {
		r.Agent, r.TalkTime, r.WrapUp = agent, talk, wrap
		return r
	}

	ivr := rec("ivr1", reportFrom, "", "", 0, 1, HangupCaller, "bye") // arrival == from: included
	ivr.Speech = &Speech{Caller: PartySpeech{PaceSPM: 120}, DeadAirMS: 2000, DeadAirEvents: 1}

	rejected := rec("r1", at(1), "", "", 0, 0, HangupSystem, "rejected")
	rejected.SIPStatus, rejected.Answer, rejected.AnswerDelay = 486, time.Time{}, 0
	rejected.Disposition = DispositionRejected

	s1 := bridged(rec("s1", at(2), "support", QueueAnswered, 10*time.Second, 1, HangupCaller, "bye"), "alice", 120*time.Second, 10*time.Second)
	s1.HoldCount, s1.HoldTotal, s1.HoldsOverPromise = 2, 90*time.Second, 1
	s1.Transfers = []TransferAttempt{{From: "alice", To: "dave", Result: "completed"}}
	s1.Speech = &Speech{Caller: PartySpeech{PaceSPM: 100}, Agent: &PartySpeech{PaceSPM: 140}, DeadAirMS: 9000, DeadAirEvents: 1}

	// Answered by the IVR in the fourth ring (over R1) and by the agent
	// after 20 s (over the threshold); the agent hung up first (R7).
	s2 := bridged(rec("s2", at(3), "support", QueueAnswered, 20*time.Second, 4, HangupAgent, "bye"), "bob", 60*time.Second, 10*time.Second)
	s2.HoldCount, s2.HoldTotal = 1, 30*time.Second
	s2.Transfers = []TransferAttempt{{From: "bob", To: "erin", Result: "failed"}}
	s2.Speech = &Speech{Caller: PartySpeech{PaceSPM: 0}, Agent: &PartySpeech{PaceSPM: 160}, DeadAirMS: 1000}

	recs := []Record{
		ivr, rejected, s1, s2,
		rec("s3", at(4), "support", QueueAbandoned, 12*time.Second, 1, HangupCaller, "bye"),
		rec("s4", at(5), "support", QueueShortAbandoned, 3*time.Second, 2, HangupCaller, "bye"),
		rec("b1", at(6), "billing", QueueTimeout, 120*time.Second, 1, HangupSystem, ReasonClosingTimeout),
		rec("b2", at(7), "billing", QueueNoAgents, 0, 1, HangupCaller, "bye"),
		rec("b3", at(8), "billing", QueueAbandoned, 30*time.Second, 1, HangupCaller, "bye"),
		// A wait of exactly three rings is within them (le="15").
		bridged(rec("b4", at(9), "billing", QueueAnswered, 15*time.Second, 1, HangupCaller, "bye"), "carol", 30*time.Second, 0),
		// Arrival == to: the range excludes it, and the day before too.
		rec("next", reportTo, "support", QueueAbandoned, time.Second, 1, HangupCaller, "bye"),
		rec("prev", reportFrom.Add(-time.Millisecond), "billing", QueueAnswered, time.Second, 1, HangupCaller, "bye"),
	}
	for _, r := range recs {
		if err := s.WriteRecord(context.Background(), r); err != nil {
			t.Fatalf("WriteRecord(%s): %v", r.CallID, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// readOnlyReport opens path read-only, as `hotline report` does, and
// computes the report.
func readOnlyReport(t *testing.T, path string, from, to time.Time, queue string) Report {
	t.Helper()
	s, err := OpenReadOnly(context.Background(), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Report(context.Background(), from, to, queue, reportRingCycle)
	if err != nil {
		t.Fatalf("Report: %v", err)
	}
	return r
}

// kpis are the hand-computed figures of one column of the report; NaN
// means undefined (ok=false).
type kpis struct {
	arrived, answered, withinThree                          int
	withinThreeShare                                        float64
	offered, answeredQ, abandoned, short, timeout, noAgents int
	sl, sl2, asa, abandonRate, shortRate                    float64
	bridged                                                 int
	meanTalk, aht                                           float64
	holds                                                   int
	holdsPerCall, meanHold, overPromise                     float64
	transfers, completed, failed                            int
	transferSuccess, deadAirPerCall, meanDeadAir            float64
	callerPace, agentPace                                   float64
	byCaller, byAgent, bySystem                             int
	callerShare, agentShare, systemShare                    float64
	closingTimeouts                                         int
}

var nan = math.NaN()

func checkKPIs(t *testing.T, scope string, f Figures, want kpis) {
	t.Helper()
	ints := []struct {
		name      string
		got, want int
	}{
		{"arrived", f.Arrived, want.arrived},
		{"answered", f.Answered, want.answered},
		{"answered within three rings", f.AnsweredWithinThreeRings, want.withinThree},
		{"offered", f.Offered(), want.offered},
		{"queue answered", f.QueueResults[QueueAnswered], want.answeredQ},
		{"abandoned", f.QueueResults[QueueAbandoned], want.abandoned},
		{"short abandoned", f.QueueResults[QueueShortAbandoned], want.short},
		{"timeout", f.QueueResults[QueueTimeout], want.timeout},
		{"no agents", f.QueueResults[QueueNoAgents], want.noAgents},
		{"bridged", f.Bridged, want.bridged},
		{"holds", f.Holds, want.holds},
		{"transfers", f.TransferCount(), want.transfers},
		{"transfers completed", f.Transfers["completed"], want.completed},
		{"transfers failed", f.Transfers["failed"], want.failed},
		{"hung up first: caller", f.HungUpFirst[HangupCaller], want.byCaller},
		{"hung up first: agent", f.HungUpFirst[HangupAgent], want.byAgent},
		{"hung up first: system", f.HungUpFirst[HangupSystem], want.bySystem},
		{"closing timeouts", f.ClosingTimeouts, want.closingTimeouts},
	}
	for _, c := range ints {
		if c.got != c.want {
			t.Errorf("%s: %s = %d, want %d", scope, c.name, c.got, c.want)
		}
	}
	secs := func(d time.Duration, ok bool) (float64, bool) { return d.Seconds(), ok }
	floats := []struct {
		name string
		got  func() (float64, bool)
		want float64
	}{
		{"answered within three rings share", f.AnsweredWithinThreeRingsShare, want.withinThreeShare},
		{"service level", f.ServiceLevel, want.sl},
		{"service level SL2", f.ServiceLevel2, want.sl2},
		{"average speed of answer", func() (float64, bool) { return secs(f.SpeedOfAnswer()) }, want.asa},
		{"abandon rate", f.AbandonRate, want.abandonRate},
		{"short abandon rate", f.ShortAbandonRate, want.shortRate},
		{"mean talk", func() (float64, bool) { return secs(f.MeanTalk()) }, want.meanTalk},
		{"average handle time", func() (float64, bool) { return secs(f.HandleTime()) }, want.aht},
		{"holds per call", f.HoldsPerCall, want.holdsPerCall},
		{"mean hold", func() (float64, bool) { return secs(f.MeanHold()) }, want.meanHold},
		{"holds over promise share", f.HoldsOverPromiseShare, want.overPromise},
		{"transfer success", func() (float64, bool) { return f.TransferShare("completed") }, want.transferSuccess},
		{"dead-air events per bridged call", f.DeadAirEventsPerCall, want.deadAirPerCall},
		{"mean dead air", func() (float64, bool) { return secs(f.MeanDeadAir()) }, want.meanDeadAir},
		{"caller pace", f.CallerPace, want.callerPace},
		{"agent pace", f.AgentPace, want.agentPace},
		{"caller hung up first share", func() (float64, bool) { return f.HungUpFirstShare(HangupCaller) }, want.callerShare},
		{"agent hung up first share", func() (float64, bool) { return f.HungUpFirstShare(HangupAgent) }, want.agentShare},
		{"system hung up first share", func() (float64, bool) { return f.HungUpFirstShare(HangupSystem) }, want.systemShare},
	}
	for _, c := range floats {
		got, ok := c.got()
		switch {
		case math.IsNaN(c.want) && ok:
			t.Errorf("%s: %s = %v, want undefined (n/a)", scope, c.name, got)
		case !math.IsNaN(c.want) && !ok:
			t.Errorf("%s: %s undefined, want %v", scope, c.name, c.want)
		case ok && math.Abs(got-c.want) > 1e-9:
			t.Errorf("%s: %s = %v, want %v", scope, c.name, got, c.want)
		}
	}
}

// Hand-computed from seedReport (three rings = 15 s).
var (
	wantSupport = kpis{
		arrived: 4, answered: 4, withinThree: 3, withinThreeShare: 3.0 / 4,
		offered: 3, answeredQ: 2, abandoned: 1, short: 1,
		sl: 1.0 / 3, sl2: 2.0 / 3, asa: 15, abandonRate: 1.0 / 3, shortRate: 1.0 / 4,
		bridged: 2, meanTalk: 90, aht: 100,
		holds: 3, holdsPerCall: 1.5, meanHold: 40, overPromise: 1.0 / 3,
		transfers: 2, completed: 1, failed: 1, transferSuccess: 0.5,
		deadAirPerCall: 0.5, meanDeadAir: 5, callerPace: 100, agentPace: 150,
		byCaller: 3, byAgent: 1, callerShare: 0.75, agentShare: 0.25, systemShare: 0,
	}
	wantBilling = kpis{
		arrived: 4, answered: 4, withinThree: 4, withinThreeShare: 1,
		offered: 4, answeredQ: 1, abandoned: 1, timeout: 1, noAgents: 1,
		sl: 0.25, sl2: 0.25, asa: 15, abandonRate: 0.25, shortRate: 0,
		bridged: 1, meanTalk: 30, aht: 30,
		holdsPerCall: 0, meanHold: nan, overPromise: nan, transferSuccess: nan,
		deadAirPerCall: 0, meanDeadAir: nan, callerPace: nan, agentPace: nan,
		byCaller: 3, bySystem: 1, callerShare: 0.75, agentShare: 0, systemShare: 0.25,
		closingTimeouts: 1,
	}
	wantNoQueue = kpis{
		arrived: 2, answered: 1, withinThree: 1, withinThreeShare: 1,
		sl: nan, sl2: nan, asa: nan, abandonRate: nan, shortRate: nan,
		meanTalk: nan, aht: nan, holdsPerCall: nan, meanHold: nan, overPromise: nan, transferSuccess: nan,
		deadAirPerCall: nan, meanDeadAir: 2, callerPace: 120, agentPace: nan,
		byCaller: 1, bySystem: 1, callerShare: 0.5, agentShare: 0, systemShare: 0.5,
	}
	wantTotal = kpis{
		arrived: 10, answered: 9, withinThree: 8, withinThreeShare: 8.0 / 9,
		offered: 7, answeredQ: 3, abandoned: 2, short: 1, timeout: 1, noAgents: 1,
		sl: 2.0 / 7, sl2: 3.0 / 7, asa: 15, abandonRate: 2.0 / 7, shortRate: 1.0 / 8,
		bridged: 3, meanTalk: 70, aht: 230.0 / 3,
		holds: 3, holdsPerCall: 1, meanHold: 40, overPromise: 1.0 / 3,
		transfers: 2, completed: 1, failed: 1, transferSuccess: 0.5,
		deadAirPerCall: 1.0 / 3, meanDeadAir: 4, callerPace: 110, agentPace: 150,
		byCaller: 7, byAgent: 1, bySystem: 2, callerShare: 0.7, agentShare: 0.1, systemShare: 0.2,
		closingTimeouts: 1,
	}
	wantEmpty = kpis{
		withinThreeShare: nan, sl: nan, sl2: nan, asa: nan, abandonRate: nan, shortRate: nan,
		meanTalk: nan, aht: nan, holdsPerCall: nan, meanHold: nan, overPromise: nan, transferSuccess: nan,
		deadAirPerCall: nan, meanDeadAir: nan, callerPace: nan, agentPace: nan,
		callerShare: nan, agentShare: nan, systemShare: nan,
	}
)

func TestReportComputesEveryKPIExactlyFromTheRecords(t *testing.T) {
	r := readOnlyReport(t, seedReport(t), reportFrom, reportTo, "")
	if r.Threshold() != 15*time.Second {
		t.Errorf("threshold %v, want 15s (three ring cycles)", r.Threshold())
	}
	if len(r.Queues) != 2 || r.Queues[0].Name != "billing" || r.Queues[1].Name != "support" {
		t.Fatalf("queues %+v, want billing and support in name order", r.Queues)
	}
	checkKPIs(t, "all calls", r.Total, wantTotal)
	checkKPIs(t, "billing", r.Queues[0].Figures, wantBilling)
	checkKPIs(t, "support", r.Queues[1].Figures, wantSupport)
	checkKPIs(t, "no queue", r.NoQueue, wantNoQueue)
}

func TestReportRestrictedToAQueueCountsOnlyItsCalls(t *testing.T) {
	r := readOnlyReport(t, seedReport(t), reportFrom, reportTo, "support")
	checkKPIs(t, "support total", r.Total, wantSupport)
	if len(r.Queues) != 1 || r.Queues[0].Name != "support" {
		t.Fatalf("queues %+v, want support only", r.Queues)
	}
	checkKPIs(t, "no queue", r.NoQueue, wantEmpty)
}

func TestReportOfAnEmptyRangeIsZerosAndUndefinedRatios(t *testing.T) {
	from := reportTo.Add(time.Hour)
	r := readOnlyReport(t, seedReport(t), from, from.Add(time.Hour), "")
	checkKPIs(t, "empty", r.Total, wantEmpty)
	if len(r.Queues) != 0 {
		t.Errorf("queues %+v, want none", r.Queues)
	}
	var text, js bytes.Buffer
	if err := WriteReport(&text, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), "NaN") || !strings.Contains(text.String(), "n/a") {
		t.Errorf("text report of no calls must show n/a, never NaN:\n%s", text.String())
	}
	if err := WriteReportJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatalf("JSON report does not parse: %v\n%s", err, js.String())
	}
	total := got["total"].(map[string]any)
	if v, ok := total["service_level"]; !ok || v != nil {
		t.Errorf("service_level = %v, want null", v)
	}
	if total["arrived"] != 0.0 {
		t.Errorf("arrived = %v, want 0", total["arrived"])
	}
}

func TestReportRefusesAnEmptyRangeOrNoRingCycle(t *testing.T) {
	s, err := OpenReadOnly(context.Background(), Options{Path: seedReport(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		name     string
		from, to time.Time
		cycle    time.Duration
	}{
		{"to before from", reportTo, reportFrom, reportRingCycle},
		{"to equal to from", reportFrom, reportFrom, reportRingCycle},
		{"zero ring cycle", reportFrom, reportTo, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := s.Report(context.Background(), c.from, c.to, "", c.cycle); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
		})
	}
}

func TestWriteReportShowsEveryKPIPerQueue(t *testing.T) {
	r := readOnlyReport(t, seedReport(t), reportFrom, reportTo, "")
	var b bytes.Buffer
	if err := WriteReport(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	rows := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		// Labels are padded; the cells are right-aligned after two spaces.
		parts := strings.Split(line, "  ")
		var cells []string
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				cells = append(cells, p)
			}
		}
		if len(cells) > 1 {
			rows[cells[0]] = cells[1:]
		}
	}
	for label, want := range map[string][]string{
		"KPI":                                    {"ALL", "billing", "support", "NO QUEUE"},
		"calls arrived":                          {"10", "4", "4", "2"},
		"within three rings":                     {"8 (88.9%)", "4 (100.0%)", "3 (75.0%)", "1 (100.0%)"},
		"offered to a queue":                     {"7", "4", "3", "0"},
		"service level (answered <= 15s)":        {"28.6%", "25.0%", "33.3%", "n/a"},
		"service level SL2 (+ abandoned <= 15s)": {"42.9%", "25.0%", "66.7%", "n/a"},
		"average speed of answer":                {"15s", "15s", "15s", "n/a"},
		"abandon rate":                           {"28.6%", "25.0%", "33.3%", "n/a"},
		"average handle time (+ wrap-up)":        {"1m16.7s", "30s", "1m40s", "n/a"},
		"over promise":                           {"1 (33.3%)", "0 (n/a)", "1 (33.3%)", "0 (n/a)"},
		"completed":                              {"1 (50.0%)", "0 (n/a)", "1 (50.0%)", "0 (n/a)"},
		"mean caller pace (per minute)":          {"110.0", "n/a", "100.0", "120.0"},
		"agent":                                  {"1 (10.0%)", "0 (0.0%)", "1 (25.0%)", "0 (0.0%)"},
		"closing safety timeouts":                {"1", "1", "0", "0"},
	} {
		if got := rows[label]; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row %q = %q, want %q\n%s", label, got, want, out)
		}
	}
	if strings.Contains(out, "NaN") {
		t.Errorf("report shows NaN:\n%s", out)
	}
}

func TestReportOnAClosedStoreFails(t *testing.T) {
	s, err := OpenReadOnly(context.Background(), Options{Path: seedReport(t)})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Report(context.Background(), reportFrom, reportTo, "", reportRingCycle); !errors.Is(err, ErrClosed) {
		t.Fatalf("err %v, want ErrClosed", err)
	}
}

func BenchmarkReportOfADay(b *testing.B) {
	path := testPath(b)
	s := openStore(b, path)
	for i := range 2000 {
		r := answeredRecord(fmt.Sprintf("c%d", i), reportFrom.Add(time.Duration(i)*time.Second))
		r.Queue, r.QueueResult, r.Agent, r.TalkTime = "support", QueueAnswered, "alice", time.Minute
		r.Speech = &Speech{Caller: PartySpeech{PaceSPM: 120}, Agent: &PartySpeech{PaceSPM: 130}}
		if err := s.WriteRecord(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := s.Report(context.Background(), reportFrom, reportTo, "", reportRingCycle); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
}
