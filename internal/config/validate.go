package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

func (p *parser) validate(root *yaml.Node, cfg *Config) {
	if len(cfg.Targets) == 0 {
		p.add(lineOf(root, "targets"), "targets", "at least one target is required")
	}
	names := map[string]int{}
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
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
		t.PasswordFile = p.resolve(t.PasswordFile)
		switch {
		case t.Password != "" && t.PasswordFile != "":
			fail("password_file", "set password or password_file, not both")
		case t.Password == "" && t.PasswordFile == "":
			fail("password", "is required: set password or password_file")
		case t.PasswordFile != "":
			if _, err := readSecretFile(t.PasswordFile); err != nil {
				fail("password_file", "%v", err)
			}
		}
		if t.AMQPURL != "" {
			if err := checkAMQPURL(string(t.AMQPURL)); err != nil {
				fail("amqp_url", "%v", err)
			}
		}
		if t.MaxQueues < 0 {
			fail("max_queues", "must be 0 (no limit) or more, not %d", t.MaxQueues)
		}
		p.validateTLS(root, i, &t.TLS)
		p.validateProbes(root, i, &t.Probes)
		p.validateTimeInQueue(root, i, &t.TimeInQueue)
		p.validateScale(root, i, t)
		for j, r := range t.DeadLetterQueues {
			for field, value := range map[string]string{"vhost": r.Vhost, "queue": r.Queue, "dead_letter_queue": r.DeadLetterQueue} {
				if value == "" {
					p.add(lineOf(root, "targets", i, "dead_letter_queues", j), fmt.Sprintf("targets[%d].dead_letter_queues[%d].%s", i, j, field), "is required")
				}
			}
		}
		t.applyDefaults()
	}
	p.validateAlerting(root, &cfg.Alerting)
	p.validateSLOs(root, cfg)
}

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
	c.PasswordFile = p.resolve(c.PasswordFile)
	if c.Password != "" && c.PasswordFile != "" {
		fail([]any{"password_file"}, "set password or password_file, not both")
	} else if c.PasswordFile != "" {
		if _, err := readSecretFile(c.PasswordFile); err != nil {
			fail([]any{"password_file"}, "%v", err)
		}
	}
	for j, n := range c.Nodes {
		if n.Name == "" {
			fail([]any{"nodes", j, "name"}, "is required")
		}
		if _, port, err := net.SplitHostPort(n.Address); err != nil || port == "" {
			fail([]any{"nodes", j, "address"}, "must be host:port, not %q", n.Address)
		}
	}
}

func (p *parser) validateTimeInQueue(root *yaml.Node, i int, c *TimeInQueueConfig) {
	checkBuckets := func(buckets []float64, path ...any) {
		for j := range buckets {
			if buckets[j] <= 0 || (j > 0 && buckets[j] <= buckets[j-1]) {
				full := append([]any{"targets", i, "time_in_queue"}, append(path, j)...)
				p.add(lineOf(root, full...), pathString(full), "buckets must be positive and increasing")
				return
			}
		}
	}
	checkBuckets(c.Buckets, "buckets")
	for j, o := range c.Overrides {
		checkBuckets(o.Buckets, "overrides", j, "buckets")
		if len(o.Thresholds) == 0 && len(o.Buckets) == 0 {
			full := []any{"targets", i, "time_in_queue", "overrides", j}
			p.add(lineOf(root, full...), pathString(full), "an override needs thresholds or buckets")
		}
	}
}

// pathString spells a lineOf path as a field name: targets[0].probes.
func pathString(path []any) string {
	var b strings.Builder
	for _, step := range path {
		switch s := step.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s)
		case int:
			fmt.Fprintf(&b, "[%d]", s)
		}
	}
	return b.String()
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

func (p *parser) validateTLS(root *yaml.Node, i int, c *TLSConfig) {
	fail := func(field, format string, args ...any) {
		p.add(lineOf(root, "targets", i, "tls_config", field), fmt.Sprintf("targets[%d].tls_config.%s", i, field), format, args...)
	}
	c.CAFile, c.CertFile, c.KeyFile = p.resolve(c.CAFile), p.resolve(c.CertFile), p.resolve(c.KeyFile)
	if (c.CertFile == "") != (c.KeyFile == "") {
		fail("cert_file", "cert_file and key_file go together")
		return
	}
	if _, err := c.Build(); err != nil {
		field := "ca_file"
		if errors.Is(err, errClientCert) {
			field = "cert_file"
		}
		fail(field, "%v", err)
	}
}

// resolve makes a path relative to the configuration file's folder, as
// Prometheus does for its *_file settings.
func (p *parser) resolve(path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(filepath.Dir(p.file), path)
}

var errClientCert = errors.New("client certificate")

// Build turns the settings into a *tls.Config (nil when nothing is set).
func (c TLSConfig) Build() (*tls.Config, error) {
	if c == (TLSConfig{}) {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read CA file: %w", unwrapPathError(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errClientCert, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}

func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read password file: %w", unwrapPathError(err))
	}
	// Files written by editors and `echo` end in a newline that is not
	// part of the secret, as Prometheus assumes too.
	return strings.TrimRight(string(b), "\r\n"), nil
}

// ManagementPassword returns the password for the management API, reading
// password_file afresh so that a rotated secret is picked up.
func (t *Target) ManagementPassword() (string, error) {
	if t.PasswordFile != "" {
		return readSecretFile(t.PasswordFile)
	}
	return string(t.Password), nil
}

func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme must be http or https, not %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	if u.User != nil {
		// Never echo the URL: it carries credentials.
		return errors.New("must not carry credentials: use username and password_file")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must be the base URL of the management API, without query or fragment")
	}
	return nil
}

func checkAMQPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes the input in its message; it may hold a password.
		return errors.New("is not a valid URL")
	}
	if u.Scheme != "amqp" && u.Scheme != "amqps" {
		return fmt.Errorf("scheme must be amqp or amqps, not %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	return nil
}
