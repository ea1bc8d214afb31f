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
	cfg legConfig

	// 300–2500 Hz band-pass: high-pass then low-pass section.
	hp, lp biquad

	// Decimated band-passed samples for the voicing check: lagMax samples
	// of history, then the current frame.
	dec  [decWindow]float64
	nDec int // valid samples of the current frame in dec[lagMax:]

	// Noise floor (minimum statistics).
	blockMins [floorBlocks]float64
	blockMin  float64
	blockFill int
	blockIdx  int
	floor     float64
	level     float64 // band level of the last frame, dBFS
	started   bool

	// Intensity envelope and nucleus picking, in 10 ms steps.
	sub         [envSteps]float64 // the last step powers, for smoothing
	subSum      float64           // their sum
	subIdx      int               // next slot of sub
	step        int64             // index of the next 10 ms step
	rising      bool              // looking for a peak (true) or a dip (false)
	extreme     float64           // highest level since the last dip, or lowest since the last peak
	extremeAt   int64             // step of the extreme
	extremeOK   bool              // the peak is above the activity threshold and voiced
	lastNucleus int64             // step of the last counted nucleus
	voiced      int8              // voicing of the current frame: 0 unknown, 1 yes, -1 no

	// Voice activity with hysteresis.
	talking  bool
	run      int   // consecutive active frames while not talking
	quiet    int   // consecutive inactive frames while talking (hangover)
	sinceEnd int64 // frames since the last talk frame, while not talking
	flipAt   int64 // frame count when Talking last changed
	count    int64 // frames seen

	// Labels of the last 64 frames, newest in bit 0: talk (hist) and
	// nucleus (nuc). A label is final once it is SettleLag frames old.
	hist, nuc uint64

	tally legTally
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
		hp:          newHighPass(bandLow),
		lp:          newLowPass(bandHigh),
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
	if l.hp.idle() && l.lp.idle() && allZero(pcm) {
		// Digital silence into a filter at rest gives zero output: skip
		// the filter. Decoded G.711 silence, the quiet side of a call, is
		// common.
		clear(l.dec[lagMax : lagMax+n/2])
	} else {
		p0, p1 = l.bandPass(pcm, half)
	}
	l.nDec = n / 2

	p0 /= float64(half) * fullScale
	if n > half {
		p1 /= float64(n-half) * fullScale
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

// bandPass filters pcm to 300–2500 Hz, returns the summed power of its
// first half samples and of the rest, and writes the output decimated 2:1
// into the voicing buffer.
func (l *LegAnalyser) bandPass(pcm []int16, half int) (p0, p1 float64) {
	// Band-pass, step powers and 2:1 decimation in one pass. The filter
	// state lives in locals so the loop runs in registers.
	hp, lp := l.hp, l.lp
	cur := l.dec[lagMax:]
	var prev float64
	hx1, hx2, hy1, hy2 := hp.x1, hp.x2, hp.y1, hp.y2
	ly1, ly2 := lp.y1, lp.y2
	for i, s := range pcm {
		x := float64(s)
		// The recursive term goes last, so everything else is computed
		// while the previous output is still in flight.
		y := hp.b0*x + hp.b1*hx1 + hp.b2*hx2 - hp.a2*hy2 - hp.a1*hy1
		hx2, hx1, hy2 = hx1, x, hy1
		hy1 = y
		// The low-pass input is the high-pass output, whose history is hy1, hy2.
		z := lp.b0*y + lp.b1*hy2 + lp.b2*lp.x2 - lp.a2*ly2 - lp.a1*ly1
		lp.x2 = hy2
		ly2, ly1 = ly1, z
		if i < half {
			p0 += z * z
		} else {
			p1 += z * z
		}
		if i&1 == 0 {
			prev = z
		} else {
			cur[i>>1] = 0.5 * (prev + z)
		}
	}
	hp.x1, hp.x2, hp.y1, hp.y2 = hx1, hx2, hy1, hy2
	lp.x1, lp.y1, lp.y2 = hy1, ly1, ly2
	hp.flush()
	lp.flush()
	l.hp, l.lp = hp, lp
	return p0, p1
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
			l.extremeOK = s > thr && l.isVoiced()
			return
		}
		if s < l.extreme-dip {
			if l.extremeOK && l.extremeAt-l.lastNucleus >= int64(l.cfg.nucleusGap) {
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
		l.extremeOK = s > thr && l.isVoiced()
	}
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

// isVoiced reports whether the current frame is periodic at a pitch lag,
// computing it at most once per frame and only for frames that may hold a
// nucleus, which keeps the autocorrelation off most frames.
func (l *LegAnalyser) isVoiced() bool {
	if l.voiced == 0 {
		l.voiced = -1
		if periodicity(l.dec[:lagMax+l.nDec], l.nDec) >= l.cfg.voicing {
			l.voiced = 1
		}
	}
	return l.voiced > 0
}

// periodicity returns the largest normalised autocorrelation of the last n
// samples of x with x delayed by lagMin..lagMax samples.
func periodicity(x []float64, n int) float64 {
	if n < lagMin*2 || len(x) < lagMax+n {
		return 0
	}
	cur := x[lagMax : lagMax+n]
	var e0 float64
	for _, v := range cur {
		e0 += v * v
	}
	if e0 < 1e-3 {
		return 0
	}
	// Energy of the delayed window, slid one sample per lag.
	var ek float64
	for _, v := range x[lagMax-lagMin : lagMax-lagMin+n] {
		ek += v * v
	}
	best := 0.0
	for k := lagMin; k <= lagMax; k++ {
		if k > lagMin {
			a, b := x[lagMax-k], x[lagMax-k+n]
			ek += a*a - b*b
		}
		num := dot(cur, x[lagMax-k:lagMax-k+n])
		if num <= 0 || ek <= 0 {
			continue
		}
		// Compare squares to skip a square root per lag.
		if num*num > best*best*e0*ek {
			best = num / math.Sqrt(e0*ek)
		}
	}
	return min(best, 1)
}

// dot is a four-way unrolled dot product; the separate accumulators let
// the CPU overlap the multiplications.
func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
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
