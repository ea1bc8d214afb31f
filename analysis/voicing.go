package analysis

import "math"

// periodic reports whether the last n samples of x are periodic at a pitch
// lag: whether their normalised autocorrelation with x delayed by some lag
// in lagMin..lagMax reaches thr. len(x) must be lagMax+n, and n at most
// decFrame.
//
// Only the comparison with the threshold is ever needed, so the search
// stops at the first lag that reaches it; voiced speech usually does so
// within the first few lags, since any multiple of the pitch period above
// lagMin counts. The lags are taken four at a time (dot4), which shares
// every load among four products.
func periodic(x []int16, n int, thr float64) bool {
	if thr <= 0 {
		// The autocorrelation is never negative here: zero reaches a
		// zero threshold.
		return true
	}
	if n < lagMin*2 || n > decFrame || len(x) < lagMax+n {
		return false
	}
	// The window is converted once, as the lags use each sample up to 48
	// times. The samples are integers (decScale), so every product of two
	// of them and every sum of such products is an integer under 2⁵³ (a
	// product under 2³⁰, a frame of them under 2³⁷) and exact in float64:
	// the numerators do not depend on the order of the sums, and the
	// energy of the delayed window, slid one sample per lag, does not
	// drift. Integer sums would be as exact but measured 1.5 times
	// slower: the unrolled products need more registers than amd64 has
	// general-purpose ones.
	var buf [decWindow]float64
	xf := buf[:lagMax+n]
	for i := range xf {
		xf[i] = float64(x[i])
	}
	cur := xf[lagMax:]
	var e0 float64
	for _, v := range cur {
		e0 += v * v
	}
	if e0 == 0 {
		return false
	}
	var ek float64
	for _, v := range xf[lagMax-lagMin : lagMax-lagMin+n] {
		ek += v * v
	}
	reaches := func(k int, num float64) bool {
		if k > lagMin {
			a, b := xf[lagMax-k], xf[lagMax-k+n]
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
		c := (*[decFrame]float64)(cur)
		for k := lagMin; k+3 <= lagMax; k += 4 {
			dot4(c, (*[decFrame + 3]float64)(xf[lagMax-k-3:]), &num)
			for j := range num {
				if reaches(k+j, num[j]) {
					return true
				}
			}
		}
		return false
	}
	for k := lagMin; k <= lagMax; k++ {
		if reaches(k, dot(cur, xf[lagMax-k:lagMax-k+n])) {
			return true
		}
	}
	return false
}

// dot4 returns in num the products of a with w delayed by 0..3 samples:
// num[j] = Σ a[i]·w[i+3-j], the autocorrelation numerators of four
// consecutive lags. Each w sample is loaded once and used four times, and
// the unrolled loop passes them on in registers.
func dot4(a *[decFrame]float64, w *[decFrame + 3]float64, num *[4]float64) {
	var s0, s1, s2, s3 float64
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
	num[0], num[1], num[2], num[3] = s0, s1, s2, s3
}

// dot is the plain dot product of a and b[:len(a)], for windows shorter
// than a frame.
func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}
