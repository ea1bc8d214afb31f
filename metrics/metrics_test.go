package metrics

import (
	"slices"
	"testing"
	"time"
)

func TestRingBucketsPutTheThreeRingLineOnABucket(t *testing.T) {
	got := RingBuckets(time.Second, 4*time.Second)
	want := []float64{0.05, 0.1, 0.25, 0.5, 1, 5, 6, 10, 11, 15, 20, 30}
	if !slices.Equal(got, want) {
		t.Fatalf("buckets %v, want %v", got, want)
	}
	if na := RingBuckets(2*time.Second, 4*time.Second); !slices.Contains(na, 18) {
		t.Fatalf("North American cadence buckets %v lack the 18 s three-ring line", na)
	}
}
