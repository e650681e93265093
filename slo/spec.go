package slo

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ReferenceWindow is the SLO window the SRE Workbook's table 5-8 is written
// for. BurnRule windows are scaled by Objective.Window / ReferenceWindow.
const ReferenceWindow = 30 * 24 * time.Hour

// MinWindow is the shortest SLO window accepted; it keeps the finest bucket
// (Window/43200) above a millisecond.
const MinWindow = time.Minute

// DefaultMinEvents is the low-traffic guard used when Objective.MinEvents is
// zero: a rule fires only when its long window holds at least this many
// events. See the package documentation for why ten.
const DefaultMinEvents = 10

// Severity is the alert tier of a rule.
type Severity int

const (
	// Page wakes someone up.
	Page Severity = iota
	// Ticket is dealt with in working hours.
	Ticket
)

func (s Severity) String() string {
	switch s {
	case Page:
		return "page"
	case Ticket:
		return "ticket"
	}
	return "Severity(" + strconv.Itoa(int(s)) + ")"
}

// RuleID names one of the four multiwindow burn-rate rules.
type RuleID int

const (
	// PageFast: burn ≥ 14.4 over 1h and over 5m (2% of a 30-day budget
	// in an hour).
	PageFast RuleID = iota
	// PageSlow: burn ≥ 6 over 6h and over 30m (5% in six hours).
	PageSlow
	// TicketFast: burn ≥ 3 over 1d and over 2h (10% in a day).
	TicketFast
	// TicketSlow: burn ≥ 1 over 3d and over 6h (10% in three days).
	TicketSlow
)

func (id RuleID) String() string {
	switch id {
	case PageFast:
		return "page_fast"
	case PageSlow:
		return "page_slow"
	case TicketFast:
		return "ticket_fast"
	case TicketSlow:
		return "ticket_slow"
	}
	return "RuleID(" + strconv.Itoa(int(id)) + ")"
}

// BurnRule is a multiwindow burn-rate alert rule. Long and Short are the
// reference windows for a 30-day SLO; see Objective.Rules for the scaled
// ones.
type BurnRule struct {
	ID       RuleID
	Severity Severity
	// Factor is the burn rate both windows must reach.
	Factor float64
	// Long and Short windows, for a 30-day SLO window.
	Long, Short time.Duration
}

// DefaultRules returns the four rules of the SRE Workbook's table 5-8, in
// RuleID order.
func DefaultRules() []BurnRule {
	return []BurnRule{
		{ID: PageFast, Severity: Page, Factor: 14.4, Long: time.Hour, Short: 5 * time.Minute},
		{ID: PageSlow, Severity: Page, Factor: 6, Long: 6 * time.Hour, Short: 30 * time.Minute},
		{ID: TicketFast, Severity: Ticket, Factor: 3, Long: 24 * time.Hour, Short: 2 * time.Hour},
		{ID: TicketSlow, Severity: Ticket, Factor: 1, Long: 72 * time.Hour, Short: 6 * time.Hour},
	}
}

// TierSwitch disables single rules of one tier. The zero value enables
// both.
type TierSwitch struct {
	// DisableFast disables page_fast (in Objective.Page) or ticket_fast
	// (in Objective.Ticket).
	DisableFast bool
	// DisableSlow disables page_slow or ticket_slow.
	DisableSlow bool
}

// Objective is a service level objective: Target of the events in every
// rolling Window are good.
type Objective struct {
	// Name identifies the SLO, in alerts and in the state file.
	Name string
	// Target is the share of good events, 0 < Target < 1 (0.95 = 95%).
	Target float64
	// Window is the rolling SLO window, e.g. 28 days; at least MinWindow.
	Window time.Duration
	// Page and Ticket disable single rules; the zero value enables all.
	Page, Ticket TierSwitch
	// MinEvents is the low-traffic guard: a rule fires only when its long
	// window holds at least this many events. Zero means
	// DefaultMinEvents; a negative value disables the guard.
	MinEvents float64
}

// Validate reports what is wrong with o, or nil.
func (o Objective) Validate() error {
	var errs []error
	if strings.TrimSpace(o.Name) == "" {
		errs = append(errs, errors.New("name is empty"))
	}
	if !(o.Target > 0 && o.Target < 1) { // also rejects NaN
		errs = append(errs, fmt.Errorf("target %v is not strictly between 0 and 1 (write 0.95 for 95%%)", o.Target))
	}
	if o.Window < MinWindow {
		errs = append(errs, fmt.Errorf("window %v is shorter than %v", o.Window, MinWindow))
	}
	if math.IsNaN(o.MinEvents) || math.IsInf(o.MinEvents, 0) {
		errs = append(errs, fmt.Errorf("min events %v is not a finite number", o.MinEvents))
	}
	if len(errs) == 0 {
		return nil
	}
	err := errors.Join(errs...)
	if o.Name != "" {
		return fmt.Errorf("objective %q: %w", o.Name, err)
	}
	return fmt.Errorf("objective: %w", err)
}

// Scale returns the reference window ref (written for a 30-day SLO window)
// scaled to o.Window: ref × Window / 30d. It is exact whenever ref divides
// 30 days, as all the rule and export windows do.
func (o Objective) Scale(ref time.Duration) time.Duration {
	return scale(o.Window, ref)
}

func scale(window, ref time.Duration) time.Duration {
	if ref > 0 && ReferenceWindow%ref == 0 {
		return window / (ReferenceWindow / ref)
	}
	return time.Duration(math.Round(float64(ref) * float64(window) / float64(ReferenceWindow)))
}

// EffectiveMinEvents returns the low-traffic guard in force: MinEvents, or
// DefaultMinEvents when it is zero, or 0 when it is negative (guard off).
func (o Objective) EffectiveMinEvents() float64 {
	switch {
	case o.MinEvents == 0:
		return DefaultMinEvents
	case o.MinEvents < 0:
		return 0
	}
	return o.MinEvents
}

// Enabled reports whether rule id is enabled for o.
func (o Objective) Enabled(id RuleID) bool {
	switch id {
	case PageFast:
		return !o.Page.DisableFast
	case PageSlow:
		return !o.Page.DisableSlow
	case TicketFast:
		return !o.Ticket.DisableFast
	case TicketSlow:
		return !o.Ticket.DisableSlow
	}
	return false
}

// ScaledRule is a BurnRule with its windows scaled to an objective's window.
type ScaledRule struct {
	BurnRule
	// LongWindow and ShortWindow are Long and Short scaled by
	// Window/30d.
	LongWindow, ShortWindow time.Duration
	Enabled                 bool
}

// Rules returns the four rules with o's windows, in RuleID order.
func (o Objective) Rules() []ScaledRule {
	rules := DefaultRules()
	out := make([]ScaledRule, len(rules))
	for i, r := range rules {
		out[i] = ScaledRule{BurnRule: r, LongWindow: o.Scale(r.Long), ShortWindow: o.Scale(r.Short), Enabled: o.Enabled(r.ID)}
	}
	return out
}

// MaxBurnRate is the burn rate of 100% errors: 1/(1−Target). No rule with a
// higher factor can fire.
func (o Objective) MaxBurnRate() float64 {
	return 1 / (1 - o.Target)
}

// Unreachable returns one human-readable reason per enabled rule that can
// never fire for o because factor × (1 − Target) > 1: even if every event
// failed, the burn rate would stay below the rule's factor. It returns nil
// when every enabled rule can fire.
func (o Objective) Unreachable() []string {
	var reasons []string
	max := o.MaxBurnRate()
	for _, r := range o.Rules() {
		if !r.Enabled || burnReaches(max, r.Factor) {
			continue
		}
		reasons = append(reasons, fmt.Sprintf(
			"objective %q: rule %s (%s: burn ≥ %g over %s and %s) can never fire: it needs an error ratio of %.4g%% (%g × (1 − %g)), "+
				"but at most 100%% of events can fail (burn %.4g); disable it or raise the target",
			o.Name, r.ID, r.Severity, r.Factor, FormatDuration(r.LongWindow), FormatDuration(r.ShortWindow),
			100*r.Factor*(1-o.Target), r.Factor, o.Target, max))
	}
	return reasons
}

// burnEpsilon tolerates floating-point error when a burn rate is compared
// with a factor: an error ratio of exactly 1.44% on a 99.9% target must
// reach 14.4 even when the division lands a few ulps short.
const burnEpsilon = 1e-9

func burnReaches(burn, factor float64) bool {
	return burn >= factor*(1-burnEpsilon)
}

// fmtDuration formats d compactly with days: 67h12m0s → "2d19h12m".
// FormatDuration spells d as Prometheus does (28d, 1h30m, 5m, 500ms), so
// that windows read the same in alerts, rules and the status API.
func FormatDuration(d time.Duration) string {
	if d <= 0 || d%time.Second != 0 {
		return d.String()
	}
	var b strings.Builder
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dd", days)
		d -= days * 24 * time.Hour
	}
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
		d -= m * time.Minute
	}
	if s := d / time.Second; s > 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}
