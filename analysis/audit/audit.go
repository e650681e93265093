// Package audit checks a target's objects (snapshot.Objects) against the
// practices that keep messages safe: publisher confirms, mandatory
// publishing, durable queues with persistent messages, manual
// acknowledgements with a bounded prefetch, rejects into a dead-letter
// exchange, retry paths that end, heartbeats, least-privilege users and
// TLS. It names, object by object, where messages are at risk, with the
// field values that show it and what to do (docs/audit.md).
//
// Each check is a small named predicate over the objects, in the spirit
// of Burrow's evaluator rules: a name, a severity, a one-line title, the
// fix, the listings it needs, and a function that returns its findings.
// A check whose listings the user could not read does not run, and says
// so; it never passes for want of data. Findings that the configuration
// acknowledges (audit.ignore) move to the result's ignored list, with the
// reason, and count nowhere else.
//
// Import rule: it imports snapshot, alerting/catalog (the check names),
// analysis/deadletter and analysis/queuerole (dead-letter cycles and
// parking lots, found the way the rest of warren finds them) and
// internal/config (the target's queue roles, the ignores).
package audit

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/snapshot"
)

// Severity is how much a finding puts messages at risk.
type Severity uint8

// The severities, in increasing order.
const (
	Info     Severity = iota + 1 // worth knowing; nothing is lost by it alone
	Warning                      // messages are lost when something else fails
	Critical                     // messages are being lost, or cycle forever, now
)

var severityNames = [...]string{Info: "info", Warning: "warning", Critical: "critical"}

// String is the severity label's value.
func (s Severity) String() string {
	if int(s) < len(severityNames) && s > 0 {
		return severityNames[s]
	}
	return "unknown"
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, ok := ParseSeverity(string(b))
	if !ok {
		return fmt.Errorf("%q is not a severity: use info, warning or critical", b)
	}
	*s = v
	return nil
}

// ParseSeverity reads info, warning or critical.
func ParseSeverity(name string) (Severity, bool) {
	for s, n := range severityNames {
		if n == name && n != "" {
			return Severity(s), true
		}
	}
	return 0, false
}

// Check is one practice the audit checks.
type Check struct {
	Name     string // catalog.Check…
	Severity Severity
	Title    string // what a finding means, in a few words
	Fix      string // what to do about a finding
	// Needs are the listings the check cannot run without; Widens are
	// listings it reads where it can, and without which it sees less
	// (it says what, in its result's notes).
	Needs, Widens []snapshot.Listing
	find          func(*input) []Finding
	// notes, where set, says what the check could not judge in this read.
	notes func(*input) []string
}

// Object is what a finding is about. Kind is connection, channel,
// consumer, queue, policy, operator_policy, user or feature; the other
// fields are set where they apply.
type Object struct {
	Kind  string `json:"kind"`
	Vhost string `json:"vhost,omitempty"`
	// Name is the object's own name: the broker's name of a connection or
	// channel, a consumer's tag, the name of a queue, policy, user or
	// deprecated feature.
	Name  string `json:"name"`
	Queue string `json:"queue,omitempty"` // a consumer's queue
	// Connection is the broker's name of the connection a channel or
	// consumer belongs to; ClientName its client-provided name.
	Connection string `json:"connection,omitempty"`
	ClientName string `json:"client_name,omitempty"`
	User       string `json:"user,omitempty"`
}

// ID is the object as reports spell it and audit.ignore matches it:
// <vhost>/<name> for queues and policies; <vhost>/<client name, else the
// broker's connection name> for connections, the same followed by
// " (<channel number>)" for channels; <vhost>/<queue>/<client name, else
// connection name> for consumers; the name for users and features. The
// default vhost, /, is written once: /orders, not //orders.
func (o Object) ID() string {
	switch o.Kind {
	case kindQueue, kindPolicy, kindOperatorPolicy:
		return inVhost(o.Vhost, o.Name)
	case kindConnection:
		return inVhost(o.Vhost, cmpOr(o.ClientName, o.Connection))
	case kindChannel:
		if o.ClientName == "" || !strings.HasPrefix(o.Name, o.Connection) {
			return inVhost(o.Vhost, o.Name)
		}
		return inVhost(o.Vhost, o.ClientName+strings.TrimPrefix(o.Name, o.Connection)) // "name (1)"
	case kindConsumer:
		return inVhost(o.Vhost, o.Queue+"/"+cmpOr(o.ClientName, o.Connection))
	}
	return o.Name
}

func inVhost(vhost, name string) string {
	if vhost == "/" {
		return "/" + name
	}
	return vhost + "/" + name
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// The object kinds.
const (
	kindConnection     = "connection"
	kindChannel        = "channel"
	kindConsumer       = "consumer"
	kindQueue          = "queue"
	kindPolicy         = "policy"
	kindOperatorPolicy = "operator_policy"
	kindUser           = "user"
	kindFeature        = "feature"
)

// Finding is one object that fails a check, with the field values that
// show it.
type Finding struct {
	ID       string         `json:"id"`
	Object   Object         `json:"object"`
	Evidence map[string]any `json:"evidence"`
}

// IgnoredFinding is a finding that an audit.ignore entry acknowledges.
type IgnoredFinding struct {
	Finding
	Reason string `json:"reason"`
}

// Status is how a check went.
type Status string

// The statuses of a check.
const (
	Passed Status = "passed"  // it ran and found nothing (ignored findings aside)
	Failed Status = "failed"  // it ran and found something
	NotRun Status = "not_run" // a listing it needs could not be read
)

// Result is one check's outcome.
type Result struct {
	Check    string   `json:"check"`
	Title    string   `json:"title"`
	Severity Severity `json:"severity"`
	Status   Status   `json:"status"`
	// Reason says why the check did not run; Notes what it could not
	// see where it ran.
	Reason   string           `json:"reason,omitempty"`
	Notes    []string         `json:"notes,omitempty"`
	Fix      string           `json:"fix"`
	Findings []Finding        `json:"findings"`
	Ignored  []IgnoredFinding `json:"ignored"`
}

// Report is one audit of one target.
type Report struct {
	Cluster         string
	Time            time.Time // when the read started
	RabbitMQVersion string
	// Window is what the counter-based checks' "recently" covers: the
	// time since the previous read, or 0 on a first read, where it is
	// each object's life.
	Window  time.Duration
	Results []Result // one per check, in catalog.AuditChecks order
}

// Count is the number of findings of checks at or above min.
func (r *Report) Count(min Severity) int {
	n := 0
	for i := range r.Results {
		if r.Results[i].Severity >= min {
			n += len(r.Results[i].Findings)
		}
	}
	return n
}

// Result returns the result of the named check; nil if there is none.
func (r *Report) Result(check string) *Result {
	for i := range r.Results {
		if r.Results[i].Check == check {
			return &r.Results[i]
		}
	}
	return nil
}

// Options are what an audit takes from the configuration.
type Options struct {
	// Target gives the queue roles (parking lots) and the dead-letter
	// routes the configuration adds.
	Target config.Target
	Ignore []config.AuditIgnore
}

// Run checks now, with before the previous read of the same target (nil
// for a first read): the counter-based checks look at what changed
// since.
func Run(now, before *snapshot.Objects, opts Options) *Report {
	in := newInput(now, before, opts.Target)
	r := &Report{Cluster: now.Cluster, Time: now.Time, RabbitMQVersion: now.RabbitMQVersion, Results: make([]Result, 0, len(Checks))}
	if before != nil {
		r.Window = now.Time.Sub(before.Time)
	}
	for _, c := range Checks {
		r.Results = append(r.Results, c.run(in, opts.Ignore))
	}
	return r
}

func (c *Check) run(in *input, ignore []config.AuditIgnore) Result {
	res := Result{Check: c.Name, Title: c.Title, Severity: c.Severity, Fix: c.Fix, Findings: []Finding{}, Ignored: []IgnoredFinding{}}
	for _, l := range c.Needs {
		if u, ok := in.now.UnreadListing(l); ok && !u.Partial {
			res.Status, res.Reason = NotRun, fmt.Sprintf("%s not read: %s", l, u.Detail)
			return res
		}
	}
	for _, l := range append(slices.Clip(c.Needs), c.Widens...) {
		if u, ok := in.now.UnreadListing(l); ok {
			res.Notes = append(res.Notes, fmt.Sprintf("%s read only in part: %s", l, u.Detail))
			if !u.Partial {
				res.Notes[len(res.Notes)-1] = fmt.Sprintf("%s not read: %s", l, u.Detail)
			}
		}
	}
	if c.notes != nil {
		res.Notes = append(res.Notes, c.notes(in)...)
	}
	found := c.find(in)
	slices.SortFunc(found, func(a, b Finding) int { return strings.Compare(a.ID, b.ID) })
	for _, f := range found {
		if reason, ok := ignoredBy(ignore, in.now.Cluster, c.Name, f.ID); ok {
			res.Ignored = append(res.Ignored, IgnoredFinding{Finding: f, Reason: reason})
			continue
		}
		res.Findings = append(res.Findings, f)
	}
	res.Status = Passed
	if len(res.Findings) > 0 {
		res.Status = Failed
	}
	return res
}

// ignoredBy returns the reason of the first entry that ignores the
// finding.
func ignoredBy(ignore []config.AuditIgnore, cluster, check, id string) (string, bool) {
	for _, ig := range ignore {
		if ig.Matches(cluster, check, id) {
			return ig.Reason, true
		}
	}
	return "", false
}

// finding builds a finding of o with evidence given as name, value
// pairs.
func finding(o Object, evidence ...any) Finding {
	ev := make(map[string]any, len(evidence)/2)
	for i := 0; i+1 < len(evidence); i += 2 {
		ev[evidence[i].(string)] = evidence[i+1]
	}
	return Finding{ID: o.ID(), Object: o, Evidence: ev}
}
