package timeinqueue

import (
	"slices"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// quorumTick is how often a quorum queue reports its depth, whatever the
// stats interval (the broker's quorum_tick_interval, 5 s by default).
const quorumTick = 5 * time.Second

// otherWindow is how much earlier than the counters the broker may have
// read a queue's depth: the queue reports it every stats interval (a
// quorum queue every tick), and the sample history files it up to an
// interval later.
func otherWindow(queueType string, spacing time.Duration) time.Duration {
	if queueType == "quorum" {
		return max(quorumTick, spacing) + 2*spacing
	}
	return 2 * spacing
}

// sampleSpacing is the interval of a sample history: the shortest gap
// between consecutive samples, or known when there is no gap to measure.
func sampleSpacing(samples []snapshot.Sample, known time.Duration) time.Duration {
	var spacing time.Duration
	for i := 1; i < len(samples); i++ {
		if gap := samples[i].Time.Sub(samples[i-1].Time); gap > 0 && (spacing == 0 || gap < spacing) {
			spacing = gap
		}
	}
	if spacing == 0 {
		return known
	}
	return spacing
}

// skewEvidenceSize bounds how many recent measurements of the skew
// between the publish and the completion counters are kept per target.
const skewEvidenceSize = 512

// skewHorizon is how many sample intervals back measurements of the skew
// still count. The collectors' timers drift and jump when the broker is
// busy, so the skew changes over minutes; a short horizon follows it.
const skewHorizon = 10

// skewEstimator learns, for one target, how much later within each
// sample interval the broker reads the completion counters than the
// publish counter.
//
// The broker reads both with node-wide metrics collectors, one per
// table, each on its own timer: every queue's publish counter at one
// moment of the interval, every queue's completion counters at another.
// Neither moment is in the API; their difference shows in queues with
// steady traffic, where arrivals and completions run at the same rate r
// and the depth stands still: there, arrivals − completions − depth =
// −r × skew, whatever the depth's own lag. The estimate is the median of
// the measurements of all such queues over the last skewHorizon
// intervals, so a few queues whose depth also loses messages some other
// way (expiry, dead-lettering) do not move it.
type skewEstimator struct {
	measured []skewMeasurement // in the order measured
	current  time.Duration
	// at holds, for each sample time at least minSlipEvidence queues
	// measured, the median of their measurements (see alignmentAt).
	at map[time.Time]time.Duration
	// steps holds the poll's evidence of crossings (see phase.go), and
	// moments the counters' read moments learnt from them.
	steps   map[time.Time]*stepEvidence
	moments [nSeries]readMoment
}

// minSlipEvidence is how many queues must measure the skew at one sample
// time for that time's own skew to stand against the recent median.
const minSlipEvidence = 3

type skewMeasurement struct {
	at   time.Time
	skew time.Duration
}

// learn measures the skew in the samples of one queue that are new to q.
func (k *skewEstimator) learn(q *queueState, samples []snapshot.Sample) {
	prev, hasPrev := q.curves.prev, q.curves.hasPrev
	added := false
	if k.steps == nil {
		k.steps = map[time.Time]*stepEvidence{}
	}
	for _, s := range samples {
		if hasPrev && !s.Time.After(prev.Time) {
			continue
		}
		q.recent = recentWith(q.recent, s)
		observeSteps(q.recent, k.steps)
		if hasPrev && s.Published >= prev.Published && s.Completed >= prev.Completed {
			if skew, ok := measureSkew(prev, s); ok {
				k.measured = append(k.measured, skewMeasurement{at: s.Time, skew: skew})
				added = true
			}
		}
		prev, hasPrev = s, true
	}
	if !added {
		return
	}
	newest := k.measured[len(k.measured)-1].at
	for _, m := range k.measured {
		newest = later(newest, m.at)
	}
	horizon := newest.Add(-skewHorizon * q.latest.spacing)
	k.measured = slices.DeleteFunc(k.measured, func(m skewMeasurement) bool { return m.at.Before(horizon) })
	if excess := len(k.measured) - skewEvidenceSize; excess > 0 {
		k.measured = slices.Delete(k.measured, 0, excess)
	}
	skews := make([]time.Duration, len(k.measured))
	for i, m := range k.measured {
		skews[i] = m.skew
	}
	slices.Sort(skews)
	k.current = skews[len(skews)/2]
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// measureSkew measures the skew at s when the queue's traffic between
// prev and s was steady: at least minSteadyMessages arrived, as many
// completed (within a quarter), and the depth stood still (within a
// quarter of the arrivals).
func measureSkew(prev, s snapshot.Sample) (time.Duration, bool) {
	const minSteadyMessages = 4
	arrived := float64(s.Published - prev.Published)
	completed := float64(s.Completed - prev.Completed)
	deeper := float64(s.Messages - prev.Messages)
	if arrived < minSteadyMessages || abs(arrived-completed) > arrived/4 || abs(deeper) > arrived/4 {
		return 0, false
	}
	gap := s.Time.Sub(prev.Time)
	rate := (arrived + completed) / 2 / gap.Seconds()
	excess := float64(s.Published) - float64(s.Completed) - float64(s.Messages)
	skew := time.Duration(-excess / rate * float64(time.Second))
	return max(-gap, min(gap, skew)), true
}

func abs(x float64) float64 { return max(x, -x) }

// settle takes the measurements of the poll just learnt: the median of
// each sample time that enough queues measured.
func (k *skewEstimator) settle() {
	learnMoments(&k.moments, k.steps)
	clear(k.steps)
	byTime := map[time.Time][]time.Duration{}
	for _, m := range k.measured {
		byTime[m.at] = append(byTime[m.at], m.skew)
	}
	clear(k.at)
	if k.at == nil {
		k.at = map[time.Time]time.Duration{}
	}
	for t, skews := range byTime {
		if len(skews) >= minSlipEvidence {
			slices.Sort(skews)
			k.at[t] = skews[len(skews)/2]
		}
	}
}

// alignmentAt is how to align a sample taken at t, of a queue whose
// samples are spaced spacing apart, with what has been learnt so far.
// The counter read later is moved back by the skew; the other was read,
// as far as anyone can tell, uniformly within the part of the interval
// that leaves room for the skew after it, so the point stands for the
// middle of that part.
//
// The skew is the median of the last skewHorizon intervals, except at a
// sample time where the queues that measured it agree on a skew more
// than half an interval away from that: the broker's collectors slipped.
// When one of them misses an emission (a busy node), its counters are
// filed an interval late, every queue's at once, for a few samples; the
// recent median, which that handful of samples cannot move, would read
// them as an interval of no departures followed by a late one, a second
// too long for every message that left then (measured in a ground-truth
// run: the completion counters slipped at one sample and the publish
// counter four samples later, while the median stayed within 0.14 s).
// A sample that measured nothing takes the next one's slip, for the
// sample where the slip began.
func (k *skewEstimator) alignmentAt(t time.Time, spacing time.Duration) alignment {
	skew := k.current
	slipped, ok := k.at[t]
	if !ok {
		// The sample where a collector slips measures nothing: its
		// counter did not move, so its queues were not steady. The
		// next sample's agreement tells.
		slipped, ok = k.at[t.Add(spacing)]
	}
	if ok && abs(float64(slipped-skew)) > float64(spacing)/2 {
		skew = slipped
	}
	skew = max(-spacing, min(spacing, skew))
	expireMoments(&k.moments, t, spacing)
	p, c := k.moments[publishSeries], k.moments[completionSeries]
	switch {
	case p.known && c.known:
		lagP, lagC := p.lagAt(t, spacing), c.lagAt(t, spacing)
		return alignment{skew: lagP - lagC, lag: max(lagP, lagC)}
	case p.known:
		lagP := p.lagAt(t, spacing)
		lagC := max(0, min(spacing, lagP-skew))
		return alignment{skew: lagP - lagC, lag: max(lagP, lagC)}
	case c.known:
		lagC := c.lagAt(t, spacing)
		lagP := max(0, min(spacing, lagC+skew))
		return alignment{skew: lagP - lagC, lag: max(lagP, lagC)}
	}
	return alignment{skew: skew, lag: (spacing + max(skew, -skew)) / 2}
}

// recentWith is w with s appended, at most stepWindow+1 long; a counter
// that went back starts it again.
func recentWith(w []snapshot.Sample, s snapshot.Sample) []snapshot.Sample {
	if n := len(w); n > 0 && (s.Published < w[n-1].Published || s.Completed < w[n-1].Completed) {
		w = w[:0]
	}
	if len(w) == stepWindow+1 {
		w = append(w[:0], w[1:]...)
	}
	return append(w, s)
}
