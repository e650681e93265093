package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/warrenhq/warren/internal/testenv/cmdtest"
)

const (
	unitPath          = "systemd/warren.service"
	exampleConfigPath = "warren.example.yml"
	credentialsDir    = "/run/credentials/warren.service/"
)

var (
	buildOnce    sync.Once
	builtWarren  string
	buildFailure error
	buildDir     string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// warrenBinary builds cmd/warren once for the tests that run it.
func warrenBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "warren-deploy-test")
		if err != nil {
			buildFailure = err
			return
		}
		buildDir = dir
		bin := filepath.Join(dir, "warren")
		if buildFailure = cmdtest.BuildTo("../cmd/warren", bin); buildFailure != nil {
			return
		}
		builtWarren = bin
	})
	if buildFailure != nil {
		t.Fatal(buildFailure)
	}
	return builtWarren
}

// unitFile is a parsed systemd unit: section → key → values, in order
// (keys such as LoadCredential= repeat).
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unit := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			unit[section] = map[string][]string{}
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, "\\") {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, n, line)
			}
			unit[section][key] = append(unit[section][key], value)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return unit
}

func TestSystemdUnitIsHardened(t *testing.T) {
	unit := parseUnit(t, unitPath)
	service := unit["Service"]
	want := map[string]string{
		"ExecStart":               "/usr/local/bin/warren --config=/etc/warren/warren.yml --storage.path=/var/lib/warren",
		"DynamicUser":             "yes",
		"StateDirectory":          "warren",
		"ConfigurationDirectory":  "warren",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"NoNewPrivileges":         "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"MemoryDenyWriteExecute":  "yes",
		"CapabilityBoundingSet":   "",
		"LockPersonality":         "yes",
		"RestrictNamespaces":      "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"Restart":                 "on-failure",
	}
	for key, value := range want {
		got, ok := service[key]
		if !ok {
			t.Errorf("[Service] %s= missing, want %q", key, value)
		} else if got[len(got)-1] != value {
			t.Errorf("[Service] %s=%s, want %q", key, got[len(got)-1], value)
		}
	}
	if !slices.Contains(service["SystemCallFilter"], "@system-service") {
		t.Errorf("[Service] SystemCallFilter=%q lacks @system-service", service["SystemCallFilter"])
	}
	if _, ok := service["ExecReload"]; ok {
		t.Error("[Service] ExecReload= set: warren has no reload")
	}
	if got := unit["Install"]["WantedBy"]; !slices.Equal(got, []string{"multi-user.target"}) {
		t.Errorf("[Install] WantedBy=%q, want multi-user.target", got)
	}
}

// The example configuration reads its passwords from the credentials the
// unit loads, and the unit loads each from /etc/warren/secrets.
func TestSystemdUnitLoadsEveryPasswordTheExampleConfigReads(t *testing.T) {
	loaded := map[string]string{}
	for _, v := range parseUnit(t, unitPath)["Service"]["LoadCredential"] {
		id, src, ok := strings.Cut(v, ":")
		if !ok || !strings.HasPrefix(src, "/etc/warren/secrets/") {
			t.Errorf("LoadCredential=%s: want ID:/etc/warren/secrets/FILE", v)
		}
		loaded[id] = src
	}
	cfg, err := os.ReadFile(exampleConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	for _, f := range passwordFiles(t, cfg) {
		id, ok := strings.CutPrefix(f, credentialsDir)
		if !ok {
			t.Errorf("%s: password_file %s is not a credential of warren.service (%s…)", exampleConfigPath, f, credentialsDir)
			continue
		}
		read[id] = true
		if _, ok := loaded[id]; !ok {
			t.Errorf("%s reads credential %s, which the unit does not load", exampleConfigPath, id)
		}
	}
	for id := range loaded {
		if !read[id] {
			t.Errorf("the unit loads credential %s, which %s never reads", id, exampleConfigPath)
		}
	}
}

// systemd-analyze verify, where installed, must find nothing to say. The
// unit's binary is not installed here, so a copy runs the freshly built
// warren instead.
func TestSystemdAnalyzeVerifiesTheUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: TestSystemdUnitIsHardened is all that is checked")
		return
	}
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(t.TempDir(), "warren.service")
	body := strings.ReplaceAll(string(unit), "ExecStart=/usr/local/bin/warren ", "ExecStart="+warrenBinary(t)+" ")
	if err := os.WriteFile(copied, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", copied).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify %s (%v):\n%s", unitPath, err, out)
	}
}

// checkConfig runs `warren check` on a copy of a configuration in which
// every password file named under secretsDir is a placeholder file in a
// temporary directory.
func checkConfig(t *testing.T, path, secretsDir string) {
	t.Helper()
	cfg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := passwordFiles(t, cfg)
	if len(files) == 0 {
		t.Fatalf("%s names no password_file", path)
	}
	for _, f := range files {
		name, ok := strings.CutPrefix(f, secretsDir)
		if !ok {
			t.Fatalf("%s: password_file %s is not under %s", path, f, secretsDir)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("placeholder\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copied := filepath.Join(dir, "warren.yml")
	body := strings.ReplaceAll(string(cfg), secretsDir, dir+"/")
	if err := os.WriteFile(copied, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(warrenBinary(t), "check", "--config", copied).CombinedOutput()
	if err != nil {
		t.Fatalf("warren check of %s: %v\n%s", path, err, out)
	}
}

func TestExampleConfigPassesWarrenCheck(t *testing.T) {
	checkConfig(t, exampleConfigPath, credentialsDir)
}

func TestKubernetesConfigPassesWarrenCheck(t *testing.T) {
	checkConfig(t, filepath.Join(baseDir, "warren.yml"), "/etc/warren/secrets/")
}
