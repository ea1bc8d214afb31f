package metrics

import "github.com/prometheus/client_golang/prometheus"

// IVRQueue is the queue label of calls that never reached a queue.
const IVRQueue = "ivr"

// PaceBuckets are syllables (= Mandarin characters) per minute, dense
// around R9's 120 target and the default 100–160 band.
var PaceBuckets = []float64{60, 80, 90, 100, 110, 120, 130, 140, 150, 160, 180, 200, 240}

// SpeechRecorder holds the R9 series: pace by party and queue, dead air,
// talk ratio, live dead-air alerts and out-of-band pace. A nil
// *SpeechRecorder is a no-op.
type SpeechRecorder struct {
	pace        *prometheus.HistogramVec
	deadAir     *prometheus.HistogramVec
	talkRatio   *prometheus.HistogramVec
	alerts      *prometheus.CounterVec
	paceOutside *prometheus.CounterVec
	agentPace   *prometheus.HistogramVec // nil unless agent labels are on
}

// NewSpeechRecorder registers the speech series for the named queues
// (IVRQueue is added). With agents named, each agent's pace distribution
// is a series too (labels carry agent user names: opt-in).
func NewSpeechRecorder(reg prometheus.Registerer, queues, agents []string) *SpeechRecorder {
	r := &SpeechRecorder{
		pace: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotline_speech_pace_syllables_per_minute",
			Help:    "Speaking pace per call and party in syllables per minute of speech (Mandarin: characters per minute; R9 target about 120).",
			Buckets: PaceBuckets,
		}, []string{"party", "queue"}),
		deadAir: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotline_dead_air_seconds",
			Help:    "Dead air per call: time nobody spoke while connected and not on hold (R9).",
			Buckets: []float64{0, 2, 4, 8, 15, 30, 60, 120, 300},
		}, []string{"queue"}),
		talkRatio: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotline_talk_ratio",
			Help:    "Agent's share of the talk on bridged calls (0..1).",
			Buckets: []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9},
		}, []string{"queue"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_dead_air_alerts_total",
			Help: "Live dead-air alerts: silence on both sides past the threshold (R9).",
		}, []string{"queue"}),
		paceOutside: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_speech_pace_out_of_range_total",
			Help: "Calls whose pace for a party fell outside the configured band (R9), by direction.",
		}, []string{"party", "queue", "direction"}),
	}
	reg.MustRegister(r.pace, r.deadAir, r.talkRatio, r.alerts, r.paceOutside)
	if len(agents) > 0 {
		r.agentPace = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotline_agent_speech_pace_syllables_per_minute",
			Help:    "Each agent's speaking pace per call in syllables per minute (R9); only with metrics.agent_labels.",
			Buckets: PaceBuckets,
		}, []string{"agent"})
		reg.MustRegister(r.agentPace)
		for _, a := range agents {
			r.agentPace.WithLabelValues(a)
		}
	}
	for _, q := range append([]string{IVRQueue}, queues...) {
		r.deadAir.WithLabelValues(q)
		r.alerts.WithLabelValues(q)
		for _, p := range []string{"caller", "agent"} {
			r.pace.WithLabelValues(p, q)
			for _, d := range []string{"slow", "fast"} {
				r.paceOutside.WithLabelValues(p, q, d)
			}
		}
		if q != IVRQueue {
			r.talkRatio.WithLabelValues(q)
		}
	}
	return r
}

// Pace records a party's pace for a call (skip when there was too little
// speech to measure).
func (r *SpeechRecorder) Pace(party, queue string, spm float64) {
	if r != nil {
		r.pace.WithLabelValues(party, queue).Observe(spm)
	}
}

// PaceOutOfRange counts a party's pace outside the band.
func (r *SpeechRecorder) PaceOutOfRange(party, queue, direction string) {
	if r != nil {
		r.paceOutside.WithLabelValues(party, queue, direction).Inc()
	}
}

// DeadAir records a call's total dead air in seconds.
func (r *SpeechRecorder) DeadAir(queue string, seconds float64) {
	if r != nil {
		r.deadAir.WithLabelValues(queue).Observe(seconds)
	}
}

// TalkRatio records the agent's share of a bridged call's talk.
func (r *SpeechRecorder) TalkRatio(queue string, ratio float64) {
	if r != nil {
		r.talkRatio.WithLabelValues(queue).Observe(ratio)
	}
}

// DeadAirAlert counts a live dead-air alert.
func (r *SpeechRecorder) DeadAirAlert(queue string) {
	if r != nil {
		r.alerts.WithLabelValues(queue).Inc()
	}
}

// AgentPace records an agent's pace on a call when per-agent series are on.
func (r *SpeechRecorder) AgentPace(agent string, spm float64) {
	if r != nil && r.agentPace != nil {
		r.agentPace.WithLabelValues(agent).Observe(spm)
	}
}
