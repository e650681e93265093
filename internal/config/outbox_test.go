package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const outboxTarget = "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n"

func TestOutboxLoadsWithDefaultsAndReadsItsDSNFromTheEnvironment(t *testing.T) {
	t.Setenv("WARREN_TEST_ORDERS_DSN", "postgres://reader:hunter2@db/orders")
	cfg, err := Load(writeConfig(t, outboxTarget+`outboxes:
  - name: orders
    dsn_env: WARREN_TEST_ORDERS_DSN
    table: public.outbox
    dispatched_at: sent_at
`))
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Outboxes[0]
	if o.CreatedAt != "created_at" || o.PollInterval.Std() != DefaultOutboxPollInterval || o.Timeout.Std() != DefaultOutboxTimeout ||
		o.CommitDelay.Std() != DefaultOutboxCommitDelay || o.LateCommitWindow.Std() != DefaultOutboxLateCommits || o.MaxEventTypes != DefaultOutboxMaxEventTypes || len(o.Buckets) == 0 {
		t.Errorf("defaults not applied: %+v", o)
	}
	if got := o.CountedThresholds(); !slices.Equal(got, []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}) {
		t.Errorf("thresholds = %v", got)
	}
	if string(o.DSN) != "postgres://reader:hunter2@db/orders" || strings.Contains(sprintf("%v", o), "hunter2") {
		t.Errorf("DSN not read, or printed: %v", o)
	}
}

func TestOutboxErrorsNameFileLineAndFieldAndNeverTheDSN(t *testing.T) {
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "dsn")
	os.WriteFile(dsnFile, []byte("postgres://reader:hunter2@db/orders\n"), 0o600)
	cases := []struct {
		name, body string
		line       int
		field, msg string
	}{
		{"no dsn", "outboxes:\n  - name: o\n    table: t\n    dispatched_at: d\n", 7, "outboxes[0].dsn_file", "dsn_file or dsn_env"},
		{"both dsns", "outboxes:\n  - name: o\n    dsn_file: " + dsnFile + "\n    dsn_env: X\n    table: t\n    dispatched_at: d\n", 9, "outboxes[0].dsn_env", "not both"},
		{"unset env", "outboxes:\n  - name: o\n    dsn_env: WARREN_TEST_UNSET_DSN\n    table: t\n    dispatched_at: d\n", 8, "outboxes[0].dsn_env", "WARREN_TEST_UNSET_DSN is empty or not set"},
		{"missing file", "outboxes:\n  - name: o\n    dsn_file: /nonexistent/dsn\n    table: t\n    dispatched_at: d\n", 8, "outboxes[0].dsn_file", "cannot read"},
		{"no table", "outboxes:\n  - name: o\n    dsn_file: " + dsnFile + "\n    dispatched_at: d\n", 7, "outboxes[0].table", "is required"},
		{"bad table", "outboxes:\n  - name: o\n    dsn_file: " + dsnFile + "\n    table: a.b.c\n    dispatched_at: d\n", 9, "outboxes[0].table", "not a table name"},
		{"no marker", "outboxes:\n  - name: o\n    dsn_file: " + dsnFile + "\n    table: t\n", 7, "outboxes[0].dispatched_at", "unless status is set"},
		{"status without value", "outboxes:\n  - name: o\n    dsn_file: " + dsnFile + "\n    table: t\n    status: {column: s}\n", 10, "outboxes[0].status.dispatched", "is required"},
		{"unknown key", "outboxes:\n  - name: o\n    dsn_file: " + dsnFile + "\n    table: t\n    dispatched: d\n", 10, "outboxes[0].dispatched", "unknown field"},
		{"duplicate", "outboxes:\n  - {name: o, dsn_file: " + dsnFile + ", table: t, dispatched_at: d}\n  - {name: o, dsn_file: " + dsnFile + ", table: t, dispatched_at: d}\n", 8, "outboxes[1].name", "already the name"},
		{"timeout", "outboxes:\n  - name: o\n    dsn_file: " + dsnFile + "\n    table: t\n    dispatched_at: d\n    poll_interval: 1s\n    timeout: 2s\n", 12, "outboxes[0].timeout", "longer than poll_interval"},
		{"negative lookback", "outboxes:\n  - name: o\n    dsn_file: " + dsnFile + "\n    table: t\n    dispatched_at: d\n    late_commit_window: -1m\n", 11, "outboxes[0].late_commit_window", "must be positive"},
		{"slo names no outbox", "slos:\n  - name: s\n    objective: 99%\n    sli: {outbox_dispatch: {outbox: nope, threshold: 5s}}\n", 9, "slos[0].sli.outbox_dispatch.outbox", `"nope" is not the name`},
		{"slo on status-only outbox", "outboxes:\n  - {name: o, dsn_file: " + dsnFile + ", table: t, status: {column: s, dispatched: sent}}\nslos:\n  - name: s\n    objective: 99%\n    sli: {outbox_dispatch: {outbox: o, threshold: 5s}}\n", 11, "slos[0].sli.outbox_dispatch.outbox", "no dispatched_at column"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, e := loadFieldError(t, outboxTarget+c.body, c.line, c.field, c.msg)
			if strings.Contains(e.Error(), "hunter2") {
				t.Errorf("error leaks the DSN: %v", e)
			}
		})
	}
}

func TestEndToEndSLOCountsTheSplitThresholdsOnTheOutboxAndTheQueues(t *testing.T) {
	t.Setenv("WARREN_TEST_DSN", "host=db")
	cfg, err := Load(writeConfig(t, outboxTarget+`outboxes:
  - {name: orders, dsn_env: WARREN_TEST_DSN, table: outbox, dispatched_at: dispatched_at, thresholds: [5s]}
slos:
  - name: e2e
    objective: 95%
    sli: {time_in_queue: {queue: "orders", threshold: 20s, outbox: orders}}
  - name: dispatch
    objective: 99%
    sli: {outbox_dispatch: {outbox: orders, threshold: 3s}}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{2 * time.Second, 3 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 20 * time.Second}
	if got := cfg.Outboxes[0].CountedThresholds(); !slices.Equal(got, want) {
		t.Errorf("outbox thresholds = %v, want %v", got, want)
	}
	var queue []time.Duration
	for _, th := range cfg.Targets[0].TimeInQueue.SLOThresholds {
		queue = append(queue, th.Threshold.Std())
	}
	slices.Sort(queue)
	if want := []time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second, 18 * time.Second, 20 * time.Second}; !slices.Equal(queue, want) {
		t.Errorf("queue SLO thresholds = %v, want %v", queue, want)
	}
	if cfg.SLOs[1].Target != "a" {
		t.Errorf("an outbox SLO with one target still names it: %q", cfg.SLOs[1].Target)
	}
}
