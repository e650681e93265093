package slo

import (
	"math"
	"testing"
	"time"
)

func TestTrendIsWhatWindowsAndBudgetSayAtEachPointAndMarksWindowsNoLongerHeld(t *testing.T) {
	o := Objective{Name: "t", Target: 0.9, Window: 30 * 24 * time.Hour}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	// Ten hours of events, the last two all bad.
	for m := 600; m > 0; m-- {
		good := 10.0
		if m <= 120 {
			good = 0
		}
		if err := s.Add(now.Add(-time.Duration(m)*time.Minute), good, 10); err != nil {
			t.Fatal(err)
		}
	}
	points := s.Trend(now, 10*time.Hour, 10)
	if len(points) != 10 || !points[9].At.Equal(now) || !points[0].At.Equal(now.Add(-9*time.Hour)) {
		t.Fatalf("points at %v … %v, want 10 from now−9h to now", points[0].At, points[len(points)-1].At)
	}
	for _, p := range points {
		if p.Budget != s.Budget(p.At) {
			t.Errorf("budget at %v: %+v, Budget says %+v", p.At, p.Budget, s.Budget(p.At))
		}
		ws := s.Windows(p.At)
		for i, w := range p.Windows {
			if w != ws[i] {
				t.Errorf("window %s at %v: %+v, Windows says %+v", w.Label, p.At, w, ws[i])
			}
		}
	}
	last, first := points[9], points[0]
	if last.Windows[0].Label != "5m" || math.Abs(last.Windows[0].Burn-10) > 1e-9 || !last.Held[0] {
		t.Errorf("5m at now: %+v held %v, want burn 10 (all bad, 10%% allowed)", last.Windows[0], last.Held[0])
	}
	// The fine ring spans 6h: at now−9h it no longer holds the 5m
	// window; the coarse ring serving 1d still does.
	if first.Held[0] || !last.Held[4] || points[6].Held[4] {
		t.Errorf("held: 5m at now−9h %v, 6h at now %v, 6h at now−3h %v; want false, true, false", first.Held[0], last.Held[4], points[6].Held[4])
	}
	if i := 5; first.Windows[i].Label != "1d" || !first.Held[i] {
		t.Errorf("%s at now−9h held %v, want true", first.Windows[i].Label, first.Held[i])
	}
	if first.Budget.Remaining != 1 || last.Budget.Remaining >= 0 {
		t.Errorf("budget %v at the start, %v at the end; want 1 then overspent", first.Budget.Remaining, last.Budget.Remaining)
	}
}
