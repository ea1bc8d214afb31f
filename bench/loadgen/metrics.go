package main

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// sample is one line of a Prometheus text exposition.
type sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// metricSet is a parsed scrape.
type metricSet struct{ Samples []sample }

// parseMetrics reads the Prometheus text format (version 0.0.4): comments
// skipped, `name{l="v",...} value [timestamp]` per line.
func parseMetrics(text string) (*metricSet, error) {
	ms := &metricSet{}
	for n, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		s, err := parseSample(l)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", n+1, err)
		}
		ms.Samples = append(ms.Samples, s)
	}
	return ms, nil
}

func parseSample(l string) (sample, error) {
	s := sample{Labels: map[string]string{}}
	i := strings.IndexAny(l, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("%w: %q", errMalformed, l)
	}
	s.Name = l[:i]
	rest := l[i:]
	if rest[0] == '{' {
		j := 1
		for {
			for j < len(rest) && (rest[j] == ' ' || rest[j] == ',') {
				j++
			}
			if j >= len(rest) {
				return s, fmt.Errorf("%w: unterminated labels in %q", errMalformed, l)
			}
			if rest[j] == '}' {
				j++
				break
			}
			eq := strings.IndexByte(rest[j:], '=')
			if eq <= 0 || j+eq+1 >= len(rest) || rest[j+eq+1] != '"' {
				return s, fmt.Errorf("%w: label in %q", errMalformed, l)
			}
			name := strings.TrimSpace(rest[j : j+eq])
			k := j + eq + 2
			var v strings.Builder
			for ; k < len(rest) && rest[k] != '"'; k++ {
				if rest[k] == '\\' && k+1 < len(rest) {
					k++
					switch rest[k] {
					case 'n':
						v.WriteByte('\n')
					default:
						v.WriteByte(rest[k])
					}
					continue
				}
				v.WriteByte(rest[k])
			}
			if k >= len(rest) {
				return s, fmt.Errorf("%w: unterminated label value in %q", errMalformed, l)
			}
			s.Labels[name] = v.String()
			j = k + 1
		}
		rest = rest[j:]
	}
	f := strings.Fields(rest)
	if len(f) < 1 {
		return s, fmt.Errorf("%w: no value in %q", errMalformed, l)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, fmt.Errorf("%w: value in %q", errMalformed, l)
	}
	s.Value = v
	return s, nil
}

// value returns the sum of the samples named name whose labels include
// every pair of match (so a counter split by labels adds up), and whether
// any matched.
func (m *metricSet) value(name string, match map[string]string) (float64, bool) {
	if m == nil {
		return 0, false
	}
	var sum float64
	found := false
outer:
	for _, s := range m.Samples {
		if s.Name != name {
			continue
		}
		for k, v := range match {
			if s.Labels[k] != v {
				continue outer
			}
		}
		sum += s.Value
		found = true
	}
	return sum, found
}

// bucket is one cumulative histogram bucket.
type bucket struct {
	LE    float64
	Count float64
}

// histogram returns a histogram's cumulative buckets summed over all label
// sets, sorted by upper bound.
func (m *metricSet) histogram(name string) []bucket {
	if m == nil {
		return nil
	}
	by := map[float64]float64{}
	for _, s := range m.Samples {
		if s.Name != name+"_bucket" {
			continue
		}
		le, err := strconv.ParseFloat(s.Labels["le"], 64)
		if err != nil {
			continue
		}
		by[le] += s.Value
	}
	out := make([]bucket, 0, len(by))
	for le, c := range by {
		out = append(out, bucket{LE: le, Count: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LE < out[j].LE })
	return out
}

// histogramDelta is after minus before, bucket by bucket (a counter reset
// gives after).
func histogramDelta(before, after []bucket) []bucket {
	prev := map[float64]float64{}
	for _, b := range before {
		prev[b.LE] = b.Count
	}
	out := make([]bucket, len(after))
	for i, b := range after {
		d := b.Count - prev[b.LE]
		if d < 0 {
			d = b.Count
		}
		out[i] = bucket{LE: b.LE, Count: d}
	}
	return out
}

// histogramQuantile estimates quantile q by linear interpolation inside the
// bucket that holds it, as PromQL's histogram_quantile does. A quantile in
// the +Inf bucket returns the highest finite bound. NaN when empty.
func histogramQuantile(q float64, bs []bucket) float64 {
	if len(bs) == 0 {
		return math.NaN()
	}
	total := bs[len(bs)-1].Count
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	lower, prevCount := 0.0, 0.0
	for _, b := range bs {
		if b.Count >= rank {
			if math.IsInf(b.LE, 1) {
				return lower
			}
			in := b.Count - prevCount
			if in <= 0 {
				return b.LE
			}
			return lower + (b.LE-lower)*(rank-prevCount)/in
		}
		lower, prevCount = b.LE, b.Count
	}
	return lower
}

// histogramMax is the upper bound of the highest bucket that gained
// observations: the maximum lies at or below it ("≤"). +Inf when the
// +Inf bucket gained some beyond the last finite bound.
func histogramMax(bs []bucket) float64 {
	prev := 0.0
	maxLE := math.NaN()
	for _, b := range bs {
		if b.Count > prev {
			maxLE = b.LE
		}
		prev = b.Count
	}
	return maxLE
}

// setupGarbage is what hotline's heap took while calls were set up: from
// the reading before the first call (before) to the window's start
// (start), the bytes allocated per call placed in KiB and the collector's
// cycles; and hotline's collector target at the start. A figure hotline
// does not export is NaN.
func setupGarbage(before, start *metricSet, calls int) (allocKB, cycles, gogc float64) {
	allocKB, cycles, gogc = math.NaN(), math.NaN(), math.NaN()
	if before == nil || start == nil {
		return
	}
	if a0, ok0 := before.value("go_memstats_alloc_bytes_total", nil); ok0 && calls > 0 {
		if a1, ok1 := start.value("go_memstats_alloc_bytes_total", nil); ok1 {
			allocKB = (a1 - a0) / 1024 / float64(calls)
		}
	}
	if c0, ok0 := before.value("go_gc_duration_seconds_count", nil); ok0 {
		if c1, ok1 := start.value("go_gc_duration_seconds_count", nil); ok1 {
			cycles = c1 - c0
		}
	}
	if v, ok := start.value("go_gc_gogc_percent", nil); ok {
		gogc = v
	}
	return
}
