package notifier

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
)

// Alert is one alert as warren's evaluators see it. Labels identify it
// (alertname, severity, cluster, vhost, queue, slo ... as applicable; no
// empty values); two warren replicas with the same config produce identical
// labels.
type Alert struct {
	Labels       map[string]string
	Annotations  map[string]string // summary, description, runbook_url
	StartsAt     time.Time         // when it started firing (set by the caller, stable across evaluations)
	GeneratorURL string
}

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
	DefaultEvaluationInterval = 15 * time.Second
	DefaultResendInterval     = time.Minute
	DefaultResolvedRetention  = 15 * time.Minute
	DefaultQueueCapacity      = 10000
	DefaultTimeout            = 10 * time.Second
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
	alert      Alert  // the caller's alert, labels normalised; maps are never mutated once stored
	id         string // identity
	version    uint64 // bumped whenever what is sent changes other than by the passing of time
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
		opts.EvaluationInterval = DefaultEvaluationInterval
	}
	if opts.ResendInterval == 0 {
		opts.ResendInterval = DefaultResendInterval
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
func (n *Notifier) Update(now time.Time, firing []Alert) {
	n.mu.Lock()
	defer n.mu.Unlock()

	current := make(map[string]bool, len(firing))
	invalidNow := make(map[string]bool)
	for _, in := range firing {
		a := normalise(in)
		id := identity(a.Labels)
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
	for id := range n.invalid {
		if !invalidNow[id] {
			delete(n.invalid, id)
		}
	}

	for id, t := range n.alerts {
		if current[id] {
			if now.Sub(t.queuedAt) >= n.opts.ResendInterval {
				n.queueToAll(now, t)
			}
			continue
		}
		if !t.resolved() {
			t.resolvedAt = now
			t.settled = make([]bool, len(n.ams))
			t.version++
			n.queueToAll(now, t)
			continue
		}
		if now.Sub(t.resolvedAt) < n.opts.ResolvedRetention {
			if now.Sub(t.queuedAt) >= n.opts.ResendInterval {
				n.queueToAll(now, t)
			}
			continue
		}
		// Past retention: forget it once every Alertmanager has it. One
		// that has not is still owed it (it is in that queue, or was
		// dropped from it and counted).
		if !slices.Contains(t.settled, false) {
			n.forget(t)
		}
	}
	n.updateActive()
	for _, am := range n.ams {
		if am.queue.Len() > 0 {
			am.wakeUp()
		}
	}
}

// Active returns the alerts currently firing (sorted by labels), for the
// status API.
func (n *Notifier) Active() []Alert {
	n.mu.Lock()
	out := make([]Alert, 0, len(n.alerts))
	for _, t := range n.alerts {
		if !t.resolved() {
			a := t.alert
			a.Labels = maps.Clone(a.Labels)
			a.Annotations = maps.Clone(a.Annotations)
			out = append(out, a)
		}
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b Alert) int { return compareLabels(a.Labels, b.Labels) })
	return out
}

// queueToAll makes t owed to every Alertmanager. n.mu must be held.
func (n *Notifier) queueToAll(now time.Time, t *tracked) {
	t.queuedAt = now
	for _, am := range n.ams {
		n.enqueue(am, t)
	}
}

// enqueue makes t owed to am. An alert already owed keeps its place: the
// queue holds identities, and a batch always carries the latest state. When
// the queue is over capacity the alert owed longest is dropped and counted.
// n.mu must be held.
func (n *Notifier) enqueue(am *alertmanager, t *tracked) {
	if _, ok := am.owed[t.id]; ok {
		return
	}
	am.owed[t.id] = am.queue.PushBack(t.id)
	for am.queue.Len() > n.opts.QueueCapacity {
		oldest := am.queue.Front()
		id := am.queue.Remove(oldest).(string)
		delete(am.owed, id)
		if dropped := n.alerts[id]; dropped != nil && dropped.resolved() {
			dropped.settled[am.index] = true
		}
		n.metrics.dropped.WithLabelValues(am.name).Inc()
		if !am.dropping {
			am.dropping = true
			n.logger.Warn("alert queue for Alertmanager full: dropping the oldest alerts until it drains",
				"alertmanager", am.name, "capacity", n.opts.QueueCapacity)
		}
	}
	n.metrics.queued.WithLabelValues(am.name).Set(float64(am.queue.Len()))
}

// unqueue removes id from am's queue if it is there. n.mu must be held.
func (n *Notifier) unqueue(am *alertmanager, id string) {
	if el, ok := am.owed[id]; ok {
		am.queue.Remove(el)
		delete(am.owed, id)
		n.metrics.queued.WithLabelValues(am.name).Set(float64(am.queue.Len()))
	}
}

func (n *Notifier) forget(t *tracked) {
	for _, am := range n.ams {
		n.unqueue(am, t.id)
	}
	delete(n.alerts, t.id)
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

// pending is one alert of a batch, as it was when the batch was taken.
type pending struct {
	id      string
	version uint64
	alert   *models.PostableAlert
}

// nextBatch returns up to maxBatch alerts owed to am, oldest first, in their
// current state. They stay queued until finishBatch.
func (n *Notifier) nextBatch(am *alertmanager) []pending {
	n.mu.Lock()
	defer n.mu.Unlock()
	var batch []pending
	for el := am.queue.Front(); el != nil && len(batch) < maxBatch; el = el.Next() {
		t := n.alerts[el.Value.(string)]
		batch = append(batch, pending{id: t.id, version: t.version, alert: n.postable(t)})
	}
	return batch
}

// postable is t as Alertmanager's API takes it. n.mu must be held.
func (n *Notifier) postable(t *tracked) *models.PostableAlert {
	endsAt := t.resolvedAt
	if !t.resolved() {
		endsAt = t.lastFiring.Add(n.validFor)
	}
	// Alertmanager rejects an alert that ends before it starts; a caller's
	// clock may put StartsAt after the evaluation time.
	endsAt = latest(endsAt, t.alert.StartsAt)
	return &models.PostableAlert{
		Alert: models.Alert{
			Labels:       models.LabelSet(t.alert.Labels),
			GeneratorURL: strfmt.URI(t.alert.GeneratorURL),
		},
		Annotations: models.LabelSet(t.alert.Annotations),
		StartsAt:    strfmt.DateTime(t.alert.StartsAt),
		EndsAt:      strfmt.DateTime(endsAt),
	}
}

// finishBatch records the outcome of sending batch to am. Delivered alerts
// leave the queue unless they changed while in flight (then the new state is
// still owed). Rejected alerts (Alertmanager answered that they are invalid)
// cannot succeed on retry: they are dropped and counted. It reports whether
// the delivery should be retried after a backoff.
func (n *Notifier) finishBatch(am *alertmanager, batch []pending, err error) (retry bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var rejected *rejectedError
	switch {
	case err == nil:
		for _, p := range batch {
			t := n.alerts[p.id]
			if t == nil || t.version != p.version {
				continue
			}
			n.unqueue(am, p.id)
			if t.resolved() {
				t.settled[am.index] = true
			}
		}
		n.metrics.sent.WithLabelValues(am.name, "success").Add(float64(len(batch)))
		n.metrics.up.WithLabelValues(am.name).Set(1)
		if am.failing {
			am.failing = false
			n.logger.Info("Alertmanager reachable again: delivering", "alertmanager", am.name,
				"queued", am.queue.Len()+len(batch))
		}
		if am.queue.Len() == 0 {
			am.dropping = false
		}
		return false
	case errors.As(err, &rejected):
		for _, p := range batch {
			if t := n.alerts[p.id]; t != nil && t.version == p.version {
				n.unqueue(am, p.id)
				if t.resolved() {
					t.settled[am.index] = true
				}
				n.metrics.dropped.WithLabelValues(am.name).Inc()
			}
		}
		n.metrics.sent.WithLabelValues(am.name, "error").Add(float64(len(batch)))
		n.metrics.up.WithLabelValues(am.name).Set(0)
		n.logger.Error("Alertmanager rejected alerts: dropped", "alertmanager", am.name,
			"alerts", len(batch), "err", err)
		return false
	default:
		n.metrics.sent.WithLabelValues(am.name, "error").Add(float64(len(batch)))
		n.metrics.up.WithLabelValues(am.name).Set(0)
		if !am.failing {
			am.failing = true
			n.logger.Warn("cannot reach Alertmanager: alerts for it stay queued, retrying",
				"alertmanager", am.name, "queued", am.queue.Len(), "err", err)
		}
		return true
	}
}

// normalise copies the caller's alert, so later changes to its maps do not
// reach the notifier, and drops labels with empty values.
func normalise(in Alert) Alert {
	out := in
	out.Labels = make(map[string]string, len(in.Labels))
	for k, v := range in.Labels {
		if v != "" {
			out.Labels[k] = v
		}
	}
	out.Annotations = make(map[string]string, len(in.Annotations))
	for k, v := range in.Annotations {
		if v != "" {
			out.Annotations[k] = v
		}
	}
	return out
}

// validate returns why Alertmanager would reject a, or "".
func validate(a Alert) string {
	if len(a.Labels) == 0 {
		return "no labels"
	}
	for _, set := range []struct {
		kind string
		m    map[string]string
	}{{"label", a.Labels}, {"annotation", a.Annotations}} {
		for k, v := range set.m {
			if !validLabelName(k) {
				return fmt.Sprintf("invalid %s name %q", set.kind, k)
			}
			if !utf8.ValidString(v) {
				return fmt.Sprintf("%s %s: invalid UTF-8", set.kind, k)
			}
		}
	}
	return ""
}

// validLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]*, the
// label names every Alertmanager version accepts.
func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// identity renders a label set canonically, e.g. {alertname="X", queue="q"}:
// the key of an alert, and readable in logs.
func identity(labels map[string]string) string {
	names := slices.Sorted(maps.Keys(labels))
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", name, labels[name])
	}
	b.WriteByte('}')
	return b.String()
}

// compareLabels orders label sets by their sorted name/value pairs, as
// Prometheus orders series.
func compareLabels(a, b map[string]string) int {
	an, bn := slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b))
	for i := 0; i < len(an) && i < len(bn); i++ {
		if c := strings.Compare(an[i], bn[i]); c != 0 {
			return c
		}
		if c := strings.Compare(a[an[i]], b[bn[i]]); c != 0 {
			return c
		}
	}
	return len(an) - len(bn)
}

// changed reports whether b differs from a in anything Alertmanager shows.
func changed(a, b Alert) bool {
	return !a.StartsAt.Equal(b.StartsAt) || a.GeneratorURL != b.GeneratorURL || !maps.Equal(a.Annotations, b.Annotations)
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
