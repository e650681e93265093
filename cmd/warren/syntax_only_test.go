package main

import (
	"strings"
	"testing"
)

// missingSecrets is a valid configuration whose password and TLS files do
// not exist, as in a CI job that never sees the production secrets.
const missingSecrets = `targets:
  - name: a
    management_url: https://h:15671
    username: u
    password_file: /nonexistent/management-password
    tls_config:
      ca_file: /nonexistent/ca.pem
    probes:
      username: prober
      password_file: /nonexistent/probe-password
slos:
  - name: probes-succeed
    objective: 99%
    sli:
      probe_success: {}
`

func TestCheckSyntaxOnlyAcceptsAConfigWhosePasswordAndTLSFilesAreMissing(t *testing.T) {
	path := writeFile(t, t.TempDir(), "w.yml", missingSecrets)
	stdout, stderr, code := runWarren(t, "check", "--syntax-only", "--config", path)
	if code != exitOK || !strings.Contains(stdout, path+": OK (password and TLS files not read), 1 target(s), 1 SLO(s)") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestCheckWithoutSyntaxOnlyStillReadsPasswordAndTLSFiles(t *testing.T) {
	path := writeFile(t, t.TempDir(), "w.yml", missingSecrets)
	_, stderr, code := runWarren(t, "check", "--config", path)
	if code != exitConfigError {
		t.Errorf("exit %d, want 2", code)
	}
	for _, want := range []string{
		path + ":5: targets[0].password_file: cannot read password file: /nonexistent/management-password",
		path + ":7: targets[0].tls_config.ca_file: cannot read CA file: /nonexistent/ca.pem",
		path + ":10: targets[0].probes.password_file: cannot read password file: /nonexistent/probe-password",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestCheckSyntaxOnlyStillRejectsBadConfigWithExitTwoNamingLineAndField(t *testing.T) {
	head := "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password_file: /nonexistent/pw\n"
	slo := "slos:\n  - name: s\n    sli:\n      probe_success: {}\n"
	expectCheckRejects(t, map[string]badConfig{
		"unknown key":        {head + "    colour: blue\n", ":6: targets[0].colour: unknown field"},
		"bad duration":       {head + "    poll_interval: soon\n", ":6: targets[0].poll_interval: \"soon\" is not a duration"},
		"bad objective":      {head + slo + "    objective: 120%\n", ":10: slos[0].objective: 120% must be above 0% and below 100%"},
		"password and file":  {head + "    password: p\n", ":5: targets[0].password_file: set password or password_file, not both"},
		"key without a cert": {head + "    tls_config:\n      key_file: k.pem\n", ":6: targets[0].tls_config.cert_file: cert_file and key_file go together"},
	}, "--syntax-only")
}

func TestRulesReadsNoPasswordOrTLSFile(t *testing.T) {
	path := writeFile(t, t.TempDir(), "w.yml", missingSecrets)
	stdout, stderr, code := runWarren(t, "rules", "--config", path)
	if code != exitOK || !strings.Contains(stdout, `slo="probes-succeed"`) {
		t.Errorf("exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
}

func TestRulesStillRejectsBadConfigWithExitTwo(t *testing.T) {
	path := writeFile(t, t.TempDir(), "w.yml", strings.Replace(missingSecrets, "objective: 99%", "objective: 99", 1))
	_, stderr, code := runWarren(t, "rules", "--config", path)
	if code != exitConfigError || !strings.Contains(stderr, path+":13: slos[0].objective: 9900% must be above 0% and below 100%") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
