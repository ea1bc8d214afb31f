package analysis

import "time"

// LegSummary is one party's figures for the call record (R9).
type LegSummary struct {
	// Talk is the time the party talked; pauses shorter than the hangover
	// inside a phrase count as talk.
	Talk time.Duration
	// Silence is the rest of the leg's time. Talk + Silence is the time
	// of every frame given through Frame and Silence.
	Silence time.Duration
	// Missing is the time reported as carrying no audio (lost packets,
	// silence suppression, comfort noise). It is mostly silence, but a gap
	// shorter than the hangover inside talk is counted as talk, like any
	// other short pause.
	Missing time.Duration
	// Segments is the number of separate stretches of talk.
	Segments int
	// Syllables is the number of syllable nuclei counted in the talk.
	Syllables int
	// Pace is syllables per minute of talk: characters per minute for
	// Mandarin (R9: about 120). It is 0 when there was too little talk to
	// tell (WithMinPaceSpeech, default 3 s).
	Pace float64
}

// WordsPerMinute approximates English words per minute from the pace,
// dividing by EnglishSyllablesPerWord.
func (s LegSummary) WordsPerMinute() float64 {
	return s.Pace / EnglishSyllablesPerWord
}

// ConversationSummary is a call's conversation figures for the call record
// (R9). Talk, overtalk and dead air cover the time the Conversation was
// ticked, without the time on hold; Caller and Agent are the whole legs.
type ConversationSummary struct {
	// Duration is the time ticked, hold included.
	Duration time.Duration
	// Held is the time on hold, excluded from the measures below.
	Held time.Duration
	// CallerTalk and AgentTalk are each party's talk while connected.
	CallerTalk, AgentTalk time.Duration
	// Overtalk is the time both parties talked at once.
	Overtalk time.Duration
	// DeadAir is the time neither party talked and no prompt played.
	DeadAir time.Duration
	// LongestDeadAir is the longest single stretch of dead air.
	LongestDeadAir time.Duration
	// DeadAirEvents is the number of dead airs that reached the threshold
	// (WithDeadAirThreshold, default 8 s).
	DeadAirEvents int
	// LongestNoAck is the longest time the caller held the floor (pauses
	// shorter than the turn gap included) without a word from the agent:
	// R9's "give responses while the customer talks at length". 0 for an
	// IVR-only call.
	LongestNoAck time.Duration
	// TalkRatio is AgentTalk / (AgentTalk + CallerTalk); 0 when nobody
	// talked or there is no agent.
	TalkRatio float64
	// Caller and Agent are the legs' own summaries (the agent's is zero
	// for an IVR-only call).
	Caller, Agent LegSummary
}
