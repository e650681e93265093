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

	// File is the path the configuration was loaded from ("" for the
	// built-in default); it is not a YAML key.
	File string `yaml:"-"`
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
