package config

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
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

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

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

// resolve makes a path relative to the configuration file's folder, as
// Prometheus does for its *_file settings.
func (p *parser) resolve(path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(filepath.Dir(p.file), path)
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
