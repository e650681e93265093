package dashboards

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// This file holds a small PromQL tokenizer that finds the vector selectors
// of an expression: enough to list the metric names a dashboard or a rule
// uses and the label matchers of each. Whether an expression is valid
// PromQL is for the real Prometheus to say (the live test asks it);
// Prometheus's own parser lives in a module far heavier than this need.

// selector is one vector selector: a metric name and the text between its
// braces (empty when it has none).
type selector struct {
	Name     string
	Matchers string
}

// promqlKeywords are identifiers that are never metric names: aggregation
// operators, set and grouping keywords, modifiers, and the float literals.
var promqlKeywords = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
	"and": true, "or": true, "unless": true, "atan2": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"offset": true, "bool": true, "inf": true, "nan": true,
}

// labelListKeywords are followed by an optional parenthesised list of
// label names, which are not metric names.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// skipString returns the index just past the string literal starting at
// s[i] (a ", ' or ` quote).
func skipString(s string, i int) int {
	quote := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && quote != '`':
			j++
		case s[j] == quote:
			return j + 1
		}
	}
	return len(s)
}

// skipBalanced returns the index just past the bracket that closes the
// one at s[i], skipping string literals inside.
func skipBalanced(s string, i int) int {
	open := s[i]
	close := map[byte]byte{'(': ')', '[': ']', '{': '}'}[open]
	depth := 0
	for j := i; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"' || c == '\'' || c == '`':
			j = skipString(s, j) - 1
		case c == open:
			depth++
		case c == close:
			depth--
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(s)
}

func skipSpace(s string, i int) int {
	for i < len(s) && strings.ContainsRune(" \t\r\n", rune(s[i])) {
		i++
	}
	return i
}

// nameMatcher finds a {__name__="x"} matcher.
var nameMatcher = regexp.MustCompile(`(?:^|[{,\s])__name__\s*=\s*"([^"]+)"`)

// selectors lists the vector selectors of a PromQL expression, in order.
// Grafana variables ($x, ${x}, [[x]]) are skipped wherever they stand.
func selectors(expr string) []selector {
	var out []selector
	s := expr
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(s, i)
		case c == '#': // comment to the end of the line
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				i = skipBalanced(s, i)
			}
			for i < len(s) && isIdentChar(s[i]) {
				i++
			}
		case c == '[':
			// A range, a subquery's range and step, or Grafana's [[var]].
			i = skipBalanced(s, i)
		case c == '{':
			// A selector with no name outside the braces.
			end := skipBalanced(s, i)
			if m := nameMatcher.FindStringSubmatch(s[i:end]); m != nil {
				out = append(out, selector{Name: m[1], Matchers: strings.TrimSpace(s[i+1 : end-1])})
			}
			i = end
		case c >= '0' && c <= '9' || (c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9'):
			// A number or a duration: 0.99, 1e3, 0x1f, 5m, 1h30m.
			for i < len(s) && (isIdentChar(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			start := i
			for i < len(s) && isIdentChar(s[i]) {
				i++
			}
			word := s[start:i]
			next := skipSpace(s, i)
			switch {
			case labelListKeywords[strings.ToLower(word)]:
				if next < len(s) && s[next] == '(' {
					i = skipBalanced(s, next)
				}
			case promqlKeywords[strings.ToLower(word)]:
			case next < len(s) && s[next] == '(':
				// A function call; its arguments are scanned in turn.
			default:
				sel := selector{Name: word}
				if next < len(s) && s[next] == '{' {
					end := skipBalanced(s, next)
					sel.Matchers = strings.TrimSpace(s[next+1 : end-1])
					i = end
				}
				out = append(out, sel)
			}
		default:
			i++
		}
	}
	return out
}

// metricNames lists the distinct metric names of expr's selectors.
func metricNames(expr string) []string {
	var names []string
	seen := map[string]bool{}
	for _, s := range selectors(expr) {
		if !seen[s.Name] {
			seen[s.Name] = true
			names = append(names, s.Name)
		}
	}
	return names
}

func TestSelectorsFindsMetricNamesAndSkipsEverythingElse(t *testing.T) {
	cases := []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`warren_target_up{cluster=~"$cluster"} == 0`, []string{"warren_target_up"}},
		{`rate(warren_queue_published_total{queue="a"}[$__rate_interval])`, []string{"warren_queue_published_total"}},
		{`histogram_quantile(0.99, sum by (le, cluster) (rate(x_bucket{cluster=~"$cluster"}[5m])))`, []string{"x_bucket"}},
		{`sum without (instance) (a) / ignoring (state) group_left (type) b`, []string{"a", "b"}},
		{`a * on (cluster, vhost) group_left b`, []string{"a", "b"}},
		{`count_values("version", build_info)`, []string{"build_info"}},
		{`topk(10, max by (queue) (age))`, []string{"age"}},
		{`max_over_time(rate(req_total[1m])[10m:30s])`, []string{"req_total"}},
		{`metric offset 5m`, []string{"metric"}},
		{`a > bool 0.5 and b unless c or d`, []string{"a", "b", "c", "d"}},
		{`label_replace(m{x="by (foo)"}, "queue", "$1", "dlq", "(.+)")`, []string{"m"}},
		{`{__name__="by_name", job="x"}`, []string{"by_name"}},
		{`job:requests:rate5m > 1e3 # a comment with words_in_it`, []string{"job:requests:rate5m"}},
		{`time() - last_seen_seconds`, []string{"last_seen_seconds"}},
		{`vector(1) + scalar(s) * Inf + NaN`, []string{"s"}},
		{`sum(a) by (le)`, []string{"a"}},
		{`x @ start()`, []string{"x"}},
		{"m{a=`raw\"quoted`}", []string{"m"}},
		{`m{a="esc\"aped {", b!~"c"}`, []string{"m"}},
		{`$__all + ${var:regex} + [[old]]`, nil},
	}
	for _, c := range cases {
		if got := metricNames(c.expr); !reflect.DeepEqual(got, c.want) {
			t.Errorf("metricNames(%q) = %q, want %q", c.expr, got, c.want)
		}
	}
}

func TestSelectorsKeepEachSelectorsMatchers(t *testing.T) {
	got := selectors(`a{cluster=~"$cluster", q="}"} / on (x) b{ cluster = "x" } + c`)
	want := []selector{
		{Name: "a", Matchers: `cluster=~"$cluster", q="}"`},
		{Name: "b", Matchers: `cluster = "x"`},
		{Name: "c"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("selectors = %#v, want %#v", got, want)
	}
}
