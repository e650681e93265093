package notifier

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
)

// AlertmanagerConfig says how to reach one Alertmanager.
type AlertmanagerConfig struct {
	URL       *url.URL               // base URL, e.g. http://am:9093 (path prefix allowed); never contains credentials
	Username  string                 // basic auth, optional
	Password  func() (string, error) // read at each send (password files rotate); nil = no basic auth
	TLSConfig *tls.Config            // nil = default
	Timeout   time.Duration          // per request, default 10s
}

// Options configure a Notifier. Zero values take the defaults noted.
type Options struct {
	Alertmanagers      []AlertmanagerConfig
	EvaluationInterval time.Duration // how often the caller calls Update; default 15s
	ResendInterval     time.Duration // default 1m
	ResolvedRetention  time.Duration // how long resolved alerts keep being re-sent; default 15m
	QueueCapacity      int           // max alerts held for delivery per Alertmanager; default 10000
	Logger             *slog.Logger
}

// Defaults of Options and AlertmanagerConfig.
const (
	DefaultResolvedRetention = 15 * time.Minute
	DefaultQueueCapacity     = 10000
	DefaultTimeout           = 10 * time.Second
)

// maxBatch is the most alerts sent in one POST, as in Prometheus.
const maxBatch = 64

// Notifier sends alerts to Alertmanagers. Update records what fires; Run
// delivers. All methods are safe for concurrent use.
type Notifier struct {
	opts     Options
	validFor time.Duration // how far beyond the last evaluation a firing alert's endsAt lies
	logger   *slog.Logger
	metrics  *metrics
	ams      []*alertmanager

	mu       sync.Mutex
	alerts   map[string]*tracked // by identity (see identity)
	invalid  map[string]string   // identity -> reason, of invalid alerts already logged
	activeBy map[activeKey]bool  // every alertname/severity pair seen firing
}

// tracked is an alert the Notifier still owes to some Alertmanager: firing,
// or resolved and not yet forgotten.
type tracked struct {
	alert      catalog.Alert // the caller's alert, labels normalised; maps are never mutated once stored
	id         string        // identity
	version    uint64        // bumped whenever what is sent changes other than by the passing of time
	lastFiring time.Time
	resolvedAt time.Time // zero while firing
	queuedAt   time.Time // evaluation time it was last queued to every Alertmanager
	// settled[i] is true once Alertmanager i has received the resolution,
	// or it was dropped from its full queue: either way it is owed no more.
	settled []bool
}

func (t *tracked) resolved() bool { return !t.resolvedAt.IsZero() }

type activeKey struct{ alertname, severity string }

// NewNotifier checks opts and returns a Notifier; nothing is sent until Run.
func NewNotifier(opts Options) (*Notifier, error) {
	if opts.EvaluationInterval == 0 {
		opts.EvaluationInterval = catalog.DefaultEvaluationInterval
	}
	if opts.ResendInterval == 0 {
		opts.ResendInterval = catalog.DefaultResendInterval
	}
	if opts.ResolvedRetention == 0 {
		opts.ResolvedRetention = DefaultResolvedRetention
	}
	if opts.QueueCapacity == 0 {
		opts.QueueCapacity = DefaultQueueCapacity
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case opts.EvaluationInterval < 0:
		return nil, fmt.Errorf("alerts: negative evaluation interval %v", opts.EvaluationInterval)
	case opts.ResendInterval < 0:
		return nil, fmt.Errorf("alerts: negative resend interval %v", opts.ResendInterval)
	case opts.ResolvedRetention < 0:
		return nil, fmt.Errorf("alerts: negative resolved retention %v", opts.ResolvedRetention)
	case opts.QueueCapacity < 0:
		return nil, fmt.Errorf("alerts: negative queue capacity %d", opts.QueueCapacity)
	}
	n := &Notifier{
		opts:     opts,
		validFor: 4 * max(opts.EvaluationInterval, opts.ResendInterval),
		logger:   opts.Logger,
		metrics:  newMetrics(),
		alerts:   make(map[string]*tracked),
		invalid:  make(map[string]string),
		activeBy: make(map[activeKey]bool),
	}
	seen := make(map[string]bool)
	for i, cfg := range opts.Alertmanagers {
		am, err := newAlertmanager(i, cfg)
		if err != nil {
			return nil, fmt.Errorf("alerts: alertmanager %d: %w", i+1, err)
		}
		if seen[am.name] {
			return nil, fmt.Errorf("alerts: alertmanager %s configured twice", am.name)
		}
		seen[am.name] = true
		n.metrics.initAlertmanager(am.name)
		n.ams = append(n.ams, am)
	}
	return n, nil
}

// Update tells the notifier which alerts are firing as of now (the complete
// set; identity = label set). New or changed alerts are sent promptly (not
// only at the next resend tick); alerts that were firing and are absent now
// become resolved with EndsAt = now.
//
// Labels with empty values are dropped (Alertmanager treats them as absent).
// An alert Alertmanager would reject — no labels, a label or annotation name
// that is not a valid Prometheus label name, invalid UTF-8, the same label
// set twice — is left out and logged once, since one invalid alert would
// make Alertmanager refuse its whole batch.
func (n *Notifier) Update(now time.Time, firing []catalog.Alert) {
	n.mu.Lock()
	defer n.mu.Unlock()
	current := n.recordFiring(now, firing)
	for id, t := range n.alerts {
		n.advance(now, t, current[id])
	}
	n.updateActive()
	n.wakeSenders()
}

// recordFiring tracks every valid alert of firing and returns the
// identities that fire. Invalid ones are left out and logged once per
// reason. n.mu must be held.
func (n *Notifier) recordFiring(now time.Time, firing []catalog.Alert) (current map[string]bool) {
	current = make(map[string]bool, len(firing))
	invalidNow := make(map[string]bool)
	for _, in := range firing {
		a := normalise(in)
		id := catalog.Key(a.Labels)
		reason := validate(a)
		if reason == "" && current[id] {
			reason = "the same label set is firing twice; only the first is sent"
		}
		if reason != "" {
			invalidNow[id] = true
			if n.invalid[id] != reason {
				n.invalid[id] = reason
				n.logger.Error("alert not sent to Alertmanager: invalid", "labels", id, "reason", reason)
			}
			continue
		}
		current[id] = true
		n.fire(now, id, a)
	}
	// Forget the reasons of alerts no longer firing, so that they are
	// logged again should they come back.
	for id := range n.invalid {
		if !invalidNow[id] {
			delete(n.invalid, id)
		}
	}
	return current
}

// fire records that the valid alert a, of identity id, fires at now, and
// queues it when it is new, firing again or changed. n.mu must be held.
func (n *Notifier) fire(now time.Time, id string, a catalog.Alert) {
	t := n.alerts[id]
	if a.StartsAt.IsZero() {
		// The caller did not say when it started: from the first
		// evaluation that saw it firing.
		a.StartsAt = now
		if t != nil && !t.resolved() {
			a.StartsAt = t.alert.StartsAt
		}
	}
	switch {
	case t == nil:
		t = &tracked{alert: a, id: id, version: 1}
		n.alerts[id] = t
		n.queueToAll(now, t)
	case t.resolved():
		// Firing again before it was forgotten: a new occurrence.
		t.alert, t.resolvedAt, t.settled = a, time.Time{}, nil
		t.version++
		n.queueToAll(now, t)
	case changed(t.alert, a):
		t.alert = a
		t.version++
		n.queueToAll(now, t)
	}
	t.lastFiring = now
}

// advance moves t on after an evaluation in which it was firing or not: a
// firing or recently resolved alert is re-sent when due, one that stopped
// firing is resolved, and one resolved past retention is forgotten. n.mu
// must be held.
func (n *Notifier) advance(now time.Time, t *tracked, firing bool) {
	switch {
	case firing:
		n.resendIfDue(now, t)
	case !t.resolved():
		t.resolvedAt = now
		t.settled = make([]bool, len(n.ams))
		t.version++
		n.queueToAll(now, t)
	case now.Sub(t.resolvedAt) < n.opts.ResolvedRetention:
		n.resendIfDue(now, t)
	case !slices.Contains(t.settled, false):
		// Past retention: forget it once every Alertmanager has it. One
		// that has not is still owed it (it is in that queue, or was
		// dropped from it and counted).
		n.forget(t)
	}
}

// resendIfDue queues t again once ResendInterval has passed since it was
// last queued. n.mu must be held.
func (n *Notifier) resendIfDue(now time.Time, t *tracked) {
	if now.Sub(t.queuedAt) >= n.opts.ResendInterval {
		n.queueToAll(now, t)
	}
}

// wakeSenders wakes the delivery of every Alertmanager that is owed
// something. n.mu must be held.
func (n *Notifier) wakeSenders() {
	for _, am := range n.ams {
		if am.queue.Len() > 0 {
			am.wakeUp()
		}
	}
}

// Active returns the alerts currently firing (sorted by labels), for the
// status API.
func (n *Notifier) Active() []catalog.Alert {
	n.mu.Lock()
	out := make([]catalog.Alert, 0, len(n.alerts))
	for _, t := range n.alerts {
		if !t.resolved() {
			a := t.alert
			a.Labels = maps.Clone(a.Labels)
			a.Annotations = maps.Clone(a.Annotations)
			out = append(out, a)
		}
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b catalog.Alert) int { return catalog.CompareLabels(a.Labels, b.Labels) })
	return out
}

// updateActive sets warren_alerts_active; pairs seen once stay at 0 rather
// than vanish, so a rule on them sees the alert stop. n.mu must be held.
func (n *Notifier) updateActive() {
	counts := make(map[activeKey]int)
	for _, t := range n.alerts {
		if !t.resolved() {
			k := activeKey{t.alert.Labels["alertname"], t.alert.Labels["severity"]}
			counts[k]++
			n.activeBy[k] = true
		}
	}
	for k := range n.activeBy {
		n.metrics.active.WithLabelValues(k.alertname, k.severity).Set(float64(counts[k]))
	}
}
