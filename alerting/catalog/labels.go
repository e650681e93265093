package catalog

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Key is a label set's identity: its sorted name="value" pairs, written
// as Prometheus writes a series ({a="1", b="2"}), so it also reads well in
// a log line.
func Key(labels map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range slices.Sorted(maps.Keys(labels)) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(labels[name]))
	}
	b.WriteByte('}')
	return b.String()
}

// CompareLabels orders label sets by their sorted name/value pairs, as
// Prometheus orders series.
func CompareLabels(a, b map[string]string) int {
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
