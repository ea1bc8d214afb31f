package metrics

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Outcomes of a call, the label values of hotline_calls_total.
var Outcomes = []string{"completed", "abandoned_ringing", "rejected", "interrupted", "failed"}

// HangupReasons are the label values of hotline_hangups_total: the party
// that ended the call and the reasons it can give.
var HangupReasons = map[string][]string{
	"caller": {"bye", "cancel"},
	"agent":  {"bye", "closing timeout", "rtp timeout", "shutdown"},
	"system": {"closing timeout", "rtp timeout", "shutdown", "rejected", "no ack", "failed"},
}

// Recorder holds the series the call flow updates. A nil *Recorder is a
// valid no-op, so flow tests need no registry.
type Recorder struct {
	arrivals         prometheus.Counter
	active           prometheus.Gauge
	outcomes         *prometheus.CounterVec
	answerDelay      prometheus.Histogram
	withinThreeRings prometheus.Counter
	answered         prometheus.Counter
	hangups          *prometheus.CounterVec
	prompts          prometheus.Counter
	digits           prometheus.Counter
	menuActions      *prometheus.CounterVec
	pacerLateness    prometheus.Histogram
}

// RingBuckets returns histogram bucket edges that fall on the ring cadence
// (R1): the end of each ring burst and each cycle up to three rings, plus
// sub-second edges for the answer itself and a tail past the budget.
func RingBuckets(on, off time.Duration) []float64 {
	b := []float64{0.05, 0.1, 0.25, 0.5}
	cycle := (on + off).Seconds()
	for k := 0; k < 3; k++ {
		b = append(b, float64(k)*cycle+on.Seconds(), float64(k+1)*cycle)
	}
	b = append(b, 4*cycle, 6*cycle)
	slices.Sort(b)
	return slices.Compact(b)
}

// LatenessBuckets are the pacer lateness edges in seconds: the 10 ms tick
// makes up to ~10 ms normal; the bar is p99 ≤ 20 ms.
var LatenessBuckets = []float64{0.001, 0.0025, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1}

// New registers the call-flow series on reg. ringOn/ringOff set the answer
// delay buckets.
func New(reg prometheus.Registerer, ringOn, ringOff time.Duration) *Recorder {
	r := &Recorder{
		arrivals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_calls_arrived_total", Help: "Calls that reached the server with an acceptable INVITE.",
		}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotline_calls_active", Help: "Calls in progress (ringing or answered).",
		}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_calls_total", Help: "Finished calls by outcome (completed, abandoned_ringing, rejected, interrupted, failed).",
		}, []string{"outcome"}),
		answerDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hotline_answer_delay_seconds",
			Help:    "Time from INVITE to 200 OK; bucket edges fall on the ring cadence so the three-ring line (R1) is a bucket.",
			Buckets: RingBuckets(ringOn, ringOff),
		}),
		withinThreeRings: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_calls_answered_within_three_rings_total", Help: "Calls answered no later than three ring cycles after the INVITE (R1).",
		}),
		answered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_calls_answered_total", Help: "Calls answered (200 OK acknowledged).",
		}),
		hangups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_hangups_total", Help: "Who ended answered or ringing calls, and why (R7: the caller should hang up first).",
		}, []string{"party", "reason"}),
		prompts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_prompts_played_total", Help: "Prompts played to the end.",
		}),
		digits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_dtmf_digits_total", Help: "DTMF key presses received from callers (RFC 4733 and SIP INFO).",
		}),
		menuActions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_menu_actions_total", Help: "Menu choices taken, by action.",
		}, []string{"action"}),
		pacerLateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hotline_rtp_pacer_lateness_seconds", Help: "How late the shared pacer sent each RTP frame after its due time.",
			Buckets: LatenessBuckets,
		}),
	}
	reg.MustRegister(r.arrivals, r.active, r.outcomes, r.answerDelay, r.withinThreeRings, r.answered,
		r.hangups, r.prompts, r.digits, r.menuActions, r.pacerLateness)
	for _, o := range Outcomes {
		r.outcomes.WithLabelValues(o)
	}
	for party, reasons := range HangupReasons {
		for _, reason := range reasons {
			r.hangups.WithLabelValues(party, reason)
		}
	}
	for _, a := range []string{"repeat_greeting", "play", "close", "invalid", "timeout"} {
		r.menuActions.WithLabelValues(a)
	}
	return r
}

// PacerLateness is the observer the media engine's pacer reports into.
func (r *Recorder) PacerLateness() prometheus.Observer {
	if r == nil {
		return nil
	}
	return r.pacerLateness
}

// CallArrived counts a new call and makes it active.
func (r *Recorder) CallArrived() {
	if r == nil {
		return
	}
	r.arrivals.Inc()
	r.active.Inc()
}

// CallAnswered records the answer delay; withinBudget is R1's verdict.
func (r *Recorder) CallAnswered(delay time.Duration, withinBudget bool) {
	if r == nil {
		return
	}
	r.answered.Inc()
	r.answerDelay.Observe(delay.Seconds())
	if withinBudget {
		r.withinThreeRings.Inc()
	}
}

// CallEnded counts the outcome and who hung up, and makes the call inactive.
func (r *Recorder) CallEnded(outcome, party, reason string) {
	if r == nil {
		return
	}
	r.active.Dec()
	r.outcomes.WithLabelValues(outcome).Inc()
	if party != "" {
		r.hangups.WithLabelValues(party, reason).Inc()
	}
}

// PromptPlayed counts a prompt played to the end.
func (r *Recorder) PromptPlayed() {
	if r != nil {
		r.prompts.Inc()
	}
}

// Digit counts a DTMF key press.
func (r *Recorder) Digit() {
	if r != nil {
		r.digits.Inc()
	}
}

// MenuAction counts a menu choice.
func (r *Recorder) MenuAction(action string) {
	if r != nil {
		r.menuActions.WithLabelValues(action).Inc()
	}
}

// RegisterRuntime adds the Go runtime and process collectors (goroutines,
// GC, CPU, RSS) that the System row of the dashboard reads.
func RegisterRuntime(reg prometheus.Registerer) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// CounterFunc registers a counter read from fn at scrape time.
func CounterFunc(reg prometheus.Registerer, name, help string, fn func() float64) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, fn))
}

// GaugeFunc registers a gauge read from fn at scrape time.
func GaugeFunc(reg prometheus.Registerer, name, help string, fn func() float64) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// SIPResponses registers hotline_sip_responses_total{class} read from fn,
// which returns the count for a class 1..6.
func SIPResponses(reg prometheus.Registerer, fn func(class int) uint64) {
	reg.MustRegister(&responseCollector{fn: fn, desc: prometheus.NewDesc("hotline_sip_responses_total",
		"SIP responses sent, by class (1xx..6xx).", []string{"class"}, nil)})
}

type responseCollector struct {
	fn   func(int) uint64
	desc *prometheus.Desc
}

func (c *responseCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *responseCollector) Collect(ch chan<- prometheus.Metric) {
	for class := 1; class <= 6; class++ {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(c.fn(class)), string(rune('0'+class))+"xx")
	}
}
