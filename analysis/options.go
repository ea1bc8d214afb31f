package analysis

import (
	"fmt"
	"time"
)

// Frame geometry. The analysers work on the media engine's 20 ms frames of
// 8 kHz linear PCM.
const (
	// SampleRate is the sample rate of the frames, in Hz.
	SampleRate = 8000
	// FrameSamples is the number of samples in one 20 ms frame.
	FrameSamples = 160
	// FrameDuration is the time one frame (one Frame or Silence call, one
	// Tick) stands for.
	FrameDuration = 20 * time.Millisecond
	// SettleLag is how many frames after its arrival a frame's talk or
	// silence label becomes final (it must outlast the longest hangover).
	// Accounting runs that far behind the live state; summaries include
	// the unsettled frames, resolved as if the leg ended there.
	SettleLag = 50
)

// EnglishSyllablesPerWord converts syllables per minute into an
// approximate words per minute for English: conversational English
// averages about 1.4 syllables per word (read text runs nearer 1.5).
const EnglishSyllablesPerWord = 1.4

// legConfig holds the few tunable parameters of a LegAnalyser. Each has a
// physical meaning; the defaults were chosen from phonetics and checked on
// the labelled speech in bench/README.md, not fitted to it.
type legConfig struct {
	margin        float64 // dB above the noise floor for an active frame
	minLevel      float64 // dBFS below which a frame is never active
	dip           float64 // dB a nucleus must stand above its neighbouring dips
	voicing       float64 // normalised autocorrelation a nucleus needs
	minPaceFrames int     // talk frames needed before a pace is reported

	// The options bound these to SettleLag frames or 50 steps, so a byte
	// holds each and the config takes six words instead of eight: it is
	// part of every LegAnalyser.
	onset      int8 // frames of activity before talk is confirmed
	hangover   int8 // frames of inactivity before talk ends
	nucleusGap int8 // minimum distance of nuclei, in 10 ms steps
}

// The frame counts above and the LegAnalyser counters that run up to
// them stop at SettleLag, which the 64-frame label history already keeps
// small; this fails to compile if it ever outgrows an int8.
const _ = int8(SettleLag)

func defaultLegConfig() legConfig {
	return legConfig{
		onset:    3,  // 60 ms: shorter than any syllable, longer than a click
		hangover: 15, // 300 ms: bridges stop closures and breaths inside a phrase
		margin:   9,
		minLevel: -55,
		// 3 dB: a nucleus is a clear swell of loudness; the dip between
		// two syllables of fluent speech is rarely shallower.
		dip: 3,
		// 100 ms: no speaker produces more than ten syllables a second.
		nucleusGap: 10,
		voicing:    0.5,
		// 3 s: a pace from fewer than ~6 syllables is noise.
		minPaceFrames: 150,
	}
}

// Option configures a LegAnalyser.
type Option func(*legConfig) error

func frames(d time.Duration) int {
	return int((d + FrameDuration/2) / FrameDuration)
}

// WithOnset sets how long a leg must be active before talk is confirmed
// (default 60 ms; 20 ms to 500 ms). The confirmed talk is credited from its
// first active frame.
func WithOnset(d time.Duration) Option {
	return func(c *legConfig) error {
		n := frames(d)
		if n < 1 || n > SettleLag/2 {
			return fmt.Errorf("%w: onset %v not in 20ms..500ms", ErrInvalidOption, d)
		}
		c.onset = int8(n)
		return nil
	}
}

// WithHangover sets how long a leg must be inactive before talk ends
// (default 300 ms; 20 ms to SettleLag frames). Pauses shorter than this are
// part of the talk.
func WithHangover(d time.Duration) Option {
	return func(c *legConfig) error {
		n := frames(d)
		if n < 1 || n > SettleLag {
			return fmt.Errorf("%w: hangover %v not in 20ms..%v", ErrInvalidOption, d, SettleLag*FrameDuration)
		}
		c.hangover = int8(n)
		return nil
	}
}

// WithMargin sets how many dB above the noise floor a frame must be to be
// active (default 9 dB; 3 to 40).
func WithMargin(dB float64) Option {
	return func(c *legConfig) error {
		if !(dB >= 3 && dB <= 40) {
			return fmt.Errorf("%w: margin %v dB not in 3..40", ErrInvalidOption, dB)
		}
		c.margin = dB
		return nil
	}
}

// WithMinLevel sets the band-limited level in dBFS below which a frame is
// never active, whatever the noise floor (default -55 dBFS; -90 to -20).
// It keeps a digitally silent line from turning faint hiss into talk.
func WithMinLevel(dBFS float64) Option {
	return func(c *legConfig) error {
		if !(dBFS >= -90 && dBFS <= -20) {
			return fmt.Errorf("%w: minimum level %v dBFS not in -90..-20", ErrInvalidOption, dBFS)
		}
		c.minLevel = dBFS
		return nil
	}
}

// WithNucleusDip sets how many dB the intensity envelope must rise and fall
// around a syllable nucleus (default 3 dB; 1 to 20).
func WithNucleusDip(dB float64) Option {
	return func(c *legConfig) error {
		if !(dB >= 1 && dB <= 20) {
			return fmt.Errorf("%w: nucleus dip %v dB not in 1..20", ErrInvalidOption, dB)
		}
		c.dip = dB
		return nil
	}
}

// WithNucleusGap sets the minimum time between two syllable nuclei
// (default 100 ms; 30 ms to 500 ms).
func WithNucleusGap(d time.Duration) Option {
	return func(c *legConfig) error {
		n := int((d + 5*time.Millisecond) / (10 * time.Millisecond))
		if n < 3 || n > 50 {
			return fmt.Errorf("%w: nucleus gap %v not in 30ms..500ms", ErrInvalidOption, d)
		}
		c.nucleusGap = int8(n)
		return nil
	}
}

// WithVoicing sets the normalised autocorrelation (0..1) at a pitch lag
// that a nucleus needs to count as voiced (default 0.5).
func WithVoicing(r float64) Option {
	return func(c *legConfig) error {
		if !(r >= 0 && r <= 1) {
			return fmt.Errorf("%w: voicing %v not in 0..1", ErrInvalidOption, r)
		}
		c.voicing = r
		return nil
	}
}

// WithMinPaceSpeech sets how much talk a leg needs before its summary
// reports a pace (default 3 s); below it the pace is 0.
func WithMinPaceSpeech(d time.Duration) Option {
	return func(c *legConfig) error {
		if d < 0 {
			return fmt.Errorf("%w: minimum pace speech %v is negative", ErrInvalidOption, d)
		}
		c.minPaceFrames = frames(d)
		return nil
	}
}

// convConfig holds the parameters of a Conversation.
type convConfig struct {
	deadAir int // frames of dead air that make an event
	turnGap int // frames of caller silence that end the caller's turn
}

func defaultConvConfig() convConfig {
	return convConfig{
		deadAir: 400, // 8 s (issue 5; R9: "客户以为电话已经挂断")
		// 1.5 s: longer than the pauses between a speaker's sentences,
		// short enough that a caller who stops talking has yielded the turn.
		turnGap: 75,
	}
}

// ConvOption configures a Conversation.
type ConvOption func(*convConfig) error

// WithDeadAirThreshold sets how long dead air must last to be an event and
// raise DeadAirStarted (default 8 s; at least 1 s).
func WithDeadAirThreshold(d time.Duration) ConvOption {
	return func(c *convConfig) error {
		n := frames(d)
		if n < 50 {
			return fmt.Errorf("%w: dead-air threshold %v below 1s", ErrInvalidOption, d)
		}
		c.deadAir = n
		return nil
	}
}

// WithTurnGap sets how long the caller must be silent before their turn is
// over, for the agent's no-acknowledgement measure (default 1.5 s; 0.2 s to
// 10 s). Agent silence while the caller pauses for less than this still
// counts as not acknowledging; a longer pause starts a new caller turn.
func WithTurnGap(d time.Duration) ConvOption {
	return func(c *convConfig) error {
		n := frames(d)
		if n < 10 || n > 500 {
			return fmt.Errorf("%w: turn gap %v not in 200ms..10s", ErrInvalidOption, d)
		}
		c.turnGap = n
		return nil
	}
}
