package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "warren.yml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidConfigLoadsWithDefaults(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "warren.yml")
	body := `targets:
  - name: prod
    management_url: http://rabbit:15672
    username: monitoring
    password_file: pw
    queues:
      include: "orders\\..*"
      exclude: ".*\\.tmp"
    max_queues: 100
`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tg := cfg.Targets[0]
	if tg.PollInterval.Std() != DefaultPollInterval || tg.Timeout.Std() != DefaultTimeout {
		t.Errorf("defaults not applied: poll %v timeout %v", tg.PollInterval.Std(), tg.Timeout.Std())
	}
	pw, err := tg.ManagementPassword()
	if err != nil || pw != "s3cret" {
		t.Errorf("password from file = %q, %v; want s3cret without the newline", pw, err)
	}
	if !tg.Queues.Match("orders.created") || tg.Queues.Match("orders.created.tmp") || tg.Queues.Match("xorders.created") {
		t.Errorf("queue filter is not anchored include-minus-exclude")
	}
}

func TestEveryConfigErrorNamesFileLineAndField(t *testing.T) {
	cases := []struct {
		name, body string
		line       int
		field      string
		fragment   string
	}{
		{"unknown key", "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n    pasword: x\n", 6, "targets[0].pasword", `unknown field "pasword"`},
		{"bad regex", "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n    queues:\n      include: \"(\"\n", 7, "targets[0].queues.include", "invalid regular expression"},
		{"bad URL scheme", "targets:\n  - name: a\n    management_url: ftp://h\n    username: u\n    password: p\n", 3, "targets[0].management_url", "scheme must be http or https"},
		{"missing password file", "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password_file: /nonexistent/pw\n", 5, "targets[0].password_file", "cannot read password file"},
		{"bad duration", "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n    poll_interval: soon\n", 6, "targets[0].poll_interval", "not a duration"},
		{"wrong type", "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n    max_queues: many\n", 6, "targets[0].max_queues", "cannot unmarshal"},
		{"duplicate name", "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n", 6, "targets[1].name", "already the name"},
		{"unknown non_fifo", "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n    time_in_queue:\n      non_fifo: guess\n", 7, "targets[0].time_in_queue.non_fifo", `"guess" is not a non_fifo policy: use withhold or estimate`},
		{"processing buckets not increasing", "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n    processing:\n      buckets: [1, 0.5]\n", 7, "targets[0].processing.buckets[1]", "positive and increasing"},
		{"negative consumer timeout", "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n    consumer_timeout: -1m\n", 6, "targets[0].consumer_timeout", "must be positive"},
		{"processing SLO without threshold", "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\nslos:\n  - name: s\n    objective: 99%\n    sli:\n      processing_latency: {queue: orders}\n", 10, "slos[0].sli.processing_latency.threshold", "is required, e.g. 2s"},
		{"consumer timeout share of 1", "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\nalerting:\n  health:\n    RabbitMQConsumerTimeoutImminent:\n      threshold: 1\n", 9, "alerting.health.RabbitMQConsumerTimeoutImminent.threshold", "above 0 and below 1, not 1"},
		{"leader share below 1", "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\nalerting:\n  health:\n    RabbitMQQuorumLeadersImbalanced:\n      threshold: 0.5\n", 9, "alerting.health.RabbitMQQuorumLeadersImbalanced.threshold", "at least 1, not 0.5"},
		{"processing SLO on a target without processing", "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n    processing: {enabled: false}\nslos:\n  - name: s\n    objective: 99%\n    sli:\n      processing_latency: {queue: orders, threshold: 2s}\n", 11, "slos[0].sli.processing_latency", "processing estimate disabled"},
		{"unknown top-level key", "target:\n  - name: a\n", 1, "target", `unknown field "target"`},
		{"no targets", "targets: []\n", 1, "targets", "at least one target"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, e := loadFieldError(t, c.body, c.line, c.field, c.fragment)
			if !strings.HasPrefix(e.Error(), path+":") {
				t.Errorf("message %q does not start with file:line", e.Error())
			}
		})
	}
}

// loadFieldError loads body from a file and returns the file's path and
// the error at line and field whose message holds fragment, failing t
// when Load reports no such error.
func loadFieldError(t *testing.T, body string, line int, field, fragment string) (string, FieldError) {
	t.Helper()
	path := writeConfig(t, body)
	_, err := Load(path)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Load error = %v, want config.Errors", err)
	}
	for _, e := range es {
		if e.File == path && e.Line == line && e.Field == field && strings.Contains(e.Message, fragment) {
			return path, e
		}
	}
	t.Fatalf("want an error at line %d field %s containing %q; got:\n%v", line, field, fragment, err)
	return "", FieldError{}
}

func TestAllErrorsAreReportedAtOnce(t *testing.T) {
	path := writeConfig(t, "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n    poll_interval: soon\n    timeout: later\n")
	_, err := Load(path)
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("want two errors, got %v", err)
	}
}

func TestSecretsNeverAppearInErrors(t *testing.T) {
	path := writeConfig(t, "targets:\n  - name: a\n    management_url: http://admin:hunter2@h:15672\n    username: u\n    password: p\n    amqp_url: \"ftp://admin:hunter2@h\"\n")
	_, err := Load(path)
	if err == nil {
		t.Fatal("want an error for credentials in management_url")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestSecretPrintsAsPlaceholder(t *testing.T) {
	tg := Target{Name: "a", Password: "hunter2", AMQPURL: "amqp://u:hunter2@h/"}
	for _, verb := range []string{"%v", "%+v", "%s"} {
		if out := sprintf(verb, tg); strings.Contains(out, "hunter2") {
			t.Errorf("%s of a target leaks the password: %s", verb, out)
		}
	}
}

func TestDefaultTargetComesFromRabbitURL(t *testing.T) {
	env := map[string]string{"RABBIT_URL": "amqps://svc:pw@rabbit.example:5671/prod"}
	cfg, err := Default(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Targets[0]
	pw, _ := tg.ManagementPassword()
	if tg.Name != "default" || tg.ManagementURL != "https://rabbit.example:15671" || tg.Username != "svc" || pw != "pw" {
		t.Errorf("default target = %+v (password %q)", tg, pw)
	}
	if tg.PollInterval.Std() != 15*time.Second {
		t.Errorf("poll interval = %v", tg.PollInterval.Std())
	}

	cfg, err = Default(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Targets[0].ManagementURL; got != "http://localhost:15672" {
		t.Errorf("without RABBIT_URL management URL = %q", got)
	}
}

func sprintf(format string, v any) string { return fmt.Sprintf(format, v) }

func TestProbeConfigErrorsNameTheirField(t *testing.T) {
	head := "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n    probes:\n"
	cases := []struct {
		name, body string
		line       int
		field      string
	}{
		{"stream is not probed", head + "      queue_types: [classic, stream]\n", 7, "targets[0].probes.queue_types[1]"},
		{"timeout longer than interval", head + "      interval: 5s\n      timeout: 10s\n", 8, "targets[0].probes.timeout"},
		{"node without port", head + "      nodes:\n        - name: rabbit@a\n          address: a\n", 9, "targets[0].probes.nodes[0].address"},
		{"unknown probe key", head + "      per-node: true\n", 7, "targets[0].probes.per-node"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, c.body))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("want config.Errors, got %v", err)
			}
			for _, e := range es {
				if e.Line == c.line && e.Field == c.field {
					return
				}
			}
			t.Fatalf("want an error at line %d on %s; got:\n%v", c.line, c.field, err)
		})
	}
}

func TestProbeURLTakesProbeCredentialsAndVhost(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "probe-pw"), []byte("pp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "w.yml")
	body := "targets:\n  - name: a\n    management_url: https://rmq.example:15671\n    username: mon\n    password: mp\n    probes:\n      vhost: /\n      username: prober\n      password_file: probe-pw\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	u, err := cfg.Targets[0].ProbeURL()
	if err != nil {
		t.Fatal(err)
	}
	if got := u.String(); got != "amqps://prober:pp@rmq.example:5671/%2F" {
		t.Errorf("probe URL = %s", got)
	}
	tg := cfg.Targets[0]
	tg.Probes.Username, tg.Probes.PasswordFile = "", ""
	if u, _ := tg.ProbeURL(); u.User.String() != "mon:mp" {
		t.Errorf("without probe credentials the management ones apply, got %s", u.User)
	}
}

func TestNonFIFODefaultsToWithholding(t *testing.T) {
	for body, want := range map[string]bool{
		"": false,
		"    time_in_queue:\n      non_fifo: withhold\n": false,
		"    time_in_queue:\n      non_fifo: estimate\n": true,
	} {
		cfg, err := Load(writeConfig(t, "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n"+body))
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if got := cfg.Targets[0].TimeInQueue.EstimatesNonFIFO(); got != want {
			t.Errorf("%q: EstimatesNonFIFO = %v, want %v", body, got, want)
		}
	}
}

func TestLatencySLOsAddTheirThresholdsToTheirEstimatorAndConsumerTimeoutDefaultsToTheBrokers(t *testing.T) {
	cfg, err := Load(writeConfig(t, "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n"+
		"slos:\n  - name: handled\n    objective: 99%\n    sli:\n      processing_latency: {queue: orders, threshold: 2s}\n"+
		"  - name: waited\n    objective: 95%\n    sli:\n      time_in_queue: {queue: orders, threshold: 45s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Targets[0]
	if th := tg.Processing.SLOThresholds; len(th) != 1 || th[0].Threshold.Std() != 2*time.Second {
		t.Errorf("processing SLO thresholds = %+v, want the processing_latency SLO's 2s only", th)
	}
	if th := tg.TimeInQueue.SLOThresholds; len(th) != 1 || th[0].Threshold.Std() != 45*time.Second {
		t.Errorf("time-in-queue SLO thresholds = %+v, want the time_in_queue SLO's 45s only", th)
	}
	if tg.ConsumerTimeout.Std() != 30*time.Minute {
		t.Errorf("consumer_timeout = %v, want RabbitMQ's default 30m", tg.ConsumerTimeout.Std())
	}
}
