package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warrenhq/warren/alerting/catalog"
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
		t.Run(c.name, func(t *testing.T) { loadFieldError(t, c.body, c.line, c.field, c.fragment) })
	}
}

// secretsConfig names a password file for the target, its probes and an
// Alertmanager, and TLS files for both, none of which exist.
const secretsConfig = `targets:
  - name: a
    management_url: https://h:15671
    username: u
    password_file: secrets/management-password
    tls_config:
      ca_file: /nonexistent/ca.pem
      cert_file: /nonexistent/client.pem
      key_file: /nonexistent/client-key.pem
    probes:
      username: prober
      password_file: /nonexistent/probe-password
alerting:
  alertmanagers:
    - url: https://am:9093
      username: w
      password_file: /nonexistent/am-password
      tls_config:
        ca_file: /nonexistent/am-ca.pem
`

func TestWithoutSecretsLoadsAConfigWhosePasswordAndTLSFilesDoNotExist(t *testing.T) {
	path := writeConfig(t, secretsConfig)
	cfg, err := Load(path, WithoutSecrets())
	if err != nil {
		t.Fatalf("Load WithoutSecrets: %v", err)
	}
	if want := filepath.Join(filepath.Dir(path), "secrets/management-password"); cfg.Targets[0].PasswordFile != want {
		t.Errorf("password_file = %q, want it resolved against the file's folder: %q", cfg.Targets[0].PasswordFile, want)
	}
	if cfg.Targets[0].PollInterval.Std() != DefaultPollInterval || cfg.Alerting.EvaluationInterval.Std() != catalog.DefaultEvaluationInterval {
		t.Error("defaults not applied")
	}
}

func TestLoadReadsEveryPasswordAndTLSFileUnlessToldWithoutSecrets(t *testing.T) {
	path := writeConfig(t, secretsConfig)
	_, err := Load(path)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Load without the option = %v, want config.Errors for every missing file", err)
	}
	want := map[string]string{
		"targets[0].password_file":                     "cannot read password file",
		"targets[0].tls_config.ca_file":                "cannot read CA file",
		"targets[0].probes.password_file":              "cannot read password file",
		"alerting.alertmanagers[0].password_file":      "cannot read password file",
		"alerting.alertmanagers[0].tls_config.ca_file": "cannot read CA file",
	}
	for _, e := range es {
		if fragment, ok := want[e.Field]; ok && e.Line > 0 && strings.Contains(e.Message, fragment) {
			delete(want, e.Field)
		}
	}
	if len(want) > 0 {
		t.Errorf("no error for %v; got:\n%v", want, err)
	}
}

func TestWithoutSecretsStillRejectsEverythingElseWithFileLineAndField(t *testing.T) {
	target := "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n"
	slo := "slos:\n  - name: s\n    sli:\n      probe_success: {}\n"
	cases := []struct {
		name, body string
		line       int
		field      string
		fragment   string
	}{
		{"unknown key", target + "    password_file: pw\n    colour: blue\n", 6, "targets[0].colour", "unknown field"},
		{"bad duration", target + "    password_file: pw\n    poll_interval: soon\n", 6, "targets[0].poll_interval", "not a duration"},
		{"no password at all", target, 2, "targets[0].password", "is required"},
		{"password and password_file", target + "    password: p\n    password_file: pw\n", 6, "targets[0].password_file", "not both"},
		{"certificate without key", target + "    password_file: pw\n    tls_config:\n      cert_file: c.pem\n", 7, "targets[0].tls_config.cert_file", "go together"},
		{"objective above 100%", target + "    password_file: pw\n" + slo + "    objective: 120%\n", 10, "slos[0].objective", "below 100%"},
		{"missing objective", target + "    password_file: pw\n" + slo, 7, "slos[0].objective", "is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, c.body)
			_, err := Load(path, WithoutSecrets())
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

func TestDefaultWithoutSecretsKeepsNoPasswordFromRabbitURL(t *testing.T) {
	env := func(string) string { return "amqps://svc:hunter2@rabbit.example:5671/prod" }
	cfg, err := Default(env, WithoutSecrets())
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Targets[0]
	if tg.Password != "" || strings.Contains(string(tg.AMQPURL), "hunter2") {
		t.Errorf("the default target keeps the password of RABBIT_URL: password %q, amqp_url %q", string(tg.Password), string(tg.AMQPURL))
	}
	if tg.Username != "svc" || tg.ManagementURL != "https://rabbit.example:15671" || string(tg.AMQPURL) != "amqps://svc@rabbit.example:5671/prod" {
		t.Errorf("the default target lost more than the password: %+v (amqp_url %q)", tg, string(tg.AMQPURL))
	}
}
