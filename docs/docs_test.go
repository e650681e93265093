package docs

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/warrenhq/warren/alerting/catalog"
)

// Paths are relative to this package's folder, where `go test` runs.
const (
	repoRoot          = ".."
	readmePath        = "../README.md"
	maxReadmeBytes    = 15000
	alertRulesPath    = "../alerts/warren-alerts.yml"
	runbookPath       = "../alerts/RUNBOOK.md"
	alertsDocPath     = "alerts.md"
	metricsDocPath    = "metrics.md"
	configDocPath     = "configuration.md"
	configPackagePath = "../internal/config"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// headings returns the text of every Markdown heading of a file, outside
// fenced code blocks.
func headings(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	inFence := false
	sc := bufio.NewScanner(strings.NewReader(readFile(t, path)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimLeft(line, "#")
		if text == line || !strings.HasPrefix(text, " ") {
			continue // not a heading: "#" needs a space after it
		}
		out = append(out, strings.TrimSpace(text))
	}
	return out
}

// shippedAlerts returns the alert names of alerts/warren-alerts.yml.
func shippedAlerts(t *testing.T) []string {
	t.Helper()
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, alertRulesPath)), &rules); err != nil {
		t.Fatalf("%s: %v", alertRulesPath, err)
	}
	var names []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				names = append(names, r.Alert)
			}
		}
	}
	if len(names) == 0 {
		t.Fatalf("%s holds no alerting rule", alertRulesPath)
	}
	return names
}

// summaryRowRE matches a row of the summary table of docs/alerts.md:
// | [`RabbitMQQueueStalled`](#rabbitmqqueuestalled) | ...
var summaryRowRE = regexp.MustCompile("^\\| \\[`([A-Za-z]+)`\\]\\(#([a-z]+)\\)")

// documentedAlerts returns the alerts listed in the summary table of
// docs/alerts.md, with the anchors they link to.
func documentedAlerts(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(readFile(t, alertsDocPath), "\n") {
		if m := summaryRowRE.FindStringSubmatch(line); m != nil {
			out[m[1]] = m[2]
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no summary table of alerts", alertsDocPath)
	}
	return out
}

func TestEveryShippedAlertHasASectionInTheAlertsReference(t *testing.T) {
	sections := headings(t, alertsDocPath)
	summary := documentedAlerts(t)
	for _, name := range shippedAlerts(t) {
		if !slices.Contains(sections, name) {
			t.Errorf("%s: no section %q for the alert of %s", alertsDocPath, name, alertRulesPath)
		}
		if _, ok := summary[name]; !ok {
			t.Errorf("%s: the summary table does not list %s", alertsDocPath, name)
		}
	}
}

func TestEveryAlertHasARunbookSection(t *testing.T) {
	sections := headings(t, runbookPath)
	alerts := shippedAlerts(t)
	for name := range documentedAlerts(t) {
		alerts = append(alerts, name)
	}
	slices.Sort(alerts)
	for _, name := range slices.Compact(alerts) {
		if !slices.Contains(sections, name) {
			t.Errorf("%s: no section %q", runbookPath, name)
		}
	}
}

func TestEveryAlertInTheSummaryLinksToItsOwnSection(t *testing.T) {
	sections := headings(t, alertsDocPath)
	for name, anchor := range documentedAlerts(t) {
		if anchor != strings.ToLower(name) {
			t.Errorf("%s: the summary row of %s links to #%s, not #%s", alertsDocPath, name, anchor, strings.ToLower(name))
		}
		if !slices.Contains(sections, name) {
			t.Errorf("%s: the summary lists %s but no section has that name", alertsDocPath, name)
		}
	}
}

// metricNameRE finds metric names in Go string literals.
var metricNameRE = regexp.MustCompile(`"(warren_[a-z0-9_:]+)`)

// exportedMetricNames returns every warren_… name that appears in a string
// literal of the non-test Go source, except recording-rule names (with a
// colon) and name prefixes (ending in _).
func exportedMetricNames(t *testing.T) map[string][]string {
	t.Helper()
	names := map[string][]string{}
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != repoRoot && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range metricNameRE.FindAllStringSubmatch(string(src), -1) {
			name := m[1]
			if strings.Contains(name, ":") || strings.HasSuffix(name, "_") {
				continue
			}
			if !slices.Contains(names[name], path) {
				names[name] = append(names[name], path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("found no warren_ metric name in the Go source")
	}
	return names
}

func TestEveryMetricInTheSourceHasAnEntryInTheMetricsReference(t *testing.T) {
	doc := readFile(t, metricsDocPath)
	for name, files := range exportedMetricNames(t) {
		if !strings.Contains(doc, "\n| `"+name+"` |") {
			t.Errorf("%s: no table row for %s (named in %s)", metricsDocPath, name, strings.Join(files, ", "))
		}
	}
}

// yamlKeys returns every YAML key of the structs of the Go package in dir:
// the names of their `yaml:"…"` field tags.
func yamlKeys(t *testing.T, dir string) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			st, ok := n.(*ast.StructType)
			if !ok {
				return true
			}
			for _, field := range st.Fields.List {
				if field.Tag == nil {
					continue
				}
				tag, err := strconv.Unquote(field.Tag.Value)
				if err != nil {
					t.Fatalf("%s: %v", fset.Position(field.Pos()), err)
				}
				name, _, _ := strings.Cut(reflect.StructTag(tag).Get("yaml"), ",")
				if name != "" && name != "-" {
					keys[name] = fset.Position(field.Pos()).String()
				}
			}
			return true
		})
	}
	if len(keys) == 0 {
		t.Fatalf("found no yaml tag in %s", dir)
	}
	return keys
}

func TestEveryConfigurationKeyIsInTheConfigurationReference(t *testing.T) {
	doc := readFile(t, configDocPath)
	for key, where := range yamlKeys(t, configPackagePath) {
		if !strings.Contains(doc, "`"+key+"`") {
			t.Errorf("%s: the key %s (%s) is not documented", configDocPath, key, where)
		}
	}
}

func TestReadmeIsAtMost15000Bytes(t *testing.T) {
	info, err := os.Stat(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > maxReadmeBytes {
		t.Errorf("%s is %d bytes, more than %d: move reference material into docs/", readmePath, info.Size(), maxReadmeBytes)
	}
}

// linkRE finds the targets of inline Markdown links.
var linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// slug is GitHub's anchor for a heading: lower case, punctuation other than
// - and _ dropped, spaces turned into hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the anchors of every heading of a Markdown file, with
// GitHub's -1, -2 … suffixes for repeated headings.
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	seen := map[string]int{}
	for _, h := range headings(t, path) {
		s := slug(h)
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

func TestEveryRelativeLinkInTheDocumentationResolves(t *testing.T) {
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, readmePath, "../CONTRIBUTING.md", runbookPath, "../deploy/README.md")
	for _, file := range files {
		inFence := false
		for i, line := range strings.Split(readFile(t, file), "\n") {
			if strings.HasPrefix(line, "```") {
				inFence = !inFence
				continue
			}
			if inFence {
				continue
			}
			for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				path, anchor, _ := strings.Cut(target, "#")
				resolved := file
				if path != "" {
					resolved = filepath.Join(filepath.Dir(file), path)
					if _, err := os.Stat(resolved); err != nil {
						t.Errorf("%s:%d: link to %s: %v", file, i+1, target, err)
						continue
					}
				}
				if anchor != "" && strings.HasSuffix(resolved, ".md") && !anchors(t, resolved)[anchor] {
					t.Errorf("%s:%d: link to %s: %s has no heading with anchor #%s", file, i+1, target, resolved, anchor)
				}
			}
		}
	}
}

func TestTheHealthAlertOverridesNameEveryBuiltInHealthAlert(t *testing.T) {
	doc, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start := strings.Index(text, "### Health alert overrides")
	if start < 0 {
		t.Fatal("configuration.md has no section \"Health alert overrides\"")
	}
	section := text[start:]
	if end := strings.Index(section, "\n| key |"); end > 0 {
		section = section[:end]
	}
	for _, r := range catalog.HealthRules {
		if !strings.Contains(section, "`"+r.Name+"`") {
			t.Errorf("configuration.md, Health alert overrides: the list of alerting.health keys lacks %s", r.Name)
		}
	}
}

func TestEveryAuditCheckHasASectionInTheAuditReference(t *testing.T) {
	sections := headings(t, "audit.md")
	for _, check := range catalog.AuditChecks {
		if !slices.Contains(sections, check) {
			t.Errorf("audit.md: no section %q for the check", check)
		}
	}
	doc := readFile(t, "audit.md")
	for _, part := range []string{"**Why it matters.**", "**Evidence.**", "**Fix.**"} {
		if n := strings.Count(doc, part); n != len(catalog.AuditChecks) {
			t.Errorf("audit.md: %d checks say %s, want every one of the %d", n, part, len(catalog.AuditChecks))
		}
	}
}
