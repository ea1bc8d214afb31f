package analysis

import (
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Band edges of the intensity measure, in Hz.
const (
	bandLow  = 300
	bandHigh = 2500
)

// Noise floor by minimum statistics: the floor is the lowest frame level
// of the last floorBlocks blocks of floorBlockFrames frames (3 s). Speech
// dips to near the floor between syllables well within that, so the floor
// does not climb onto continuous talk; a noisier line is adopted within
// 3 s, a quieter one at once.
const (
	floorBlocks      = 6
	floorBlockFrames = 25
	// initialFloor caps the floor before any history exists, so a call
	// that opens with speech does not take that speech for the noise. It
	// is 15 dB under ordinary telephone speech (-20 dBFS) and above any
	// line noise a caller would still talk over.
	initialFloor = -35.0
	// silentLevel is the level, in dBFS, given to digital silence and to
	// missing frames (log of zero).
	silentLevel = -100.0
)

// Voicing by normalised autocorrelation of the band-passed signal,
// decimated to 4 kHz, at pitch lags of 70–400 Hz.
const (
	decRate   = SampleRate / 2
	lagMin    = decRate / 400 // 10 samples: 400 Hz
	lagMax    = decRate / 70  // 57 samples: 70 Hz
	decFrame  = FrameSamples / 2
	decWindow = lagMax + decFrame
)

// envSteps is the length, in 10 ms steps, of the box that smooths the
// intensity envelope (30 ms): it passes the syllable rhythm (≤ 8 Hz) and
// removes the ripple of the pitch periods (≥ 70 Hz, a null at 33 Hz and
// more than 10 dB of attenuation above it).
const envSteps = 3

// fullScale is the power of a full-scale square wave, the 0 dBFS reference.
const fullScale = 32768.0 * 32768.0

// LegAnalyser measures one direction of one call leg: voice activity, talk
// and silence time, talk segments and syllable nuclei. Feed it every 20 ms
// frame of the leg, with Frame for decoded audio and Silence for frames
// that carried none. It is not safe for concurrent use: the media engine
// calls it from the one goroutine that handles the leg's frames.
type LegAnalyser struct {
	// The fields come in two runs, eight-byte ones first and then the
	// sample windows with the narrow counters and flags, so that no field
	// is padded out to a word: the analyser then fits the 896-byte size
	// class, and a hotline holds two per bridged call, thousands at once.
	// Each counter's comment gives the bound its type relies on.

	cfg legConfig

	// 300–2500 Hz band-pass (filter.go).
	bp bandState

	// Noise floor (minimum statistics).
	blockMins [floorBlocks]float64
	blockMin  float64
	floor     float64
	level     float64 // band level of the last frame, dBFS

	// Intensity envelope and nucleus picking, in 10 ms steps.
	sub          [envSteps]float64 // the last step powers, for smoothing
	subSum       float64           // their sum
	step         int64             // index of the next 10 ms step
	extreme      float64           // highest level since the last dip, or lowest since the last peak
	extremeAt    int64             // step of the extreme
	lastNucleus  int64             // step of the last counted nucleus
	extremeFrame int64             // frame count when the extreme was set (see peakWin)

	// Voice activity with hysteresis.
	sinceEnd int64 // frames since the last talk frame, while not talking
	flipAt   int64 // frame count when Talking last changed
	count    int64 // frames seen

	// Labels of the last 64 frames, newest in bit 0: talk (hist) and
	// nucleus (nuc). A label is final once it is SettleLag frames old.
	hist, nuc uint64

	tally legTally

	// Decimated band-passed samples for the voicing check: lagMax samples
	// of history, then the current frame. They are int16 at decScale,
	// which cannot overflow and resolves finer than G.711 (filter.go):
	// this window and peakWin are the bulk of a leg's memory, and a
	// hotline holds thousands of legs.
	dec [decWindow]int16

	// Voicing of the frame that holds the extreme, decided only when the
	// extreme is confirmed as a peak: most new extremes are overtaken by
	// a higher one within a frame or two, and the autocorrelation is the
	// dearest step of the analysis. peakWin keeps the voicing window of
	// frame extremeFrame once that frame is over, peakN its decimated
	// sample count.
	peakWin [decWindow]int16

	// Both are at most decFrame (80); int16 rather than int8 because
	// lagMax plus either, an index into the windows up to decWindow
	// (137), is computed in their type.
	nDec  int16 // valid samples of the current frame in dec[lagMax:]
	peakN int16

	blockFill int8 // at most floorBlockFrames (25)
	blockIdx  int8 // below floorBlocks (6)
	subIdx    int8 // next slot of sub, below envSteps (3)
	run       int8 // consecutive active frames while not talking; at most cfg.onset
	quiet     int8 // consecutive inactive frames while talking (hangover); at most cfg.hangover

	voiced        int8 // voicing of the current frame: 0 unknown, 1 yes, -1 no
	extremeVoiced int8 // voicing of the extreme's frame: 0 unknown, 1 yes, -1 no

	started   bool // the floor has its first level
	rising    bool // looking for a peak (true) or a dip (false)
	extremeOK bool // the peak is above the activity threshold and not known to be unvoiced
	talking   bool
}

// legTally is the settled accounting of a leg.
type legTally struct {
	talk, silence, missing int64
	segments, syllables    int
	prev                   bool
}

func (t *legTally) add(talk, nucleus bool) {
	if talk {
		t.talk++
		if !t.prev {
			t.segments++
		}
		if nucleus {
			t.syllables++
		}
	} else {
		t.silence++
	}
	t.prev = talk
}

// NewLeg returns a LegAnalyser. An option with an invalid value is logged
// and its default kept; use NewLegChecked to get the error instead.
func NewLeg(opts ...Option) *LegAnalyser {
	cfg := defaultLegConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			slog.Warn("analysis: option ignored", "err", err)
		}
	}
	return newLeg(cfg)
}

// NewLegChecked is NewLeg that returns the first invalid option as an
// error wrapping ErrInvalidOption.
func NewLegChecked(opts ...Option) (*LegAnalyser, error) {
	cfg := defaultLegConfig()
	for i, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("leg option %d: %w", i, err)
		}
	}
	return newLeg(cfg), nil
}

func newLeg(cfg legConfig) *LegAnalyser {
	return &LegAnalyser{
		cfg:         cfg,
		floor:       initialFloor,
		level:       silentLevel,
		blockMin:    math.Inf(1),
		rising:      true,
		extreme:     silentLevel,
		lastNucleus: -1 << 40,
	}
}

// Frame analyses one 20 ms frame of decoded audio (FrameSamples samples).
// Samples beyond FrameSamples are ignored; a shorter frame is analysed as
// given and still counts as one frame; an empty one counts as Silence(1).
// It does not allocate.
func (l *LegAnalyser) Frame(pcm []int16) {
	if len(pcm) == 0 {
		l.Silence(1)
		return
	}
	if len(pcm) > FrameSamples {
		pcm = pcm[:FrameSamples]
	}
	n := len(pcm)
	half := (n + 1) / 2

	var p0, p1 float64
	switch {
	case l.bp.idle() && allZero(pcm):
		// Digital silence into a filter at rest gives zero output: skip
		// the filter. Decoded G.711 silence, the quiet side of a call, is
		// common.
		clear(l.dec[lagMax : lagMax+n/2])
	case n == FrameSamples:
		p0, p1 = l.bp.bandPassFrame((*[FrameSamples]int16)(pcm), (*[decFrame]int16)(l.dec[lagMax:]))
	default:
		p0, p1 = l.bp.bandPassSamples(pcm, half, l.dec[lagMax:])
	}
	l.nDec = int16(n / 2)

	// The band-pass sums are of its output divided by bpGain.
	p0 *= bpGain * bpGain / (float64(half) * fullScale)
	if n > half {
		p1 *= bpGain * bpGain / (float64(n-half) * fullScale)
	} else {
		p1 = p0
	}
	level := toDB((p0 + p1) / 2)
	l.level = level
	l.updateFloor(level)
	thr := l.threshold()
	l.push(level > thr)

	l.voiced = 0
	l.envelope(p0, thr)
	l.envelope(p1, thr)

	// A candidate extreme in this frame needs this frame's window if it
	// is confirmed later.
	if l.extremeOK && l.extremeVoiced == 0 && l.extremeFrame == l.count {
		l.peakN = int16(copy(l.peakWin[:], l.dec[:lagMax+l.nDec]) - lagMax)
	}

	// Keep the last lagMax decimated samples as history for the next frame.
	copy(l.dec[:lagMax], l.dec[l.nDec:l.nDec+lagMax])
}

// Silence accounts frames that carried no audio: lost or late packets,
// silence-suppressed gaps and comfort-noise (RFC 3389) packets. They count
// as silence, end a syllable and leave the noise floor alone. Negative or
// zero counts are ignored. It does not allocate and costs at most a few
// hundred frames' bookkeeping however long the gap.
func (l *LegAnalyser) Silence(frames int) {
	if frames <= 0 {
		return
	}
	// After SettleLag+64 silent frames every piece of state has reached
	// its fixed point; the rest of a long gap is counted in bulk.
	const saturate = SettleLag + 64
	step := min(frames, saturate)
	for range step {
		l.level = silentLevel
		l.push(false)
		l.tally.missing++
		l.voiced = -1
		thr := l.threshold()
		l.envelope(0, thr)
		l.envelope(0, thr)
	}
	if rest := int64(frames - step); rest > 0 {
		// The state is saturated: not talking, all 64 label bits zero.
		l.count += rest
		l.sinceEnd += rest
		l.step += 2 * rest
		l.tally.silence += rest
		l.tally.missing += rest
	}
	// Clear the decimation history so voicing does not bridge the gap.
	clear(l.dec[:lagMax])
}

func allZero(pcm []int16) bool {
	var acc int16
	for _, s := range pcm {
		acc |= s
	}
	return acc == 0
}

func toDB(p float64) float64 {
	if p <= 1e-10 {
		return silentLevel
	}
	return 10 * math.Log10(p)
}

// threshold is the level a frame must exceed to be active.
func (l *LegAnalyser) threshold() float64 {
	return max(l.floor+l.cfg.margin, l.cfg.minLevel)
}

func (l *LegAnalyser) updateFloor(level float64) {
	if !l.started {
		l.started = true
		first := min(level, initialFloor)
		for i := range l.blockMins {
			l.blockMins[i] = first
		}
	}
	l.blockMin = min(l.blockMin, level)
	l.blockFill++
	if l.blockFill == floorBlockFrames {
		l.blockMins[l.blockIdx] = l.blockMin
		l.blockIdx = (l.blockIdx + 1) % floorBlocks
		l.blockMin = math.Inf(1)
		l.blockFill = 0
	}
	f := l.blockMin
	for _, m := range l.blockMins {
		f = min(f, m)
	}
	l.floor = f
}

// push runs the onset/hangover state machine for one frame and settles the
// frame that has become SettleLag old.
func (l *LegAnalyser) push(active bool) {
	l.count++
	l.hist <<= 1
	l.nuc <<= 1
	switch {
	case l.talking && active:
		l.hist |= 1
		l.quiet = 0
	case l.talking:
		// Hangover: provisionally talk, taken back if it runs out.
		l.hist |= 1
		l.quiet++
		if l.quiet >= l.cfg.hangover {
			l.hist &^= 1<<uint(l.quiet) - 1
			l.talking = false
			l.sinceEnd = int64(l.quiet)
			l.quiet = 0
			l.flipAt = l.count
		}
	case active:
		l.run++
		l.sinceEnd++
		if l.run >= l.cfg.onset {
			// Onset confirmed: the talk began at the first active frame.
			l.hist |= 1<<uint(l.run) - 1
			l.talking = true
			l.run = 0
			l.quiet = 0
			l.sinceEnd = 0
			l.flipAt = l.count
		}
	default:
		l.run = 0
		l.sinceEnd++
	}
	if l.count > SettleLag {
		l.tally.add(l.hist>>SettleLag&1 == 1, l.nuc>>SettleLag&1 == 1)
	}
}

// envelope feeds one 10 ms step of band power (linear, relative to full
// scale) to the nucleus picker.
func (l *LegAnalyser) envelope(p, thr float64) {
	// Box smoothing over envSteps steps; the result belongs to the
	// window's centre.
	l.subSum += p - l.sub[l.subIdx]
	l.sub[l.subIdx] = p
	l.subIdx = (l.subIdx + 1) % envSteps
	if l.subSum < 0 {
		l.subSum = 0 // rounding residue after loud steps leave the window
	}
	s := toDB(l.subSum / envSteps)
	at := l.step - envSteps/2
	l.step++

	dip := l.cfg.dip
	if l.rising {
		if s > l.extreme {
			l.extreme, l.extremeAt = s, at
			l.candidate(s > thr)
			return
		}
		if s < l.extreme-dip {
			if l.extremeOK && l.extremeAt-l.lastNucleus >= int64(l.cfg.nucleusGap) && l.extremeIsVoiced() {
				l.lastNucleus = l.extremeAt
				l.markNucleus(l.extremeAt)
			}
			l.rising = false
			l.extreme, l.extremeAt = s, at
		}
		return
	}
	if s < l.extreme {
		l.extreme, l.extremeAt = s, at
		return
	}
	if s > l.extreme+dip {
		l.rising = true
		l.extreme, l.extremeAt = s, at
		l.candidate(s > thr)
	}
}

// candidate records whether the new extreme may become a nucleus: it must
// be above the activity threshold and in a frame not known to be
// unvoiced. Its voicing is decided by extremeIsVoiced if it is confirmed
// as a peak.
func (l *LegAnalyser) candidate(above bool) {
	l.extremeOK = above && l.voiced >= 0
	l.extremeVoiced = l.voiced
	l.extremeFrame = l.count
}

// markNucleus records a syllable nucleus at a 10 ms step. It counts if its
// frame turns out to be talk.
func (l *LegAnalyser) markNucleus(step int64) {
	if step < 0 {
		return
	}
	off := l.count - 1 - step/2
	switch {
	case off < 0:
	case off < SettleLag:
		l.nuc |= 1 << uint(off)
	case off < 64:
		// Its frame is already settled (a long vowel): count it now if it
		// was talk.
		if l.hist>>uint(off)&1 == 1 {
			l.tally.syllables++
		}
	}
}

// extremeIsVoiced reports whether the frame of the current extreme is
// periodic at a pitch lag, computing it at most once per extreme (and per
// frame) from that frame's window: the current one while the frame is
// being analysed, the copy in peakWin after.
func (l *LegAnalyser) extremeIsVoiced() bool {
	if l.extremeVoiced != 0 {
		return l.extremeVoiced > 0
	}
	win, n := l.peakWin[:lagMax+l.peakN], int(l.peakN)
	current := l.extremeFrame == l.count
	if current {
		win, n = l.dec[:lagMax+l.nDec], int(l.nDec)
	}
	l.extremeVoiced = -1
	if periodic(win, n, l.cfg.voicing) {
		l.extremeVoiced = 1
	}
	if current {
		l.voiced = l.extremeVoiced
	}
	return l.extremeVoiced > 0
}

// Talking reports whether the leg is talking now. It turns on an onset
// after talk starts and off a hangover after it stops.
func (l *LegAnalyser) Talking() bool { return l.talking }

// StateDuration is how long Talking has had its current value.
func (l *LegAnalyser) StateDuration() time.Duration {
	return time.Duration(l.count-l.flipAt) * FrameDuration
}

// Quiet is how long ago the leg last talked: 0 while it talks, the time
// since the last talk frame during a hangover or silence. Unlike
// StateDuration it has no hangover lag, so it is what dead air is
// measured with.
func (l *LegAnalyser) Quiet() time.Duration {
	return time.Duration(l.quietFrames()) * FrameDuration
}

func (l *LegAnalyser) quietFrames() int64 {
	if l.talking {
		return int64(l.quiet)
	}
	return l.sinceEnd
}

// pending reports active frames whose onset is not yet decided.
func (l *LegAnalyser) pending() bool { return !l.talking && l.run > 0 }

// Level is the band-limited (300–2500 Hz) level of the last frame in dBFS,
// -100 for digital silence or a missing frame.
func (l *LegAnalyser) Level() float64 { return l.level }

// NoiseFloor is the current noise floor estimate in dBFS.
func (l *LegAnalyser) NoiseFloor() float64 { return l.floor }

// Frames is the number of frames seen, through Frame and Silence.
func (l *LegAnalyser) Frames() int64 { return l.count }

// resolved returns the label bits with a running hangover taken back, as
// they would settle if the leg ended now.
func (l *LegAnalyser) resolved() uint64 {
	if l.talking && l.quiet > 0 {
		return l.hist &^ (1<<uint(l.quiet) - 1)
	}
	return l.hist
}

// unsettled is how many of the newest frames have no final label yet.
func (l *LegAnalyser) unsettled() int {
	return int(min(l.count, SettleLag))
}

// Summary returns the leg's figures so far, counting the unsettled frames
// as if the leg ended now. It does not change the analyser.
func (l *LegAnalyser) Summary() LegSummary {
	t := l.tally
	h := l.resolved()
	for off := l.unsettled() - 1; off >= 0; off-- {
		t.add(h>>uint(off)&1 == 1, l.nuc>>uint(off)&1 == 1)
	}
	s := LegSummary{
		Talk:      time.Duration(t.talk) * FrameDuration,
		Silence:   time.Duration(t.silence) * FrameDuration,
		Missing:   time.Duration(t.missing) * FrameDuration,
		Segments:  t.segments,
		Syllables: t.syllables,
	}
	if t.talk > 0 && t.talk >= int64(l.cfg.minPaceFrames) {
		s.Pace = float64(t.syllables) / s.Talk.Minutes()
	}
	return s
}
