package outbox

import "time"

// lateCommits finds the dispatches that a poll's window missed because
// their transaction committed more than commit_delay after its
// dispatched_at stamp: by then a watermark had passed the stamp, and the
// row lies in a window already counted. Each poll counts the windows of
// the last late_commit_window again (the recount part of the query), and
// what a window gained since it was last counted is such rows: they are
// counted then, with the latencies their stamps give. No row is fetched;
// the state is a few counts per window and event type.
//
// Rows deleted from a window (an outbox pruned sooner than
// late_commit_window) make it shrink; a shrinking count adds nothing,
// and hides a late commit in the same window and poll.
type lateCommits struct {
	span time.Duration
	// windows are the windows counted within span of the latest
	// watermark, oldest first: window i spans (windows[i].from,
	// windows[i].to], and the next one starts where it ends.
	windows []countedWindow
}

// countedWindow is one poll's window of dispatched_at and what its rows
// counted, per event type, the last time they were counted.
type countedWindow struct {
	from, to time.Time
	byType   map[string]windowCount
}

// windowCount is the recount of one window and event type: see
// recountPart for its columns.
type windowCount struct {
	n, sum  float64
	buckets []int64
	// withinNow holds, per threshold, the rows within it that had not
	// crossed it before the previous watermark; withinNext the same
	// before the poll's own watermark, which the next poll's withinNow
	// is compared with.
	withinNow, withinNext []int64
	// freshLate are the rows later than the threshold that had not
	// crossed it before the previous watermark: only rows not visible
	// at the previous poll can be, so they need no comparison.
	freshLate []int64
}

// bounds returns the query's second parameter: the lower bounds of the
// windows to count again, then since, the lower bound of the new window.
func (l *lateCommits) bounds(since time.Time) []time.Time {
	out := make([]time.Time, 0, len(l.windows)+1)
	for _, w := range l.windows {
		out = append(out, w.from)
	}
	return append(out, since)
}

// reset forgets every window: the next poll is a baseline.
func (l *lateCommits) reset() { l.windows = nil }

// recounted holds one poll's recount rows: by window index (1 for the
// oldest window of bounds, len(windows)+1 for the new one) and event
// type.
type recounted map[int32]map[string]windowCount

func (r recounted) add(row *resultRow) {
	byType := r[row.window]
	if byType == nil {
		byType = map[string]windowCount{}
		r[row.window] = byType
	}
	byType[*row.eventType] = windowCount{n: float64(row.n), sum: row.x, buckets: row.a,
		withinNow: row.b, withinNext: row.c, freshLate: row.d}
}

// settle compares the recounts of the windows counted before with what
// they counted then, adds what they gained to the sample's types, keeps
// the recounts, and starts the new window (since, watermark], dropping
// the windows older than span.
func (l *lateCommits) settle(r recounted, since, watermark time.Time, add func(eventType string) *TypeSample) {
	for i := range l.windows {
		w := &l.windows[i]
		now := r[int32(i+1)]
		for eventType, c := range now {
			gained(add, eventType, w.byType[eventType], c)
		}
		w.byType = now
	}
	l.windows = append(l.windows, countedWindow{from: since, to: watermark, byType: r[int32(len(l.windows)+1)]})
	keep := 0
	for keep < len(l.windows) && !l.windows[keep].to.After(watermark.Add(-l.span)) {
		keep++
	}
	l.windows = l.windows[keep:]
}

// gained adds to the event type's sample the rows a window gained since
// it counted was, as late commits, and the late rows that had not
// crossed a threshold, which only rows not visible before can be.
func gained(add func(eventType string) *TypeSample, eventType string, was, now windowCount) {
	late := now.n - was.n
	if late <= 0 && sumInts(now.freshLate) == 0 {
		return // nothing to add: do not make the type appear in the sample
	}
	t := add(eventType)
	addInts(t.FreshLate, now.freshLate)
	if late <= 0 {
		return
	}
	t.LateCommits += late
	t.Dispatched += late
	t.LatencySum += now.sum - was.sum
	addGain(t.BucketCounts, now.buckets, was.buckets)
	addGain(t.Within, now.withinNow, was.withinNext)
}

// addGain adds to dst, per element, how much now exceeds was (nothing
// where it does not).
func addGain(dst []float64, now, was []int64) {
	for i := range min(len(dst), len(now)) {
		var before int64
		if i < len(was) {
			before = was[i]
		}
		if g := now[i] - before; g > 0 {
			dst[i] += float64(g)
		}
	}
}

func sumInts(xs []int64) int64 {
	var n int64
	for _, x := range xs {
		n += x
	}
	return n
}
