package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/warrenhq/warren/dlq"
	"github.com/warrenhq/warren/internal/config"
)

// runList is `warren dlq list`: one poll of the target, through the
// agent's own pipeline, and its dead-letter queues as a table.
func runList(ctx context.Context, t *config.Target, format string, stdout, stderr io.Writer, logger *slog.Logger) int {
	queues, err := dlq.ListTarget(ctx, *t, logger)
	if err != nil {
		fmt.Fprintf(stderr, "warren: dlq list: target %s: %v\n", t.Name, err)
		return exitFailure
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if queues == nil {
			queues = []dlq.Listed{}
		}
		if err := enc.Encode(queues); err != nil {
			return exitFailure
		}
		return exitOK
	}
	w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "VHOST\tQUEUE\tDEPTH\tOLDEST\tROLE FROM\tSOURCES")
	for _, q := range queues {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\n", q.Vhost, q.Queue, q.Depth, ageText(q), q.RoleSource, orNone(strings.Join(q.Sources, ", ")))
	}
	w.Flush()
	if len(queues) == 0 {
		fmt.Fprintf(stdout, "(target %s has no dead-letter queue)\n", t.Name)
	}
	return exitOK
}

func ageText(q dlq.Listed) string {
	switch q.AgeSource {
	case "":
		return "-"
	case "estimate":
		return "~" + q.OldestAge.Round(time.Second).String()
	}
	return q.OldestAge.Round(time.Second).String()
}
