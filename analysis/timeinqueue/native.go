package timeinqueue

import "math"

// The native (exponential) histogram of the waits, which Prometheus takes
// when it scrapes protobuf: one series per queue whatever the buckets.
//
// Schema 3 puts 8 buckets in each doubling: bucket i holds the waits in
// (2^((i-1)/8), 2^(i/8)] seconds, each bound 9.05% above the previous.
// A quantile Prometheus reads from it is off by at most that width (at
// most about 4.4% when taken at the bucket's middle) on top of the
// estimate's own error — finer than the broker's 5 s sampling makes the
// estimate for waits of a minute and more, and coarse enough that the
// waits of one queue, from 10 ms to hours (20 doublings), span at most
// 165 buckets; a queue's waits usually span a few doublings, and only
// the buckets from its shortest wait to its longest are kept. Waits of
// at most NativeZeroThreshold (10 ms, below what the broker's counters
// resolve) count in the zero bucket.
const (
	NativeSchema        = 3
	NativeZeroThreshold = 0.01
)

// nativeBuckets counts waits per native bucket: counts[j] is bucket
// offset+j. Counts are float, as the estimate spreads a piece's messages
// over its wait range; they only grow.
type nativeBuckets struct {
	zero   float64
	offset int
	counts []float64
}

// nativeIndex is the bucket holding v > 0.
func nativeIndex(v float64) int {
	return int(math.Ceil(math.Log2(v) * (1 << NativeSchema)))
}

// nativeUpperBound is bucket i's upper bound.
func nativeUpperBound(i int) float64 {
	return math.Exp2(float64(i) / (1 << NativeSchema))
}

// add spreads count messages evenly over the waits [w1, w2] (w1 ≤ w2).
func (n *nativeBuckets) add(w1, w2, count float64) {
	zeroShare := shareAtMost(w1, w2, NativeZeroThreshold)
	n.zero += count * zeroShare
	if zeroShare == 1 {
		return
	}
	first, last := nativeIndex(max(w1, math.Nextafter(NativeZeroThreshold, math.Inf(1)))), nativeIndex(w2)
	n.grow(first, last)
	below := zeroShare
	for i := first; i <= last; i++ {
		f := shareAtMost(w1, w2, nativeUpperBound(i))
		if i == last {
			f = 1
		}
		n.counts[i-n.offset] += count * (f - below)
		below = f
	}
}

// grow makes room for the buckets first to last.
func (n *nativeBuckets) grow(first, last int) {
	if len(n.counts) == 0 {
		n.offset = first
		n.counts = make([]float64, last-first+1)
		return
	}
	if first < n.offset {
		n.counts = append(make([]float64, n.offset-first, n.offset-first+len(n.counts)), n.counts...)
		n.offset = first
	}
	if end := n.offset + len(n.counts) - 1; last > end {
		n.counts = append(n.counts, make([]float64, last-end)...)
	}
}

// NativeHistogram is a queue's native histogram of waits, cumulative
// since the estimator began tracking the queue, in whole messages:
// ZeroCount waits of at most NativeZeroThreshold, and Counts[j] in bucket
// Offset+j of schema NativeSchema (not cumulative across buckets). Each
// bucket is its estimated count rounded on its own, so that none ever
// goes back as the estimate grows (Prometheus would take that for a
// reset); buckets that round to nothing at either end are left out.
type NativeHistogram struct {
	ZeroCount uint64
	Offset    int
	Counts    []uint64
}

// nativeSnapshot rounds the native histogram, nil where none is kept.
func (o *outputs) nativeSnapshot() *NativeHistogram {
	n := o.native
	if n == nil {
		return nil
	}
	first, last := 0, len(n.counts)-1
	for first <= last && n.counts[first] < 0.5 {
		first++
	}
	for last >= first && n.counts[last] < 0.5 {
		last--
	}
	h := &NativeHistogram{ZeroCount: uint64(n.zero + 0.5), Offset: n.offset + first}
	if first <= last {
		h.Counts = make([]uint64, last-first+1)
		for j := range h.Counts {
			h.Counts[j] = uint64(n.counts[first+j] + 0.5)
		}
	}
	return h
}
