// Package collector schedules the reads of each target: one Poller per
// target asks its Source for a snapshot on the target's interval, with
// jitter, stretching the interval while reads take longer than it, never
// two at a time; applies the cardinality guard; records the poll's own
// metrics (warren_poll_*); and reports the target's Health. What happens
// to a snapshot afterwards is the pipeline's business.
//
// Import rule: it imports snapshot and internal/config, nothing else of
// warren; sources (rabbitmq/...) are handed in through the Source
// interface.
package collector

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/snapshot"
)

// Source reads a target once. start is when the poll started (the
// snapshot's time); span is how far back the read should cover the
// broker's sample history, where it reads one: the time since the
// previous poll started, or the poll interval in force if longer.
type Source interface {
	Read(ctx context.Context, start time.Time, span time.Duration) (*snapshot.Snapshot, error)
}

// Health is a target's poll state as of its latest poll attempt.
type Health struct {
	Attempted   bool            // at least one poll has finished, well or not
	Up          bool            // the latest poll succeeded
	LastAttempt time.Time       // when the latest poll started
	LastError   string          // why the latest poll failed; never holds secrets
	LastReason  snapshot.Reason // its class, the reason label
}

// Poller polls one target on its interval. It is not safe for
// concurrent use: Run (or a test calling Poll) is its only caller.
type Poller struct {
	target  config.Target
	source  Source
	logger  *slog.Logger
	metrics *Metrics

	// lastStart is when the previous poll started, the span the next
	// poll's sample history must cover.
	lastStart time.Time
	// interval is the poll interval in force: the configured one, or a
	// stretched one while polls take longer than that.
	interval time.Duration
	// droppedLogged remembers the last dropped count logged, so the
	// cardinality guard speaks when the count changes, not every poll.
	droppedLogged int
}

// NewPoller returns the poller of one target, reading from source.
func NewPoller(t config.Target, source Source, metrics *Metrics, logger *slog.Logger) *Poller {
	metrics.initialise(t.Name, t.PollInterval.Std())
	return &Poller{target: t, source: source, logger: logger.With("cluster", t.Name), metrics: metrics, interval: t.PollInterval.Std()}
}

// Run polls until ctx is done and hands every outcome to publish, in
// Run's goroutine: the first poll after a short random delay (so many
// targets do not poll in step), then one poll every poll interval, start
// to start, with ±10% jitter. When a poll takes longer than the interval,
// the interval is stretched (see stretch) rather than a second poll
// started.
func (p *Poller) Run(ctx context.Context, publish func(*snapshot.Snapshot, Health)) {
	configured := p.target.PollInterval.Std()
	next := time.Now().Add(time.Duration(rand.Int64N(int64(configured)/10 + 1)))
	for {
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		start := time.Now()
		snap, health, ok := p.Poll(ctx)
		if ctx.Err() != nil {
			return
		}
		if ok {
			publish(snap, health)
		}
		next = start.Add(jitter(p.stretch(time.Since(start))))
	}
}

// Poll runs one poll now. It returns the snapshot (nil when the poll
// failed) and the target's health; ok is false when the poll was
// interrupted by ctx, which says nothing about the target.
func (p *Poller) Poll(ctx context.Context) (snap *snapshot.Snapshot, h Health, ok bool) {
	start := time.Now()
	span := p.interval
	if !p.lastStart.IsZero() {
		span = max(span, start.Sub(p.lastStart))
	}
	snap, err := p.source.Read(ctx, start, span)
	elapsed := time.Since(start)
	p.lastStart = start
	if ctx.Err() != nil && err != nil {
		return nil, Health{}, false // shutting down: not the target's fault
	}
	p.metrics.duration.WithLabelValues(p.target.Name).Observe(elapsed.Seconds())
	h = Health{Attempted: true, LastAttempt: start}
	if err != nil {
		h.LastError = err.Error()
		h.LastReason = ReasonOf(err)
		p.metrics.errors.WithLabelValues(p.target.Name, string(h.LastReason)).Inc()
		p.logger.Warn("poll failed", "reason", h.LastReason, "err", err, "duration", elapsed)
		return nil, h, true
	}
	h.Up = true
	snap.Cluster = p.target.Name
	snap.Duration = elapsed
	p.guard(snap)
	p.metrics.responseBytes.WithLabelValues(p.target.Name).Set(float64(snap.ResponseBytes))
	p.logger.Debug("poll done", "queues", len(snap.Queues), "duration", elapsed)
	return snap, h, true
}

// ReasonOf classifies a failed read: its ReadError's reason, else
// invalid_response.
func ReasonOf(err error) snapshot.Reason {
	var re *snapshot.ReadError
	if errors.As(err, &re) {
		return re.Reason
	}
	return snapshot.ReasonInvalidResponse
}

// guard applies the cardinality guard to snap. Dropped queues still
// exist: dead-letter routing through the default exchange can reach them.
func (p *Poller) guard(snap *snapshot.Snapshot) {
	all := snap.Queues
	snap.Queues = p.applyCardinalityGuard(all)
	snap.QueuesDropped = len(all) - len(snap.Queues)
	if snap.Topology == nil || snap.QueuesDropped == 0 {
		return
	}
	// kept is a subsequence of all, in order.
	k := 0
	for i := range all {
		if k < len(snap.Queues) && snap.Queues[k].Key() == all[i].Key() {
			k++
			continue
		}
		snap.Topology.OtherQueues = append(snap.Topology.OtherQueues, all[i].Key())
	}
}

// stretch returns the interval until the next poll after one that took
// took. While polls fit in the configured interval it is that interval;
// a longer poll stretches it to the smallest multiple of the configured
// interval that leaves the broker idle for at least a quarter of the
// poll's time (jitter included), so a slow management API is not kept
// busy back to back. Every change is logged and exported as
// warren_poll_interval_seconds.
func (p *Poller) stretch(took time.Duration) time.Duration {
	configured := p.target.PollInterval.Std()
	interval := configured
	if took > configured*9/10 {
		need := took * 5 / 4 * 10 / 9 // a quarter idle, even with -10% jitter
		interval = configured * time.Duration((need+configured-1)/configured)
	}
	if interval != p.interval {
		if interval > configured {
			p.logger.Warn("poll took longer than the poll interval: stretching the interval so polls never overlap",
				"poll_duration", took.Round(time.Millisecond), "poll_interval", configured, "stretched_interval", interval)
		} else {
			p.logger.Info("polls fit in the poll interval again", "poll_duration", took.Round(time.Millisecond), "poll_interval", configured)
		}
		p.interval = interval
	}
	p.metrics.interval.WithLabelValues(p.target.Name).Set(interval.Seconds())
	return interval
}

func jitter(d time.Duration) time.Duration {
	return d - d/10 + time.Duration(rand.Int64N(int64(d)/5+1))
}
