package dashboards

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The parts of Grafana's dashboard model the tests look at.

type dashboard struct {
	File          string
	UID           string   `json:"uid"`
	Title         string   `json:"title"`
	Tags          []string `json:"tags"`
	SchemaVersion int      `json:"schemaVersion"`
	Inputs        []input  `json:"__inputs"`
	Panels        []panel  `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
	raw any // the whole document, for scans over every string
}

type input struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	PluginID string `json:"pluginId"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// wantDatasource is what every panel, target and query variable must use:
// the dashboard's data source variable.
var wantDatasource = datasourceRef{Type: "prometheus", UID: "${datasource}"}

type panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Datasource  *datasourceRef `json:"datasource"`
	GridPos     struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []panelTarget `json:"targets"`
	Panels  []panel       `json:"panels"` // a collapsed row's panels
}

type panelTarget struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	Datasource *datasourceRef `json:"datasource"`
	Instant    bool           `json:"instant"`
	Range      bool           `json:"range"`
	Format     string         `json:"format"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasourceRef  `json:"datasource"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

// queryText is a variable's query: a plain string, or the object newer
// Grafana versions write ({"query": "...", "refId": ...}).
func (v variable) queryText() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	json.Unmarshal(v.Query, &o)
	return o.Query
}

func (d *dashboard) variable(name string) (variable, bool) {
	for _, v := range d.Templating.List {
		if v.Name == name {
			return v, true
		}
	}
	return variable{}, false
}

// allPanels lists the dashboard's panels, rows' nested panels included,
// rows themselves excluded.
func (d *dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" {
				out = append(out, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// loadDashboards reads every *.json file of the package.
func loadDashboards(t *testing.T) []*dashboard {
	t.Helper()
	names, err := fs.Glob(FS, "*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 3 {
		t.Fatalf("found dashboards %v, want the three of the package doc", names)
	}
	var out []*dashboard
	for _, name := range names {
		data, err := FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		d := &dashboard{File: name}
		if err := json.Unmarshal(data, d); err != nil {
			t.Fatalf("%s: not valid dashboard JSON: %v", name, err)
		}
		if err := json.Unmarshal(data, &d.raw); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, d)
	}
	return out
}

// allStrings visits every string value in the document with its JSON path.
func allStrings(v any, path string, visit func(path, s string)) {
	switch v := v.(type) {
	case string:
		visit(path, v)
	case []any:
		for i, e := range v {
			allStrings(e, fmt.Sprintf("%s[%d]", path, i), visit)
		}
	case map[string]any:
		for k, e := range v {
			allStrings(e, path+"."+k, visit)
		}
	}
}

// variableRef matches the ways Grafana references a variable: $name,
// ${name}, ${name:format}, ${name.field} and [[name]]. $1 (a regex group
// in label_replace) is not a reference.
var variableRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z_][A-Za-z0-9_]*)(?::[^\]]*)?\]\]`)

func refName(m []string) string {
	for _, g := range m[1:] {
		if g != "" {
			return g
		}
	}
	return ""
}

// interpolate substitutes variables the way Grafana does before it sends
// a query: known names are replaced, unknown ones left as they are (and
// Prometheus then rejects the query, which is the point).
func interpolate(expr string, values map[string]string) string {
	return variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		if v, ok := values[refName(variableRef.FindStringSubmatch(ref))]; ok {
			return v
		}
		return ref
	})
}

// regexValue is a single variable value as Grafana's Prometheus data
// source puts it into a =~ matcher: regex-escaped, then escaped again for
// the PromQL string literal.
func regexValue(v string) string {
	return strings.ReplaceAll(regexp.QuoteMeta(v), `\`, `\\`)
}

// matcherOn finds the matchers of a selector on the labels that name
// where a series comes from.
var matcherOn = regexp.MustCompile(`\b(cluster|vhost|queue|dead_letter_queue)\s*(=~|!~|!=|=)\s*"([^"]*)"`)

// perClusterMetric reports whether a metric carries the cluster label (all
// of warren's but the process-wide ones and the SLO and alerting series).
func perClusterMetric(name string) bool {
	if !strings.HasPrefix(name, "warren_") {
		return false
	}
	for _, p := range []string{"warren_slo_", "warren_alert", "warren_build_info"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	return true
}

// builtinVariables are Grafana's own; any name starting with __ is too.
func builtinVariable(name string) bool { return strings.HasPrefix(name, "__") }

func TestEveryDashboardIsImportableGrafanaJSON(t *testing.T) {
	dashboards := loadDashboards(t)
	uids := map[string]string{}
	titles := map[string]string{}
	for _, d := range dashboards {
		t.Run(d.File, func(t *testing.T) {
			if d.UID == "" || d.Title == "" {
				t.Errorf("uid %q, title %q: both are required", d.UID, d.Title)
			}
			if len(d.UID) > 40 {
				t.Errorf("uid %q is longer than Grafana's 40 characters", d.UID)
			}
			if other, dup := uids[d.UID]; dup {
				t.Errorf("uid %q also used by %s", d.UID, other)
			}
			if other, dup := titles[d.Title]; dup {
				t.Errorf("title %q also used by %s", d.Title, other)
			}
			uids[d.UID], titles[d.Title] = d.File, d.File
			if d.SchemaVersion < 36 {
				t.Errorf("schemaVersion %d: want 36 or newer (data source references by uid)", d.SchemaVersion)
			}
			if !sameSet(d.Tags, []string{"warren", "rabbitmq"}) {
				t.Errorf("tags %q, want [warren rabbitmq]", d.Tags)
			}

			// The data source: asked for on import, and a variable.
			inputs := map[string]bool{}
			for _, in := range d.Inputs {
				inputs[in.Name] = true
			}
			if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].Type != "datasource" || d.Inputs[0].PluginID != "prometheus" {
				t.Errorf("__inputs %+v: want exactly one, DS_PROMETHEUS, a prometheus datasource", d.Inputs)
			}
			if v, ok := d.variable("datasource"); !ok || v.Type != "datasource" || v.queryText() != "prometheus" {
				t.Errorf("no variable datasource of type datasource with query prometheus (got %+v)", v)
			}

			// Every query variable uses the data source variable, and every
			// variable referenced anywhere exists.
			for _, v := range d.Templating.List {
				if v.Type == "query" && (v.Datasource == nil || *v.Datasource != wantDatasource) {
					t.Errorf("variable %s: datasource %+v, want %+v", v.Name, v.Datasource, wantDatasource)
				}
				if v.IncludeAll && v.AllValue != ".*" {
					t.Errorf("variable %s: includeAll with allValue %q; want .* so All stays short and matches new values", v.Name, v.AllValue)
				}
			}
			allStrings(d.raw, "", func(path, s string) {
				for _, m := range variableRef.FindAllStringSubmatch(s, -1) {
					name := refName(m)
					if _, ok := d.variable(name); !ok && !builtinVariable(name) && !inputs[name] {
						t.Errorf("%s references $%s, which is no variable of the dashboard", path, name)
					}
				}
			})

			// Panels: ids unique, inside the 24-column grid and not on top of
			// each other, titled and described, every target on the data
			// source variable, no hard-coded cluster, vhost or queue.
			ids := map[int]bool{}
			type cell struct{ x, y int }
			taken := map[cell]string{}
			for _, p := range d.Panels { // rows too: they take their grid line
				if ids[p.ID] {
					t.Errorf("panel id %d used twice", p.ID)
				}
				ids[p.ID] = true
				g := p.GridPos
				if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
					t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
				}
				for x := g.X; x < g.X+g.W; x++ {
					for y := g.Y; y < g.Y+g.H; y++ {
						if other, ok := taken[cell{x, y}]; ok {
							t.Errorf("panel %q overlaps panel %q at column %d, row %d", p.Title, other, x, y)
							x, y = g.X+g.W, g.Y+g.H
							break
						}
						taken[cell{x, y}] = p.Title
					}
				}
			}
			_, hasCluster := d.variable("cluster")
			for _, p := range d.allPanels() {
				if p.Title == "" || p.Description == "" {
					t.Errorf("panel %d (%q): a title and a description are required, for whoever reads it at 3am", p.ID, p.Title)
				}
				if p.Datasource == nil || *p.Datasource != wantDatasource {
					t.Errorf("panel %q: datasource %+v, want %+v", p.Title, p.Datasource, wantDatasource)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no targets", p.Title)
				}
				for _, tg := range p.Targets {
					where := fmt.Sprintf("panel %q target %s", p.Title, tg.RefID)
					if tg.Datasource == nil || *tg.Datasource != wantDatasource {
						t.Errorf("%s: datasource %+v, want %+v", where, tg.Datasource, wantDatasource)
					}
					if strings.TrimSpace(tg.Expr) == "" {
						t.Errorf("%s: empty expression", where)
					}
					if tg.Instant == tg.Range {
						t.Errorf("%s: instant=%v range=%v; want exactly one", where, tg.Instant, tg.Range)
					}
					checkSelectors(t, where, tg.Expr, hasCluster)
				}
			}
			for _, v := range d.Templating.List {
				if v.Type == "query" {
					sel, _, ok := parseLabelValues(v.queryText())
					if !ok {
						t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, v.queryText())
						continue
					}
					checkSelectors(t, "variable "+v.Name, sel, false)
				}
			}
		})
	}
}

// checkSelectors fails t for a cluster, vhost or queue matcher whose value
// is not a variable, and, where the dashboard has a cluster variable, for
// a per-cluster metric selected without it.
func checkSelectors(t *testing.T, where, expr string, wantCluster bool) {
	t.Helper()
	for _, sel := range selectors(expr) {
		for _, m := range matcherOn.FindAllStringSubmatch(sel.Matchers, -1) {
			if !strings.HasPrefix(m[3], "$") {
				t.Errorf("%s: %s hard-codes %s%s%q; use a template variable", where, sel.Name, m[1], m[2], m[3])
			}
		}
		if wantCluster && perClusterMetric(sel.Name) && !strings.Contains(sel.Matchers, `cluster=~"$cluster"`) {
			t.Errorf("%s: %s{%s} ignores the cluster variable", where, sel.Name, sel.Matchers)
		}
	}
}

var labelValuesCall = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

// parseLabelValues splits Grafana's label_values(selector, label).
func parseLabelValues(q string) (selector, label string, ok bool) {
	m := labelValuesCall.FindStringSubmatch(q)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

func sameSet(a, b []string) bool {
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

func TestInterpolateReplacesKnownVariablesInEveryGrafanaForm(t *testing.T) {
	values := map[string]string{"cluster": "prod", "__rate_interval": "1m", "queue": ".*"}
	got := interpolate(`rate(x{cluster=~"$cluster",queue=~"${queue}",q2=~"${queue:regex}",old="[[cluster]]"}[$__rate_interval]) + label_replace(y, "a", "$1", "b", "(.+)") + $unknown`, values)
	want := `rate(x{cluster=~"prod",queue=~".*",q2=~".*",old="prod"}[1m]) + label_replace(y, "a", "$1", "b", "(.+)") + $unknown`
	if got != want {
		t.Errorf("interpolate:\n got %s\nwant %s", got, want)
	}
	if got := regexValue("orders.dlq"); got != `orders\\.dlq` {
		t.Errorf("regexValue(orders.dlq) = %s", got)
	}
}

func TestParseLabelValuesSplitsSelectorAndLabel(t *testing.T) {
	sel, label, ok := parseLabelValues(`label_values(warren_queue_info{cluster=~"$cluster", vhost=~"$vhost"}, queue)`)
	if !ok || sel != `warren_queue_info{cluster=~"$cluster", vhost=~"$vhost"}` || label != "queue" {
		t.Errorf("got %q, %q, %v", sel, label, ok)
	}
	if _, _, ok := parseLabelValues(`query_result(up)`); ok {
		t.Error("query_result accepted as label_values")
	}
}
