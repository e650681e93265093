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

// validate checks what decoding cannot (required fields, references between
// sections, the files the configuration names) and applies the defaults.
func (p *parser) validate(root *yaml.Node, cfg *Config) {
	if len(cfg.Targets) == 0 {
		p.add(lineOf(root, "targets"), "targets", "at least one target is required")
	}
	names := map[string]int{}
	for i := range cfg.Targets {
		p.validateTarget(root, i, &cfg.Targets[i], names)
	}
	p.validateAlerting(root, &cfg.Alerting)
	p.validateOutboxes(root, cfg)
	p.validateSLOs(root, cfg)
	p.validateAudit(root, cfg)
	p.validateExposition(root, cfg)
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
		return errors.New("must be a base URL, without query or fragment")
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
