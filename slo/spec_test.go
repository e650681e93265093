package slo

import (
	"math"
	"strings"
	"testing"
	"time"
)

const day = 24 * time.Hour

func TestRuleWindowsScaleWithTheSLOWindow(t *testing.T) {
	type win struct{ long, short time.Duration }
	cases := []struct {
		window time.Duration
		want   map[RuleID]win
	}{
		{30 * day, map[RuleID]win{ // the Workbook's own table
			PageFast:   {time.Hour, 5 * time.Minute},
			PageSlow:   {6 * time.Hour, 30 * time.Minute},
			TicketFast: {day, 2 * time.Hour},
			TicketSlow: {3 * day, 6 * time.Hour},
		}},
		{28 * day, map[RuleID]win{ // × 28/30
			PageFast:   {56 * time.Minute, 4*time.Minute + 40*time.Second},
			PageSlow:   {5*time.Hour + 36*time.Minute, 28 * time.Minute},
			TicketFast: {22*time.Hour + 24*time.Minute, time.Hour + 52*time.Minute},
			TicketSlow: {2*day + 19*time.Hour + 12*time.Minute, 5*time.Hour + 36*time.Minute},
		}},
		{time.Hour, map[RuleID]win{ // compressed, for end-to-end tests: × 1/720
			PageFast:   {5 * time.Second, 416666666 * time.Nanosecond},
			PageSlow:   {30 * time.Second, 2500 * time.Millisecond},
			TicketFast: {2 * time.Minute, 10 * time.Second},
			TicketSlow: {6 * time.Minute, 30 * time.Second},
		}},
	}
	for _, c := range cases {
		o := Objective{Name: "x", Target: 0.99, Window: c.window}
		for _, r := range o.Rules() {
			w := c.want[r.ID]
			if r.LongWindow != w.long || r.ShortWindow != w.short {
				t.Errorf("window %v, %s: got %v & %v, want %v & %v", c.window, r.ID, r.LongWindow, r.ShortWindow, w.long, w.short)
			}
			t.Logf("window %-9v %-11s burn ≥ %-4g over %-10v and %v", c.window, r.ID, r.Factor, r.LongWindow, r.ShortWindow)
		}
	}
}

func TestRulesKeepTheWorkbookBurnFactors(t *testing.T) {
	want := map[RuleID]float64{PageFast: 14.4, PageSlow: 6, TicketFast: 3, TicketSlow: 1}
	for _, r := range (Objective{Name: "x", Target: 0.9, Window: time.Hour}).Rules() {
		if r.Factor != want[r.ID] {
			t.Errorf("%s factor %v, want %v", r.ID, r.Factor, want[r.ID])
		}
	}
}

func TestUnreachableTiersFor90Percent(t *testing.T) {
	o := Objective{Name: "billing", Target: 0.90, Window: 28 * day}
	got := o.Unreachable()
	if len(got) != 1 {
		t.Fatalf("got %d reasons, want 1 (page_fast): %q", len(got), got)
	}
	for _, want := range []string{`"billing"`, "page_fast", "144%", "14.4"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("reason %q does not mention %q", got[0], want)
		}
	}
	t.Log(got[0])
}

func TestUnreachableTiersFor80PercentIncludePageSlow(t *testing.T) {
	got := Objective{Name: "x", Target: 0.80, Window: 28 * day}.Unreachable()
	if len(got) != 2 || !strings.Contains(got[0], "page_fast") || !strings.Contains(got[1], "page_slow") {
		t.Fatalf("got %q, want page_fast (288%%) and page_slow (120%%)", got)
	}
}

func TestNoUnreachableTiersFor95Percent(t *testing.T) {
	if got := (Objective{Name: "x", Target: 0.95, Window: 28 * day}).Unreachable(); got != nil {
		t.Fatalf("14.4 × 5%% = 72%% is reachable, got %q", got)
	}
}

func TestDisabledUnreachableRuleIsNotReported(t *testing.T) {
	o := Objective{Name: "x", Target: 0.90, Window: 28 * day, Page: TierSwitch{DisableFast: true}}
	if got := o.Unreachable(); got != nil {
		t.Fatalf("got %q", got)
	}
}

func TestValidateRejectsBadObjectives(t *testing.T) {
	ok := Objective{Name: "x", Target: 0.95, Window: 28 * day}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Objective{
		{Name: "", Target: 0.95, Window: day},
		{Name: "x", Target: 95, Window: day},
		{Name: "x", Target: 1, Window: day},
		{Name: "x", Target: 0, Window: day},
		{Name: "x", Target: 0.95, Window: 30 * time.Second},
		{Name: "x", Target: 0.95, Window: day, MinEvents: math.Inf(1)},
	}
	for _, o := range bad {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v: no error", o)
		}
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v): no error", o)
		}
	}
}

func TestMinEventsZeroMeansDefaultNegativeMeansOff(t *testing.T) {
	if got := (Objective{}).EffectiveMinEvents(); got != DefaultMinEvents {
		t.Errorf("zero: %v", got)
	}
	if got := (Objective{MinEvents: -1}).EffectiveMinEvents(); got != 0 {
		t.Errorf("negative: %v", got)
	}
	if got := (Objective{MinEvents: 50}).EffectiveMinEvents(); got != 50 {
		t.Errorf("50: %v", got)
	}
}

func TestEngineRejectsDuplicateNames(t *testing.T) {
	o := Objective{Name: "x", Target: 0.95, Window: day}
	_, err := NewEngine(o, o)
	if err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("err = %v", err)
	}
}
