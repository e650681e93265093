package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// deployDir holds every configuration warren ships.
const deployDir = "../../deploy"

// shippedConfig is one warren configuration found under deploy/.
type shippedConfig struct {
	name string // path under deploy/
	path string // the file to pass to --config: the shipped one, or its rendered copy
	// files are the password, TLS and DSN files it names, by field.
	files []namedFile
	slos  []string
}

// namedFile is a *_file setting: where it is, and what it names.
type namedFile struct {
	line  int
	field string // as warren spells it: targets[0].probes.password_file
	file  string // resolved against the configuration's folder
}

// placeholderRE matches what deploy/demo/demo.sh renders before use.
var placeholderRE = regexp.MustCompile(`@[A-Z_]+@`)

// shippedConfigs finds every warren configuration under deploy/ (the YAML
// files whose top level is a mapping with a targets key), so that a new
// example is tested without being listed here. Placeholders of the demo
// (@MGMT_PORT@ …) are rendered into a copy first, as demo.sh does; a
// configuration that names a secret file which exists on this machine
// fails the test, whose premise is that none does.
func shippedConfigs(t *testing.T) []shippedConfig {
	t.Helper()
	var found []shippedConfig
	err := filepath.WalkDir(deployDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml")) {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var root yaml.Node
		if yaml.Unmarshal(data, &root) != nil || len(root.Content) != 1 || !hasKey(root.Content[0], "targets") {
			return nil // not a warren configuration (or several documents: a manifest)
		}
		rel, _ := filepath.Rel(deployDir, path)
		c := shippedConfig{name: filepath.ToSlash(rel), path: path, slos: sloNames(root.Content[0])}
		if placeholderRE.Match(data) {
			c.path = renderPlaceholders(t, path, data)
		}
		collectFiles(root.Content[0], "", filepath.Dir(path), &c.files)
		found = append(found, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range found {
		names = append(names, c.name)
		for _, f := range c.files {
			if _, err := os.Stat(f.file); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s: %s names %s, which exists here (%v): this test needs the secrets absent", c.name, f.field, f.file, err)
			}
		}
	}
	for _, want := range []string{"warren.example.yml", "kubernetes/base/warren.yml", "demo/warren.yml"} {
		if !slices.Contains(names, want) {
			t.Fatalf("found the configurations %v under %s, not %s", names, deployDir, want)
		}
	}
	return found
}

func hasKey(node *yaml.Node, key string) bool {
	return valueOf(node, key) != nil
}

// valueOf returns the value of key in a mapping node, or nil.
func valueOf(node *yaml.Node, key string) *yaml.Node {
	if node.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i+1]
		}
	}
	return nil
}

func sloNames(root *yaml.Node) []string {
	var names []string
	if slos := valueOf(root, "slos"); slos != nil {
		for _, s := range slos.Content {
			if name := valueOf(s, "name"); name != nil {
				names = append(names, name.Value)
			}
		}
	}
	return names
}

// collectFiles gathers every password_file, ca_file, cert_file, key_file and dsn_file
// below node, with warren's spelling of its field path.
func collectFiles(node *yaml.Node, path, dir string, out *[]namedFile) {
	switch node.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			key, value := node.Content[i], node.Content[i+1]
			child := key.Value
			if path != "" {
				child = path + "." + key.Value
			}
			switch key.Value {
			case "password_file", "ca_file", "cert_file", "key_file", "dsn_file":
				file := value.Value
				if !filepath.IsAbs(file) {
					file = filepath.Join(dir, file)
				}
				*out = append(*out, namedFile{line: key.Line, field: child, file: file})
			default:
				collectFiles(value, child, dir, out)
			}
		}
	case yaml.SequenceNode:
		for i, item := range node.Content {
			collectFiles(item, fmt.Sprintf("%s[%d]", path, i), dir, out)
		}
	}
}

// renderPlaceholders writes a copy of a configuration with its @…_PORT@
// placeholders replaced by a port, as demo.sh renders them.
func renderPlaceholders(t *testing.T, path string, data []byte) string {
	t.Helper()
	rendered := regexp.MustCompile(`@[A-Z_]+_PORT@`).ReplaceAll(data, []byte("10001"))
	if left := placeholderRE.FindAll(rendered, -1); len(left) > 0 {
		t.Fatalf("%s: placeholders %q are not ports: teach renderPlaceholders to render them", path, left)
	}
	return writeFile(t, t.TempDir(), filepath.Base(path), string(rendered))
}

// runBuiltWarren runs the warren binary TestMain built, with an empty
// environment, and returns its output and exit code.
func runBuiltWarren(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(warrenBinary, args...)
	cmd.Env = []string{}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running warren %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

func TestRulesAndCheckSyntaxOnlyAcceptEveryShippedConfigWithoutItsSecrets(t *testing.T) {
	for _, c := range shippedConfigs(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Run("rules", func(t *testing.T) {
				stdout, stderr, code := runBuiltWarren(t, "rules", "--config", c.path)
				if code != exitOK || stderr != "" {
					t.Fatalf("exit %d, stderr:\n%s", code, stderr)
				}
				for _, slo := range c.slos {
					if !strings.Contains(stdout, "slo: "+slo+"\n") {
						t.Errorf("no rules for SLO %s:\n%s", slo, stdout)
					}
				}
			})
			t.Run("rules --format prometheusrule", func(t *testing.T) {
				stdout, stderr, code := runBuiltWarren(t, "rules", "--format", "prometheusrule", "--config", c.path)
				if code != exitOK || stderr != "" || !strings.Contains(stdout, "kind: PrometheusRule\n") {
					t.Fatalf("exit %d, stderr:\n%s\nstdout:\n%s", code, stderr, stdout)
				}
			})
			t.Run("check --syntax-only", func(t *testing.T) {
				stdout, stderr, code := runBuiltWarren(t, "check", "--syntax-only", "--config", c.path)
				want := fmt.Sprintf("%s: OK (password and TLS files not read), ", c.path)
				if code != exitOK || !strings.HasPrefix(stdout, want) || strings.Contains(stderr, "config error") {
					t.Fatalf("exit %d, stdout %q, want it to start %q; stderr:\n%s", code, stdout, want, stderr)
				}
			})
		})
	}
}

func TestCheckOfAShippedConfigWithoutItsSecretsExitsTwoNamingEachPasswordFile(t *testing.T) {
	tested := 0
	for _, c := range shippedConfigs(t) {
		var passwordFiles []namedFile
		for _, f := range c.files {
			if strings.HasSuffix(f.field, "password_file") {
				passwordFiles = append(passwordFiles, f)
			}
		}
		if len(passwordFiles) == 0 {
			continue // inline passwords only (the demo): nothing to miss
		}
		tested++
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := runBuiltWarren(t, "check", "--config", c.path)
			if code != exitConfigError {
				t.Errorf("exit %d, want 2", code)
			}
			for _, f := range passwordFiles {
				want := fmt.Sprintf("warren: config error: %s:%d: %s: cannot read password file: %s: no such file or directory\n", c.path, f.line, f.field, f.file)
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
	if tested == 0 {
		t.Fatal("no shipped configuration names a password file")
	}
}
