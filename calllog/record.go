package calllog

import (
	"log/slog"
	"time"
)

// Event is one timestamped step of a call (queue_log style).
type Event struct {
	// CallID identifies the call the event belongs to; required.
	CallID string
	// At is when the step happened. A zero At is stamped with the time
	// AppendEvent is called.
	At time.Time
	// Type names the step: arrival, ringing, answered, prompt_start,
	// prompt_end, dtmf, menu, closing, hangup, cancelled, rejected, ...
	Type string
	// Data holds small key/value details, stored as a JSON object; may be
	// nil. See the Data* keys for the ones crash recovery understands.
	Data map[string]string
}

// Event types that crash recovery reads to fill in an interrupted call's
// record. Other types are journaled and returned unchanged.
const (
	EventArrival     = "arrival"
	EventAnswered    = "answered"
	EventPromptStart = "prompt_start"
	EventDTMF        = "dtmf"
)

// Event data keys that crash recovery reads: the caller and called party
// from the arrival event, the prompt ID from prompt_start and the key from
// dtmf events.
const (
	DataCaller = "caller"
	DataCalled = "called"
	DataPrompt = "prompt"
	DataDigit  = "digit"
)

// Record is the one row written per call after the caller's leg has ended.
type Record struct {
	CallID       string
	Caller       string        // caller number/user (data, never logged)
	Called       string        // the number or user the caller dialled
	Arrival      time.Time     // when the INVITE arrived
	Answer       time.Time     // zero if never answered
	End          time.Time     // when the caller's leg ended
	AnswerDelay  time.Duration // 0 if not answered
	AnswerRings  int           // ring cycle in which the answer fell: 1, 2, 3 (0 if not answered)
	Greeting     string        // morning|noon|afternoon|evening ("" if none played)
	Digits       string        // DTMF keys pressed in order
	Prompts      []string      // prompt IDs played in order
	HangupBy     string        // caller | system
	HangupReason string        // e.g. "bye", "cancel", "closing timeout", "rtp timeout", "shutdown", "interrupted", "rejected"
	Disposition  string        // completed | abandoned_ringing | rejected | interrupted | failed
	SIPStatus    int           // final status we sent to the INVITE (200, 487, 488, ...)
	// Queue is the queue the caller joined ("" when none) and
	// QueuePosition their place on entry (1 = first in line).
	Queue         string
	QueuePosition int
	// QueueWait is the time from joining the queue to leaving it.
	QueueWait time.Duration
	// QueueResult is how the wait ended: answered, abandoned,
	// short_abandoned, timeout, no_agents or closed.
	QueueResult string
	// RingAttempts lists every agent rung for the caller, in order.
	RingAttempts []RingAttempt
	// Agent is the agent who answered, and TalkTime how long the caller
	// and the agent were connected.
	Agent    string
	TalkTime time.Duration
	// HoldCount, HoldTotal and LongestHold describe the agent's holds of
	// the caller; HoldsOverPromise how many passed their promised time
	// (R3).
	HoldCount        int
	HoldTotal        time.Duration
	LongestHold      time.Duration
	HoldsOverPromise int
	// Transfers lists every transfer an agent started (R4).
	Transfers []TransferAttempt
	// Speech holds the call's speech measures (R9); nil when the call
	// was not analysed.
	Speech *Speech
	// WrapUp is the after-call work time the agent was given (the queue's
	// wrap_up) before being offered calls again.
	WrapUp time.Duration
	// EndedBy is who ended the caller's leg (caller or system). HangupBy is
	// who hung up first: with an agent that may be the agent (R7).
	EndedBy string
}

// Who ended the caller's leg (R7: normally the caller).
const (
	// HangupCaller means the caller hung up first.
	HangupCaller = "caller"
	// HangupSystem means the server ended the caller's leg (safety timeout,
	// RTP timeout, shutdown, rejection, crash recovery).
	HangupSystem = "system"
)

// Dispositions: how a call ended.
const (
	// DispositionCompleted is a call that was answered and ended normally.
	DispositionCompleted = "completed"
	// DispositionAbandonedRinging is a call the caller gave up before answer.
	DispositionAbandonedRinging = "abandoned_ringing"
	// DispositionRejected is a call refused with a final error response.
	DispositionRejected = "rejected"
	// DispositionInterrupted is a call cut short by a server crash, closed by
	// recovery on the next Open.
	DispositionInterrupted = "interrupted"
	// DispositionFailed is a call that ended because of an internal failure.
	DispositionFailed = "failed"
)

// ReasonInterrupted is the hangup reason of calls closed by crash recovery.
const ReasonInterrupted = "interrupted"

// DriverSQLite is the only driver implemented.
const DriverSQLite = "sqlite"

// DefaultQueueSize is the event queue length used when Options.QueueSize is 0.
const DefaultQueueSize = 65536

// Options for Open.
type Options struct {
	// Driver selects the database: "sqlite" (also the default when empty).
	// Anything else fails with ErrUnsupportedDriver.
	Driver string
	// Path is the SQLite database file.
	Path string
	// QueueSize is the event queue length (default 65536). When the queue is
	// full AppendEvent blocks rather than losing events.
	QueueSize int
	// Logger receives write errors and recovery notes; may be nil. Only call
	// IDs are logged, never caller numbers (R12).
	Logger *slog.Logger
}

// Stats are counters for metrics.
type Stats struct {
	// RecordsWritten counts records committed by WriteRecord (records made
	// by crash recovery are counted by RecoveredCount instead).
	RecordsWritten uint64
	// EventsWritten counts events committed to the journal.
	EventsWritten uint64
	// WriteErrors counts events and records that could not be committed
	// (after one retry) and are therefore lost.
	WriteErrors uint64
	// QueueDepth is the number of items waiting for the writer.
	QueueDepth int
}

// HangupAgent: the agent hung up first (the caller still ends the call).
const HangupAgent = "agent"

// RingAttempt is one agent rung for a queued caller.
type RingAttempt struct {
	Agent  string `json:"agent"`
	RingMS int64  `json:"ring_ms"`
	// Result: answered, no_answer, busy, rejected, cancelled, failed.
	Result string `json:"result"`
}

// Speech is what the analysers measured on a call (R9): per party, and
// for the conversation between them. Durations in milliseconds in JSON.
type Speech struct {
	Caller PartySpeech  `json:"caller"`
	Agent  *PartySpeech `json:"agent,omitempty"` // nil for IVR-only calls
	// OvertalkMS: both talking at once. DeadAirMS: nobody talking while
	// connected and not on hold (IVR-only: the caller silent while no
	// prompt plays); LongestDeadAirMS and DeadAirEvents (stretches past
	// the alert threshold) with it.
	OvertalkMS       int64 `json:"overtalk_ms"`
	DeadAirMS        int64 `json:"dead_air_ms"`
	LongestDeadAirMS int64 `json:"longest_dead_air_ms"`
	DeadAirEvents    int   `json:"dead_air_events"`
	// TalkRatio is the agent's share of all talk, 0..1 (0 without agent).
	TalkRatio float64 `json:"talk_ratio"`
	// AgentLongestSilenceWhileCallerTalksMS: the longest the agent said
	// nothing while the caller talked at length (no acknowledgement).
	AgentLongestSilenceWhileCallerTalksMS int64 `json:"agent_longest_silence_while_caller_talks_ms"`
}

// PartySpeech is one party's speech on the call.
type PartySpeech struct {
	TalkMS    int64 `json:"talk_ms"`
	SilenceMS int64 `json:"silence_ms"`
	Segments  int   `json:"segments"`
	Syllables int   `json:"syllables"`
	// PaceSPM is syllables per minute of speech (= characters per minute
	// for Mandarin); 0 when there was too little speech to say.
	PaceSPM float64 `json:"pace_spm"`
}

// TransferAttempt is one transfer an agent started (R4): how (blind: a
// REFER the server supervised; attended: REFER with Replaces after the
// agent's consultation call; keypad: *2 + number), from whom to whom, how
// it ended (completed, no_answer, busy, declined, hung_up, aborted,
// failed, abandoned, not_found), how long the target rang, agent and
// target consulted, and the whole transfer took.
type TransferAttempt struct {
	Kind      string `json:"kind"`
	From      string `json:"from"`
	To        string `json:"to"`
	Result    string `json:"result"`
	RingMS    int64  `json:"ring_ms"`
	ConsultMS int64  `json:"consult_ms"`
	TotalMS   int64  `json:"total_ms"`
}
