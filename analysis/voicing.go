package analysis

import "math"

// periodic reports whether the last n samples of x are periodic at a pitch
// lag: whether their normalised autocorrelation with x delayed by some lag
// in lagMin..lagMax reaches thr. len(x) must be at least lagMax+n.
//
// Only the comparison with the threshold is ever needed, so the search
// stops at the first lag that reaches it; voiced speech usually does so
// within the first few lags, since any multiple of the pitch period above
// lagMin counts. The lags are taken four at a time (dot4), which shares
// every load among four products.
func periodic(x []float32, n int, thr float64) bool {
	if thr <= 0 {
		// The autocorrelation is never negative here: zero reaches a
		// zero threshold.
		return true
	}
	if n < lagMin*2 || len(x) < lagMax+n {
		return false
	}
	cur := x[lagMax : lagMax+n]
	var e0 float64
	for _, v := range cur {
		e0 += float64(v) * float64(v)
	}
	if e0 < 1e-3 {
		return false
	}
	// Energy of the delayed window, slid one sample per lag.
	var ek float64
	for _, v := range x[lagMax-lagMin : lagMax-lagMin+n] {
		ek += float64(v) * float64(v)
	}
	reaches := func(k int, num float64) bool {
		if k > lagMin {
			a, b := float64(x[lagMax-k]), float64(x[lagMax-k+n])
			ek += a*a - b*b
		}
		// Compare squares first to skip the square root on most lags;
		// the margin keeps a lag that is over the threshold by less than
		// the rounding of the squares for the exact test.
		return num > 0 && ek > 0 && num*num >= (thr*thr)*(1-1e-9)*e0*ek &&
			num/math.Sqrt(e0*ek) >= thr
	}
	var num [4]float64
	if n == decFrame {
		// The full frame, with constant bounds: no bounds checks in the
		// products. lagMax-lagMin+1 is a multiple of four.
		c := (*[decFrame]float32)(cur)
		for k := lagMin; k+3 <= lagMax; k += 4 {
			dot4(c, (*[decFrame + 3]float32)(x[lagMax-k-3:]), &num)
			for j := range num {
				if reaches(k+j, num[j]) {
					return true
				}
			}
		}
		return false
	}
	for k := lagMin; k <= lagMax; k++ {
		if reaches(k, dot(cur, x[lagMax-k:lagMax-k+n])) {
			return true
		}
	}
	return false
}

// dot4 returns in num the products of a with w delayed by 0..3 samples:
// num[j] = Σ a[i]·w[i+3-j], the autocorrelation numerators of four
// consecutive lags. Each w sample is loaded once and used four times, and
// the unrolled loop passes them on in registers. The sums are float32, as
// the samples are: over one frame their rounding (about 1e-6 of the
// result) is far below any difference a voicing threshold draws, and
// float64 sums would cost a conversion per load.
func dot4(a *[decFrame]float32, w *[decFrame + 3]float32, num *[4]float64) {
	var s0, s1, s2, s3 float32
	w0, w1, w2 := w[2], w[1], w[0]
	for i := 0; i < decFrame; i += 4 {
		c := a[i]
		w3 := w[i+3]
		s0 += c * w3
		s1 += c * w0
		s2 += c * w1
		s3 += c * w2
		c = a[i+1]
		w4 := w[i+4]
		s0 += c * w4
		s1 += c * w3
		s2 += c * w0
		s3 += c * w1
		c = a[i+2]
		w5 := w[i+5]
		s0 += c * w5
		s1 += c * w4
		s2 += c * w3
		s3 += c * w0
		c = a[i+3]
		w6 := w[i+6]
		s0 += c * w6
		s1 += c * w5
		s2 += c * w4
		s3 += c * w3
		w0, w1, w2 = w6, w5, w4
	}
	num[0], num[1], num[2], num[3] = float64(s0), float64(s1), float64(s2), float64(s3)
}

// dot is the plain dot product of a and b[:len(a)], for windows shorter
// than a frame.
func dot(a, b []float32) float64 {
	b = b[:len(a)]
	var s float64
	for i, v := range a {
		s += float64(v) * float64(b[i])
	}
	return s
}
