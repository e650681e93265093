package exposition

import (
	"log/slog"
	"net/http"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/warrenhq/warren/internal/testenv/expositiontest"
)

// nativeScrape serves one native histogram series and returns it as the
// protobuf scrape and the text scrape decode it.
func nativeScrape(t *testing.T, native *Native, classic bool) (proto, text *dto.Histogram) {
	t.Helper()
	b := NewBuilder(nil)
	l := AppendLabel(nil, "queue", "orders")
	b.Family(testHist).NativeHistogram(l, []float64{10, 30}, []uint64{7, 9}, 123.5, 10, native, classic)
	h := NewHandler(prometheus.NewRegistry(), Fixed(&source{b.Fragment()}), slog.New(slog.DiscardHandler))
	families := expositiontest.ParseProto(t, scrape(t, h, http.Header{"Accept": {expositiontest.ProtoAccept}}).Body.Bytes())
	if len(families) != 1 || len(families[0].GetMetric()) != 1 {
		t.Fatalf("protobuf scrape: %v", families)
	}
	textFamilies := parse(t, scrape(t, h, nil).Body)
	return families[0].GetMetric()[0].GetHistogram(), textFamilies[testHist.Name].GetMetric()[0].GetHistogram()
}

func TestANativeHistogramDecodesToItsSpansAndDeltas(t *testing.T) {
	// Buckets -3, -2, then a gap of two, then 1 and a gap of one, then 3.
	native := &Native{Schema: 3, ZeroThreshold: 0.01, ZeroCount: 1, Offset: -3, Counts: []uint64{2, 4, 0, 0, 1, 0, 2}}
	got, text := nativeScrape(t, native, false)
	if got.GetSchema() != 3 || got.GetZeroThreshold() != 0.01 || got.GetZeroCount() != 1 {
		t.Errorf("schema %d, zero threshold %v, zero count %d; want 3, 0.01, 1", got.GetSchema(), got.GetZeroThreshold(), got.GetZeroCount())
	}
	var spans [][2]int64
	for _, s := range got.GetPositiveSpan() {
		spans = append(spans, [2]int64{int64(s.GetOffset()), int64(s.GetLength())})
	}
	if want := [][2]int64{{-3, 2}, {2, 1}, {1, 1}}; !slices.Equal(spans, want) {
		t.Errorf("spans (offset, length) %v, want %v", spans, want)
	}
	if want := []int64{2, 2, -3, 1}; !slices.Equal(got.GetPositiveDelta(), want) {
		t.Errorf("deltas %v, want %v", got.GetPositiveDelta(), want)
	}
	if got.GetSampleCount() != 10 || got.GetSampleSum() != 123.5 {
		t.Errorf("count %d, sum %v; want the native buckets' 10 and 123.5", got.GetSampleCount(), got.GetSampleSum())
	}
	if len(got.GetBucket()) != 0 {
		t.Errorf("classic buckets %v beside the native ones, not asked for", got.GetBucket())
	}
	if len(text.GetBucket()) != 3 || text.GetBucket()[0].GetUpperBound() != 10 {
		t.Errorf("the text scrape lost its classic buckets: %v", text.GetBucket())
	}
}

func TestClassicBucketsGoBesideTheNativeOnesOnlyWhenAskedAndWithinItsCount(t *testing.T) {
	native := &Native{Schema: 3, ZeroThreshold: 0.01, Offset: 30, Counts: []uint64{8}}
	got, _ := nativeScrape(t, native, true)
	var counts []uint64
	for _, b := range got.GetBucket() {
		counts = append(counts, b.GetCumulativeCount())
	}
	if !slices.Equal(counts, []uint64{7, 8}) || got.GetSampleCount() != 8 || len(got.GetPositiveSpan()) != 1 {
		t.Errorf("classic cumulative counts %v, count %d, spans %v; want [7 8] capped by the native count 8, and the native span", counts, got.GetSampleCount(), got.GetPositiveSpan())
	}
}

func TestAProducersReusedLabelBufferGetsEachSeriesItsOwnLabelsInProtobuf(t *testing.T) {
	b := NewBuilder(nil)
	depth := b.Family(testGauge)
	var l []byte
	for _, vhost := range []string{"a", "b", "c"} {
		l = AppendLabel(l[:0], "vhost", vhost) // same buffer, same length
		depth.Add(l, 1)
	}
	h := NewHandler(prometheus.NewRegistry(), Fixed(&source{b.Fragment()}), slog.New(slog.DiscardHandler))
	families := expositiontest.ParseProto(t, scrape(t, h, http.Header{"Accept": {expositiontest.ProtoAccept}}).Body.Bytes())
	var vhosts []string
	for _, m := range families[0].GetMetric() {
		vhosts = append(vhosts, m.GetLabel()[0].GetValue())
	}
	if !slices.Equal(vhosts, []string{"a", "b", "c"}) {
		t.Errorf("vhost labels %v, want a, b, c", vhosts)
	}
}
