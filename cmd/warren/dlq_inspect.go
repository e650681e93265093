package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/warrenhq/warren/dlq"
	"github.com/warrenhq/warren/internal/config"
)

// runInspect is `warren dlq inspect`: the groups, one line each, then
// the messages of --show.
func runInspect(ctx context.Context, t *config.Target, f *dlqFlags, stdout, stderr io.Writer) int {
	if err := dlq.ValidateGroupBy(f.groupBy); err != nil || f.inspectLimit < 1 || f.show < 0 || f.maxBody < 1 {
		fmt.Fprintf(stderr, "warren: dlq inspect: %v\n", orUsage(err, "--limit and --max-body must be at least 1, --show at least 0"))
		return exitConfigError
	}
	b, err := dlqBroker(t, f.vhost)
	if err != nil {
		fmt.Fprintf(stderr, "warren: dlq inspect: target %s: %v\n", t.Name, err)
		return exitConfigError
	}
	in, err := dlq.Inspect(ctx, b, dlq.InspectOptions{Queue: f.queue, Limit: f.inspectLimit, GroupBy: f.groupBy, Show: f.show, MaxBody: f.maxBody})
	if err != nil {
		fmt.Fprintf(stderr, "warren: dlq inspect: %v\n", err)
		return exitFailure
	}
	if f.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(in); err != nil {
			return exitFailure
		}
		return exitOK
	}
	printInspection(stdout, in, time.Now())
	return exitOK
}

func orUsage(err error, usage string) string {
	if err != nil {
		return err.Error()
	}
	return usage
}

func printInspection(w io.Writer, in dlq.Inspection, now time.Time) {
	fmt.Fprintf(w, "%s: read %d of %d messages (all left in the queue)\n", in.Queue, in.Read, in.Depth)
	for _, g := range in.Groups {
		fmt.Fprintf(w, "  %s\n", g.Line(in.GroupBy, now))
	}
	for i, m := range in.Shown {
		fmt.Fprintf(w, "\nmessage %d: id %s, redelivered %v\n", i+1, orNone(m.MessageID), m.Redelivered)
		printTable(w, "property", m.Properties)
		for _, d := range m.Deaths {
			fmt.Fprintf(w, "  x-death: %s from %s (exchange %q, routing keys %v), %d time(s), last %s\n",
				d.Reason, d.Queue, d.Exchange, d.RoutingKeys, d.Count, d.Time.UTC().Format(time.RFC3339))
		}
		other := map[string]any{}
		for k, v := range m.Headers {
			if k != "x-death" {
				other[k] = v
			}
		}
		printTable(w, "header", other)
		more := ""
		if m.BodyBytes > len(m.Body) {
			more = fmt.Sprintf(" … (%d bytes more)", m.BodyBytes-len(m.Body))
		}
		fmt.Fprintf(w, "  body (%d bytes): %q%s\n", m.BodyBytes, m.Body, more)
	}
}

func printTable(w io.Writer, what string, t map[string]any) {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s %s: %v\n", what, k, t[k])
	}
}
