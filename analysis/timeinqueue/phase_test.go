package timeinqueue

import (
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// steppingQueue is the last four one-second samples of a queue taking 10
// messages a second, whose publish counter stepped as step says at the
// third.
func steppingQueue(step float64) []snapshot.Sample {
	var w []snapshot.Sample
	for s := range 4 {
		pub := 10 * float64(s)
		if s >= 2 {
			pub += 10 * (step - 1)
		}
		w = append(w, snapshot.Sample{Time: t0.Add(time.Duration(s) * time.Second), Published: uint64(100 + pub), Completed: uint64(100 + 10*s), Messages: 0})
	}
	return w
}

// momentsFrom are the read moments learnt from the windows.
func momentsFrom(windows ...[]snapshot.Sample) [nSeries]readMoment {
	evidence := map[time.Time]*stepEvidence{}
	for _, w := range windows {
		observeSteps(w, evidence)
	}
	var moments [nSeries]readMoment
	learnMoments(&moments, evidence)
	return moments
}

// repeated is n copies of the window.
func repeated(n int, w []snapshot.Sample) [][]snapshot.Sample {
	out := make([][]snapshot.Sample, n)
	for i := range out {
		out[i] = w
	}
	return out
}

func TestAFlatStepOnEnoughQueuesTeachesThatTheCounterIsReadJustAfterTheSampleTimes(t *testing.T) {
	moments := momentsFrom(repeated(minSlipEvidence, steppingQueue(0))...)
	p := moments[publishSeries]
	if !p.known || p.kind != flatStep || !p.at.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("publish read moment = %+v, want a flat step at second 2", p)
	}
	if moments[completionSeries].known {
		t.Errorf("the completions stepped normally, yet a read moment was learnt for them: %+v", moments[completionSeries])
	}
	// From the step on, the counter is an interval stale at every sample
	// time, and at a sample time 300 ms later, 300 ms stale.
	if lag := p.lagAt(t0.Add(5*time.Second), time.Second); lag < 990*time.Millisecond {
		t.Errorf("lag after the flat step = %v, want nearly the whole interval", lag)
	}
	if lag := p.lagAt(t0.Add(5300*time.Millisecond), time.Second); lag < 290*time.Millisecond || lag > 310*time.Millisecond {
		t.Errorf("lag 300 ms after a sample time = %v, want 300ms", lag)
	}
	// Before the step it was read just before the sample times.
	if lag := p.lagAt(t0.Add(time.Second), time.Second); lag > 10*time.Millisecond {
		t.Errorf("lag before the flat step = %v, want nearly none", lag)
	}
}

func TestADoubleStepTeachesThatTheCounterIsReadJustBeforeTheSampleTimes(t *testing.T) {
	p := momentsFrom(repeated(minSlipEvidence, steppingQueue(2))...)[publishSeries]
	if !p.known || p.kind != doubleStep {
		t.Fatalf("publish read moment = %+v, want a double step", p)
	}
	if lag := p.lagAt(t0.Add(5*time.Second), time.Second); lag > 10*time.Millisecond {
		t.Errorf("lag after the double step = %v, want nearly none", lag)
	}
}

func TestAPauseOfAFewPublishersTeachesNothing(t *testing.T) {
	if m := momentsFrom(repeated(minSlipEvidence-1, steppingQueue(0))...)[publishSeries]; m.known {
		t.Errorf("fewer than %d queues stepped, yet a read moment was learnt: %+v", minSlipEvidence, m)
	}
	// Nor where more queues stepped normally at the same sample time.
	windows := append(repeated(minSlipEvidence, steppingQueue(0)), repeated(minSlipEvidence+1, steppingQueue(1))...)
	if m := momentsFrom(windows...)[publishSeries]; m.known {
		t.Errorf("more queues stepped normally, yet a read moment was learnt: %+v", m)
	}
}

func TestALearntReadMomentIsForgottenAfterItsHorizon(t *testing.T) {
	moments := [nSeries]readMoment{publishSeries: {at: t0, kind: flatStep, known: true}}
	expireMoments(&moments, t0.Add(phaseHorizon*time.Second), time.Second)
	if !moments[publishSeries].known {
		t.Fatal("forgotten within its horizon")
	}
	expireMoments(&moments, t0.Add((phaseHorizon+1)*time.Second), time.Second)
	if moments[publishSeries].known {
		t.Error("still known past its horizon")
	}
}

func TestBothCountersSteppingFlatAtOnceTeachBothReadMoments(t *testing.T) {
	w := steppingQueue(0)
	for i := 2; i < len(w); i++ {
		w[i].Completed -= 10 // the completions stepped flat at the third sample too
	}
	for x, m := range momentsFrom(repeated(minSlipEvidence, w)...) {
		if !m.known || m.kind != flatStep {
			t.Errorf("series %d: read moment %+v, want a flat step", x, m)
		}
	}
}
