package notifier

import (
	"errors"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
)

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

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
