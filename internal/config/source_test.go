package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestSourceDefaultsToAutoWithThePluginOnTheManagementHost(t *testing.T) {
	for _, c := range []struct{ management, plugin string }{
		{"http://rabbit:15672", "http://rabbit:15692"},
		{"https://rabbit.example:15671/", "https://rabbit.example:15691"},
		{"http://[::1]:15672", "http://[::1]:15692"},
	} {
		cfg, err := Parse("warren.yml", []byte("targets:\n  - name: a\n    management_url: "+c.management+"\n    username: u\n    password: p\n"))
		if err != nil {
			t.Fatal(err)
		}
		tg := cfg.Targets[0]
		if tg.Source != SourceAuto || !reflect.DeepEqual(tg.Prometheus.URLs, []string{c.plugin}) || tg.Prometheus.Username != "" {
			t.Errorf("management %s: source %q, plugin %v user %q; want auto, [%s], no user", c.management, tg.Source, tg.Prometheus.URLs, tg.Prometheus.Username, c.plugin)
		}
	}
	cfg, err := Default(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if tg := cfg.Targets[0]; tg.Source != SourceAuto || !reflect.DeepEqual(tg.Prometheus.URLs, []string{"http://localhost:15692"}) {
		t.Errorf("zero-configuration target: source %q, plugin %v", tg.Source, tg.Prometheus.URLs)
	}
}

func TestPrometheusSettingsLoadWithTheTargetsTLSByDefault(t *testing.T) {
	body := "targets:\n  - name: a\n    management_url: https://h:15671\n    username: u\n    password: p\n    tls_config: {server_name: rabbit}\n" +
		"    source: prometheus\n    prometheus:\n      urls: [https://h1:15691, https://h2:15691]\n      username: scraper\n      password: s\n"
	cfg, err := Parse("warren.yml", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Targets[0]
	pw, _ := tg.PrometheusPassword()
	if tg.Source != SourcePrometheus || len(tg.Prometheus.URLs) != 2 || tg.Prometheus.Username != "scraper" || pw != "s" || tg.PrometheusTLS().ServerName != "rabbit" {
		t.Errorf("prometheus settings = %+v, password %q, TLS %+v", tg.Prometheus, pw, tg.PrometheusTLS())
	}
	if !tg.UsesPrometheus() {
		t.Error("a prometheus target does not use the plugin")
	}
}

func TestSourceErrorsNameFileLineAndField(t *testing.T) {
	target := "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n"
	cases := []struct {
		name, body string
		line       int
		field      string
		fragment   string
	}{
		{"unknown source", target + "    source: promethus\n", 6, "targets[0].source", `must be one of auto, management, prometheus, not "promethus"`},
		{"plugin URL with credentials", target + "    prometheus:\n      urls:\n        - http://u:pw@h:15692\n", 8, "targets[0].prometheus.urls[0]", "must not carry credentials"},
		{"plugin URL with a path query", target + "    prometheus:\n      urls: [\"http://h:15692/metrics?family=x\"]\n", 7, "targets[0].prometheus.urls[0]", "without query"},
		{"plugin password without user", target + "    prometheus:\n      password: s\n", 6, "targets[0].prometheus.username", "is required with a password"},
		{"plugin user without password", target + "    prometheus:\n      username: s\n", 6, "targets[0].prometheus.password", "is required"},
		{"plugin CA file missing", target + "    prometheus:\n      tls_config:\n        ca_file: /nonexistent/ca.pem\n", 8, "targets[0].prometheus.tls_config.ca_file", "cannot read CA file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, e := loadFieldError(t, c.body, c.line, c.field, c.fragment); strings.Contains(e.Error(), "pw@") {
				t.Errorf("the error %q echoes the URL's credentials", e.Error())
			}
		})
	}
}
