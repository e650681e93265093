package promplugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/warrenhq/warren/rabbitmq/management"
	"github.com/warrenhq/warren/snapshot"
)

// Auto reads a target through the management API while the broker
// collects management statistics, and through the Prometheus plugin
// while it does not: every poll reads the overview, whose disable_stats
// decides, so a broker that changes its setting is followed at the next
// poll. The snapshot's Source says which was read.
type Auto struct {
	management *management.Source
	plugin     *Source
}

// NewAuto returns the auto source over the target's two sources.
func NewAuto(mgmt *management.Source, plugin *Source) *Auto {
	return &Auto{management: mgmt, plugin: plugin}
}

// Read reads the broker once, from the source it serves.
func (a *Auto) Read(ctx context.Context, start time.Time, span time.Duration) (*snapshot.Snapshot, error) {
	ov, err := a.management.Overview(ctx)
	if err != nil {
		return nil, err
	}
	if !ov.StatisticsDisabled {
		return a.management.ReadAfter(ctx, ov, start, span)
	}
	snap, err := a.plugin.ReadAfter(ctx, ov, start)
	var re *snapshot.ReadError
	if errors.As(err, &re) {
		explained := *re
		explained.Err = fmt.Errorf("the management API collects no statistics, and reading them from the Prometheus plugin failed: %w", re.Err)
		return nil, &explained
	}
	return snap, err
}
