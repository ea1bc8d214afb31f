package analysis

import (
	"math"
	"testing"
)

// refBiquad is the band-pass as designed: a second-order section in
// direct form I with RBJ audio EQ cookbook coefficients, a high-pass at
// bandLow followed by a low-pass at bandHigh. The tests hold the fast
// band-pass (filter.go) to it.
type refBiquad struct {
	b0, b1, b2, a1, a2 float64
	x1, x2, y1, y2     float64
}

func refHighPass(f0 float64) refBiquad {
	w := 2 * math.Pi * f0 / SampleRate
	cw, alpha := math.Cos(w), math.Sin(w)/(2*(math.Sqrt2/2))
	a0 := 1 + alpha
	return refBiquad{
		b0: (1 + cw) / 2 / a0, b1: -(1 + cw) / a0, b2: (1 + cw) / 2 / a0,
		a1: -2 * cw / a0, a2: (1 - alpha) / a0,
	}
}

func refLowPass(f0 float64) refBiquad {
	w := 2 * math.Pi * f0 / SampleRate
	cw, alpha := math.Cos(w), math.Sin(w)/(2*(math.Sqrt2/2))
	a0 := 1 + alpha
	return refBiquad{
		b0: (1 - cw) / 2 / a0, b1: (1 - cw) / a0, b2: (1 - cw) / 2 / a0,
		a1: -2 * cw / a0, a2: (1 - alpha) / a0,
	}
}

func (f *refBiquad) step(x float64) float64 {
	y := f.b0*x + f.b1*f.x1 + f.b2*f.x2 - f.a1*f.y1 - f.a2*f.y2
	f.x2, f.x1, f.y2, f.y1 = f.x1, x, f.y1, y
	return y
}

// refBandPass returns the band power sums of pcm[:half] and pcm[half:]
// and the output decimated 2:1, through the biquad cascade.
func refBandPass(hp, lp *refBiquad, pcm []int16, half int) (p0, p1 float64, dec []float64) {
	var prev float64
	for i, s := range pcm {
		z := lp.step(hp.step(float64(s)))
		if i < half {
			p0 += z * z
		} else {
			p1 += z * z
		}
		if i&1 == 0 {
			prev = z
		} else {
			dec = append(dec, 0.5*(prev+z))
		}
	}
	return p0, p1, dec
}

func TestBandPassCoefficientsAreTheButterworthDesign(t *testing.T) {
	hp, lp := refHighPass(bandLow), refLowPass(bandHigh)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"high-pass b0", hpB0, hp.b0},
		{"high-pass b1 = -2 b0", -2 * hpB0, hp.b1},
		{"high-pass b2 = b0", hpB0, hp.b2},
		{"high-pass a1", hpA1, hp.a1},
		{"high-pass a2", hpA2, hp.a2},
		{"low-pass b0", lpB0, lp.b0},
		{"low-pass b1 = 2 b0", 2 * lpB0, lp.b1},
		{"low-pass b2 = b0", lpB0, lp.b2},
		{"low-pass a1", lpA1, lp.a1},
		{"low-pass a2", lpA2, lp.a2},
	} {
		if math.Abs(c.got-c.want) > 1e-15*math.Abs(c.want) {
			t.Errorf("%s = %v, the design gives %v", c.name, c.got, c.want)
		}
	}
}

func TestBandPassMatchesTheBiquadCascade(t *testing.T) {
	full := []int16{32767, -32768}
	for range 6 {
		full = append(full, full...)
	}
	signals := []struct {
		name string
		pcm  []int16
	}{
		{"voiced syllables", syllables(seconds(3), 180, -6)},
		{"white noise", whiteNoise(seconds(3), -40, 5)},
		{"1 kHz tone", tone(seconds(1), 1000, -3)},
		{"full-scale square wave then silence", concat(full, full, silence(seconds(1)))},
	}
	for _, sig := range signals {
		for _, n := range []int{FrameSamples, 159, 80, 1} {
			var bp bandState
			hp, lp := refHighPass(bandLow), refLowPass(bandHigh)
			dec := make([]int16, decFrame)
			var worst, peak float64 // largest difference, largest output
			var worstDec float64
			for i := 0; i+n <= len(sig.pcm); i += n {
				pcm := sig.pcm[i : i+n]
				half := (n + 1) / 2
				var q0, q1 float64
				if n == FrameSamples {
					q0, q1 = bp.bandPassFrame((*[FrameSamples]int16)(pcm), (*[decFrame]int16)(dec))
				} else {
					q0, q1 = bp.bandPassSamples(pcm, half, dec)
				}
				p0, p1, want := refBandPass(&hp, &lp, pcm, half)
				// Power per sample and decimated samples, as amplitudes.
				got := []float64{math.Sqrt(q0 * bpGain * bpGain / float64(n)), math.Sqrt(q1 * bpGain * bpGain / float64(n))}
				ref := []float64{math.Sqrt(p0 / float64(n)), math.Sqrt(p1 / float64(n))}
				for k := range ref {
					worst = max(worst, math.Abs(got[k]-ref[k]))
					peak = max(peak, math.Abs(ref[k]))
				}
				for k, v := range want {
					worstDec = max(worstDec, math.Abs(float64(dec[k])-decScale*v))
				}
			}
			// Rounding differences, relative to the signal's largest
			// output.
			worst /= peak
			if worst > 1e-12 {
				t.Errorf("%s in frames of %d: relative difference %g from the biquad cascade", sig.name, n, worst)
			}
			// The decimated samples are the cascade's, scaled and rounded
			// to the nearest integer.
			if worstDec > 0.5+1e-6 {
				t.Errorf("%s in frames of %d: decimated samples differ by %g from the biquad cascade's scaled by %v", sig.name, n, worstDec, decScale)
			}
		}
	}
}

// The voicing windows are int16 (decScale), so the band-pass must not be
// able to push a decimated sample past the int16 range, or a loud peak
// would wrap round and corrupt the voicing of the loudest syllables.
func TestDecimatedSamplesCannotOverflow(t *testing.T) {
	// The decimated output is a linear filter of the input: the
	// band-pass's impulse response averaged over pairs. Its absolute sum
	// bounds the output for any input within ±32768.
	const taps = 3 * FrameSamples // the response has decayed below 1e-30 by then
	hp, lp := refHighPass(bandLow), refLowPass(bandHigh)
	var g [taps]float64
	prev := 0.0
	for k := range g {
		x := 0.0
		if k == 0 {
			x = 1
		}
		h := lp.step(hp.step(x))
		g[k] = 0.5 * (h + prev)
		prev = h
	}
	var l1 float64
	for _, v := range g {
		l1 += math.Abs(v)
	}
	bound := decScale * 32768 * l1
	if bound >= math.MaxInt16 {
		t.Fatalf("decimated samples reach %.0f at full scale, over the int16 limit", bound)
	}
	t.Logf("absolute sum of the response %.4f: decimated samples within ±%.0f (%.1f %% of the int16 range)", l1, bound, 100*bound/math.MaxInt16)

	// The worst input: full scale with the sign of every tap, aimed at
	// the last decimated sample of the third frame. It must reach the
	// bound, unclipped.
	worst := make([]int16, taps)
	for k, v := range g {
		worst[taps-1-k] = 32767
		if v < 0 {
			worst[taps-1-k] = -32768
		}
	}
	square := func(f float64) []int16 {
		out := make([]int16, seconds(0.5))
		for i := range out {
			out[i] = 32767
			if math.Sin(2*math.Pi*f*(float64(i)+0.5)/SampleRate) < 0 {
				out[i] = -32768
			}
		}
		return out
	}
	for _, c := range []struct {
		name string
		pcm  []int16
	}{
		{"the sign of every tap", worst},
		{"square wave 200 Hz", square(200)},
		{"square wave 700 Hz", square(700)},
		{"square wave 2 kHz", square(2000)},
		{"white noise at full scale", whiteNoise(seconds(1), 0, 7)},
	} {
		var bp bandState
		var dec [decFrame]int16
		largest, last := 0, 0
		for i := 0; i+FrameSamples <= len(c.pcm); i += FrameSamples {
			bp.bandPassFrame((*[FrameSamples]int16)(c.pcm[i:i+FrameSamples]), &dec)
			for _, v := range dec {
				largest = max(largest, int(v), -int(v))
			}
			last = int(dec[decFrame-1])
		}
		if float64(largest) > bound+0.5 || largest >= math.MaxInt16 {
			t.Errorf("%s: decimated sample of %d, over the bound %.0f", c.name, largest, bound)
		}
		if c.name == "the sign of every tap" && math.Abs(float64(last)-bound) > 1 {
			t.Errorf("the worst input reached %d, not the bound %.0f", last, bound)
		}
	}
}

func TestBandPassComesToRestAfterSilence(t *testing.T) {
	// After speech ends in digital silence the filter decays and comes to
	// rest, which lets Frame skip it on the quiet side of a call.
	var bp bandState
	pcm := concat(syllables(seconds(1), 180, -6), silence(seconds(1)))
	var dec [decFrame]int16
	for i := 0; i+FrameSamples <= len(pcm); i += FrameSamples {
		bp.bandPassFrame((*[FrameSamples]int16)(pcm[i:i+FrameSamples]), &dec)
	}
	if !bp.idle() {
		t.Fatalf("filter not at rest after 1 s of silence: %+v", bp)
	}
}

// BenchmarkBandPassFrame is the band-pass alone, per 20 ms frame; it
// bounds the cost of Frame on any audio that is not digital silence.
func BenchmarkBandPassFrame(b *testing.B) {
	pcm := syllables(seconds(10), 180, -6)
	frames := len(pcm) / FrameSamples
	var bp bandState
	var dec [decFrame]int16
	for i := 0; b.Loop(); i++ {
		k := i % frames
		bp.bandPassFrame((*[FrameSamples]int16)(pcm[k*FrameSamples:]), &dec)
	}
}
