package calllog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The report computes the figures of the Prometheus recording rules
// (deploy/prometheus/rules.yml) exactly, from the call records: the rules
// see rates of counters and histogram buckets over a window, the report
// counts every recorded call once. Each formula below names the rule it
// follows.

// Queue results of a Record (Record.QueueResult).
const (
	QueueAnswered       = "answered"
	QueueAbandoned      = "abandoned"
	QueueShortAbandoned = "short_abandoned"
	QueueTimeout        = "timeout"
	QueueNoAgents       = "no_agents"
	QueueClosed         = "closed"
)

// ReasonClosingTimeout is the hangup reason of calls ended by the closing
// safety timeout (R7): the caller stayed on the line after the closing.
const ReasonClosingTimeout = "closing timeout"

// TransferCompleted is the result of a transfer that reached its target.
const TransferCompleted = "completed"

// reportTransferResults and reportHangupParties are always listed, in this
// order, so reports of different days line up; other values found in the
// records follow, sorted.
var (
	reportTransferResults = []string{TransferCompleted, "no_answer", "busy", "declined", "hung_up", "failed", "not_found", "abandoned", "aborted"}
	reportHangupParties   = []string{HangupCaller, HangupAgent, HangupSystem}
)

// Report is the supervisor's report of the calls that arrived in
// [From, To): the KPIs of the recording rules, computed exactly from the
// call records (R6). Calls still in progress have no record yet and are
// not counted.
type Report struct {
	// From and To bound the arrival times, To excluded.
	From, To time.Time
	// Queue is the queue the report is restricted to; "" for every call.
	Queue string
	// RingCycle is one ring cycle (ring.on + ring.off); three of them are
	// the service-level threshold (R1, R10).
	RingCycle time.Duration
	// Total covers every call in the report (with Queue set, the calls of
	// that queue).
	Total Figures
	// Queues has one entry per queue that had a call, sorted by name.
	Queues []QueueFigures
	// NoQueue covers the calls that never joined a queue (the IVR only;
	// queue="ivr" in the metrics). Empty when Queue is set.
	NoQueue Figures
}

// Threshold is the service-level threshold: three ring cycles.
func (r Report) Threshold() time.Duration { return 3 * r.RingCycle }

// QueueFigures are the figures of one queue's calls.
type QueueFigures struct {
	Name string
	Figures
}

// Figures are exact counts and sums over a set of call records. The
// ratios are methods that report ok=false when their denominator is zero,
// where the recording rules have no sample ("n/a", never NaN).
type Figures struct {
	// Arrived counts the records (hotline_calls_arrived_total).
	Arrived int
	// Answered counts calls the server answered, SIP status 200
	// (hotline_calls_answered_total).
	Answered int
	// AnsweredWithinThreeRings counts answered calls whose answer fell in
	// ring cycle 1, 2 or 3 (R1; hotline_calls_answered_within_three_rings_total).
	AnsweredWithinThreeRings int

	// QueueResults counts queued calls by how the wait ended
	// (Record.QueueResult; hotline_queue_wait_seconds_count{outcome}).
	QueueResults map[string]int
	// AnsweredWithinThreshold and AbandonedWithinThreshold count callers
	// answered / abandoned with a queue wait of at most three ring cycles
	// (the le="15" bucket with the default cadence).
	AnsweredWithinThreshold  int
	AbandonedWithinThreshold int
	// AnsweredWait is the summed queue wait of the answered callers.
	AnsweredWait time.Duration

	// Bridged counts calls connected to an agent (one hotline_talk_seconds
	// observation each); Talk their connected time, which spans every
	// hold, and WrapUp the after-call work time their agents were given.
	Bridged int
	Talk    time.Duration
	WrapUp  time.Duration

	// Holds, HoldTime and HoldsOverPromise sum the records' holds (R3).
	Holds            int
	HoldTime         time.Duration
	HoldsOverPromise int

	// Transfers counts transfers by result (R4).
	Transfers map[string]int

	// DeadAirEvents sums the dead-air events of bridged calls (the live
	// alerts of R9). SpeechCalls counts calls with speech measures and
	// DeadAir their summed dead air.
	DeadAirEvents int
	SpeechCalls   int
	DeadAir       time.Duration

	// CallerPaces and AgentPaces count the calls with a measured pace
	// (pace_spm > 0) per party; CallerPaceSum and AgentPaceSum sum it.
	CallerPaces, AgentPaces     int
	CallerPaceSum, AgentPaceSum float64

	// HungUpFirst counts calls by the party that hung up first (R7:
	// caller, agent or system; hotline_hangups_total{party}).
	HungUpFirst map[string]int
	// ClosingTimeouts counts calls ended by the closing safety timeout
	// (R7; hotline_hangups_total{reason="closing timeout"}).
	ClosingTimeouts int
}

// add counts one record.
func (f *Figures) add(rec *Record, threshold time.Duration) {
	f.Arrived++
	if rec.SIPStatus == 200 {
		f.Answered++
		if rec.AnswerRings >= 1 && rec.AnswerRings <= 3 {
			f.AnsweredWithinThreeRings++
		}
	}
	if rec.QueueResult != "" {
		inc(&f.QueueResults, rec.QueueResult)
		within := rec.QueueWait <= threshold
		switch rec.QueueResult {
		case QueueAnswered:
			f.AnsweredWait += rec.QueueWait
			if within {
				f.AnsweredWithinThreshold++
			}
		case QueueAbandoned:
			if within {
				f.AbandonedWithinThreshold++
			}
		}
	}
	bridged := rec.Agent != "" && rec.QueueResult == QueueAnswered
	if bridged {
		f.Bridged++
		f.Talk += rec.TalkTime
		f.WrapUp += rec.WrapUp
	}
	f.Holds += rec.HoldCount
	f.HoldTime += rec.HoldTotal
	f.HoldsOverPromise += rec.HoldsOverPromise
	for _, t := range rec.Transfers {
		inc(&f.Transfers, t.Result)
	}
	if sp := rec.Speech; sp != nil {
		f.SpeechCalls++
		f.DeadAir += time.Duration(sp.DeadAirMS) * time.Millisecond
		if bridged {
			f.DeadAirEvents += sp.DeadAirEvents
		}
		if sp.Caller.PaceSPM > 0 {
			f.CallerPaces++
			f.CallerPaceSum += sp.Caller.PaceSPM
		}
		if sp.Agent != nil && sp.Agent.PaceSPM > 0 {
			f.AgentPaces++
			f.AgentPaceSum += sp.Agent.PaceSPM
		}
	}
	inc(&f.HungUpFirst, rec.HangupBy)
	if rec.HangupReason == ReasonClosingTimeout {
		f.ClosingTimeouts++
	}
}

func inc(m *map[string]int, key string) {
	if *m == nil {
		*m = make(map[string]int)
	}
	(*m)[key]++
}

// ratio divides, ok=false for a zero denominator.
func ratio(num, den float64) (float64, bool) {
	if den == 0 {
		return 0, false
	}
	return num / den, true
}

// mean divides a duration, ok=false for a zero count.
func mean(total time.Duration, n int) (time.Duration, bool) {
	if n == 0 {
		return 0, false
	}
	return total / time.Duration(n), true
}

// Offered is answered + abandoned + timeout + no_agents: the callers a
// queue had to serve. Short abandons are not offered; timeouts and
// no_agents were not served, so they count against the queue.
func (f Figures) Offered() int {
	q := f.QueueResults
	return q[QueueAnswered] + q[QueueAbandoned] + q[QueueTimeout] + q[QueueNoAgents]
}

// QueueLeft is every caller who left a queue with one of the metric's
// outcomes: offered + short abandons.
func (f Figures) QueueLeft() int { return f.Offered() + f.QueueResults[QueueShortAbandoned] }

// AnsweredWithinThreeRingsShare follows
// hotline:calls_answered_within_three_rings:ratio_rate5m:
// answered within three rings / answered.
func (f Figures) AnsweredWithinThreeRingsShare() (float64, bool) {
	return ratio(float64(f.AnsweredWithinThreeRings), float64(f.Answered))
}

// ServiceLevel follows hotline:queue_service_level:ratio_rate5m:
// answered with wait <= three ring cycles / offered (R1, R10).
func (f Figures) ServiceLevel() (float64, bool) {
	return ratio(float64(f.AnsweredWithinThreshold), float64(f.Offered()))
}

// ServiceLevel2 follows hotline:queue_service_level_sl2:ratio_rate5m
// (Asterisk's servicelevelperf2): (answered within the threshold +
// abandoned within the threshold) / offered. Short abandons are in
// neither side, as in the rule.
func (f Figures) ServiceLevel2() (float64, bool) {
	return ratio(float64(f.AnsweredWithinThreshold+f.AbandonedWithinThreshold), float64(f.Offered()))
}

// SpeedOfAnswer follows hotline:queue_speed_of_answer_seconds:mean5m:
// summed queue wait of answered callers / answered callers.
func (f Figures) SpeedOfAnswer() (time.Duration, bool) {
	return mean(f.AnsweredWait, f.QueueResults[QueueAnswered])
}

// AbandonRate follows hotline:queue_abandon:ratio_rate5m: abandoned /
// offered, short abandons in neither side.
func (f Figures) AbandonRate() (float64, bool) {
	return ratio(float64(f.QueueResults[QueueAbandoned]), float64(f.Offered()))
}

// ShortAbandonRate follows hotline:queue_short_abandon:ratio_rate5m:
// short abandons / every caller who left a queue (QueueLeft).
func (f Figures) ShortAbandonRate() (float64, bool) {
	return ratio(float64(f.QueueResults[QueueShortAbandoned]), float64(f.QueueLeft()))
}

// MeanTalk follows hotline:queue_handle_time_seconds:mean5m: connected
// time (holds included) / bridged calls.
func (f Figures) MeanTalk() (time.Duration, bool) { return mean(f.Talk, f.Bridged) }

// HandleTime is the average handle time: (connected time, holds included,
// + wrap-up) / bridged calls. The recording rule has no wrap-up (no series
// measures it); the records carry the queue's configured wrap_up.
func (f Figures) HandleTime() (time.Duration, bool) { return mean(f.Talk+f.WrapUp, f.Bridged) }

// HoldsPerCall follows hotline:queue_holds_per_call:ratio_rate5m: holds /
// bridged calls.
func (f Figures) HoldsPerCall() (float64, bool) {
	return ratio(float64(f.Holds), float64(f.Bridged))
}

// MeanHold follows hotline:queue_hold_seconds:mean5m: hold time / holds.
func (f Figures) MeanHold() (time.Duration, bool) { return mean(f.HoldTime, f.Holds) }

// HoldsOverPromiseShare follows hotline:queue_holds_over_promise:ratio_rate5m:
// holds over promise / holds (R3).
func (f Figures) HoldsOverPromiseShare() (float64, bool) {
	return ratio(float64(f.HoldsOverPromise), float64(f.Holds))
}

// TransferCount is the number of transfers started.
func (f Figures) TransferCount() int {
	n := 0
	for _, c := range f.Transfers {
		n += c
	}
	return n
}

// TransferShare is the share of transfers that ended with result
// (completed: the transfer success rate).
func (f Figures) TransferShare(result string) (float64, bool) {
	return ratio(float64(f.Transfers[result]), float64(f.TransferCount()))
}

// DeadAirEventsPerCall follows
// hotline:queue_dead_air_alerts_per_call:ratio_rate5m: dead-air events of
// bridged calls / bridged calls (R9).
func (f Figures) DeadAirEventsPerCall() (float64, bool) {
	return ratio(float64(f.DeadAirEvents), float64(f.Bridged))
}

// MeanDeadAir follows hotline:queue_dead_air_seconds:mean5m: dead air /
// calls with speech measures.
func (f Figures) MeanDeadAir() (time.Duration, bool) { return mean(f.DeadAir, f.SpeechCalls) }

// CallerPace is the mean caller pace of calls with a measured pace
// (syllables a minute; R9's target is about 120). The rules show
// quantiles of the same observations.
func (f Figures) CallerPace() (float64, bool) {
	return ratio(f.CallerPaceSum, float64(f.CallerPaces))
}

// AgentPace is the mean agent pace of calls with a measured pace.
func (f Figures) AgentPace() (float64, bool) {
	return ratio(f.AgentPaceSum, float64(f.AgentPaces))
}

// HungUpFirstShare follows hotline:hangups:ratio_rate5m: calls the party
// hung up first / all calls (R7).
func (f Figures) HungUpFirstShare(party string) (float64, bool) {
	return ratio(float64(f.HungUpFirst[party]), float64(f.Arrived))
}

// Report computes the report of the calls that arrived in [from, to),
// every call when queue is "" or only the calls that joined queue.
// ringCycle is one ring cycle (config Ring.Cycle); the service-level
// threshold is three of them. It reads only, so it works on a Store from
// OpenReadOnly while the server writes.
func (s *Store) Report(ctx context.Context, from, to time.Time, queue string, ringCycle time.Duration) (Report, error) {
	if s.isClosed() {
		return Report{}, ErrClosed
	}
	if ringCycle <= 0 {
		return Report{}, fmt.Errorf("%w: ring cycle %v", ErrInvalid, ringCycle)
	}
	if !to.After(from) {
		return Report{}, fmt.Errorf("%w: report range %v to %v is empty", ErrInvalid, from, to)
	}
	r := Report{From: from, To: to, Queue: queue, RingCycle: ringCycle}
	rows, err := s.db.QueryContext(ctx, s.d.selectArrived, from.UnixMilli(), to.UnixMilli(), queue)
	if err != nil {
		return Report{}, fmt.Errorf("calllog: report: %w", err)
	}
	defer rows.Close()
	threshold := r.Threshold()
	byQueue := make(map[string]*Figures)
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return Report{}, fmt.Errorf("calllog: report: %w", err)
		}
		r.Total.add(&rec, threshold)
		if rec.Queue == "" {
			r.NoQueue.add(&rec, threshold)
			continue
		}
		f := byQueue[rec.Queue]
		if f == nil {
			f = new(Figures)
			byQueue[rec.Queue] = f
		}
		f.add(&rec, threshold)
	}
	if err := rows.Err(); err != nil {
		return Report{}, fmt.Errorf("calllog: report: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(byQueue)) {
		r.Queues = append(r.Queues, QueueFigures{Name: name, Figures: *byQueue[name]})
	}
	return r, nil
}

// reportTimeLayout shows the range to the minute.
const reportTimeLayout = "2006-01-02 15:04"

// reportColumn is one column of the text report.
type reportColumn struct {
	title string
	f     *Figures
}

// reportRow is one KPI line: a label and how to show it for one column.
type reportRow struct {
	label string
	value func(f *Figures) string
}

// WriteReport prints r as an aligned text table: one row per KPI, one
// column for all calls, one per queue and one for calls that never joined
// a queue. Undefined ratios (nothing to divide by) show as "n/a". Queue
// names are made safe for the terminal.
func WriteReport(w io.Writer, r Report) error {
	cols := []reportColumn{{title: "ALL", f: &r.Total}}
	for i := range r.Queues {
		cols = append(cols, reportColumn{title: cell(r.Queues[i].Name), f: &r.Queues[i].Figures})
	}
	if r.Queue == "" {
		cols = append(cols, reportColumn{title: "NO QUEUE", f: &r.NoQueue})
	}
	scope := "all queues"
	if r.Queue != "" {
		scope = "queue " + cell(r.Queue)
	}
	threshold := r.Threshold()
	var b strings.Builder
	fmt.Fprintf(&b, "Call report %s to %s (%s), %s\n", r.From.Format(reportTimeLayout),
		r.To.Format(reportTimeLayout), r.From.Location(), scope)
	fmt.Fprintf(&b, "Calls that arrived in the range and have ended; three rings = %s.\n\n", threshold)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("calllog: write report: %w", err)
	}

	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	line := func(cells ...string) {
		fmt.Fprint(tw, strings.Join(cells, "\t")+"\t\n")
	}
	head := []string{"KPI"}
	for _, c := range cols {
		head = append(head, c.title)
	}
	rows := reportRows(r, cols, threshold)
	// tabwriter right-aligns every column (numbers read best so); padding
	// the labels to one width keeps them left-aligned.
	width := len(head[0])
	for _, row := range rows {
		width = max(width, len(row.label))
	}
	pad := func(s string) string { return s + strings.Repeat(" ", width-len(s)) }
	head[0] = pad(head[0])
	line(head...)
	for _, row := range rows {
		cells := []string{pad(row.label)}
		for _, c := range cols {
			cells = append(cells, row.value(c.f))
		}
		line(cells...)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("calllog: write report: %w", err)
	}
	// Right alignment pads the label column on the left too; every label
	// has the same width, so that padding is the same two spaces on every
	// line and goes.
	var out strings.Builder
	for line := range strings.Lines(table.String()) {
		out.WriteString(strings.TrimPrefix(line, "  "))
	}
	if _, err := io.WriteString(w, out.String()); err != nil {
		return fmt.Errorf("calllog: write report: %w", err)
	}
	return nil
}

// reportRows lists the KPI rows in print order.
func reportRows(r Report, cols []reportColumn, threshold time.Duration) []reportRow {
	count := func(get func(f Figures) int) func(f *Figures) string {
		return func(f *Figures) string { return strconv.Itoa(get(*f)) }
	}
	share := func(get func(f Figures) int, of func(Figures) (float64, bool)) func(f *Figures) string {
		return func(f *Figures) string { return strconv.Itoa(get(*f)) + " (" + percent(of(*f)) + ")" }
	}
	pct := func(of func(Figures) (float64, bool)) func(f *Figures) string {
		return func(f *Figures) string { return percent(of(*f)) }
	}
	dur := func(of func(Figures) (time.Duration, bool)) func(f *Figures) string {
		return func(f *Figures) string { return duration(of(*f)) }
	}
	num := func(prec int, of func(Figures) (float64, bool)) func(f *Figures) string {
		return func(f *Figures) string {
			v, ok := of(*f)
			if !ok {
				return "n/a"
			}
			return strconv.FormatFloat(v, 'f', prec, 64)
		}
	}
	queueResult := func(res string) func(f *Figures) string {
		return count(func(f Figures) int { return f.QueueResults[res] })
	}
	rows := []reportRow{
		{"calls arrived", count(func(f Figures) int { return f.Arrived })},
		{"answered by the IVR (200)", count(func(f Figures) int { return f.Answered })},
		{"  within three rings", share(func(f Figures) int { return f.AnsweredWithinThreeRings }, Figures.AnsweredWithinThreeRingsShare)},
		{"offered to a queue", count(Figures.Offered)},
		{"  answered by an agent", queueResult(QueueAnswered)},
		{"  abandoned", queueResult(QueueAbandoned)},
		{"  timeout", queueResult(QueueTimeout)},
		{"  no agents", queueResult(QueueNoAgents)},
		{"short abandons (of all leaving)", share(func(f Figures) int { return f.QueueResults[QueueShortAbandoned] }, Figures.ShortAbandonRate)},
		{"service level (answered <= " + threshold.String() + ")", pct(Figures.ServiceLevel)},
		{"service level SL2 (+ abandoned <= " + threshold.String() + ")", pct(Figures.ServiceLevel2)},
		{"average speed of answer", dur(Figures.SpeedOfAnswer)},
		{"abandon rate", pct(Figures.AbandonRate)},
		{"bridged calls", count(func(f Figures) int { return f.Bridged })},
		{"mean talk (holds included)", dur(Figures.MeanTalk)},
		{"average handle time (+ wrap-up)", dur(Figures.HandleTime)},
		{"holds", count(func(f Figures) int { return f.Holds })},
		{"  per bridged call", num(2, Figures.HoldsPerCall)},
		{"  mean hold", dur(Figures.MeanHold)},
		{"  over promise", share(func(f Figures) int { return f.HoldsOverPromise }, Figures.HoldsOverPromiseShare)},
		{"transfers", count(Figures.TransferCount)},
	}
	for _, res := range extend(reportTransferResults, cols, func(f *Figures) map[string]int { return f.Transfers }) {
		rows = append(rows, reportRow{"  " + cell(res), share(
			func(f Figures) int { return f.Transfers[res] },
			func(f Figures) (float64, bool) { return f.TransferShare(res) })})
	}
	rows = append(rows,
		reportRow{"dead-air events per bridged call", num(2, Figures.DeadAirEventsPerCall)},
		reportRow{"mean dead air per call", dur(Figures.MeanDeadAir)},
		reportRow{"mean caller pace (per minute)", num(1, Figures.CallerPace)},
		reportRow{"mean agent pace (per minute)", num(1, Figures.AgentPace)},
		reportRow{"hung up first", count(func(f Figures) int { return f.Arrived })},
	)
	for _, party := range extend(reportHangupParties, cols, func(f *Figures) map[string]int { return f.HungUpFirst }) {
		rows = append(rows, reportRow{"  " + cell(party), share(
			func(f Figures) int { return f.HungUpFirst[party] },
			func(f Figures) (float64, bool) { return f.HungUpFirstShare(party) })})
	}
	rows = append(rows, reportRow{"closing safety timeouts", count(func(f Figures) int { return f.ClosingTimeouts })})
	return rows
}

// extend returns fixed followed by the other keys found in any column,
// sorted.
func extend(fixed []string, cols []reportColumn, get func(f *Figures) map[string]int) []string {
	out := slices.Clone(fixed)
	var extra []string
	for _, c := range cols {
		for k := range get(c.f) {
			if !slices.Contains(out, k) && !slices.Contains(extra, k) {
				extra = append(extra, k)
			}
		}
	}
	slices.Sort(extra)
	return append(out, extra...)
}

func percent(v float64, ok bool) string {
	if !ok {
		return "n/a"
	}
	return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
}

func duration(d time.Duration, ok bool) string {
	if !ok {
		return "n/a"
	}
	return d.Round(100 * time.Millisecond).String()
}

// jsonFigures is the JSON shape of Figures: the counts, and every ratio
// as a number or null when undefined.
type jsonFigures struct {
	Arrived                  int            `json:"arrived"`
	Answered                 int            `json:"answered"`
	AnsweredWithinThreeRings int            `json:"answered_within_three_rings"`
	AnsweredWithinThreeShare *float64       `json:"answered_within_three_rings_ratio"`
	QueueResults             map[string]int `json:"queue_results"`
	Offered                  int            `json:"offered"`
	AnsweredWithinThreshold  int            `json:"answered_within_threshold"`
	AbandonedWithinThreshold int            `json:"abandoned_within_threshold"`
	ServiceLevel             *float64       `json:"service_level"`
	ServiceLevel2            *float64       `json:"service_level_sl2"`
	SpeedOfAnswerSeconds     *float64       `json:"speed_of_answer_seconds"`
	AbandonRate              *float64       `json:"abandon_rate"`
	ShortAbandonRate         *float64       `json:"short_abandon_rate"`
	Bridged                  int            `json:"bridged"`
	MeanTalkSeconds          *float64       `json:"mean_talk_seconds"`
	HandleTimeSeconds        *float64       `json:"handle_time_seconds"`
	Holds                    int            `json:"holds"`
	HoldsPerCall             *float64       `json:"holds_per_call"`
	MeanHoldSeconds          *float64       `json:"mean_hold_seconds"`
	HoldsOverPromise         int            `json:"holds_over_promise"`
	HoldsOverPromiseRatio    *float64       `json:"holds_over_promise_ratio"`
	Transfers                map[string]int `json:"transfers"`
	TransferSuccessRatio     *float64       `json:"transfer_success_ratio"`
	DeadAirEvents            int            `json:"dead_air_events"`
	DeadAirEventsPerCall     *float64       `json:"dead_air_events_per_call"`
	MeanDeadAirSeconds       *float64       `json:"mean_dead_air_seconds"`
	CallerPace               *float64       `json:"caller_pace_spm"`
	AgentPace                *float64       `json:"agent_pace_spm"`
	HungUpFirst              map[string]int `json:"hung_up_first"`
	ClosingTimeouts          int            `json:"closing_timeouts"`
}

type jsonQueueFigures struct {
	Name string `json:"name"`
	jsonFigures
}

type jsonReport struct {
	From             time.Time          `json:"from"`
	To               time.Time          `json:"to"`
	Queue            string             `json:"queue"`
	RingCycleSeconds float64            `json:"ring_cycle_seconds"`
	ThresholdSeconds float64            `json:"threshold_seconds"`
	Total            jsonFigures        `json:"total"`
	Queues           []jsonQueueFigures `json:"queues"`
	NoQueue          jsonFigures        `json:"no_queue"`
}

func opt(v float64, ok bool) *float64 {
	if !ok {
		return nil
	}
	return &v
}

func optSeconds(d time.Duration, ok bool) *float64 { return opt(d.Seconds(), ok) }

func nonNil(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}

func toJSONFigures(f Figures) jsonFigures {
	return jsonFigures{
		Arrived:                  f.Arrived,
		Answered:                 f.Answered,
		AnsweredWithinThreeRings: f.AnsweredWithinThreeRings,
		AnsweredWithinThreeShare: opt(f.AnsweredWithinThreeRingsShare()),
		QueueResults:             nonNil(f.QueueResults),
		Offered:                  f.Offered(),
		AnsweredWithinThreshold:  f.AnsweredWithinThreshold,
		AbandonedWithinThreshold: f.AbandonedWithinThreshold,
		ServiceLevel:             opt(f.ServiceLevel()),
		ServiceLevel2:            opt(f.ServiceLevel2()),
		SpeedOfAnswerSeconds:     optSeconds(f.SpeedOfAnswer()),
		AbandonRate:              opt(f.AbandonRate()),
		ShortAbandonRate:         opt(f.ShortAbandonRate()),
		Bridged:                  f.Bridged,
		MeanTalkSeconds:          optSeconds(f.MeanTalk()),
		HandleTimeSeconds:        optSeconds(f.HandleTime()),
		Holds:                    f.Holds,
		HoldsPerCall:             opt(f.HoldsPerCall()),
		MeanHoldSeconds:          optSeconds(f.MeanHold()),
		HoldsOverPromise:         f.HoldsOverPromise,
		HoldsOverPromiseRatio:    opt(f.HoldsOverPromiseShare()),
		Transfers:                nonNil(f.Transfers),
		TransferSuccessRatio:     opt(f.TransferShare(TransferCompleted)),
		DeadAirEvents:            f.DeadAirEvents,
		DeadAirEventsPerCall:     opt(f.DeadAirEventsPerCall()),
		MeanDeadAirSeconds:       optSeconds(f.MeanDeadAir()),
		CallerPace:               opt(f.CallerPace()),
		AgentPace:                opt(f.AgentPace()),
		HungUpFirst:              nonNil(f.HungUpFirst),
		ClosingTimeouts:          f.ClosingTimeouts,
	}
}

// WriteReportJSON prints r as one JSON object with snake_case keys: the
// range (RFC 3339), the queue filter, the threshold, and the figures of
// all calls ("total"), of each queue ("queues") and of calls that never
// joined a queue ("no_queue"). Undefined ratios are null, never NaN;
// durations are in seconds.
func WriteReportJSON(w io.Writer, r Report) error {
	out := jsonReport{
		From:             r.From,
		To:               r.To,
		Queue:            r.Queue,
		RingCycleSeconds: r.RingCycle.Seconds(),
		ThresholdSeconds: r.Threshold().Seconds(),
		Total:            toJSONFigures(r.Total),
		Queues:           []jsonQueueFigures{},
		NoQueue:          toJSONFigures(r.NoQueue),
	}
	for _, q := range r.Queues {
		out.Queues = append(out.Queues, jsonQueueFigures{Name: q.Name, jsonFigures: toJSONFigures(q.Figures)})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("calllog: write report json: %w", err)
	}
	return nil
}
