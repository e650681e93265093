package timeinqueue

// outputs are what a queue's departures and threshold crossings have
// counted since the estimator began tracking the queue. They never
// reset: a counter going back does not take back what was counted.
// newWithin and newTotal, the latest observe's part of within and total,
// start again at every observe (startPoll).
type outputs struct {
	// buckets count the waits of departed messages per histogram bucket
	// (not cumulative across buckets; the last is +Inf); sum and count
	// are their sum and number.
	buckets    []float64
	sum, count float64
	// native counts the same waits in native buckets, where wanted.
	native *nativeBuckets
	// within and total are, per threshold, the good and all events.
	within, total []float64
	// newWithin and newTotal are, per threshold, the good and all events
	// counted since startPoll.
	newWithin, newTotal []float64
}

func newOutputs(thresholds, bounds int, native bool) outputs {
	var n *nativeBuckets
	if native {
		n = &nativeBuckets{}
	}
	return outputs{
		native:    n,
		buckets:   make([]float64, bounds+1),
		within:    make([]float64, thresholds),
		total:     make([]float64, thresholds),
		newWithin: make([]float64, thresholds),
		newTotal:  make([]float64, thresholds),
	}
}

// startPoll begins the events of a new poll: newWithin and newTotal
// count from zero again.
func (o *outputs) startPoll() {
	clear(o.newWithin)
	clear(o.newTotal)
}

// fold adds a piece to the histogram of bounds, its messages spread
// evenly over its wait range.
func (o *outputs) fold(p Piece, bounds []float64) {
	w1, w2 := p.WaitFrom.Seconds(), p.WaitTo.Seconds()
	if w1 > w2 {
		w1, w2 = w2, w1
	}
	below := 0.0
	for i, b := range bounds {
		f := shareAtMost(w1, w2, b)
		o.buckets[i] += p.Count * (f - below)
		below = f
	}
	o.buckets[len(bounds)] += p.Count * (1 - below)
	if o.native != nil {
		o.native.add(w1, w2, p.Count)
	}
	o.sum += p.Count * (w1 + w2) / 2
	o.count += p.Count
}

// addEvents counts good events within the i-th threshold, of all, in
// the cumulative counts and in this poll's.
func (o *outputs) addEvents(i int, good, all float64) {
	o.within[i] += good
	o.total[i] += all
	o.newWithin[i] += good
	o.newTotal[i] += all
}

// shareAtMost is the share of a uniform distribution on [w1, w2] that is
// at most b.
func shareAtMost(w1, w2, b float64) float64 {
	switch {
	case b >= w2:
		return 1
	case b < w1:
		return 0
	default:
		return (b - w1) / (w2 - w1)
	}
}
