package analysis

import (
	"math"
	"math/rand/v2"
)

// Synthetic signals for the tests and benchmarks. All are deterministic.

// seconds returns the number of samples in d seconds.
func seconds(d float64) int { return int(d * SampleRate) }

// silence returns n zero samples.
func silence(n int) []int16 { return make([]int16, n) }

// whiteNoise returns n samples of Gaussian white noise at an RMS level in
// dBFS.
func whiteNoise(n int, dBFS float64, seed uint64) []int16 {
	r := rand.New(rand.NewPCG(seed, 1))
	rms := 32768 * math.Pow(10, dBFS/20)
	out := make([]int16, n)
	for i := range out {
		out[i] = clip(r.NormFloat64() * rms)
	}
	return out
}

// tone returns n samples of a sine at f Hz and a peak level in dBFS.
func tone(n int, f, dBFS float64) []int16 {
	a := 32767 * math.Pow(10, dBFS/20)
	out := make([]int16, n)
	for i := range out {
		out[i] = clip(a * math.Sin(2*math.Pi*f*float64(i)/SampleRate))
	}
	return out
}

// syllables returns n samples of a voiced, vowel-like signal (a 140 Hz
// pulse train shaped by two formant resonances near 700 and 1200 Hz) whose
// amplitude rises and falls once per syllable at rate syllables per
// minute, peaking at peak dBFS.
func syllables(n int, rate, peak float64) []int16 {
	const f0 = 140.0
	period := SampleRate / f0
	// Two resonators (formants) excited by a pulse train.
	type reson struct{ a1, a2, y1, y2 float64 }
	mk := func(f, bw float64) reson {
		r := math.Exp(-math.Pi * bw / SampleRate)
		return reson{a1: 2 * r * math.Cos(2*math.Pi*f/SampleRate), a2: -r * r}
	}
	f1, f2 := mk(700, 110), mk(1200, 130)
	raw := make([]float64, n)
	maxAbs := 0.0
	next := 0.0
	for i := range raw {
		x := 0.0
		if float64(i) >= next {
			x = 1
			next += period
		}
		y1 := x + f1.a1*f1.y1 + f1.a2*f1.y2
		f1.y2, f1.y1 = f1.y1, y1
		y2 := y1 + f2.a1*f2.y1 + f2.a2*f2.y2
		f2.y2, f2.y1 = f2.y1, y2
		// Syllable envelope: a raised cosine per syllable period, so the
		// level falls to zero between syllables like a consonant closure.
		ph := math.Mod(float64(i)*rate/60/SampleRate, 1)
		env := 0.5 - 0.5*math.Cos(2*math.Pi*ph)
		raw[i] = y2 * env * env
		maxAbs = max(maxAbs, math.Abs(raw[i]))
	}
	a := 32767 * math.Pow(10, peak/20) / maxAbs
	out := make([]int16, n)
	for i, v := range raw {
		out[i] = clip(v * a)
	}
	return out
}

// mix adds b into a (sample by sample, clipped) and returns a.
func mix(a, b []int16) []int16 {
	for i := range min(len(a), len(b)) {
		a[i] = clip(float64(a[i]) + float64(b[i]))
	}
	return a
}

func concat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func clip(v float64) int16 {
	return int16(max(-32768, min(32767, math.Round(v))))
}

// feed gives pcm to l frame by frame (a partial last frame is dropped).
func feed(l *LegAnalyser, pcm []int16) {
	for i := 0; i+FrameSamples <= len(pcm); i += FrameSamples {
		l.Frame(pcm[i : i+FrameSamples])
	}
}
