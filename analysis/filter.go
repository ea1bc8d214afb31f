package analysis

import "math"

// biquad is one second-order IIR section in direct form I, with
// coefficients from the RBJ audio EQ cookbook. Direct form I keeps only one
// multiply-add on the recursive path from one output to the next, which
// makes the per-sample loop about half as latency-bound as the transposed
// form. Two of them (a
// high-pass and a low-pass) make the 300–2500 Hz band in which speech
// energy is measured: below 300 Hz sit mains hum and the fundamental of
// low voices, whose strength says little about syllables; above 2500 Hz
// sit fricatives and hiss.
type biquad struct {
	b0, b1, b2, a1, a2 float64
	x1, x2, y1, y2     float64 // previous inputs and outputs
}

// butterworthQ gives a maximally flat pass band.
const butterworthQ = math.Sqrt2 / 2

func newHighPass(f0 float64) biquad {
	w := 2 * math.Pi * f0 / SampleRate
	cw, alpha := math.Cos(w), math.Sin(w)/(2*butterworthQ)
	a0 := 1 + alpha
	return biquad{
		b0: (1 + cw) / 2 / a0, b1: -(1 + cw) / a0, b2: (1 + cw) / 2 / a0,
		a1: -2 * cw / a0, a2: (1 - alpha) / a0,
	}
}

func newLowPass(f0 float64) biquad {
	w := 2 * math.Pi * f0 / SampleRate
	cw, alpha := math.Cos(w), math.Sin(w)/(2*butterworthQ)
	a0 := 1 + alpha
	return biquad{
		b0: (1 - cw) / 2 / a0, b1: (1 - cw) / a0, b2: (1 - cw) / 2 / a0,
		a1: -2 * cw / a0, a2: (1 - alpha) / a0,
	}
}

// idle reports a filter at rest: zero input and output history.
func (f *biquad) idle() bool {
	return f.x1 == 0 && f.x2 == 0 && f.y1 == 0 && f.y2 == 0
}

// flush zeroes a state that has decayed far below one quantisation step,
// so that digital silence does not leave the filter computing on
// subnormal numbers (which are slow on x86).
func (f *biquad) flush() {
	if math.Abs(f.y1) < 1e-9 && math.Abs(f.y2) < 1e-9 {
		f.y1, f.y2 = 0, 0
	}
	if math.Abs(f.x1) < 1e-9 && math.Abs(f.x2) < 1e-9 {
		f.x1, f.x2 = 0, 0
	}
}
