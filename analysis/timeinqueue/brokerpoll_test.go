package timeinqueue

// The ground-truth harness reads a real broker through warren's own
// sources and poller, as in production.

import (
	"context"
	"log/slog"

	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/rabbitmq/management"
	"github.com/warrenhq/warren/rabbitmq/promplugin"
	"github.com/warrenhq/warren/snapshot"
)

// brokerPoller polls one target.
type brokerPoller struct {
	poller *collector.Poller
	latest *snapshot.Snapshot
}

// newBrokerPoller polls tg through the management API's statistics or,
// for source prometheus, through the rabbitmq_prometheus plugin (with
// the definitions from the management API).
func newBrokerPoller(tg config.Target) (*brokerPoller, error) {
	mgmt, err := management.New(tg)
	if err != nil {
		return nil, err
	}
	var src collector.Source = mgmt
	if tg.Source == config.SourcePrometheus {
		if src, err = promplugin.New(tg, mgmt, slog.New(slog.DiscardHandler)); err != nil {
			return nil, err
		}
	}
	return &brokerPoller{poller: collector.NewPoller(tg, src, collector.NewMetrics(), slog.New(slog.DiscardHandler))}, nil
}

// poll polls once. It returns the latest successful poll's snapshot (nil
// before the first; the same pointer again when this poll failed) and
// whether this poll succeeded, with its error when it did not.
func (b *brokerPoller) poll(ctx context.Context) (snap *snapshot.Snapshot, up bool, lastErr string) {
	s, h, _ := b.poller.Poll(ctx)
	if s != nil {
		b.latest = s
	}
	return b.latest, h.Up, h.LastError
}
