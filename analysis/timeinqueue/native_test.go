package timeinqueue

import (
	"math"
	"testing"
)

func TestNativeBucketsSpreadAPieceOverItsWaitsAndKeepEveryMessage(t *testing.T) {
	var n nativeBuckets
	n.add(0, 2, 100)   // 0.5% at most 10 ms, the rest over 8 doublings
	n.add(1, 1, 10)    // all in the bucket whose upper bound is 1
	n.add(30, 60, 5)   // one doubling: 8 buckets
	n.add(0, 0.005, 3) // all in the zero bucket
	total := n.zero
	for _, c := range n.counts {
		total += c
	}
	if math.Abs(total-118) > 1e-9 {
		t.Errorf("%v messages in the buckets, want 118", total)
	}
	if want := 100*0.005 + 3; math.Abs(n.zero-want) > 1e-9 {
		t.Errorf("zero bucket %v, want %v", n.zero, want)
	}
	// Bucket 0 is (2^-1/8, 1]: the ten waits of 1 s, and the first
	// piece's share of that range.
	want := 10 + 100*(1-nativeUpperBound(-1))/2
	if got := n.counts[0-n.offset]; math.Abs(got-want) > 1e-9 {
		t.Errorf("bucket 0 holds %v, want %v", got, want)
	}
	// 30 to 60 s: buckets (30, 60] — each its share of the range.
	for i := nativeIndex(30); i <= nativeIndex(60); i++ {
		lo, hi := max(30, nativeUpperBound(i-1)), min(60, nativeUpperBound(i))
		share := 5 * (hi - lo) / 30 // the first piece ends at 2 s
		if got := n.counts[i-n.offset]; math.Abs(got-share) > 1e-9 {
			t.Errorf("bucket %d (%v, %v] holds %v, want %v", i, nativeUpperBound(i-1), nativeUpperBound(i), got, share)
		}
	}
}

func TestTheNativeSchemaCoversTenMillisecondsToHoursWithBoundsNinePercentApart(t *testing.T) {
	if r := nativeUpperBound(1) / nativeUpperBound(0); math.Abs(r-math.Pow(2, 1.0/8)) > 1e-12 {
		t.Errorf("consecutive bounds %v apart, want 2^(1/8)", r)
	}
	if n := nativeIndex(4*3600) - nativeIndex(NativeZeroThreshold) + 1; n > 170 {
		t.Errorf("%d buckets from 10 ms to 4 h", n)
	}
	for _, v := range []float64{0.011, 0.5, 1, 1.5, 30, 3600} {
		i := nativeIndex(v)
		if !(nativeUpperBound(i-1) < v && v <= nativeUpperBound(i)*(1+1e-12)) {
			t.Errorf("%v is in bucket %d, (%v, %v]", v, i, nativeUpperBound(i-1), nativeUpperBound(i))
		}
	}
}

func TestTheNativeSnapshotRoundsEachBucketAndLeavesOutEmptyEnds(t *testing.T) {
	o := outputs{native: &nativeBuckets{zero: 2.4, offset: -5, counts: []float64{0.1, 0.4, 3.5, 0.2, 7.49, 0.3}}}
	h := o.nativeSnapshot()
	if h.ZeroCount != 2 || h.Offset != -3 || len(h.Counts) != 3 || h.Counts[0] != 4 || h.Counts[1] != 0 || h.Counts[2] != 7 {
		t.Errorf("snapshot %+v, want zero 2, offset -3, counts [4 0 7]", h)
	}
	if (&outputs{}).nativeSnapshot() != nil {
		t.Error("a native snapshot without native buckets")
	}
}
