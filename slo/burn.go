package slo

import (
	"sync"
	"time"
)

// BudgetConsumed is the share of an error budget that burning at rate burn
// for w consumes, for an SLO window window, under steady traffic:
// burn × w / window. For a 30-day window, 14.4 over 1h consumes 2%.
func BudgetConsumed(burn float64, w, window time.Duration) float64 {
	return burn * float64(w) / float64(window)
}

// WindowStat is one window's events and burn rate.
type WindowStat struct {
	// Label names the window by its reference length for a 30-day SLO
	// ("5m", "1h", "3d"), or "slo" for the SLO window itself. It is empty
	// for ad hoc windows.
	Label string
	// Window is the actual (scaled) length.
	Window time.Duration
	Counts
	// Burn is the burn rate, 0 without events.
	Burn float64
}

// Budget is the error budget over the SLO window.
type Budget struct {
	Counts
	// Allowed is the number of bad events the window may hold:
	// Total × (1 − Target).
	Allowed float64
	// Consumed is Bad/Allowed; 0 without events.
	Consumed float64
	// Remaining is 1 − Consumed: 1 without events, negative once the
	// budget is overspent.
	Remaining float64
}

// HasData reports whether the window holds any event.
func (b Budget) HasData() bool { return b.Total > 0 }

func budgetOf(c Counts, target float64) Budget {
	b := Budget{Counts: c, Remaining: 1}
	if c.Total > 0 {
		b.Allowed = c.Total * (1 - target)
		b.Consumed = c.Bad() / b.Allowed
		b.Remaining = 1 - b.Consumed
	}
	return b
}

// RuleStatus is the evaluation of one rule.
type RuleStatus struct {
	ScaledRule
	// Long and Short are the rule's windows.
	Long, Short WindowStat
	// Reachable is false when even 100% errors cannot reach the factor
	// (see Objective.Unreachable).
	Reachable bool
	// BelowMinEvents: the long window holds fewer events than the
	// low-traffic guard requires.
	BelowMinEvents bool
	// Burning: both windows burn at or above the factor, whether or not
	// the rule is enabled and the guard satisfied.
	Burning bool
	// Firing: enabled, burning and not below the guard.
	Firing bool
}

// TierStatus is the evaluation of one severity.
type TierStatus struct {
	Severity Severity
	// Active is true when any of its rules fires.
	Active bool
	// Fired lists the firing rules, fastest first.
	Fired []RuleID
	// Rules are the tier's rules, fastest first.
	Rules []RuleStatus
}

// Evaluation is the state of an SLO's alerts at one instant.
type Evaluation struct {
	Objective Objective
	At        time.Time
	Page      TierStatus
	Ticket    TierStatus
	// Budget is the error budget over the SLO window.
	Budget Budget
}

// Tier returns the status of severity sev.
func (e Evaluation) Tier(sev Severity) TierStatus {
	if sev == Page {
		return e.Page
	}
	return e.Ticket
}

// SLO is an objective with its event history. It is safe for concurrent
// use.
type SLO struct {
	obj Objective

	mu     sync.Mutex
	series *EventHistory
}

// New returns an SLO with no events.
func New(o Objective) (*SLO, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s, err := NewSeries(o.Window)
	if err != nil {
		return nil, err
	}
	return &SLO{obj: o, series: s}, nil
}

// Objective returns the objective.
func (s *SLO) Objective() Objective { return s.obj }

// Name returns the objective's name.
func (s *SLO) Name() string { return s.obj.Name }

// Add counts good of total events at time t; see EventHistory.Add.
func (s *SLO) Add(t time.Time, good, total float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.series.Add(t, good, total)
}

// Dropped is the number of events dropped as older than the window.
func (s *SLO) Dropped() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.series.Dropped()
}

// Window returns the events and burn rate over (now−w, now].
func (s *SLO) Window(now time.Time, w time.Duration) WindowStat {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.window(now, w, "")
}

func (s *SLO) window(now time.Time, w time.Duration, label string) WindowStat {
	c := s.series.Window(now, w)
	return WindowStat{Label: label, Window: w, Counts: c, Burn: c.BurnRate(s.obj.Target)}
}

// Budget returns the error budget over the SLO window ending at now.
func (s *SLO) Budget(now time.Time) Budget {
	s.mu.Lock()
	defer s.mu.Unlock()
	return budgetOf(s.series.Window(now, s.obj.Window), s.obj.Target)
}

// RefWindow is a window by its reference length for a 30-day SLO.
type RefWindow struct {
	Label string
	Ref   time.Duration
}

// ExportWindows returns the reference windows whose SLI and burn rate are
// exported (scaled to the SLO window, and followed by the SLO window
// itself, labelled "slo"): 5m, 30m, 1h, 2h, 6h, 1d, 3d.
func ExportWindows() []RefWindow { return append([]RefWindow(nil), exportWindows...) }

var exportWindows = []RefWindow{
	{"5m", 5 * time.Minute},
	{"30m", 30 * time.Minute},
	{"1h", time.Hour},
	{"2h", 2 * time.Hour},
	{"6h", 6 * time.Hour},
	{"1d", 24 * time.Hour},
	{"3d", 72 * time.Hour},
}

// Windows returns the events and burn rates over the export windows
// (scaled) and the SLO window, shortest first.
func (s *SLO) Windows(now time.Time) []WindowStat {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]WindowStat, 0, len(exportWindows)+1)
	for _, w := range exportWindows {
		out = append(out, s.window(now, s.obj.Scale(w.Ref), w.Label))
	}
	return append(out, s.window(now, s.obj.Window, "slo"))
}

// Evaluate evaluates the alert rules and the budget at now. It changes
// nothing: alert state (pending, resolved, re-sending) belongs to the
// caller.
func (s *SLO) Evaluate(now time.Time) Evaluation {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.obj
	ev := Evaluation{
		Objective: o,
		At:        now,
		Page:      TierStatus{Severity: Page},
		Ticket:    TierStatus{Severity: Ticket},
		Budget:    budgetOf(s.series.Window(now, o.Window), o.Target),
	}
	minEvents := o.EffectiveMinEvents()
	maxBurn := o.MaxBurnRate()
	for _, r := range o.Rules() {
		st := RuleStatus{
			ScaledRule: r,
			Long:       s.window(now, r.LongWindow, refLabel(r.Long)),
			Short:      s.window(now, r.ShortWindow, refLabel(r.Short)),
			Reachable:  burnReaches(maxBurn, r.Factor),
		}
		st.BelowMinEvents = st.Long.Total < minEvents
		st.Burning = burnReaches(st.Long.Burn, r.Factor) && burnReaches(st.Short.Burn, r.Factor)
		st.Firing = r.Enabled && st.Burning && !st.BelowMinEvents
		tier := &ev.Page
		if r.Severity == Ticket {
			tier = &ev.Ticket
		}
		tier.Rules = append(tier.Rules, st)
		if st.Firing {
			tier.Active = true
			tier.Fired = append(tier.Fired, r.ID)
		}
	}
	return ev
}

func refLabel(ref time.Duration) string {
	for _, w := range exportWindows {
		if w.Ref == ref {
			return w.Label
		}
	}
	return FormatDuration(ref)
}
