package main

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warrenhq/warren/internal/testenv/cmdtest"
)

// waitForMetric waits until /metrics holds want, or fails with the logs.
func waitForMetric(t *testing.T, base, want string, logs interface{ String() string }) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if code, body := get(t, base+"/metrics"); code == http.StatusOK && strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			_, body := get(t, base+"/metrics")
			t.Fatalf("/metrics never held %q:\n%s\nlogs:\n%s", want, grepLines(body, "warren_"), logs)
		}
	}
}

func TestSIGHUPReloadsTheConfigurationAndABrokenFileKeepsTheOldOne(t *testing.T) {
	dir := t.TempDir()
	first, second := cmdtest.FreeAddr(t), cmdtest.FreeAddr(t) // nothing listens on either
	path := writeFile(t, dir, "w.yml", deadTargetConfig(first))
	cmd, base, logs := startAgent(t, "--config", path)
	waitForMetric(t, base, `warren_target_up{cluster="gone"} 0`, logs)

	added := deadTargetConfig(first) + strings.Replace(strings.TrimPrefix(deadTargetConfig(second), "targets:\n"), "name: gone", "name: also-gone", 1)
	if err := os.WriteFile(path, []byte(added), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitForMetric(t, base, `warren_target_up{cluster="also-gone"} 0`, logs)
	waitForMetric(t, base, "warren_config_last_reload_successful 1", logs)

	if err := os.WriteFile(path, []byte(added+"  - nme: typo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitForMetric(t, base, "warren_config_last_reload_successful 0", logs)
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, `warren_target_up{cluster="also-gone"} 0`) {
		t.Error("after a rejected reload the targets in force are gone")
	}
	if !strings.Contains(logs.String(), "configuration reload rejected") || !strings.Contains(logs.String(), "nme") {
		t.Errorf("the log does not say why the reload was rejected:\n%s", logs)
	}
	if code, _ := get(t, base+"/-/reload"); code != http.StatusForbidden && code != http.StatusMethodNotAllowed {
		t.Errorf("/-/reload without --web.enable-lifecycle answered %d", code)
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Errorf("logs leak the password:\n%s", logs)
	}
}
