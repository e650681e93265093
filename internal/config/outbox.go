package config

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Outbox is one transactional outbox table, as configured under
// `outboxes:`: a table that publishers write events to in the same
// transaction as their business change, and that a dispatcher later
// publishes to the broker (docs/outbox.md).
type Outbox struct {
	// Name identifies the outbox: the outbox label, and what SLOs name.
	Name string `yaml:"name"`
	// DSNFile and DSNEnv say where the PostgreSQL connection string is:
	// a file, or an environment variable; exactly one. It is read at
	// load and afresh at every connection, and never printed.
	DSNFile string `yaml:"dsn_file"`
	DSNEnv  string `yaml:"dsn_env"`
	// Table is the outbox table, optionally schema-qualified
	// (schema.table).
	Table string `yaml:"table"`
	// CreatedAt is the column stamped when the row was written (commit
	// time, near enough); default created_at.
	CreatedAt string `yaml:"created_at"`
	// DispatchedAt is the column the dispatcher stamps when it has
	// published the row: NULL means pending, unless Status says
	// otherwise. Without it there is no dispatch latency.
	DispatchedAt string `yaml:"dispatched_at"`
	// Status marks dispatched rows by a status column and value instead.
	Status *OutboxStatus `yaml:"status"`
	// EventType is an optional column whose values label per-type series.
	EventType string `yaml:"event_type"`
	// MaxEventTypes bounds the event_type label values per poll; the
	// rarest of the rest are folded into event_type="other". Default 20.
	MaxEventTypes int `yaml:"max_event_types"`
	// PollInterval is the time between two queries; default 15s.
	PollInterval Duration `yaml:"poll_interval"`
	// Timeout bounds one connection and query; default 5s.
	Timeout Duration `yaml:"timeout"`
	// CommitDelay is how long after its dispatched_at stamp a dispatcher's
	// transaction may still commit: rows are counted once their stamp is
	// at least this old, so a late commit is not missed. Default 5s.
	CommitDelay Duration `yaml:"commit_delay"`
	// LateCommitWindow is how far behind the watermark each poll looks
	// again for dispatches that committed later than CommitDelay after
	// their stamp, so that they are counted late rather than never.
	// Default 1m.
	LateCommitWindow Duration `yaml:"late_commit_window"`
	// Thresholds for warren_outbox_dispatched_within_total.
	Thresholds []Duration `yaml:"thresholds"`
	// Buckets of warren_outbox_dispatch_latency_seconds, in seconds.
	Buckets []float64 `yaml:"buckets"`

	// DSN is the connection string read at load (not a YAML key; empty
	// WithoutSecrets).
	DSN Secret `yaml:"-"`
	// SLOThresholds are added by the SLOs that measure the outbox (not a
	// YAML key).
	SLOThresholds []time.Duration `yaml:"-"`
}

// OutboxStatus marks a row as dispatched by a status column's value.
type OutboxStatus struct {
	Column     string `yaml:"column"`
	Dispatched string `yaml:"dispatched"`
}

// Outbox defaults.
const (
	DefaultOutboxPollInterval  = 15 * time.Second
	DefaultOutboxTimeout       = 5 * time.Second
	DefaultOutboxCommitDelay   = 5 * time.Second
	DefaultOutboxLateCommits   = time.Minute
	DefaultOutboxMaxEventTypes = 20
	DefaultOutboxCreatedAt     = "created_at"
)

// DefaultOutboxThresholds are counted unless thresholds are configured.
var DefaultOutboxThresholds = []Duration{Duration(time.Second), Duration(5 * time.Second), Duration(30 * time.Second)}

// DefaultOutboxBuckets cover 10 ms to an hour.
var DefaultOutboxBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

// HasDispatchTime reports whether the outbox has a dispatched_at column,
// which the dispatch latency and the outbox SLIs need.
func (o *Outbox) HasDispatchTime() bool { return o.DispatchedAt != "" }

// CountedThresholds returns the configured thresholds and those of the
// SLOs, sorted, without duplicates.
func (o *Outbox) CountedThresholds() []time.Duration {
	out := slices.Clone(o.SLOThresholds)
	for _, t := range o.Thresholds {
		out = append(out, t.Std())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ReadDSN returns the connection string, reading dsn_file or dsn_env
// afresh so that a rotated secret is picked up. Its error never holds the
// value.
func (o *Outbox) ReadDSN() (string, error) {
	if o.DSNFile != "" {
		return readSecretFile(o.DSNFile)
	}
	v := os.Getenv(o.DSNEnv)
	if v == "" {
		return "", fmt.Errorf("environment variable %s is empty or not set", o.DSNEnv)
	}
	return v, nil
}

// identifierRE accepts what PostgreSQL accepts unquoted and more: any
// name without a NUL, at most 63 bytes (NAMEDATALEN−1); warren quotes it.
var identifierRE = regexp.MustCompile(`^[^\x00.]{1,63}$`)

func (p *parser) validateOutboxes(root *yaml.Node, cfg *Config) {
	names := map[string]int{}
	for i := range cfg.Outboxes {
		o := &cfg.Outboxes[i]
		fail := func(format string, args []any, path ...any) {
			full := append([]any{"outboxes", i}, path...)
			p.add(lineOf(root, full...), pathString(full), format, args...)
		}
		switch {
		case o.Name == "":
			fail("is required", nil, "name")
		case !sloNameRE.MatchString(o.Name):
			fail("%q may hold only letters, digits and _ . : - (it is a label value)", []any{o.Name}, "name")
		default:
			if prev, dup := names[o.Name]; dup {
				fail("%q is already the name of outboxes[%d]", []any{o.Name, prev}, "name")
			}
			names[o.Name] = i
		}
		p.validateOutboxDSN(o, fail)
		p.validateOutboxColumns(o, fail)
		o.applyDefaults()
		for j, b := range o.Buckets {
			if !(b > 0) || (j > 0 && b <= o.Buckets[j-1]) {
				fail("must be positive and increasing", nil, "buckets", j)
				break
			}
		}
		if o.Timeout.Std() > o.PollInterval.Std() {
			fail("%v is longer than poll_interval (%v)", []any{o.Timeout.Std(), o.PollInterval.Std()}, "timeout")
		}
	}
}

func (p *parser) validateOutboxDSN(o *Outbox, fail func(string, []any, ...any)) {
	o.DSNFile = p.resolve(o.DSNFile)
	switch {
	case o.DSNFile != "" && o.DSNEnv != "":
		fail("set dsn_file or dsn_env, not both", nil, "dsn_env")
		return
	case o.DSNFile == "" && o.DSNEnv == "":
		fail("is required: set dsn_file or dsn_env (the connection string is a secret: it is never written in the configuration)", nil, "dsn_file")
		return
	case p.options.withoutSecrets:
		return
	}
	dsn, err := o.ReadDSN()
	if err != nil {
		field := "dsn_file"
		if o.DSNEnv != "" {
			field = "dsn_env"
		}
		fail("%v", []any{err}, field)
		return
	}
	o.DSN = Secret(dsn)
}

func (p *parser) validateOutboxColumns(o *Outbox, fail func(string, []any, ...any)) {
	if o.Table == "" {
		fail("is required: the outbox table, e.g. public.outbox", nil, "table")
	} else {
		for _, part := range strings.Split(o.Table, ".") {
			if !identifierRE.MatchString(part) || len(strings.Split(o.Table, ".")) > 2 {
				fail("%q is not a table name or schema.table", []any{o.Table}, "table")
				break
			}
		}
	}
	if o.CreatedAt == "" {
		o.CreatedAt = DefaultOutboxCreatedAt
	}
	columns := [][2]string{{"created_at", o.CreatedAt}, {"dispatched_at", o.DispatchedAt}, {"event_type", o.EventType}}
	if o.Status != nil {
		columns = append(columns, [2]string{"status.column", o.Status.Column})
		if o.Status.Column == "" {
			fail("is required: the status column", nil, "status", "column")
		}
		if o.Status.Dispatched == "" {
			fail("is required: the status value of a dispatched row", nil, "status", "dispatched")
		}
	}
	for _, c := range columns {
		if c[1] != "" && !identifierRE.MatchString(c[1]) {
			fail("%q is not a column name (at most 63 bytes, no dot)", []any{c[1]}, c[0])
		}
	}
	if o.DispatchedAt == "" && o.Status == nil {
		fail("is required unless status is set: the column the dispatcher stamps when it has published the row", nil, "dispatched_at")
	}
	if o.MaxEventTypes < 0 {
		fail("must be 0 or more", nil, "max_event_types")
	}
}

func (o *Outbox) applyDefaults() {
	if o.PollInterval == 0 {
		o.PollInterval = Duration(DefaultOutboxPollInterval)
	}
	if o.Timeout == 0 {
		o.Timeout = Duration(DefaultOutboxTimeout)
	}
	if o.CommitDelay == 0 {
		o.CommitDelay = Duration(DefaultOutboxCommitDelay)
	}
	if o.LateCommitWindow == 0 {
		o.LateCommitWindow = Duration(DefaultOutboxLateCommits)
	}
	if o.MaxEventTypes == 0 {
		o.MaxEventTypes = DefaultOutboxMaxEventTypes
	}
	if len(o.Thresholds) == 0 {
		o.Thresholds = slices.Clone(DefaultOutboxThresholds)
	}
	if len(o.Buckets) == 0 {
		o.Buckets = slices.Clone(DefaultOutboxBuckets)
	}
}
