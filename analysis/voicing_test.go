package analysis

import (
	"math"
	"testing"
	"time"
)

// refPeriodicity is the voicing measure as defined: the largest normalised
// autocorrelation of the last n samples of x with x delayed by
// lagMin..lagMax samples, over every lag. periodic must agree with
// refPeriodicity(x, n) >= thr.
func refPeriodicity(x16 []int16, n int) float64 {
	if n < lagMin*2 || len(x16) < lagMax+n {
		return 0
	}
	// Sums of up to decFrame int16 products are exact in float64.
	x := make([]float64, len(x16))
	for i, v := range x16 {
		x[i] = float64(v)
	}
	cur := x[lagMax : lagMax+n]
	var e0 float64
	for _, v := range cur {
		e0 += v * v
	}
	if e0 == 0 {
		return 0
	}
	best := 0.0
	for k := lagMin; k <= lagMax; k++ {
		var num, ek float64
		for i, v := range cur {
			d := x[lagMax-k+i]
			num += v * d
			ek += d * d
		}
		if num > 0 && ek > 0 {
			best = max(best, num/math.Sqrt(e0*ek))
		}
	}
	return min(best, 1)
}

// voicingWindows returns the voicing windows a LegAnalyser builds from
// pcm, one per frame, as the band-passed and decimated signal.
func voicingWindows(pcm []int16) [][decWindow]int16 {
	l := NewLeg()
	var out [][decWindow]int16
	for i := 0; i+FrameSamples <= len(pcm); i += FrameSamples {
		var w [decWindow]int16
		copy(w[:], l.dec[:lagMax])
		l.Frame(pcm[i : i+FrameSamples])
		copy(w[lagMax:], l.dec[lagMax:])
		out = append(out, w)
	}
	return out
}

func TestPeriodicAgreesWithTheFullAutocorrelation(t *testing.T) {
	pcm := concat(
		syllables(seconds(2), 180, -6),
		whiteNoise(seconds(1), -30, 9),
		tone(seconds(0.5), 150, -10), // pitch lag near the longest
		tone(seconds(0.5), 390, -10), // near the shortest
		mix(syllables(seconds(2), 120, -6), whiteNoise(seconds(2), -30, 10)),
	)
	if f, ok := corpusFile(t, "human/h05_r220_pink20.wav"); ok {
		pcm = concat(pcm, f)
	}
	thresholds := []float64{-1, 0, 0.2, 0.4, 0.5, 0.6, 0.8, 0.95, 1}
	var yes, no int
	for i, w := range voicingWindows(pcm) {
		for _, n := range []int{decFrame, decFrame - 1, 2 * lagMin, 2*lagMin - 1} {
			x := w[decFrame-n:]
			p := refPeriodicity(x, n)
			for _, thr := range thresholds {
				want := p >= thr
				if math.Abs(p-thr) < 1e-12 {
					continue // a tie: rounding may fall either way
				}
				if got := periodic(x, n, thr); got != want {
					t.Fatalf("window %d of %d samples: periodic(thr %v) = %v, periodicity is %v", i, n, thr, got, p)
				}
				if thr == 0.5 && n == decFrame {
					if want {
						yes++
					} else {
						no++
					}
				}
			}
		}
	}
	if yes < 20 || no < 20 {
		t.Fatalf("only %d voiced and %d unvoiced windows: the signals test too little", yes, no)
	}
}

func TestPeriodicFindsEveryPitchLag(t *testing.T) {
	for lag := lagMin; lag <= lagMax; lag++ {
		// A pulse train with a period of lag decimated samples, so the
		// only correlated lag in range is lag itself or its multiples.
		x := make([]int16, decWindow)
		for i := len(x) - 1; i >= 0; i -= lag {
			x[i] = 1000
			if i >= 1 {
				x[i-1] = 500
			}
		}
		if !periodic(x, decFrame, 0.9) {
			t.Errorf("period of %d samples (%.0f Hz) not voiced", lag, float64(decRate)/float64(lag))
		}
	}
}

func TestVoicingIsJudgedOnThePeakFrame(t *testing.T) {
	// Each syllable's loudest part is either a vowel (a tone) or a hiss
	// (noise), followed by a 6 dB quieter tail of the other kind. The
	// peak is confirmed only in the tail, frames after it was reached;
	// whether it is a nucleus depends on the voicing where it was.
	syllable := func(peak, tail []int16) []int16 {
		return concat(peak, tail, silence(seconds(0.15)))
	}
	vowel := func(d, dBFS float64) []int16 { return tone(seconds(d), 500, dBFS) }
	hiss := func(d, dBFS float64, seed uint64) []int16 {
		// White noise carries about 2.6 dB less band power than a sine
		// of the same RMS, and a sine's RMS is 3 dB under its peak.
		return whiteNoise(seconds(d), dBFS-3+2.6, seed)
	}
	var voicedPeaks, unvoicedPeaks []int16
	for i := range 20 {
		voicedPeaks = concat(voicedPeaks, syllable(vowel(0.06, -10), hiss(0.1, -16, uint64(i))))
		unvoicedPeaks = concat(unvoicedPeaks, syllable(hiss(0.06, -10, uint64(i)), vowel(0.1, -16)))
	}
	for _, c := range []struct {
		name     string
		pcm      []int16
		min, max int
	}{
		{"voiced peak, unvoiced tail", voicedPeaks, 18, 20},
		{"unvoiced peak, voiced tail", unvoicedPeaks, 0, 2},
	} {
		l := NewLeg()
		feed(l, concat(silence(seconds(0.5)), c.pcm, silence(seconds(1))))
		s := l.Summary()
		if s.Talk < 5*time.Second || s.Syllables < c.min || s.Syllables > c.max {
			t.Errorf("%s: %d syllables in %v of talk, want %d..%d", c.name, s.Syllables, s.Talk, c.min, c.max)
		}
	}
}

// BenchmarkPeriodic is one voicing decision on a frame of voiced speech
// (the search stops at the first lag over the threshold) and on one of
// noise (every lag is searched).
func BenchmarkPeriodic(b *testing.B) {
	for _, c := range []struct {
		name string
		pcm  []int16
	}{
		{"voiced", syllables(seconds(1), 60, -6)},
		{"noise", whiteNoise(seconds(1), -20, 4)},
	} {
		ws := voicingWindows(c.pcm)
		w := ws[len(ws)/2]
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				periodic(w[:], decFrame, 0.5)
			}
		})
	}
}
