package agent

import (
	"context"
	"reflect"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/outbox"
)

// outboxRun is one outbox's poller, and what stops it.
type outboxRun struct {
	cfg  config.Outbox
	stop context.CancelFunc
	done chan struct{}
}

// startOutbox polls o under the agent's context, its samples going to
// the metrics and the SLIs. a.mu is held.
func (a *Agent) startOutbox(o config.Outbox) *outboxRun {
	ctx, cancel := context.WithCancel(a.ctx)
	r := &outboxRun{cfg: o, stop: cancel, done: make(chan struct{})}
	a.workers.Go(func() {
		defer close(r.done)
		outbox.NewPoller(o).Run(ctx, a.outboxes, a.logger, a.feeder.ObserveOutbox)
	})
	return r
}

// stopOutbox stops r and forgets its series. a.mu is held.
func (a *Agent) stopOutbox(r *outboxRun) {
	r.stop()
	<-r.done
	a.outboxes.Forget(r.cfg.Name)
}

// reconcileOutboxes starts the outboxes of cfg that do not run with the
// same configuration yet and stops the others; an unchanged outbox keeps
// its watermark. a.mu is held; a.ctx is set.
func (a *Agent) reconcileOutboxes(cfg *config.Config) {
	next := map[string]*outboxRun{}
	for _, o := range cfg.Outboxes {
		if r := a.outboxRuns[o.Name]; r != nil && reflect.DeepEqual(r.cfg, o) {
			next[o.Name] = r
			delete(a.outboxRuns, o.Name)
			continue
		}
		if r := a.outboxRuns[o.Name]; r != nil {
			a.stopOutbox(r)
			delete(a.outboxRuns, o.Name)
		}
		next[o.Name] = a.startOutbox(o)
	}
	for _, r := range a.outboxRuns {
		a.stopOutbox(r)
	}
	a.outboxRuns = next
}
