package main

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/warrenhq/warren/internal/testenv/cmdtest"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
)

// warrenBinary is built once by TestMain, so the tests exercise the real
// command: flags, exit codes, signals.
var warrenBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "warren-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	warrenBinary = filepath.Join(dir, "warren")
	if err := cmdtest.BuildTo(".", warrenBinary); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runWarren(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut, func(string) string { return "" })
	return out.String(), errOut.String(), code
}

// badConfig is a configuration `warren check` must reject with an error
// line ending in want (":line: field: message") after the file's path.
type badConfig struct{ body, want string }

// expectCheckRejects runs `warren check` with flags on each case's file.
func expectCheckRejects(t *testing.T, cases map[string]badConfig, flags ...string) {
	t.Helper()
	dir := t.TempDir()
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, dir, strings.ReplaceAll(name, " ", "_")+".yml", c.body)
			_, stderr, code := runWarren(t, append([]string{"check", "--config", path}, flags...)...)
			if code != exitConfigError {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.Contains(stderr, path+c.want) {
				t.Errorf("stderr %q does not contain %q", stderr, path+c.want)
			}
		})
	}
}

func TestCheckRejectsBadConfigWithExitTwoNamingLineAndField(t *testing.T) {
	head := "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n"
	expectCheckRejects(t, map[string]badConfig{
		"unknown key":           {head + "    password: p\n    colour: blue\n", ":6: targets[0].colour: unknown field"},
		"bad regex":             {head + "    password: p\n    vhosts:\n      include: \"[\"\n", ":7: targets[0].vhosts.include: invalid regular expression"},
		"bad URL":               {"targets:\n  - name: a\n    management_url: \"http://\"\n    username: u\n    password: p\n", ":3: targets[0].management_url: has no host"},
		"missing password file": {head + "    password_file: missing.txt\n", ":5: targets[0].password_file: cannot read password file"},
	})
}

func TestCheckAcceptsValidConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "pw", "secret\n")
	path := writeFile(t, dir, "ok.yml", "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password_file: pw\n")
	stdout, stderr, code := runWarren(t, "check", "--config", path)
	if code != exitOK || !strings.Contains(stdout, "OK") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestRunWithBadConfigExitsTwo(t *testing.T) {
	path := writeFile(t, t.TempDir(), "bad.yml", "targets: nope\n")
	if _, stderr, code := runWarren(t, "--config", path); code != exitConfigError || !strings.Contains(stderr, path+":1") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestVersionPrintsBuildInformation(t *testing.T) {
	stdout, _, code := runWarren(t, "version")
	if code != exitOK || !strings.Contains(stdout, "warren, version") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
}

// startAgent runs the warren binary and returns once /-/healthy answers.
func startAgent(t *testing.T, args ...string) (*exec.Cmd, string, *bytes.Buffer) {
	t.Helper()
	return startAgentUnder(t, "", args...)
}

// startAgentUnder is startAgent for a warren serving under a route
// prefix ("" for none): it waits for prefix/-/healthy.
func startAgentUnder(t *testing.T, prefix string, args ...string) (*exec.Cmd, string, *bytes.Buffer) {
	t.Helper()
	listen := cmdtest.FreeAddr(t)
	cmd := exec.Command(warrenBinary, append([]string{"--web.listen-address=" + listen}, args...)...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := "http://" + listen
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + prefix + "/-/healthy"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusOK {
				return cmd, base, &logs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("warren did not start; logs:\n%s", logs.String())
		}
	}
}

// deadTargetConfig is a configuration whose one target has nothing
// listening at addr, with the probes off: the tests must never reach a
// broker they did not start, such as a system one on the default ports.
func deadTargetConfig(addr string) string {
	return fmt.Sprintf("targets:\n  - name: gone\n    management_url: http://%s\n    username: u\n    password: hunter2\n    poll_interval: 100ms\n    probes:\n      enabled: false\n", addr)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestAgentKeepsServingWhileItsTargetIsDownAndStopsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	dead := cmdtest.FreeAddr(t) // nothing listens here
	path := writeFile(t, dir, "w.yml", deadTargetConfig(dead))
	cmd, base, logs := startAgent(t, "--config", path)

	var metrics string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, body := get(t, base+"/-/ready")
		if code == http.StatusOK {
			_, metrics = get(t, base+"/metrics")
			if strings.Contains(metrics, `warren_poll_errors_total{cluster="gone",reason="connection"} 2`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready with two connection errors (last /-/ready %d %q); metrics:\n%s", code, body, metrics)
		}
	}
	for _, want := range []string{`warren_target_up{cluster="gone"} 0`, "warren_build_info{"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("warren exited with %v after SIGTERM; logs:\n%s", err, logs)
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Errorf("logs leak the password:\n%s", logs)
	}
}

func TestWebConfigFileProtectsMetricsWithBasicAuth(t *testing.T) {
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("scrape-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := writeFile(t, dir, "web.yml", fmt.Sprintf("basic_auth_users:\n  prometheus: %s\n", hash))
	config := writeFile(t, dir, "w.yml", deadTargetConfig(cmdtest.FreeAddr(t)))
	_, base, _ := startAgent(t, "--web.config.file="+webConfig, "--config", config)

	if code, _ := get(t, base+"/metrics"); code != http.StatusUnauthorized {
		t.Errorf("/metrics without credentials: %d, want 401", code)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.SetBasicAuth("prometheus", "scrape-pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/metrics with credentials: %d, want 200", resp.StatusCode)
	}
}

func TestAgainstARealBroker(t *testing.T) {
	node := rabbittest.StartT(t, rabbittest.Options{})
	dir := t.TempDir()
	path := writeFile(t, dir, "w.yml", fmt.Sprintf(`targets:
  - name: local
    management_url: %s
    username: guest
    password: guest
    poll_interval: 1s
    stats_interval: 1s
    amqp_url: %s
    probes:
      interval: 2s
      timeout: 2s
`, node.MgmtURL, node.AMQPURL))

	t.Run("probe command prints a latency table and exits 0", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code := run([]string{"probe", "--config", path, "--count", "3", "--interval", "100ms"}, &out, &errOut, func(string) string { return "" })
		if code != exitOK {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
		}
		for _, want := range []string{"CONFIRM p50", "classic", "quorum"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("table lacks %q:\n%s", want, out.String())
			}
		}
	})

	t.Run("probe command exits 1 when rounds fail", func(t *testing.T) {
		bad := writeFile(t, dir, "bad.yml", strings.Replace(mustRead(t, path), "amqp_url: "+node.AMQPURL, "amqp_url: amqp://guest:guest@"+cmdtest.FreeAddr(t)+"/", 1))
		var out, errOut bytes.Buffer
		code := run([]string{"probe", "--config", bad, "--count", "1"}, &out, &errOut, func(string) string { return "" })
		if code != exitFailure || !strings.Contains(out.String(), "connection_error=") {
			t.Errorf("exit %d, want 1 with connection errors:\n%s", code, out.String())
		}
	})

	t.Run("agent exports queue and probe metrics", func(t *testing.T) {
		cmd, base, logs := startAgent(t, "--config", path)
		var metrics string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			_, metrics = get(t, base+"/metrics")
			if strings.Contains(metrics, `warren_probe_runs_total{cluster="local",node="`+strings.TrimSuffix(strings.TrimPrefix(node.AMQPURL, "amqp://guest:guest@"), "/")+`",outcome="ok",queue_type="quorum"} 2`) &&
				strings.Contains(metrics, `warren_target_up{cluster="local"} 1`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no successful probes and poll within 30s; metrics:\n%s\nlogs:\n%s", metrics, logs)
			}
		}
		// The probe queues carry traffic: the time-in-queue estimate covers
		// them (quorum queues have no head timestamp, so the estimate is
		// their only age).
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			_, metrics = get(t, base+"/metrics")
			probeQueue := map[string]string{"cluster": "local", "vhost": "/", "queue": `warren\.probe\..*\.quorum`}
			if hasSeries(metrics, "warren_queue_time_in_queue_seconds_count", probeQueue, func(v float64) bool { return v > 0 }) &&
				hasSeries(metrics, "warren_queue_time_in_queue_seconds_bucket", with(probeQueue, "le", "10"), func(v float64) bool { return v > 0 }) &&
				hasSeries(metrics, "warren_queue_oldest_message_age_seconds", with(probeQueue, "source", "estimate"), func(v float64) bool { return v >= 0 && v < 10 }) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no time-in-queue estimate for the quorum probe queue within 30s; metrics:\n%s", metrics)
			}
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs)
		}
	})
}

// hasSeries reports whether metrics (text exposition) hold a series
// called name whose labels match every expression of labels (anchored
// regular expressions; other labels may be present, in any order) with a
// value ok accepts.
func hasSeries(metrics, name string, labels map[string]string, ok func(float64) bool) bool {
	for _, line := range strings.Split(metrics, "\n") {
		rest, found := strings.CutPrefix(line, name)
		if !found || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		got := map[string]string{}
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndex(rest, "}")
			if end < 0 {
				continue
			}
			for _, m := range labelPairRE.FindAllStringSubmatch(rest[1:end], -1) {
				got[m[1]] = strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\n`, "\n").Replace(m[2])
			}
			rest = rest[end+1:]
		}
		matches := true
		for k, expr := range labels {
			if v, present := got[k]; !present || !regexp.MustCompile("^(?:"+expr+")$").MatchString(v) {
				matches = false
				break
			}
		}
		var v float64
		if _, err := fmt.Sscan(rest, &v); matches && err == nil && ok(v) {
			return true
		}
	}
	return false
}

var labelPairRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// with returns labels plus one more.
func with(labels map[string]string, k, v string) map[string]string {
	out := maps.Clone(labels)
	out[k] = v
	return out
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
