package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Queue outcomes, the label values of hotline_queue_wait_seconds.
var QueueOutcomes = []string{"answered", "abandoned", "short_abandoned", "timeout", "no_agents"}

// TransferResults are the label values of hotline_transfers_total.
var TransferResults = []string{"completed", "no_answer", "busy", "declined", "hung_up", "aborted", "failed", "abandoned", "not_found"}

// TransferKinds are the kind label values of hotline_transfers_total:
// blind (REFER), attended (REFER with Replaces), keypad (*2).
var TransferKinds = []string{"blind", "attended", "keypad"}

// RingResults are the label values of hotline_agent_ring_attempts_total.
var RingResults = []string{"answered", "no_answer", "busy", "rejected", "cancelled", "failed"}

// QueueRecorder holds the per-queue series the call flow feeds. A nil
// *QueueRecorder is a no-op.
type QueueRecorder struct {
	wait             *prometheus.HistogramVec
	answeredInRings  *prometheus.CounterVec
	ringAttempts     *prometheus.CounterVec
	talk             *prometheus.HistogramVec
	queueJoins       *prometheus.CounterVec
	announcements    *prometheus.CounterVec
	holds            *prometheus.CounterVec
	holdTime         *prometheus.HistogramVec
	overPromise      *prometheus.CounterVec
	transfers        *prometheus.CounterVec
	wrapUp           *prometheus.CounterVec
	transferTime     *prometheus.HistogramVec
	consultTime      *prometheus.HistogramVec
	threeRingsBudget time.Duration
}

// QueueSource reads live queue figures at scrape time (*queue.Manager).
type QueueSource interface {
	Queues() []string
	Waiting(queue string) (count int, oldest time.Duration)
}

// NewQueueRecorder registers the queue series for the named queues.
// ringOn/ringOff place the three-ring line on a bucket edge of the wait
// histogram, so service level (R1 for queued callers) is a bucket ratio.
func NewQueueRecorder(reg prometheus.Registerer, queues []string, ringOn, ringOff time.Duration, src QueueSource, agentStates func() map[string]int) *QueueRecorder {
	buckets := append(RingBuckets(ringOn, ringOff), 60, 120, 300, 600)
	r := &QueueRecorder{
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotline_queue_wait_seconds",
			Help:    "Time callers waited in a queue, by how the wait ended (answered, abandoned, short_abandoned, timeout, no_agents).",
			Buckets: buckets,
		}, []string{"queue", "outcome"}),
		answeredInRings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_queue_answered_within_three_rings_total",
			Help: "Queued callers answered by an agent within three ring cycles of joining the queue (service level numerator).",
		}, []string{"queue"}),
		ringAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_agent_ring_attempts_total",
			Help: "Agent phones rung for queued callers, by result.",
		}, []string{"queue", "result"}),
		talk: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotline_talk_seconds",
			Help:    "Time callers and agents were connected.",
			Buckets: []float64{10, 30, 60, 120, 180, 300, 600, 1200, 1800},
		}, []string{"queue"}),
		queueJoins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_queue_joined_total", Help: "Callers who joined a queue.",
		}, []string{"queue"}),
		announcements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_queue_announcements_total", Help: "Announcements played to waiting callers (R10), by kind.",
		}, []string{"queue", "kind"}),
		holds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_holds_total", Help: "Times agents put callers on hold (R3).",
		}, []string{"queue"}),
		holdTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hotline_hold_seconds", Help: "Length of each hold (R3); the promise (default 60 s) is a bucket edge.",
			Buckets: []float64{10, 30, 60, 90, 120, 180, 300, 600},
		}, []string{"queue"}),
		overPromise: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_holds_over_promise_total", Help: "Holds that passed their promised time (R3): the caller got an apology and the agent a MESSAGE.",
		}, []string{"queue"}),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_transfers_total", Help: "Transfers agents started, by kind (blind, attended, keypad) and result (completed, no_answer, busy, declined, hung_up, aborted, failed, abandoned, not_found; R4).",
		}, []string{"queue", "kind", "result"}),
		consultTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotline_transfer_consult_seconds",
			Help:    "How long agent and target talked before an attended or keypad transfer went through or was abandoned (R4), while the caller waited.",
			Buckets: []float64{5, 10, 20, 30, 45, 60, 90, 120, 180, 300},
		}, []string{"queue"}),
		wrapUp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_wrap_up_seconds_total", Help: "After-call work time given to agents after their part of bridged calls (the queue's wrap_up).",
		}, []string{"queue"}),
		transferTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotline_transfer_seconds",
			Help:    "How long transfers took from the agent's request to the outcome (the caller's wait for the target, R4).",
			Buckets: append(RingBuckets(ringOn, ringOff), 60),
		}, []string{"queue"}),
		threeRingsBudget: 3 * (ringOn + ringOff),
	}
	reg.MustRegister(r.wait, r.answeredInRings, r.ringAttempts, r.talk, r.queueJoins, r.announcements, r.holds, r.holdTime, r.overPromise, r.transfers, r.wrapUp, r.transferTime, r.consultTime)
	for _, q := range queues {
		for _, o := range QueueOutcomes {
			r.wait.WithLabelValues(q, o)
		}
		for _, res := range RingResults {
			r.ringAttempts.WithLabelValues(q, res)
		}
		for _, k := range []string{"welcome", "reassurance", "position"} {
			r.announcements.WithLabelValues(q, k)
		}
		r.answeredInRings.WithLabelValues(q)
		r.holds.WithLabelValues(q)
		r.holdTime.WithLabelValues(q)
		r.overPromise.WithLabelValues(q)
		for _, kind := range TransferKinds {
			for _, res := range TransferResults {
				r.transfers.WithLabelValues(q, kind, res)
			}
		}
		r.consultTime.WithLabelValues(q)
		r.talk.WithLabelValues(q)
		r.wrapUp.WithLabelValues(q)
		r.transferTime.WithLabelValues(q)
		r.queueJoins.WithLabelValues(q)
	}
	if src != nil {
		reg.MustRegister(&queueCollector{src: src,
			waiting: prometheus.NewDesc("hotline_queue_calls_waiting", "Callers waiting in the queue now.", []string{"queue"}, nil),
			oldest:  prometheus.NewDesc("hotline_queue_oldest_wait_seconds", "How long the longest-waiting caller has waited.", []string{"queue"}, nil),
		})
	}
	if agentStates != nil {
		reg.MustRegister(&agentCollector{states: agentStates,
			desc: prometheus.NewDesc("hotline_agents", "Agents by state (logged_out, ready, ringing, on_call, wrap_up, not_ready).", []string{"state"}, nil)})
	}
	return r
}

// Joined counts a caller joining a queue.
func (r *QueueRecorder) Joined(queue string) {
	if r != nil {
		r.queueJoins.WithLabelValues(queue).Inc()
	}
}

// Left records how long a caller waited and how the wait ended.
func (r *QueueRecorder) Left(queue, outcome string, wait time.Duration) {
	if r == nil {
		return
	}
	r.wait.WithLabelValues(queue, outcome).Observe(wait.Seconds())
	if outcome == "answered" && wait <= r.threeRingsBudget {
		r.answeredInRings.WithLabelValues(queue).Inc()
	}
}

// RingAttempt counts one agent phone rung and its result.
func (r *QueueRecorder) RingAttempt(queue, result string) {
	if r != nil {
		r.ringAttempts.WithLabelValues(queue, result).Inc()
	}
}

// Talked records the connected time of a bridged call.
func (r *QueueRecorder) Talked(queue string, d time.Duration) {
	if r != nil {
		r.talk.WithLabelValues(queue).Observe(d.Seconds())
	}
}

// Announced counts an announcement to a waiting caller.
func (r *QueueRecorder) Announced(queue, kind string) {
	if r != nil {
		r.announcements.WithLabelValues(queue, kind).Inc()
	}
}

type queueCollector struct {
	src             QueueSource
	waiting, oldest *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.waiting; ch <- c.oldest }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	for _, q := range c.src.Queues() {
		n, oldest := c.src.Waiting(q)
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(n), q)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, oldest.Seconds(), q)
	}
}

// AgentStates are the label values of hotline_agents.
var AgentStates = []string{"logged_out", "ready", "ringing", "on_call", "wrap_up", "not_ready"}

type agentCollector struct {
	states func() map[string]int
	desc   *prometheus.Desc
}

func (c *agentCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *agentCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.states()
	for _, s := range AgentStates {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), s)
	}
}

// Hold counts a caller put on hold.
func (r *QueueRecorder) Hold(queue string) {
	if r != nil {
		r.holds.WithLabelValues(queue).Inc()
	}
}

// HoldEnded records a hold's length.
func (r *QueueRecorder) HoldEnded(queue string, d time.Duration) {
	if r != nil {
		r.holdTime.WithLabelValues(queue).Observe(d.Seconds())
	}
}

// HoldOverPromise counts a hold that passed its promise.
func (r *QueueRecorder) HoldOverPromise(queue string) {
	if r != nil {
		r.overPromise.WithLabelValues(queue).Inc()
	}
}

// Transfer counts one finished transfer by kind and result (R4).
func (r *QueueRecorder) Transfer(queue, kind, result string) {
	if r != nil {
		r.transfers.WithLabelValues(queue, kind, result).Inc()
	}
}

// ConsultTime observes how long agent and target consulted before a
// transfer went through or was abandoned.
func (r *QueueRecorder) ConsultTime(queue string, d time.Duration) {
	if r != nil {
		r.consultTime.WithLabelValues(queue).Observe(d.Seconds())
	}
}

// WrapUp adds the after-call work an agent was given after a call.
func (r *QueueRecorder) WrapUp(queue string, d time.Duration) {
	if r != nil {
		r.wrapUp.WithLabelValues(queue).Add(d.Seconds())
	}
}

// TransferTime records how long a transfer took, request to outcome.
func (r *QueueRecorder) TransferTime(queue string, d time.Duration) {
	if r != nil {
		r.transferTime.WithLabelValues(queue).Observe(d.Seconds())
	}
}
