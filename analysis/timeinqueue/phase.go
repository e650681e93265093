package timeinqueue

import (
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// Learning when the broker reads each counter.
//
// The sample history files each counter under the sample time at or
// after the moment its collector read it, so a sample stamped T holds a
// value read up to an interval before T. Where in the interval is not in
// the API, and alignment assumes the middle: wrong by up to half an
// interval either way, but the same for every sample while the
// collector's moment stays put, and so harmless to the waits, which are
// differences of times.
//
// It does not stay put: a collector's timer drifts against the sample
// times, and when its moment crosses a sample time the counter's lag
// jumps by a whole interval, from nearly none to nearly an interval (the
// sample at the crossing repeats the one before: a flat step) or back (the
// sample at the crossing holds two intervals' worth: a double step).
// Messages that arrived before such a crossing and left after it would be
// given waits an interval too long or too short, and near a threshold
// that is the difference between good and bad (measured in a ground-truth
// run: a 1 s crossing of both counters moved 2.6% of a TTL'd queue's
// messages past 10 s).
//
// The crossing also says exactly where the moment is: at the sample time
// where the step was. So phase tracks, per counter, the moment learnt
// from the latest crossing that enough queues showed at once, and from it
// the counter's lag at any sample time. It is forgotten after
// phaseHorizon intervals, as the timer keeps drifting.

// phaseHorizon is how many sample intervals a learnt read moment is
// trusted for.
const phaseHorizon = 120

// series names the two counters whose read moments are learnt.
type series int

const (
	publishSeries series = iota
	completionSeries
	nSeries
)

// stepKind is how a counter stepped at a crossing.
type stepKind int

const (
	flatStep   stepKind = iota // read just after the sample time: lag becomes an interval
	doubleStep                 // read just before it: lag becomes none
	nStepKinds
)

// readMoment is a counter's learnt read moment: it read at at + k ×
// spacing for whole k, just after at (flat step) or just before it.
type readMoment struct {
	at    time.Time
	kind  stepKind
	known bool
}

// lagAt is how long before sample time t the counter was read. Before
// the crossing the counter was read on the other side of the sample
// times: a sample of the same poll from before a flat step was read just
// before its time.
func (m readMoment) lagAt(t time.Time, spacing time.Duration) time.Duration {
	const tick = time.Millisecond
	after := m.kind == flatStep
	if t.Before(m.at) {
		after = !after
	}
	at := m.at.Add(-tick)
	if after {
		at = m.at.Add(tick)
	}
	lag := t.Sub(at) % spacing
	if lag < 0 {
		lag += spacing
	}
	return lag
}

// stepEvidence counts, at one sample time, the queues whose counter
// stepped flat or double there, and those whose counter stepped normally
// through the same steady traffic.
type stepEvidence struct {
	steps  [nSeries][nStepKinds]int
	normal [nSeries]int
}

// stepWindow is how many samples before a queue's newest one step
// detection looks at.
const stepWindow = 3

// observeSteps looks for a step at the sample before the newest of w (the
// queue's last four samples, oldest first) and files it in evidence.
func observeSteps(w []snapshot.Sample, evidence map[time.Time]*stepEvidence) {
	if len(w) != stepWindow+1 {
		return
	}
	gap := w[1].Time.Sub(w[0].Time)
	if w[2].Time.Sub(w[1].Time) != gap || w[3].Time.Sub(w[2].Time) != gap {
		return
	}
	counts := [nSeries]func(snapshot.Sample) float64{
		func(s snapshot.Sample) float64 { return float64(s.Published) },
		func(s snapshot.Sample) float64 { return float64(s.Completed) },
	}
	var kinds [nSeries]stepKind
	var stepped, normal [nSeries]bool
	for x := range nSeries {
		kinds[x], stepped[x], normal[x] = stepOf(w, counts[x])
	}
	// Both counters may cross at once (on some brokers one collector reads
	// both); otherwise a step counts only where the other counter ran
	// steadily through it, so that a pause of the traffic teaches nothing.
	together := stepped[publishSeries] && stepped[completionSeries] && kinds[publishSeries] == kinds[completionSeries]
	for x := range nSeries {
		if !together && !steadyThrough(w, counts[1-x]) {
			continue
		}
		if !stepped[x] && !normal[x] {
			continue
		}
		at := w[2].Time
		e := evidence[at]
		if e == nil {
			e = &stepEvidence{}
			evidence[at] = e
		}
		if stepped[x] {
			e.steps[x][kinds[x]]++
		} else {
			e.normal[x]++
		}
	}
}

// minStepMessages is the least a counter must move in each interval for
// its steps to tell anything.
const minStepMessages = 4

// increments are the counter's moves over the three intervals of w.
func increments(w []snapshot.Sample, count func(snapshot.Sample) float64) (float64, float64, float64) {
	return count(w[1]) - count(w[0]), count(w[2]) - count(w[1]), count(w[3]) - count(w[2])
}

// steadyThrough reports whether the counter moved by about the same,
// enough, in each interval of w.
func steadyThrough(w []snapshot.Sample, count func(snapshot.Sample) float64) bool {
	i1, i2, i3 := increments(w, count)
	mean := (i1 + i2 + i3) / 3
	return mean >= minStepMessages && abs(i1-mean) <= mean/4 && abs(i2-mean) <= mean/4 && abs(i3-mean) <= mean/4
}

// stepOf says how the counter stepped into the sample before the newest
// of w, where the intervals either side of it moved alike: flat (about
// nothing), double (about twice), or normally (about the same).
func stepOf(w []snapshot.Sample, count func(snapshot.Sample) float64) (kind stepKind, stepped, normal bool) {
	i1, i2, i3 := increments(w, count)
	ref := (i1 + i3) / 2
	if ref < minStepMessages || abs(i1-i3) > ref/4 {
		return 0, false, false
	}
	switch {
	case i2 <= ref/4:
		return flatStep, true, false
	case abs(i2-2*ref) <= ref/4:
		return doubleStep, true, false
	case abs(i2-ref) <= ref/4:
		return 0, false, true
	}
	return 0, false, false
}

// learnMoments takes the crossings that at least minSlipEvidence queues
// showed at one sample time, and more queues showed than stepped
// normally there, as the counters' read moments; the newest wins.
func learnMoments(moments *[nSeries]readMoment, evidence map[time.Time]*stepEvidence) {
	for at, e := range evidence {
		for x := range nSeries {
			for kind := range nStepKinds {
				n := e.steps[x][kind]
				if n < minSlipEvidence || n <= e.normal[x] || (moments[x].known && !at.After(moments[x].at)) {
					continue
				}
				moments[x] = readMoment{at: at, kind: kind, known: true}
			}
		}
	}
}

// expire forgets the read moments learnt more than phaseHorizon
// intervals before t.
func expireMoments(moments *[nSeries]readMoment, t time.Time, spacing time.Duration) {
	for x := range moments {
		if moments[x].known && t.Sub(moments[x].at) > phaseHorizon*spacing {
			moments[x] = readMoment{}
		}
	}
}
