package config

import (
	"errors"
	"strings"
	"testing"
)

// Every section with a password or a tls_config is checked the same way,
// and its errors name the section's own field.
func TestPasswordAndTLSErrorsNameTheirFieldInEverySection(t *testing.T) {
	target := "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n"
	cases := []struct {
		name, body string
		line       int
		field      string
		fragment   string
	}{
		{"target without password", target, 2, "targets[0].password", "is required"},
		{"target with both", target + "    password: p\n    password_file: pw\n", 6, "targets[0].password_file", "not both"},
		{"target TLS key without certificate", target + "    password: p\n    tls_config:\n      key_file: k.pem\n", 6, "targets[0].tls_config.cert_file", "go together"},
		{"target CA file missing", target + "    password: p\n    tls_config:\n      ca_file: /nonexistent/ca.pem\n", 7, "targets[0].tls_config.ca_file", "cannot read CA file"},
		{"probe password file missing", target + "    password: p\n    probes:\n      password_file: /nonexistent/pw\n", 7, "targets[0].probes.password_file", "cannot read password file"},
		{"probe with both", target + "    password: p\n    probes:\n      password: q\n      password_file: pw\n", 8, "targets[0].probes.password_file", "not both"},
		{"alertmanager password file missing", target + "    password: p\nalerting:\n  alertmanagers:\n    - url: http://am:9093\n      username: w\n      password_file: /nonexistent/pw\n", 10, "alerting.alertmanagers[0].password_file", "cannot read password file"},
		{"alertmanager CA file missing", target + "    password: p\nalerting:\n  alertmanagers:\n    - url: http://am:9093\n      tls_config:\n        ca_file: /nonexistent/ca.pem\n", 10, "alerting.alertmanagers[0].tls_config.ca_file", "cannot read CA file"},
		{"alertmanager certificate without key", target + "    password: p\nalerting:\n  alertmanagers:\n    - url: http://am:9093\n      tls_config:\n        cert_file: c.pem\n", 10, "alerting.alertmanagers[0].tls_config.cert_file", "go together"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, c.body)
			_, err := Load(path)
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Load error = %v, want config.Errors", err)
			}
			for _, e := range es {
				if e.File == path && e.Line == c.line && e.Field == c.field && strings.Contains(e.Message, c.fragment) {
					return
				}
			}
			t.Fatalf("want an error at line %d field %s containing %q; got:\n%v", c.line, c.field, c.fragment, err)
		})
	}
}
