package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults applied to every target that does not set the field.
const (
	DefaultPollInterval         = 15 * time.Second
	DefaultTimeout              = 10 * time.Second
	DefaultConsumerStatusWindow = 5 * time.Minute
	DefaultAMQPURL              = "amqp://guest:guest@localhost:5672/"
	defaultManagementPort       = "15672"
	defaultManagementTLSPort    = "15671"
)

// Target is one RabbitMQ cluster that warren watches.
type Target struct {
	// Name becomes the `cluster` label on every series of this target.
	Name string `yaml:"name"`
	// ManagementURL is the base URL of the management API, e.g.
	// http://rabbit:15672 (no /api suffix).
	ManagementURL string `yaml:"management_url"`
	Username      string `yaml:"username"`
	Password      Secret `yaml:"password"`
	PasswordFile  string `yaml:"password_file"`
	// TLS applies to the management API (and, in the probe client, AMQPS;
	// and to the Prometheus plugin unless prometheus.tls_config is set).
	TLS TLSConfig `yaml:"tls_config"`
	// Timeout bounds each request to the management API or the
	// Prometheus plugin.
	Timeout Duration `yaml:"timeout"`
	// PollInterval is how often the target is polled.
	PollInterval Duration `yaml:"poll_interval"`
	// Source is where queue statistics come from: SourceAuto (the
	// default), SourceManagement or SourcePrometheus.
	Source string `yaml:"source"`
	// Prometheus is where the target's rabbitmq_prometheus plugin
	// answers, for the sources that read it.
	Prometheus PrometheusConfig `yaml:"prometheus"`
	// AMQPURL is where the synthetic probes connect. Credentials in it are
	// treated as secrets.
	AMQPURL Secret `yaml:"amqp_url"`

	Vhosts Filter `yaml:"vhosts"`
	Queues Filter `yaml:"queues"`

	// MaxQueues caps the number of queues exported with per-queue series;
	// 0 means no cap. Above it the first MaxQueues by (vhost, name) are
	// exported and the rest counted in warren_queues_dropped.
	MaxQueues int `yaml:"max_queues"`
	// MaxQueuesPerVhost caps the queues exported per vhost, applied
	// before MaxQueues, so one vhost full of temporary queues cannot crowd
	// out the others; 0 means no cap. See scale.go.
	MaxQueuesPerVhost int `yaml:"max_queues_per_vhost"`
	// MaxResponseSize bounds each response body warren reads from the
	// broker (management API, Prometheus plugin): a larger one fails the
	// poll as an invalid_response. Zero is DefaultMaxResponseSize; read it
	// with MaxResponseBytes.
	MaxResponseSize Size `yaml:"max_response_size"`
	// DropMetrics names per-queue metrics not to export at all (for
	// example the time-in-queue histogram on a cluster of 50,000 queues).
	DropMetrics []string `yaml:"drop_metrics"`
	// Profile is exposition.profile, handed to every target (not a key
	// of the target).
	Profile string `yaml:"-"`

	// DeadLetterQueues adds source→DLQ routes that discovery cannot see
	// (for example dead letters that reach a DLQ through a shovel).
	DeadLetterQueues []DeadLetterRoute `yaml:"dead_letter_queues"`

	// QueueRoles overrides the role discovery gives the queues they
	// match (docs/queue-roles.md); the first matching rule wins.
	QueueRoles []QueueRoleRule `yaml:"queue_roles"`
	// QueueRoleNames are the name patterns role discovery falls back to
	// when the topology does not decide; unset lists keep their defaults.
	QueueRoleNames QueueRoleNames `yaml:"queue_role_names"`

	ConsumerStatus ConsumerStatusConfig `yaml:"consumer_status"`

	Probes ProbesConfig `yaml:"probes"`

	// StatsInterval is the broker's collect_statistics_interval (5s
	// unless changed): the granularity of the sample history warren asks
	// the management API for.
	StatsInterval Duration          `yaml:"stats_interval"`
	TimeInQueue   TimeInQueueConfig `yaml:"time_in_queue"`
	// Processing configures the processing-latency estimate (delivery to
	// ack).
	Processing ProcessingConfig `yaml:"processing"`
	// ConsumerTimeout is the broker's consumer_timeout (RabbitMQ's
	// default, 30m, unless changed in rabbitmq.conf): how long a delivery
	// may stay unacknowledged before the broker closes its channel, for
	// queues whose own x-consumer-timeout argument or consumer-timeout
	// policy does not set it. The management API does not report it.
	ConsumerTimeout Duration `yaml:"consumer_timeout"`
}

// Filter selects names by anchored regular expressions. An empty Include
// selects everything; Exclude wins over Include.
type Filter struct {
	Include *Regexp `yaml:"include"`
	Exclude *Regexp `yaml:"exclude"`
}

// Match reports whether name passes the filter.
func (f Filter) Match(name string) bool {
	if f.Exclude != nil && f.Exclude.MatchString(name) {
		return false
	}
	return f.Include == nil || f.Include.MatchString(name)
}

// DeadLetterRoute names a dead-letter queue for a source queue.
type DeadLetterRoute struct {
	Vhost           string `yaml:"vhost"`
	Queue           string `yaml:"queue"`
	DeadLetterQueue string `yaml:"dead_letter_queue"`
}

// The queue roles (docs/queue-roles.md), as the role label spells them.
const (
	RoleWork       = "work"
	RoleDelay      = "delay"
	RoleDeadLetter = "dead_letter"
	RoleStream     = "stream"
)

// QueueRoleNamesAll lists the roles in the order they are documented.
var QueueRoleNamesAll = []string{RoleWork, RoleDelay, RoleDeadLetter, RoleStream}

// QueueRoleRule gives the queues it matches a role, over anything
// discovery finds. Vhost and Queue are anchored regular expressions; an
// unset one matches every name.
type QueueRoleRule struct {
	Vhost *Regexp `yaml:"vhost"`
	Queue *Regexp `yaml:"queue"`
	Role  string  `yaml:"role"`
}

// Match reports whether the rule covers the queue.
func (r QueueRoleRule) Match(vhost, queue string) bool {
	return (r.Vhost == nil || r.Vhost.MatchString(vhost)) && (r.Queue == nil || r.Queue.MatchString(queue))
}

// QueueRoleNames are the anchored regular expressions of queue names that
// role discovery falls back to. A nil list is the default one; an empty
// list (`[]`) turns the fallback off for that role.
type QueueRoleNames struct {
	Delay      []*Regexp `yaml:"delay"`
	DeadLetter []*Regexp `yaml:"dead_letter"`
}

// DefaultDelayQueueNames and DefaultDeadLetterQueueNames are the name
// fallbacks of role discovery: a name ending in .retry, .delay or .wait
// (or -retry, _retry, …, optionally followed by a number or a duration
// such as .retry.30s) is a delay queue's; a name ending in .dlq,
// .dead-letter, .deadletter, .parking, .parking-lot, or containing
// parking-lot, is a dead-letter queue's.
var (
	DefaultDelayQueueNames      = mustRegexps(`.*[._-](retry|delay|wait)([._-][0-9]+[smhd]?)?`)
	DefaultDeadLetterQueueNames = mustRegexps(`.*[._-](dlq|dead[._-]?letters?|parking)`, `(.*[._-])?parking[._-]?lot([._-].*)?`)
)

func mustRegexps(exprs ...string) []*Regexp {
	out := make([]*Regexp, len(exprs))
	for i, e := range exprs {
		re, err := NewRegexp(e)
		if err != nil {
			panic(err)
		}
		out[i] = re
	}
	return out
}

// DelayNames is the delay list in force: the configured one, else the
// default.
func (n QueueRoleNames) DelayNames() []*Regexp {
	if n.Delay == nil {
		return DefaultDelayQueueNames
	}
	return n.Delay
}

// DeadLetterNames is the dead-letter list in force.
func (n QueueRoleNames) DeadLetterNames() []*Regexp {
	if n.DeadLetter == nil {
		return DefaultDeadLetterQueueNames
	}
	return n.DeadLetter
}

// ConsumerStatusConfig tunes the consumer status evaluation.
type ConsumerStatusConfig struct {
	// Window is how much history a verdict needs: a queue is `stalled` only
	// when no message has left it for a whole window, so the window must be
	// longer than the slowest healthy consumer's time per message.
	Window Duration `yaml:"window"`
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// validateTarget checks targets[i]; names maps the target names seen so
// far to their index.
func (p *parser) validateTarget(root *yaml.Node, i int, t *Target, names map[string]int) {
	at := func(field string) (int, string) {
		return lineOf(root, "targets", i, field), fmt.Sprintf("targets[%d].%s", i, field)
	}
	fail := func(field, format string, args ...any) {
		line, path := at(field)
		p.add(line, path, format, args...)
	}
	if t.Name == "" {
		fail("name", "is required (it becomes the cluster label)")
	} else if prev, dup := names[t.Name]; dup {
		fail("name", "%q is already the name of targets[%d]", t.Name, prev)
	} else {
		names[t.Name] = i
	}
	if t.ManagementURL == "" {
		fail("management_url", "is required, e.g. http://rabbitmq:15672")
	} else if err := checkHTTPURL(t.ManagementURL); err != nil {
		fail("management_url", "%v", err)
	}
	if t.Username == "" {
		fail("username", "is required (a management user tagged monitoring)")
	}
	p.validatePassword(root, []any{"targets", i}, t.Password, &t.PasswordFile, true)
	if t.AMQPURL != "" {
		if err := checkAMQPURL(string(t.AMQPURL)); err != nil {
			fail("amqp_url", "%v", err)
		}
	}
	if t.MaxQueues < 0 {
		fail("max_queues", "must be 0 (no limit) or more, not %d", t.MaxQueues)
	}
	p.validateTLS(root, []any{"targets", i, "tls_config"}, &t.TLS)
	p.validateSource(root, i, t)
	p.validateProbes(root, i, &t.Probes)
	p.validateTimeInQueue(root, i, &t.TimeInQueue)
	p.checkBuckets(root, t.Processing.Buckets, "targets", i, "processing", "buckets")
	if t.ConsumerTimeout < 0 {
		fail("consumer_timeout", "must be positive, not %v", t.ConsumerTimeout.Std())
	}
	p.validateScale(root, i, t)
	for j, r := range t.DeadLetterQueues {
		for field, value := range map[string]string{"vhost": r.Vhost, "queue": r.Queue, "dead_letter_queue": r.DeadLetterQueue} {
			if value == "" {
				p.add(lineOf(root, "targets", i, "dead_letter_queues", j), fmt.Sprintf("targets[%d].dead_letter_queues[%d].%s", i, j, field), "is required")
			}
		}
	}
	for j, r := range t.QueueRoles {
		if !slices.Contains(QueueRoleNamesAll, r.Role) {
			p.add(lineOf(root, "targets", i, "queue_roles", j, "role"), fmt.Sprintf("targets[%d].queue_roles[%d].role", i, j),
				"must be one of %s, not %q", strings.Join(QueueRoleNamesAll, ", "), r.Role)
		}
		if r.Vhost == nil && r.Queue == nil {
			p.add(lineOf(root, "targets", i, "queue_roles", j), fmt.Sprintf("targets[%d].queue_roles[%d]", i, j),
				"needs vhost or queue (a rule for every queue hides what discovery finds)")
		}
	}
	t.applyDefaults()
}

func (t *Target) applyDefaults() {
	if t.PollInterval == 0 {
		t.PollInterval = Duration(DefaultPollInterval)
	}
	if t.Timeout == 0 {
		t.Timeout = Duration(DefaultTimeout)
	}
	if t.ConsumerStatus.Window == 0 {
		t.ConsumerStatus.Window = Duration(DefaultConsumerStatusWindow)
	}
	p := &t.Probes
	if p.Interval == 0 {
		p.Interval = Duration(DefaultProbeInterval)
	}
	if p.Timeout == 0 {
		p.Timeout = Duration(min(DefaultProbeTimeout, p.Interval.Std()))
	}
	if len(p.QueueTypes) == 0 {
		p.QueueTypes = DefaultProbeQueueTypes
	}
	if p.MessageSize == 0 {
		p.MessageSize = DefaultProbeMessageSize
	}
	if t.AMQPURL == "" {
		t.AMQPURL = Secret(amqpURLFromManagement(t.ManagementURL))
	}
	if t.StatsInterval == 0 {
		t.StatsInterval = Duration(DefaultStatsInterval)
	}
	if len(t.TimeInQueue.Thresholds) == 0 {
		t.TimeInQueue.Thresholds = DefaultTimeInQueueThresholds
	}
	if t.ConsumerTimeout == 0 {
		t.ConsumerTimeout = Duration(DefaultConsumerTimeout)
	}
	t.applySourceDefaults()
}

// DefaultConsumerTimeout is RabbitMQ's default consumer_timeout.
const DefaultConsumerTimeout = 30 * time.Minute

// amqpURLFromManagement derives the AMQP URL of a target that names none:
// the management API's host on the standard AMQP port (5671 with TLS).
// The credentials come from the probe or management settings.
func amqpURLFromManagement(management string) string {
	u, err := url.Parse(management)
	if err != nil || u.Host == "" {
		return ""
	}
	if u.Scheme == "https" {
		return "amqps://" + joinHostPort(u.Hostname(), "5671") + "/"
	}
	return "amqp://" + joinHostPort(u.Hostname(), "5672") + "/"
}
