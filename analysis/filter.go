package analysis

import "math"

// The 300–2500 Hz band-pass is a Butterworth (Q = 1/√2) high-pass at
// bandLow followed by a Butterworth low-pass at bandHigh, both second-order
// sections from the RBJ audio EQ cookbook. Below 300 Hz sit mains hum and
// the fundamental of low voices, whose strength says little about
// syllables; above 2500 Hz sit fricatives and hiss.
//
// It is computed in the cheapest exact rearrangement of that cascade the
// per-frame budget allows:
//   - The two numerators, (1 - z⁻¹)² for the high-pass and (1 + z⁻¹)² for
//     the low-pass, multiply to (1 - z⁻²)². It is applied first, to the
//     integer samples, in integer arithmetic: x[n] - 2x[n-2] + x[n-4] is
//     exact, so the feed-forward half of both sections costs no floating
//     point at all.
//   - What is left are two all-pole sections, four multiply-adds a sample.
//     Their gains b0 are folded into one factor (bpGain) applied to the
//     frame's power sums and the decimated samples instead of to every
//     sample.
//   - The coefficients are constants, so the compiler takes them from
//     memory and the loop keeps all of its state in registers.
//
// The result equals the cascade up to floating-point rounding (relative
// differences near 1e-14; TestBandPassMatchesTheBiquadCascade).
//
// The loop is bound by the latency of the recursion. A scattered
// look-ahead (even and odd samples as two independent chains) and
// math.FMA both measured slower: in Go's scalar code they cost more
// instructions than the shorter chain saves (bench/README.md, "Cost per
// frame").
//
// The constants are the cookbook formulas evaluated for bandLow and
// bandHigh at SampleRate; TestBandPassCoefficientsAreTheButterworthDesign
// recomputes them, so a change of band or rate that forgets them fails.
const (
	hpB0 = 0.8464592541088377 // high-pass b0 (= b2 = -b1/2)
	hpA1 = -1.669203142931193
	hpA2 = 0.7166338735041575
	lpB0 = 0.41816334576189884 // low-pass b0 (= b2 = b1/2)
	lpA1 = 0.46293802529104083
	lpA2 = 0.20971535775655473
	// bpGain is the gain taken out of the sample loop: the band-pass
	// output is bpGain times the all-pole output.
	bpGain = hpB0 * lpB0
)

// The decimated samples feed only the voicing check, a normalised
// autocorrelation that does not depend on their scale, and two windows of
// them are most of a LegAnalyser's memory (a hotline holds thousands of
// legs). They are therefore kept as int16, at half the scale of the input
// samples.
//
// That cannot overflow. The band-pass followed by the averaging of pairs
// is a linear filter, so no output exceeds the largest input times the
// absolute sum of the filter's impulse response, which is 1.7508 (more
// than the passband gain of 1, as the sections ring). Input of int16
// samples, |x| ≤ 32768, thus gives at most 57,371, and half of that,
// 28,686, is 12 % below the int16 limit whatever the input: a full-scale
// square wave or the worst sequence there is, one that matches the sign
// of every tap (TestDecimatedSamplesCannotOverflow builds it). decSample
// clamps all the same, so that if the bound were ever broken (a change of
// band, say) a peak would be clipped rather than wrapped round into a
// sample of the opposite sign.
//
// The resolution is ample. Rounding to steps of 2 input units errs by at
// most 1, where G.711 itself errs by up to 4 in its quietest segment
// (µ-law's finest step is 8 input units; A-law's is 16) and by tens to
// hundreds at speech levels. And the voicing check's products and sums
// become exact (voicing.go).
const decScale = 0.5

// decSample rounds a scaled decimated sample to int16, clamped to
// ±32767 (see decScale for why the clamp never acts).
func decSample(y float64) int16 {
	r := int32(math.RoundToEven(y))
	return int16(min(max(r, -math.MaxInt16), math.MaxInt16))
}

// bandState is the history of the band-pass: the last four input samples
// for the integer numerator and the last two outputs of each all-pole
// section (u after the high-pass poles, v after the low-pass poles; v is
// the band-pass output divided by bpGain).
type bandState struct {
	x1, x2, x3, x4 int32
	u1, u2, v1, v2 float64
}

// idle reports a filter at rest: zero input and output history.
func (f *bandState) idle() bool {
	return f.x1|f.x2|f.x3|f.x4 == 0 && f.u1 == 0 && f.u2 == 0 && f.v1 == 0 && f.v2 == 0
}

// flush zeroes an output history that has decayed far below one
// quantisation step, so that digital silence does not leave the filter
// computing on subnormal numbers (which are slow on x86) and the silence
// shortcut in Frame can take over.
func (f *bandState) flush() {
	const tiny = 1e-9
	if math.Abs(f.u1) < tiny && math.Abs(f.u2) < tiny && math.Abs(f.v1) < tiny && math.Abs(f.v2) < tiny {
		f.u1, f.u2, f.v1, f.v2 = 0, 0, 0, 0
	}
}

// bandPassFrame filters one full frame: it returns the summed squared
// all-pole output of the first and of the second half (multiply by
// bpGain² for the band power) and writes the output, decimated 2:1 by
// averaging pairs and scaled by decScale, into dec. It is the fixed-size
// case of bandPassSamples: the same operations on every sample, unrolled
// by two samples over constant bounds so that neither a per-sample branch
// nor a bounds check remains.
func (f *bandState) bandPassFrame(pcm *[FrameSamples]int16, dec *[decFrame]int16) (q0, q1 float64) {
	const h = FrameSamples / 2
	q0 = f.bandPassHalf((*[h]int16)(pcm[:h]), (*[h / 2]int16)(dec[:h/2]))
	q1 = f.bandPassHalf((*[h]int16)(pcm[h:]), (*[h / 2]int16)(dec[h/2:]))
	f.flush()
	return q0, q1
}

// bandPassHalf filters half a frame and returns its summed squared
// all-pole output.
func (f *bandState) bandPassHalf(pcm *[FrameSamples / 2]int16, dec *[FrameSamples / 4]int16) (q float64) {
	// The state lives in locals so the loop runs in registers.
	x1, x2, x3, x4 := f.x1, f.x2, f.x3, f.x4
	u1, u2, v1, v2 := f.u1, f.u2, f.v1, f.v2
	for i := 0; i < len(pcm); i += 2 {
		xa, xb := int32(pcm[i]), int32(pcm[i+1])
		// The recursive term goes last, so everything else is computed
		// while the previous output is still in flight.
		ua := float64(xa-2*x2+x4) - hpA2*u2 - hpA1*u1
		va := ua - lpA2*v2 - lpA1*v1
		ub := float64(xb-2*x1+x3) - hpA2*u1 - hpA1*ua
		vb := ub - lpA2*v1 - lpA1*va
		x4, x3, x2, x1 = x2, x1, xa, xb
		u2, u1 = ua, ub
		v2, v1 = va, vb
		q += va*va + vb*vb
		dec[i>>1] = decSample((0.5 * bpGain * decScale) * (va + vb))
	}
	f.x1, f.x2, f.x3, f.x4 = x1, x2, x3, x4
	f.u1, f.u2, f.v1, f.v2 = u1, u2, v1, v2
	return q
}

// bandPassSamples is bandPassFrame for a frame of any length: the sums
// are over pcm[:half] and pcm[half:], and dec receives len(pcm)/2
// decimated samples.
func (f *bandState) bandPassSamples(pcm []int16, half int, dec []int16) (q0, q1 float64) {
	x1, x2, x3, x4 := f.x1, f.x2, f.x3, f.x4
	u1, u2, v1, v2 := f.u1, f.u2, f.v1, f.v2
	dec = dec[:len(pcm)/2]
	var prev float64
	for i, s := range pcm {
		x := int32(s)
		u := float64(x-2*x2+x4) - hpA2*u2 - hpA1*u1
		v := u - lpA2*v2 - lpA1*v1
		x4, x3, x2, x1 = x3, x2, x1, x
		u2, u1 = u1, u
		v2, v1 = v1, v
		if i < half {
			q0 += v * v
		} else {
			q1 += v * v
		}
		if i&1 == 0 {
			prev = v
		} else if i>>1 < len(dec) {
			dec[i>>1] = decSample((0.5 * bpGain * decScale) * (prev + v))
		}
	}
	f.x1, f.x2, f.x3, f.x4 = x1, x2, x3, x4
	f.u1, f.u2, f.v1, f.v2 = u1, u2, v1, v2
	f.flush()
	return q0, q1
}
