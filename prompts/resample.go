package prompts

import (
	"math"
	"sync"
)

const (
	// passbandHz is where the anti-aliasing filter's cutoff sits when
	// resampling to 8 kHz: above the 300–3400 Hz telephone band, below the
	// 4 kHz Nyquist limit, leaving room for the transition band.
	passbandHz = 3700
	// zeroCrossings on each side of the windowed-sinc kernel; 16 gives a
	// transition band of roughly 700 Hz with a Blackman window.
	zeroCrossings = 16
)

// polyphase is a precomputed windowed-sinc resampler from one rate to
// another whose ratio reduces to up/down. Output sample j sits at input
// position j*down/up; its integer part selects the input window and its
// fraction (one of up phases) selects the row of taps.
type polyphase struct {
	up, down int
	half     int         // taps on each side of the output position
	taps     [][]float32 // [phase][2*half]
}

type ratePair struct{ from, to int }

var (
	filtersMu sync.Mutex
	filters   = map[ratePair]*polyphase{}
)

// resample converts 16-bit samples between rates. Built-in and operator
// audio only ever go down to 8 kHz (from 16 kHz, or from espeak-ng's 22050
// Hz), so the kernel is designed as a low-pass below the output's Nyquist
// frequency.
func resample(in []int16, from, to int) []int16 {
	if from == to {
		return in
	}
	return filterFor(from, to).apply(in)
}

func filterFor(from, to int) *polyphase {
	filtersMu.Lock()
	defer filtersMu.Unlock()
	k := ratePair{from, to}
	if p, ok := filters[k]; ok {
		return p
	}
	p := newPolyphase(from, to)
	filters[k] = p
	return p
}

func newPolyphase(from, to int) *polyphase {
	g := gcd(from, to)
	up, down := to/g, from/g
	// Cutoff as a fraction of the input rate; scaled for other targets so
	// the filter keeps the same shape relative to the output Nyquist.
	fc := float64(passbandHz) * float64(to) / SampleRate / float64(from)
	if limit := 0.5 * float64(min(from, to)) / float64(from); fc > limit {
		fc = limit
	}
	half := int(math.Ceil(zeroCrossings / (2 * fc)))
	p := &polyphase{up: up, down: down, half: half, taps: make([][]float32, up)}
	for phase := range up {
		frac := float64(phase) / float64(up)
		row := make([]float32, 2*half)
		var sum float64
		w := make([]float64, 2*half)
		for i := range w {
			// Input sample q-half+1+i sits at distance t from the output position q+frac.
			t := frac + float64(half-1-i)
			w[i] = kernel(t, fc, float64(half))
			sum += w[i]
		}
		// Unity gain at DC for every phase, so resampling adds no ripple.
		for i := range w {
			row[i] = float32(w[i] / sum)
		}
		p.taps[phase] = row
	}
	return p
}

// kernel is a Blackman-windowed sinc low-pass with cutoff fc (cycles per
// input sample), evaluated t input samples from its centre.
func kernel(t, fc, half float64) float64 {
	if math.Abs(t) >= half {
		return 0
	}
	x := 2 * fc * t
	s := 2 * fc
	if x != 0 {
		s = math.Sin(math.Pi*x) / (math.Pi * x) * 2 * fc
	}
	a := math.Pi * (t/half + 1) // 0..2π across the window
	w := 0.42 - 0.5*math.Cos(a) + 0.08*math.Cos(2*a)
	return s * w
}

func (p *polyphase) apply(in []int16) []int16 {
	if len(in) == 0 {
		return []int16{}
	}
	n := (len(in)*p.up + p.down - 1) / p.down
	out := make([]int16, n)
	width := 2 * p.half
	for j := range out {
		pos := j * p.down
		q, phase := pos/p.up, pos%p.up
		row := p.taps[phase]
		first := q - p.half + 1
		var acc float32
		if first >= 0 && first+width <= len(in) {
			// Interior: the whole window is inside the signal.
			win := in[first : first+width]
			for i, c := range row {
				acc += c * float32(win[i])
			}
		} else {
			// Edges: the signal is zero outside its ends.
			for i, c := range row {
				if k := first + i; k >= 0 && k < len(in) {
					acc += c * float32(in[k])
				}
			}
		}
		out[j] = clamp16(acc)
	}
	return out
}

// clamp16 rounds to the nearest sample value, saturating at full scale.
func clamp16(v float32) int16 {
	switch {
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return math.MinInt16
	case v >= 0:
		return int16(v + 0.5)
	}
	return int16(v - 0.5)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
