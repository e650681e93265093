package slo

import (
	"math"
	"testing"
	"time"
)

func mustNew(t testing.TB, o Objective) *SLO {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBurnRateHandComputed(t *testing.T) {
	cases := []struct {
		c      Counts
		target float64
		want   float64
	}{
		{Counts{990, 1000}, 0.99, 1},       // exactly on budget
		{Counts{990, 1000}, 0.95, 0.2},     // 1% errors of 5% allowed
		{Counts{95, 100}, 0.95, 1},         // 5% of 5%
		{Counts{0, 100}, 0.999, 1000},      // total outage of a 99.9% SLO
		{Counts{9856, 10000}, 0.999, 14.4}, // the page threshold
		{Counts{100, 100}, 0.999, 0},       // all good
		{Counts{0, 0}, 0.999, 0},           // no data burns nothing
		{Counts{0.5, 2}, 0.5, 1.5},         // fractional counts
	}
	for _, c := range cases {
		if got := c.c.BurnRate(c.target); !approx(got, c.want, 1e-9*c.want) {
			t.Errorf("%+v at %v: burn %v, want %v", c.c, c.target, got, c.want)
		}
	}
}

func TestWorkbookBudgetConsumptionExamples(t *testing.T) {
	// SRE Workbook ch. 5, table 5-8, for a 99.9% SLO over 30 days.
	cases := []struct {
		burn     float64
		w        time.Duration
		consumed float64
	}{
		{14.4, time.Hour, 0.02},
		{6, 6 * time.Hour, 0.05},
		{3, day, 0.10},
		{1, 3 * day, 0.10},
	}
	for _, c := range cases {
		if got := BudgetConsumed(c.burn, c.w, 30*day); !approx(got, c.consumed, 1e-12) {
			t.Errorf("formula: burn %v over %v consumes %v, want %v", c.burn, c.w, got, c.consumed)
		}
		// The same through the event store: 30 days of one event a minute,
		// all good except the last w, which burns at c.burn.
		o := Objective{Name: "x", Target: 0.999, Window: 30 * day}
		s := mustNew(t, o)
		start := time.Unix(1_700_000_400, 0) // on a 10-minute boundary
		now := start.Add(30 * day)
		errRatio := c.burn * (1 - o.Target)
		for ts := start.Add(30 * time.Second); ts.Before(now); ts = ts.Add(time.Minute) {
			good := 1.0
			if now.Sub(ts) < c.w {
				good = 1 - errRatio
			}
			mustAdd(t, s, ts, good, 1)
		}
		if got := s.Window(now, c.w).Burn; !approx(got, c.burn, 1e-9*c.burn) {
			t.Errorf("store: burn over %v = %v, want %v", c.w, got, c.burn)
		}
		b := s.Budget(now)
		if b.Total != 43200 || !approx(b.Consumed, c.consumed, 1e-9) || !approx(b.Remaining, 1-c.consumed, 1e-9) {
			t.Errorf("store: burn %v over %v: budget %+v, want consumed %v", c.burn, c.w, b, c.consumed)
		}
	}
}

// fireTimes injects 100% errors from t0 into steady traffic (one event per
// step, all good before t0) and returns, per rule, how long errors had
// lasted when the rule first fired.
func fireTimes(t *testing.T, o Objective, step time.Duration) map[RuleID]time.Duration {
	t.Helper()
	s := mustNew(t, o)
	t0 := base
	for ts := t0.Add(-o.Scale(3 * day)); ts.Before(t0); ts = ts.Add(step) {
		mustAdd(t, s, ts, 1, 1)
	}
	fired := map[RuleID]time.Duration{}
	enabled := 0
	for _, r := range o.Rules() {
		if r.Enabled {
			enabled++
		}
	}
	for ts := t0; ts.Before(t0.Add(o.Scale(6 * time.Hour))); ts = ts.Add(step) {
		mustAdd(t, s, ts, 0, 1)
		ev := s.Evaluate(ts)
		for _, tier := range []TierStatus{ev.Page, ev.Ticket} {
			for _, id := range tier.Fired {
				if _, ok := fired[id]; !ok {
					fired[id] = ts.Sub(t0) + step // errors have lasted this long
				}
			}
		}
		if len(fired) == enabled {
			break
		}
	}
	return fired
}

func TestTimeToFireWithTotalOutage(t *testing.T) {
	cases := []struct {
		window, step time.Duration
	}{
		{30 * day, time.Second},
		{28 * day, time.Second},
		{time.Hour, time.Millisecond}, // compressed, as the end-to-end tests run
	}
	for _, c := range cases {
		o := Objective{Name: "x", Target: 0.999, Window: c.window}
		got := fireTimes(t, o, c.step)
		bucket := LayoutFor(c.window).FineWidth
		for _, r := range o.Rules() {
			// Burn 1000: the long window reaches the factor after
			// long × factor / 1000 (51.84 s for 1h at 14.4); the short one
			// sooner.
			want := time.Duration(float64(r.LongWindow) * r.Factor * (1 - o.Target))
			d, ok := got[r.ID]
			if !ok {
				t.Errorf("window %v: %s never fired (want after %v)", c.window, r.ID, want)
				continue
			}
			t.Logf("window %-8v %-11s fired after %-12v computed %-12v (bucket %v)", c.window, r.ID, d, want, bucket)
			if diff := (d - want).Abs(); diff > bucket {
				t.Errorf("window %v: %s fired after %v, computed %v: off by more than one bucket (%v)", c.window, r.ID, d, want, bucket)
			}
		}
	}
}

func TestPageFastFiresFirstAndNamesItsRule(t *testing.T) {
	o := Objective{Name: "x", Target: 0.999, Window: 30 * day}
	s := mustNew(t, o)
	for ts := base.Add(-73 * time.Hour); ts.Before(base); ts = ts.Add(time.Second) {
		mustAdd(t, s, ts, 1, 1)
	}
	for ts := base; ts.Before(base.Add(60 * time.Second)); ts = ts.Add(time.Second) {
		mustAdd(t, s, ts, 0, 1)
	}
	ev := s.Evaluate(base.Add(59 * time.Second))
	if !ev.Page.Active || len(ev.Page.Fired) != 1 || ev.Page.Fired[0] != PageFast {
		t.Fatalf("page %+v", ev.Page)
	}
	if ev.Ticket.Active {
		t.Fatalf("ticket active after a minute: %+v", ev.Ticket)
	}
	fast := ev.Page.Rules[0]
	if fast.ID != PageFast || fast.Long.Label != "1h" || fast.Short.Label != "5m" || fast.Long.Burn < 14.4 || fast.Short.Burn < 14.4 {
		t.Fatalf("page_fast status %+v", fast)
	}
	// Short window: 60 bad of 300 → burn 200; long: 60 of 3600 → 16.7.
	if !approx(fast.Short.Burn, 200, 1) || !approx(fast.Long.Burn, 1000.0*60/3600, 0.3) {
		t.Errorf("burns long %v short %v", fast.Long.Burn, fast.Short.Burn)
	}
}

func TestShortWindowResetsTheAlertWhenErrorsStop(t *testing.T) {
	o := Objective{Name: "x", Target: 0.999, Window: 30 * day}
	s := mustNew(t, o)
	ts := base.Add(-7 * time.Hour)
	for ; ts.Before(base); ts = ts.Add(time.Second) {
		mustAdd(t, s, ts, 1, 1)
	}
	for ; ts.Before(base.Add(2 * time.Minute)); ts = ts.Add(time.Second) {
		mustAdd(t, s, ts, 0, 1)
	}
	if !s.Evaluate(ts).Page.Active {
		t.Fatal("not paging during the outage")
	}
	for ; ts.Before(base.Add(10 * time.Minute)); ts = ts.Add(time.Second) {
		mustAdd(t, s, ts, 1, 1)
	}
	ev := s.Evaluate(ts)
	if ev.Page.Active {
		t.Fatalf("still paging 8 minutes after recovery: %+v", ev.Page.Rules[0])
	}
	if ev.Page.Rules[0].Long.Burn < 14.4 {
		t.Fatalf("the long window should still burn (it remembers the outage): %v", ev.Page.Rules[0].Long.Burn)
	}
}

func TestOneBadMessageInAQuietHourDoesNotPage(t *testing.T) {
	o := Objective{Name: "x", Target: 0.999, Window: 30 * day}
	s := mustNew(t, o)
	for i := 0; i < 4; i++ { // 4 good messages this hour
		mustAdd(t, s, base.Add(-time.Duration(10+10*i)*time.Minute), 1, 1)
	}
	mustAdd(t, s, base.Add(-time.Minute), 0, 1) // and one bad one
	ev := s.Evaluate(base)
	fast := ev.Page.Rules[0]
	if !fast.Burning || !fast.BelowMinEvents || fast.Firing || ev.Page.Active {
		t.Fatalf("page_fast %+v, page active %v: want burning but held by the guard", fast, ev.Page.Active)
	}
	// The same with the guard off pages.
	o.MinEvents = -1
	s2 := mustNew(t, o)
	for i := 0; i < 4; i++ {
		mustAdd(t, s2, base.Add(-time.Duration(10+10*i)*time.Minute), 1, 1)
	}
	mustAdd(t, s2, base.Add(-time.Minute), 0, 1)
	if !s2.Evaluate(base).Page.Active {
		t.Fatal("guard off: one bad of five should page a 99.9% SLO")
	}
}

func TestLowTrafficGuardCountsTheLongWindow(t *testing.T) {
	o := Objective{Name: "x", Target: 0.99, Window: 30 * day, MinEvents: 20}
	s := mustNew(t, o)
	// 19 events in the hour, all bad: held. The 20th lets it fire.
	for i := 0; i < 19; i++ {
		mustAdd(t, s, base.Add(-time.Duration(i)*time.Minute), 0, 1)
	}
	if s.Evaluate(base).Page.Active {
		t.Fatal("fired with 19 < 20 events in the long window")
	}
	mustAdd(t, s, base, 0, 1)
	if ev := s.Evaluate(base); !ev.Page.Active {
		t.Fatalf("did not fire with 20 events: %+v", ev.Page.Rules[0])
	}
}

func TestEmptySLOEvaluatesToNoDataWithoutNaN(t *testing.T) {
	s := mustNew(t, Objective{Name: "x", Target: 0.95, Window: 28 * day})
	ev := s.Evaluate(base)
	if ev.Page.Active || ev.Ticket.Active {
		t.Fatal("alerting without events")
	}
	for _, tier := range []TierStatus{ev.Page, ev.Ticket} {
		for _, r := range tier.Rules {
			for _, w := range []WindowStat{r.Long, r.Short} {
				if _, ok := w.SLI(); ok || w.Burn != 0 || math.IsNaN(w.Burn) {
					t.Errorf("%s %s: %+v", r.ID, w.Label, w)
				}
			}
		}
	}
	if ev.Budget.HasData() || ev.Budget.Remaining != 1 || ev.Budget.Consumed != 0 {
		t.Fatalf("budget without events %+v, want remaining 1", ev.Budget)
	}
	for _, w := range s.Windows(base) {
		if _, ok := w.SLI(); ok || math.IsNaN(w.Burn) || w.Burn != 0 {
			t.Errorf("export window %s: %+v", w.Label, w)
		}
	}
}

func TestBudgetGoesNegativeWhenOverspent(t *testing.T) {
	s := mustNew(t, Objective{Name: "x", Target: 0.999, Window: 28 * day})
	mustAdd(t, s, base, 0, 100)
	b := s.Budget(base)
	// 100 bad of 0.1 allowed: 1000× the budget.
	if !approx(b.Remaining, -999, 1e-9) || !approx(b.Allowed, 0.1, 1e-12) || b.Bad() != 100 {
		t.Fatalf("budget %+v, want remaining −999", b)
	}
}

func TestDisablingPageFastLeavesPageSlow(t *testing.T) {
	o := Objective{Name: "x", Target: 0.999, Window: 30 * day, Page: TierSwitch{DisableFast: true}}
	got := fireTimes(t, o, time.Second)
	if _, ok := got[PageFast]; ok {
		t.Fatal("disabled page_fast fired")
	}
	if d, ok := got[PageSlow]; !ok || (d-129600*time.Millisecond).Abs() > time.Minute {
		t.Fatalf("page_slow fired after %v (%v), want about 129.6 s", d, ok)
	}
	// The status still shows it burning, for dashboards and debugging.
	s := mustNew(t, o)
	mustAdd(t, s, base, 0, 100)
	fast := s.Evaluate(base).Page.Rules[0]
	if fast.Enabled || !fast.Burning || fast.Firing {
		t.Fatalf("disabled rule status %+v", fast)
	}
}

func TestEachRuleCanBeDisabledAlone(t *testing.T) {
	for _, id := range []RuleID{PageFast, PageSlow, TicketFast, TicketSlow} {
		o := Objective{Name: "x", Target: 0.99, Window: 30 * day}
		switch id {
		case PageFast:
			o.Page.DisableFast = true
		case PageSlow:
			o.Page.DisableSlow = true
		case TicketFast:
			o.Ticket.DisableFast = true
		case TicketSlow:
			o.Ticket.DisableSlow = true
		}
		s := mustNew(t, o)
		mustAdd(t, s, base, 0, 1000) // every window burns at 100
		ev := s.Evaluate(base)
		for _, tier := range []TierStatus{ev.Page, ev.Ticket} {
			for _, r := range tier.Rules {
				if r.Firing == (r.ID == id) {
					t.Errorf("disabling %s: %s firing=%v", id, r.ID, r.Firing)
				}
			}
		}
	}
}

func TestUnreachableRuleNeverFiresAt90Percent(t *testing.T) {
	s := mustNew(t, Objective{Name: "x", Target: 0.90, Window: 28 * day})
	mustAdd(t, s, base, 0, 1000) // total outage: burn 10 < 14.4
	ev := s.Evaluate(base)
	fast, slow := ev.Page.Rules[0], ev.Page.Rules[1]
	if fast.Reachable || fast.Firing || !slow.Reachable || !slow.Firing {
		t.Fatalf("page_fast %+v\npage_slow %+v", fast, slow)
	}
	if !approx(fast.Long.Burn, 10, 1e-9) {
		t.Fatalf("max burn %v, want 10", fast.Long.Burn)
	}
}

func TestExportWindowsAreScaled(t *testing.T) {
	o := Objective{Name: "x", Target: 0.95, Window: 28 * day}
	s := mustNew(t, o)
	mustAdd(t, s, base, 9, 10) // 10% errors: burn 2 everywhere
	ws := s.Windows(base)
	wantLabels := []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d", "slo"}
	if len(ws) != len(wantLabels) {
		t.Fatalf("%d windows", len(ws))
	}
	for i, w := range ws {
		want := o.Window
		if i < len(wantLabels)-1 {
			want = o.Scale(ExportWindows()[i].Ref)
		}
		if w.Label != wantLabels[i] || w.Window != want || !approx(w.Burn, 2, 1e-12) {
			t.Errorf("window %d: %+v, want %s %v burn 2", i, w, wantLabels[i], want)
		}
		if sli, ok := w.SLI(); !ok || sli != 0.9 {
			t.Errorf("window %s: SLI %v %v", w.Label, sli, ok)
		}
	}
	if ws[0].Window != 4*time.Minute+40*time.Second || ws[6].Window != 67*time.Hour+12*time.Minute {
		t.Errorf("28d: 5m→%v, 3d→%v", ws[0].Window, ws[6].Window)
	}
}
