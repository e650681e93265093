// Package expositiontest compares metric expositions in tests: the
// pre-encoded /metrics output against a reference rendering of the same
// state, family by family and series by series.
//
// Import rule: it imports nothing of warren; only tests import it.
package expositiontest

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Parse parses a text-format exposition, failing t if it does not parse.
func Parse(t testing.TB, body []byte) []*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the served text does not parse: %v", err)
	}
	var out []*dto.MetricFamily
	for _, mf := range byName {
		out = append(out, mf)
	}
	return out
}

// Diff describes every difference in help, type, series and values
// between two sets of families, one line each, sorted; "" when they are
// the same. A series present twice in one set is reported.
func Diff(want, got []*dto.MetricFamily) string {
	flatten := func(families []*dto.MetricFamily) map[string]string {
		out := map[string]string{}
		for _, mf := range families {
			out[mf.GetName()+" meta"] = fmt.Sprintf("%s / %s", mf.GetType(), mf.GetHelp())
			for _, m := range mf.GetMetric() {
				labels := make([]string, 0, len(m.GetLabel()))
				for _, l := range m.GetLabel() {
					labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
				sort.Strings(labels)
				key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
				var value string
				switch {
				case m.Histogram != nil:
					h := m.Histogram
					value = fmt.Sprintf("count=%d sum=%v", h.GetSampleCount(), h.GetSampleSum())
					for _, b := range h.GetBucket() {
						value += fmt.Sprintf(" le%v=%d", b.GetUpperBound(), b.GetCumulativeCount())
					}
				case m.Counter != nil:
					value = fmt.Sprint(m.Counter.GetValue())
				case m.Gauge != nil:
					value = fmt.Sprint(m.Gauge.GetValue())
				default:
					value = fmt.Sprint(m.Untyped.GetValue())
				}
				if _, dup := out[key]; dup {
					value += " (duplicate series)"
				}
				out[key] = value
			}
		}
		return out
	}
	w, g := flatten(want), flatten(got)
	var diffs []string
	for k, v := range w {
		if g[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: want %s, got %q", k, v, g[k]))
		}
	}
	for k, v := range g {
		if _, ok := w[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: unexpected, %s", k, v))
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "\n")
}

// Find returns the first series of the family name whose labels include
// labels, and whether there is one.
func Find(families []*dto.MetricFamily, name string, labels map[string]string) (*dto.Metric, bool) {
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metrics
				}
			}
			return m, true
		}
	}
	return nil, false
}

// ParseProto decodes a delimited-protobuf exposition with Prometheus's
// decoder, failing t if it does not decode, has bytes after its last
// family or sends a family twice.
func ParseProto(t testing.TB, body []byte) []*dto.MetricFamily {
	t.Helper()
	r := bytes.NewReader(body)
	dec := expfmt.NewDecoder(r, expfmt.NewFormat(expfmt.TypeProtoDelim))
	seen := map[string]bool{}
	var out []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("the served protobuf does not decode: %v", err)
		}
		if seen[mf.GetName()] {
			t.Errorf("family %s sent twice", mf.GetName())
		}
		seen[mf.GetName()] = true
		out = append(out, mf)
	}
	if r.Len() > 0 {
		t.Errorf("%d bytes after the last family", r.Len())
	}
	return out
}

// ProtoAccept is the Accept header of a Prometheus that scrapes
// protobuf first (native histograms on).
const ProtoAccept = `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,text/plain;version=0.0.4;q=0.4`
