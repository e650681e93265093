package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/common/model"

	"github.com/warrenhq/warren/dlq"
	"github.com/warrenhq/warren/internal/config"
)

// runPurge is `warren dlq purge`.
func runPurge(ctx context.Context, t *config.Target, f *dlqFlags, stdout, stderr io.Writer) int {
	age, err := model.ParseDuration(f.olderThan)
	switch {
	case err != nil || age <= 0:
		fmt.Fprintf(stderr, "warren: dlq purge: --older-than %q is not a duration such as 36h or 7d\n", f.olderThan)
		return exitConfigError
	case !f.yes:
		fmt.Fprintln(stderr, "warren: dlq purge: removes messages for good: add --yes (and --archive FILE to keep a copy)")
		return exitConfigError
	case f.limit < 0:
		fmt.Fprintln(stderr, "warren: dlq purge: --limit must be at least 0")
		return exitConfigError
	}
	b, err := dlqBroker(t, f.vhost)
	if err != nil {
		fmt.Fprintf(stderr, "warren: dlq purge: target %s: %v\n", t.Name, err)
		return exitConfigError
	}
	sum, err := dlq.Purge(ctx, b, dlq.PurgeOptions{Queue: f.queue, OlderThan: time.Duration(age), Archive: f.archive, Limit: f.limit})
	fmt.Fprintf(stdout, "purge of %s: removed %d older than %s, left %s (%.1f s)\n", f.queue, sum.Moved, f.olderThan, leftText(sum.Left), sum.Seconds)
	if sum.InFlightAtFailure > 0 {
		fmt.Fprintf(stdout, "in flight when it failed: %d (archived, and possibly still in the queue)\n", sum.InFlightAtFailure)
	}
	return finishRun("purge", sum, err, f.summaryJSON, stderr)
}
