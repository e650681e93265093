package pipeline

import "testing"

func TestTheRetryCounterIgnoresOnePollsOvercountThatTheNextTakesBack(t *testing.T) {
	var rc retryCounter
	// 10 retries a poll; the third poll's counters, read late, say 24,
	// and the fourth takes the 14 back. The counter trails by a poll: it
	// has all 50 once a poll confirms them.
	for _, r := range []float64{10, 10, 24, -4, 10, 0} {
		rc.add(r)
		if rc.exported > 50 {
			t.Fatalf("exported %v after %v: the overcount was kept", rc.exported, r)
		}
	}
	if rc.exported != 50 {
		t.Errorf("exported %v, want the 50 retries that happened", rc.exported)
	}
}

func TestTheRetryCounterNeverGoesBack(t *testing.T) {
	var rc retryCounter
	last := 0.0
	for _, r := range []float64{10, 10, -3, -3, 1, -20, 5} {
		rc.add(r)
		if rc.exported < last {
			t.Fatalf("exported went back from %v to %v", last, rc.exported)
		}
		last = rc.exported
	}
}
