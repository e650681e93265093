package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenhq/warren/analysis/audit"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/rabbitmq/management"
	"github.com/warrenhq/warren/snapshot"
)

// ObjectReader reads a target's objects for the audit
// (management.ObjectReader).
type ObjectReader interface {
	Read(ctx context.Context, start time.Time) (*snapshot.Objects, error)
}

// AuditState is what warren knows of a target's audit: the latest
// successful one and how the latest attempt went. It is never modified
// once published.
type AuditState struct {
	// Report is the latest successful audit's, with the ignores in force
	// applied; nil before the first.
	Report *audit.Report
	// Duration is how long that audit took.
	Duration time.Duration
	// LastAttempt is when the latest audit started; LastError why it
	// failed ("" when it succeeded), LastReason its class.
	LastAttempt time.Time
	LastError   string
	LastReason  snapshot.Reason
	// Errors counts the failed audits by reason since the pipeline
	// started.
	Errors map[snapshot.Reason]uint64
}

// Finished is when the latest successful audit ended.
func (a *AuditState) Finished() time.Time { return a.Report.Time.Add(a.Duration) }

// auditor audits one target every audit.interval. Its configuration can
// change while it runs (a reload); its reads are serialised.
type auditor struct {
	target config.Target
	reader ObjectReader
	logger *slog.Logger
	cfg    atomic.Pointer[config.Audit]
	// reset wakes the loop when the configuration changes.
	reset chan struct{}

	// reading serialises the reads of the broker. mu guards the reads
	// kept: the latest, and the one before it, which the counter-based
	// checks compare with (trimmed to what they read); it is never held
	// during a read, so a reload does not wait for an audit.
	reading      sync.Mutex
	mu           sync.Mutex
	latest, prev *snapshot.Objects
	errs         map[snapshot.Reason]uint64
	state        *AuditState
}

func newAuditor(t config.Target, reader ObjectReader, cfg config.Audit, logger *slog.Logger) *auditor {
	a := &auditor{target: t, reader: reader, logger: logger, reset: make(chan struct{}, 1), errs: map[snapshot.Reason]uint64{}}
	a.cfg.Store(&cfg)
	return a
}

// reconfigure puts cfg in force and returns the state to publish: the
// latest audit's report with cfg's ignores, nil when the audit is off.
func (a *auditor) reconfigure(cfg config.Audit) *AuditState {
	old := a.cfg.Swap(&cfg)
	if old.IsEnabled() != cfg.IsEnabled() || old.Interval != cfg.Interval {
		select { // a new schedule; new ignores alone need none
		case a.reset <- struct{}{}:
		default:
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !cfg.IsEnabled() {
		a.state = nil
		return nil
	}
	if a.state != nil && a.latest != nil {
		next := *a.state
		next.Report = a.report(a.latest, a.prev, cfg)
		a.state = &next
	}
	return a.state
}

func (a *auditor) report(now, before *snapshot.Objects, cfg config.Audit) *audit.Report {
	return audit.Run(now, before, audit.Options{Target: a.target, Ignore: cfg.Ignore})
}

// auditNow audits once and returns the state to publish; ok is false
// when ctx ended the audit, which says nothing about the target.
func (a *auditor) auditNow(ctx context.Context) (st *AuditState, ok bool) {
	a.reading.Lock()
	defer a.reading.Unlock()
	// An audit never runs into the next one.
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Load().Interval.Std())
	defer cancel()
	start := time.Now()
	objs, err := a.reader.Read(ctx, start)
	took := time.Since(start)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil, false // shutting down
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	next := &AuditState{LastAttempt: start}
	if a.state != nil {
		next.Report, next.Duration = a.state.Report, a.state.Duration
	}
	if err != nil {
		next.LastReason = collector.ReasonOf(err)
		next.LastError = err.Error()
		a.errs[next.LastReason]++
		a.logger.Warn("audit failed", "reason", next.LastReason, "err", err, "duration", took)
	} else {
		// The ignores in force now: a reload during the read counts.
		next.Report, next.Duration = a.report(objs, a.latest, *a.cfg.Load()), took
		a.prev, a.latest = trimmed(a.latest), objs
		a.logger.Debug("audit done", "findings", next.Report.Count(audit.Info), "duration", took)
	}
	next.Errors = maps.Clone(a.errs)
	a.state = next
	return next, true
}

// trimmed keeps of a read what the next audit compares with: its time,
// channels and queues.
func trimmed(o *snapshot.Objects) *snapshot.Objects {
	if o == nil {
		return nil
	}
	return &snapshot.Objects{Time: o.Time, Channels: o.Channels, Queues: o.Queues}
}

// run audits every interval until ctx is done and hands each state to
// publish: the first audit after a random delay of up to a tenth of the
// interval (so that targets do not audit in step), then one every
// interval, start to start. While the audit is off it waits for a
// reconfiguration.
func (a *auditor) run(ctx context.Context, publish func(*AuditState)) {
	var next time.Time
	for {
		cfg := a.cfg.Load()
		interval := cfg.Interval.Std()
		if next.IsZero() {
			next = time.Now().Add(time.Duration(rand.Int64N(int64(interval)/10 + 1)))
		}
		var due <-chan time.Time
		var timer *time.Timer
		if cfg.IsEnabled() {
			timer = time.NewTimer(time.Until(next))
			due = timer.C
		}
		select {
		case <-ctx.Done():
		case <-a.reset:
			next = time.Time{}
		case <-due:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		if next.IsZero() || time.Now().Before(next) {
			continue
		}
		start := time.Now()
		if st, ok := a.auditNow(ctx); ok {
			publish(st) // the pipeline drops it if a reload turned the audit off meanwhile
		}
		next = start.Add(interval)
	}
}

// AuditOnce audits t once, as a pipeline's auditor does (with no read
// before, so that the counter-based checks look at each object's life),
// for `warren audit`. The error is ctx's when it ended the audit, or one
// of setting up the reader; a failed read is the state's LastError.
func AuditOnce(ctx context.Context, t config.Target, cfg config.Audit, logger *slog.Logger) (*AuditState, error) {
	reader, err := management.NewObjectReader(t)
	if err != nil {
		return nil, err
	}
	st, ok := newAuditor(t, reader, cfg, logger.With("cluster", t.Name)).auditNow(ctx)
	if !ok {
		return nil, ctx.Err()
	}
	return st, nil
}
