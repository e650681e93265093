package config

import (
	"net/url"
	"os"
	"sort"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration file.
type Config struct {
	Targets []Target `yaml:"targets"`
	// SLOs are evaluated in process (slo package) and exported.
	SLOs []SLO `yaml:"slos"`
	// Alerting says where alerts go and tunes the built-in health alerts.
	Alerting Alerting `yaml:"alerting"`
	// Audit configures the agent's audit of the targets (docs/audit.md).
	Audit Audit `yaml:"audit"`
	// Outboxes are the transactional outbox tables warren watches
	// (docs/outbox.md).
	Outboxes []Outbox `yaml:"outboxes"`
	// Exposition says which per-queue families /metrics carries.
	Exposition Exposition `yaml:"exposition"`

	// File is the path the configuration was loaded from ("" for the
	// built-in default); it is not a YAML key.
	File string `yaml:"-"`
}

// Option changes how Load, Parse and Default build a configuration.
type Option func(*options)

type options struct {
	withoutSecrets bool
}

// WithoutSecrets checks a configuration without the secrets and TLS
// material it refers to: no password file and no TLS CA, certificate or
// key file is opened, and Default keeps no password from RABBIT_URL.
// Everything else (unknown keys, types, durations, URLs, objectives, and
// that a password or password_file is set where one is needed) is checked
// as strictly as ever.
//
// It is for commands that read the configuration but never connect, such
// as `warren rules`, so that they work where the production secrets do not
// exist, as in a CI job. A Config loaded so has not proved that its
// secrets can be read: do not connect with it.
func WithoutSecrets() Option { return func(o *options) { o.withoutSecrets = true } }

func buildOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Load reads, parses and validates a configuration file. The error, if
// any, is an Errors value listing every problem found. Unless told
// WithoutSecrets, it also reads every password and TLS file the
// configuration names, so that a missing or unreadable one is an error now
// rather than at the first connection.
func Load(path string, opts ...Option) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Message: err.Error()}}
	}
	return Parse(path, data, opts...)
}

// Parse parses and validates configuration bytes, as Load does; file is
// used in errors and to resolve relative password and TLS files.
func Parse(file string, data []byte, opts ...Option) (*Config, error) {
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
	p := &parser{file: file, options: buildOptions(opts)}
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
// (15671 for amqps) and the credentials of the AMQP URL (only the user
// name, WithoutSecrets).
func Default(getenv func(string) string, opts ...Option) (*Config, error) {
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
	if buildOptions(opts).withoutSecrets && u.User != nil {
		u.User = url.User(u.User.Username())
		amqpURL, password = u.String(), ""
	}
	t := Target{
		Name:          "default",
		ManagementURL: mgmt.String(),
		Username:      u.User.Username(),
		Password:      Secret(password),
		AMQPURL:       Secret(amqpURL),
	}
	t.Profile = ProfileStandard
	t.applyDefaults()
	cfg := &Config{Targets: []Target{t}, Exposition: Exposition{Profile: ProfileStandard}}
	cfg.Alerting.applyDefaults()
	cfg.Audit.applyDefaults()
	return cfg, nil
}
