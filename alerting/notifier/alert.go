package notifier

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Alert is one alert as warren's evaluators see it. Labels identify it
// (alertname, severity, cluster, vhost, queue, slo ... as applicable; no
// empty values); two warren replicas with the same config produce identical
// labels.
type Alert struct {
	Labels       map[string]string
	Annotations  map[string]string // summary, description, runbook_url
	StartsAt     time.Time         // when it started firing (set by the caller, stable across evaluations)
	GeneratorURL string
}

// normalise copies the caller's alert, so later changes to its maps do not
// reach the notifier, and drops labels with empty values.
func normalise(in Alert) Alert {
	out := in
	out.Labels = make(map[string]string, len(in.Labels))
	for k, v := range in.Labels {
		if v != "" {
			out.Labels[k] = v
		}
	}
	out.Annotations = make(map[string]string, len(in.Annotations))
	for k, v := range in.Annotations {
		if v != "" {
			out.Annotations[k] = v
		}
	}
	return out
}

// validate returns why Alertmanager would reject a, or "".
func validate(a Alert) string {
	if len(a.Labels) == 0 {
		return "no labels"
	}
	for _, set := range []struct {
		kind string
		m    map[string]string
	}{{"label", a.Labels}, {"annotation", a.Annotations}} {
		for k, v := range set.m {
			if !validLabelName(k) {
				return fmt.Sprintf("invalid %s name %q", set.kind, k)
			}
			if !utf8.ValidString(v) {
				return fmt.Sprintf("%s %s: invalid UTF-8", set.kind, k)
			}
		}
	}
	return ""
}

// validLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]*, the
// label names every Alertmanager version accepts.
func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// identity renders a label set canonically, e.g. {alertname="X", queue="q"}:
// the key of an alert, and readable in logs.
func identity(labels map[string]string) string {
	names := slices.Sorted(maps.Keys(labels))
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", name, labels[name])
	}
	b.WriteByte('}')
	return b.String()
}

// compareLabels orders label sets by their sorted name/value pairs, as
// Prometheus orders series.
func compareLabels(a, b map[string]string) int {
	an, bn := slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b))
	for i := 0; i < len(an) && i < len(bn); i++ {
		if c := strings.Compare(an[i], bn[i]); c != 0 {
			return c
		}
		if c := strings.Compare(a[an[i]], b[bn[i]]); c != 0 {
			return c
		}
	}
	return len(an) - len(bn)
}

// changed reports whether b differs from a in anything Alertmanager shows.
func changed(a, b Alert) bool {
	return !a.StartsAt.Equal(b.StartsAt) || a.GeneratorURL != b.GeneratorURL || !maps.Equal(a.Annotations, b.Annotations)
}
