package config

import (
	"errors"
	"net"
	"net/url"
	"time"

	"gopkg.in/yaml.v3"
)

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

func (p *parser) validateProbes(root *yaml.Node, i int, c *ProbesConfig) {
	fail := func(path []any, format string, args ...any) {
		full := append([]any{"targets", i, "probes"}, path...)
		p.add(lineOf(root, full...), pathString(full), format, args...)
	}
	if c.Interval != 0 && c.Timeout != 0 && c.Timeout > c.Interval {
		fail([]any{"timeout"}, "must not be longer than the probe interval (%v)", c.Interval.Std())
	}
	for j, qt := range c.QueueTypes {
		if qt != "classic" && qt != "quorum" {
			fail([]any{"queue_types", j}, "%q is not a probed queue type: use classic or quorum", qt)
		}
	}
	if c.MessageSize < 0 || c.MessageSize > MaxProbeMessageSize {
		fail([]any{"message_size"}, "must be between 1 and %d bytes", MaxProbeMessageSize)
	}
	p.validatePassword(root, []any{"targets", i, "probes"}, c.Password, &c.PasswordFile, false)
	for j, n := range c.Nodes {
		if n.Name == "" {
			fail([]any{"nodes", j, "name"}, "is required")
		}
		if _, port, err := net.SplitHostPort(n.Address); err != nil || port == "" {
			fail([]any{"nodes", j, "address"}, "must be host:port, not %q", n.Address)
		}
	}
}

// ProbeURL is the AMQP URL the probes dial: amqp_url, with the vhost of
// probes.vhost and the credentials of probes.username and password (or
// password_file) where set, else the URL's own, else the management
// API's. Never log it: it carries the password.
func (t *Target) ProbeURL() (*url.URL, error) {
	u, err := url.Parse(string(t.AMQPURL))
	if err != nil || u.Host == "" {
		return nil, errors.New("amqp_url is not a valid URL")
	}
	user := u.User.Username()
	password, _ := u.User.Password()
	if t.Probes.Username != "" {
		user, password = t.Probes.Username, ""
	}
	switch {
	case t.Probes.PasswordFile != "":
		if password, err = readSecretFile(t.Probes.PasswordFile); err != nil {
			return nil, err
		}
	case t.Probes.Password != "":
		password = string(t.Probes.Password)
	}
	if user == "" {
		user = t.Username
		if password, err = t.ManagementPassword(); err != nil {
			return nil, err
		}
	}
	u.User = url.UserPassword(user, password)
	if t.Probes.Vhost != "" {
		u.Path, u.RawPath = "/"+t.Probes.Vhost, "/"+url.PathEscape(t.Probes.Vhost)
	}
	return u, nil
}
