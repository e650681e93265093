package slo

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Engine holds the configured SLOs and persists their state. It is safe for
// concurrent use.
type Engine struct {
	mu    sync.RWMutex
	slos  map[string]*SLO
	order []string

	saveMu sync.Mutex
	now    func() time.Time // wall clock for saved_at; tests replace it
}

// NewEngine returns an engine for objs, all with no events. Names must be
// unique.
func NewEngine(objs ...Objective) (*Engine, error) {
	e := &Engine{now: time.Now}
	slos, order, err := build(objs, nil)
	if err != nil {
		return nil, err
	}
	e.slos, e.order = slos, order
	return e, nil
}

// build makes SLOs for objs, reusing old ones whose objective is unchanged.
func build(objs []Objective, old map[string]*SLO) (map[string]*SLO, []string, error) {
	slos := make(map[string]*SLO, len(objs))
	order := make([]string, 0, len(objs))
	var errs []error
	for _, o := range objs {
		if _, dup := slos[o.Name]; dup {
			errs = append(errs, fmt.Errorf("objective %q: duplicate name", o.Name))
			continue
		}
		if s, ok := old[o.Name]; ok && s.obj == o {
			slos[o.Name] = s
			order = append(order, o.Name)
			continue
		}
		s, err := New(o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		slos[o.Name] = s
		order = append(order, o.Name)
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return slos, order, nil
}

// SLO returns the SLO called name.
func (e *Engine) SLO(name string) (*SLO, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	s, ok := e.slos[name]
	return s, ok
}

// SLOs returns the SLOs in configuration order.
func (e *Engine) SLOs() []*SLO {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]*SLO, len(e.order))
	for i, n := range e.order {
		out[i] = e.slos[n]
	}
	return out
}

// Add counts events for the SLO called name; see EventHistory.Add.
func (e *Engine) Add(name string, t time.Time, good, total float64) error {
	s, ok := e.SLO(name)
	if !ok {
		return fmt.Errorf("slo: no objective named %q", name)
	}
	return s.Add(t, good, total)
}

// Evaluate evaluates every SLO at now, in configuration order.
func (e *Engine) Evaluate(now time.Time) []Evaluation {
	slos := e.SLOs()
	out := make([]Evaluation, len(slos))
	for i, s := range slos {
		out[i] = s.Evaluate(now)
	}
	return out
}

// MergeReport says what became of each SLO when saved state met a
// configuration (Load, Reconfigure).
type MergeReport struct {
	// Restored: same bucket layout, buckets taken as they were.
	Restored []string
	// Rebucketed: the window (hence the buckets) changed; events were
	// spread over the new buckets.
	Rebucketed []string
	// Fresh: configured but absent from the state; starts empty.
	Fresh []string
	// Dropped: in the state but no longer configured; forgotten.
	Dropped []string
	// RemovedTemp lists temporary files of interrupted saves that Load
	// removed.
	RemovedTemp []string
}

// Reconfigure replaces the objectives, keeping the history of SLOs that
// stay (by name): an unchanged objective keeps its SLO, a changed target or
// guard keeps the buckets, a changed window re-buckets them. SLOs obtained
// before from the SLO method must be looked up again. On error nothing
// changes.
func (e *Engine) Reconfigure(objs ...Objective) (MergeReport, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	slos, order, err := build(objs, e.slos)
	if err != nil {
		return MergeReport{}, err
	}
	var rep MergeReport
	savedAt := e.now()
	for _, n := range order {
		s, prev := slos[n], e.slos[n]
		switch {
		case prev == nil:
			rep.Fresh = append(rep.Fresh, n)
		case prev == s:
			rep.Restored = append(rep.Restored, n)
		default:
			prev.mu.Lock()
			snap := prev.snapshot()
			prev.mu.Unlock()
			s.mu.Lock()
			rebucketed := s.restore(snap, savedAt)
			s.mu.Unlock()
			if rebucketed {
				rep.Rebucketed = append(rep.Rebucketed, n)
			} else {
				rep.Restored = append(rep.Restored, n)
			}
		}
	}
	for _, n := range e.order {
		if _, ok := slos[n]; !ok {
			rep.Dropped = append(rep.Dropped, n)
		}
	}
	e.slos, e.order = slos, order
	return rep, nil
}
