package notifier

import (
	"fmt"
	"maps"
	"unicode/utf8"

	"github.com/warrenhq/warren/alerting/catalog"
)

// normalise copies the caller's alert, so later changes to its maps do not
// reach the notifier, and drops labels with empty values.
func normalise(in catalog.Alert) catalog.Alert {
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
func validate(a catalog.Alert) string {
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
// changed reports whether b differs from a in anything Alertmanager shows.
func changed(a, b catalog.Alert) bool {
	return !a.StartsAt.Equal(b.StartsAt) || a.GeneratorURL != b.GeneratorURL || !maps.Equal(a.Annotations, b.Annotations)
}
