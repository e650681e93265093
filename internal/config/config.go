// Package config loads and validates warren's YAML configuration.
//
// Loading is strict, in the manner of Prometheus and blackbox_exporter: an
// unknown key, a value of the wrong type, a bad regular expression, URL or
// duration, or a password file that cannot be read is an error, and every
// error names the file, the line and the field it is about, so an operator
// can fix all of them in one pass.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
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

// Config is the whole configuration file.
type Config struct {
	Targets []Target `yaml:"targets"`
	// SLOs are evaluated in process (slo package) and exported.
	SLOs []SLO `yaml:"slos"`
	// Alerting says where alerts go and tunes the built-in health alerts.
	Alerting Alerting `yaml:"alerting"`

	// File is the path the configuration was loaded from ("" for the
	// built-in default); it is not a YAML key.
	File string `yaml:"-"`
}

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
	// TLS applies to the management API (and, in the probe client, AMQPS).
	TLS TLSConfig `yaml:"tls_config"`
	// Timeout bounds each request to the management API.
	Timeout Duration `yaml:"timeout"`
	// PollInterval is how often the management API is polled.
	PollInterval Duration `yaml:"poll_interval"`
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
	// DropMetrics names per-queue metrics not to export at all (for
	// example the time-in-queue histogram on a cluster of 50,000 queues).
	DropMetrics []string `yaml:"drop_metrics"`

	// DeadLetterQueues adds source→DLQ routes that discovery cannot see
	// (for example dead letters that reach a DLQ through a shovel).
	DeadLetterQueues []DeadLetterRoute `yaml:"dead_letter_queues"`

	ConsumerStatus ConsumerStatusConfig `yaml:"consumer_status"`

	Probes ProbesConfig `yaml:"probes"`

	// StatsInterval is the broker's collect_statistics_interval (5s
	// unless changed): the granularity of the sample history warren asks
	// the management API for.
	StatsInterval Duration          `yaml:"stats_interval"`
	TimeInQueue   TimeInQueueConfig `yaml:"time_in_queue"`
}

// TimeInQueueConfig configures the time-in-queue estimate.
type TimeInQueueConfig struct {
	// Thresholds for warren_queue_processed_within_total.
	Thresholds []Duration `yaml:"thresholds"`
	// Buckets of warren_queue_time_in_queue_seconds, in seconds.
	Buckets []float64 `yaml:"buckets"`
	// EstimateAll exports the estimated oldest-message age also for
	// queues with a head timestamp, to compare the two in production.
	EstimateAll bool `yaml:"estimate_all"`
	// SampleHistory asks the management API for each queue's sample
	// history since the previous poll (default true): the broker's own
	// timestamps at stats-interval resolution instead of one point per
	// poll, for about 300 more bytes per queue and poll.
	SampleHistory *bool `yaml:"sample_history"`
	// Overrides set thresholds and buckets for the queues they match;
	// the first match wins.
	Overrides []TimeInQueueOverride `yaml:"overrides"`
	// SLOThresholds are added by the time_in_queue SLOs on the target
	// (not a YAML key).
	SLOThresholds []SLOThreshold `yaml:"-"`
}

// TimeInQueueOverride sets thresholds and buckets for matching queues.
type TimeInQueueOverride struct {
	Vhosts     Filter     `yaml:"vhosts"`
	Queues     Filter     `yaml:"queues"`
	Thresholds []Duration `yaml:"thresholds"`
	Buckets    []float64  `yaml:"buckets"`
}

// WantsSampleHistory reports whether polls ask for per-queue samples.
func (c TimeInQueueConfig) WantsSampleHistory() bool {
	return c.SampleHistory == nil || *c.SampleHistory
}

// DefaultStatsInterval is RabbitMQ's default collect_statistics_interval.
const DefaultStatsInterval = 5 * time.Second

// DefaultTimeInQueueThresholds are the thresholds counted unless
// configured.
var DefaultTimeInQueueThresholds = []Duration{Duration(10 * time.Second), Duration(30 * time.Second)}

// ProbesConfig configures a target's synthetic publish/confirm/consume
// probes.
type ProbesConfig struct {
	// Enabled defaults to true: the zero-configuration run probes the
	// local broker.
	Enabled  *bool    `yaml:"enabled"`
	Interval Duration `yaml:"interval"`
	// Timeout bounds one probe round: connect, publish, confirm, consume.
	Timeout Duration `yaml:"timeout"`
	// Vhost holds the probe objects; default: the amqp_url's vhost.
	Vhost      string   `yaml:"vhost"`
	QueueTypes []string `yaml:"queue_types"`
	// PerNode probes every node of the cluster through its own AMQP
	// address, from Nodes or derived from the node name's host.
	PerNode     bool        `yaml:"per_node"`
	Nodes       []ProbeNode `yaml:"nodes"`
	MessageSize int         `yaml:"message_size"`
	// Username and password (or password_file) override the credentials
	// of amqp_url, so the URL need not carry a secret.
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// ProbeNode names the AMQP address of one node for per-node probes.
type ProbeNode struct {
	Name    string `yaml:"name"`    // the RabbitMQ node name, e.g. rabbit@rmq-0
	Address string `yaml:"address"` // host:port
}

// IsEnabled reports whether probes run for the target.
func (p ProbesConfig) IsEnabled() bool { return p.Enabled == nil || *p.Enabled }

// Probe defaults.
const (
	DefaultProbeInterval    = 15 * time.Second
	DefaultProbeTimeout     = 5 * time.Second
	DefaultProbeMessageSize = 64
	MaxProbeMessageSize     = 1 << 20
)

// DefaultProbeQueueTypes are the queue types probed unless configured.
var DefaultProbeQueueTypes = []string{"classic", "quorum"}

// TLSConfig is the client side of TLS, spelled as in Prometheus.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
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

// ConsumerStatusConfig tunes the consumer status evaluation.
type ConsumerStatusConfig struct {
	// Window is how much history a verdict needs: a queue is `stalled` only
	// when no message has left it for a whole window, so the window must be
	// longer than the slowest healthy consumer's time per message.
	Window Duration `yaml:"window"`
}

// Secret is a string that never prints: fmt, logs and errors see <secret>.
type Secret string

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<secret>"
}

// MarshalYAML hides the value when a configuration is printed.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Duration is a time.Duration spelled as in Prometheus ("15s", "5m", "1h").
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(node *yaml.Node) error {
	var s string
	if err := node.Decode(&s); err != nil {
		return scalarError(node, errors.New("must be a duration such as 15s or 5m"))
	}
	v, err := ParseDuration(s)
	if err != nil {
		return scalarError(node, fmt.Errorf("%q is not a duration such as 15s, 5m or 28d", s))
	}
	if v <= 0 {
		return scalarError(node, fmt.Errorf("%q must be positive", s))
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses a Go duration ("1m30s", "500ms") or a Prometheus
// one, which also knows days, weeks and years ("28d", "1w").
func ParseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	d, err := model.ParseDuration(s)
	return time.Duration(d), err
}

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Regexp is an anchored regular expression, as in Prometheus relabelling.
type Regexp struct {
	*regexp.Regexp
	Source string
}

// NewRegexp compiles s anchored at both ends.
func NewRegexp(s string) (*Regexp, error) {
	re, err := regexp.Compile("^(?:" + s + ")$")
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %v", s, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return &Regexp{Regexp: re, Source: s}, nil
}

// UnmarshalYAML compiles the expression, anchored at both ends.
func (r *Regexp) UnmarshalYAML(node *yaml.Node) error {
	var s string
	if err := node.Decode(&s); err != nil {
		return scalarError(node, errors.New("must be a regular expression string"))
	}
	compiled, err := NewRegexp(s)
	if err != nil {
		return scalarError(node, err)
	}
	*r = *compiled
	return nil
}

// Load reads, parses and validates a configuration file. The error, if
// any, is an Errors value listing every problem found.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Message: err.Error()}}
	}
	return Parse(path, data)
}

// Parse parses and validates configuration bytes; file is used in errors
// and to resolve relative password files.
func Parse(file string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Errors{syntaxError(file, err)}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind == 0 {
		return nil, Errors{{File: file, Line: 1, Message: "configuration is empty: it needs at least one target"}}
	}
	p := &parser{file: file}
	var cfg Config
	p.decode(doc, &cfg)
	if len(p.errs) == 0 {
		p.validate(doc, &cfg)
	}
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
		return nil, p.errs
	}
	cfg.File = file
	return &cfg, nil
}

// Default returns the configuration used when no file is given: one target
// named "default" from the RABBIT_URL environment variable (or the usual
// local guest URL), with the management API on the same host at 15672
// (15671 for amqps) and the credentials of the AMQP URL.
func Default(getenv func(string) string) (*Config, error) {
	amqpURL := getenv("RABBIT_URL")
	origin := "RABBIT_URL"
	if amqpURL == "" {
		amqpURL, origin = DefaultAMQPURL, "the default AMQP URL"
	}
	u, err := url.Parse(amqpURL)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
		// The URL may carry a password: never echo it.
		return nil, Errors{{Field: origin, Message: "must be an amqp:// or amqps:// URL with a host"}}
	}
	mgmt := url.URL{Scheme: "http", Host: joinHostPort(u.Hostname(), defaultManagementPort)}
	if u.Scheme == "amqps" {
		mgmt = url.URL{Scheme: "https", Host: joinHostPort(u.Hostname(), defaultManagementTLSPort)}
	}
	password, _ := u.User.Password()
	t := Target{
		Name:          "default",
		ManagementURL: mgmt.String(),
		Username:      u.User.Username(),
		Password:      Secret(password),
		AMQPURL:       Secret(amqpURL),
	}
	t.applyDefaults()
	cfg := &Config{Targets: []Target{t}}
	cfg.Alerting.applyDefaults()
	return cfg, nil
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
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
}

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
