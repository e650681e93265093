package exposition

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/warrenhq/warren/internal/testenv/expositiontest"
)

var (
	testGauge = NewFamily("test_queue_depth", "Depth.\nWith a second line and a \\ backslash.", dto.MetricType_GAUGE)
	testHist  = NewFamily("test_wait_seconds", "Waits.", dto.MetricType_HISTOGRAM)
)

type source struct{ fragment *Fragment }

func (s *source) Fragment() *Fragment { return s.fragment }

// testSources are two producers (two targets) writing to the same
// families, with label values that need escaping.
func testSources() []Producer {
	var sources []Producer
	for _, cluster := range []string{"eu", "us"} {
		b := NewBuilder(nil)
		depth, wait := b.Family(testGauge), b.Family(testHist)
		for _, q := range []string{"plain", `quo"te`, "back\\slash", "new\nline"} {
			l := AppendLabel(AppendLabel(nil, "cluster", cluster), "queue", q)
			depth.Add(l, 42.5)
			wait.Histogram(l, []float64{0.1, 1, 2.5}, []uint64{1, 5, 9}, 12.25, 10)
		}
		sources = append(sources, &source{b.Fragment()})
	}
	return sources
}

// testRegistry holds the per-scrape part: a counter and a native
// histogram, which only protobuf can carry.
func testRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_scrapes_total", Help: "Scrapes."})
	c.Add(3)
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "test_probe_seconds", Help: "Probe latency.", Buckets: []float64{0.01, 0.1},
		NativeHistogramBucketFactor: 1.1,
	})
	h.Observe(0.05)
	reg.MustRegister(c, h)
	return reg
}

func scrape(t *testing.T, h http.Handler, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	return rec
}

func parse(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("the served text does not parse: %v", err)
	}
	return families
}

func TestTextScrapeMergesSourcesUnderOneHeaderAndParses(t *testing.T) {
	h := NewHandler(testRegistry(), Fixed(testSources()...), slog.New(slog.DiscardHandler))
	rec := scrape(t, h, nil)
	body := rec.Body.String()
	if n := strings.Count(body, "# HELP test_queue_depth "); n != 1 {
		t.Errorf("HELP of a family shared by two sources appears %d times, want 1", n)
	}
	if got := rec.Header().Get("Content-Length"); got != "" && got != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %s, body %d bytes", got, len(body))
	}
	families := parse(t, strings.NewReader(body))
	depth := families["test_queue_depth"]
	if depth == nil || len(depth.GetMetric()) != 8 {
		t.Fatalf("test_queue_depth = %v, want 8 series (4 queues × 2 sources)", depth)
	}
	if got := depth.GetHelp(); got != testGauge.Help {
		t.Errorf("help = %q, want %q", got, testGauge.Help)
	}
	queues := map[string]bool{}
	for _, m := range depth.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "queue" {
				queues[l.GetValue()] = true
			}
		}
		if m.GetGauge().GetValue() != 42.5 {
			t.Errorf("value %v, want 42.5", m.GetGauge().GetValue())
		}
	}
	for _, q := range []string{"plain", `quo"te`, "back\\slash", "new\nline"} {
		if !queues[q] {
			t.Errorf("label value %q did not survive escaping (have %v)", q, queues)
		}
	}
	hist := families["test_wait_seconds"].GetMetric()[0].GetHistogram()
	if hist.GetSampleCount() != 10 || hist.GetSampleSum() != 12.25 || len(hist.GetBucket()) != 4 || hist.GetBucket()[1].GetCumulativeCount() != 5 {
		t.Errorf("histogram = %v", hist)
	}
	if families["test_scrapes_total"].GetMetric()[0].GetCounter().GetValue() != 3 {
		t.Error("the registry's counter is missing or wrong")
	}
}

func TestGzipScrapeDecodesToThePlainBody(t *testing.T) {
	h := NewHandler(testRegistry(), Fixed(testSources()...), slog.New(slog.DiscardHandler))
	plain := scrape(t, h, nil).Body.Bytes()
	rec := scrape(t, h, http.Header{"Accept-Encoding": {"gzip, deflate"}})
	if rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", rec.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := io.ReadAll(zr) // multistream: every member
	if err != nil {
		t.Fatalf("the gzip body does not decode: %v", err)
	}
	if !bytes.Equal(decoded, plain) {
		t.Errorf("gzip body decodes to %d bytes that differ from the %d-byte plain body", len(decoded), len(plain))
	}
	if rec.Body.Len() >= len(plain) {
		t.Errorf("gzip body %d bytes, plain %d: not compressed", rec.Body.Len(), len(plain))
	}
}

func TestGzipRefusedWithQZero(t *testing.T) {
	h := NewHandler(testRegistry(), Fixed(testSources()...), slog.New(slog.DiscardHandler))
	rec := scrape(t, h, http.Header{"Accept-Encoding": {"gzip;q=0, identity"}})
	if rec.Header().Get("Content-Encoding") != "" {
		t.Errorf("gzip served though the client refused it")
	}
}

func decodeProto(t *testing.T, body io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, mf := range expositiontest.ParseProto(t, b) {
		got[mf.GetName()] = mf
	}
	return got
}

// withoutInfBuckets drops the +Inf buckets the text parser keeps and
// protobuf leaves implicit in the count, so that the two compare.
func withoutInfBuckets(families map[string]*dto.MetricFamily) []*dto.MetricFamily {
	var out []*dto.MetricFamily
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				if n := len(h.Bucket); n > 0 && math.IsInf(h.Bucket[n-1].GetUpperBound(), 1) {
					h.Bucket = h.Bucket[:n-1]
				}
			}
		}
		out = append(out, mf)
	}
	return out
}

func TestProtobufScrapeCarriesTheSameSeriesAsTextAndTheRegistrysNativeHistograms(t *testing.T) {
	h := NewHandler(testRegistry(), Fixed(testSources()...), slog.New(slog.DiscardHandler))
	text := parse(t, scrape(t, h, nil).Body)
	for _, gz := range []bool{false, true} {
		header := http.Header{"Accept": {expositiontest.ProtoAccept}}
		if gz {
			header.Set("Accept-Encoding", "gzip")
		}
		rec := scrape(t, h, header)
		if ft := expfmt.Format(rec.Header().Get("Content-Type")).FormatType(); ft != expfmt.TypeProtoDelim {
			t.Fatalf("Content-Type %q, want delimited protobuf", rec.Header().Get("Content-Type"))
		}
		var body io.Reader = rec.Body
		if gz {
			zr, err := gzip.NewReader(body)
			if err != nil {
				t.Fatal(err)
			}
			body = zr
		}
		got := decodeProto(t, body)
		native := got["test_probe_seconds"].GetMetric()[0].GetHistogram()
		delete(got, "test_probe_seconds")
		want := maps.Clone(text)
		delete(want, "test_probe_seconds") // the text format has no native buckets; checked below
		if d := expositiontest.Diff(withoutInfBuckets(want), withoutInfBuckets(got)); d != "" {
			t.Errorf("protobuf (gzip %v) differs from text:\n%s", gz, d)
		}
		if native.GetSchema() == 0 && len(native.GetPositiveSpan()) == 0 {
			t.Errorf("the native histogram lost its native buckets: %v", native)
		}
	}
}

func TestOpenMetricsRequestGetsTheTextFormat(t *testing.T) {
	h := NewHandler(testRegistry(), Fixed(testSources()...), slog.New(slog.DiscardHandler))
	// What Prometheus 2.x sends by default.
	rec := scrape(t, h, http.Header{"Accept": {"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"}})
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q, want the text format (the fast path)", ct)
	}
	parse(t, rec.Body)
}

func TestFamilyInBothPartsIsAnError(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: testGauge.Name, Help: "clash"}))
	h := NewHandler(reg, Fixed(testSources()...), slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), testGauge.Name) {
		t.Errorf("scrape = %d %q, want 500 naming the family", rec.Code, rec.Body)
	}
}

func TestNewFragmentIsServedAtTheNextScrape(t *testing.T) {
	src := &source{}
	h := NewHandler(prometheus.NewRegistry(), Fixed(src), slog.New(slog.DiscardHandler))
	if body := scrape(t, h, nil).Body.String(); body != "" {
		t.Errorf("before the first fragment the body is %q, want empty", body)
	}
	for _, v := range []float64{1, 2} {
		b := NewBuilder(src.fragment)
		b.Family(testGauge).Add(AppendLabel(nil, "queue", "q"), v)
		src.fragment = b.Fragment()
		got := parse(t, scrape(t, h, nil).Body)["test_queue_depth"].GetMetric()[0].GetGauge().GetValue()
		if got != v {
			t.Errorf("served %v, want the latest fragment's %v", got, v)
		}
	}
}

func TestAppendFloatMatchesTheTextEncoder(t *testing.T) {
	for _, v := range []float64{0, 1, -1, 0.1, 1e6, 1234567890, 2.5e-7, 3600, 1e21} {
		mf := &dto.MetricFamily{Name: strPtr("x"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}}}
		var want bytes.Buffer
		if _, err := expfmt.MetricFamilyToText(&want, mf); err != nil {
			t.Fatal(err)
		}
		got := "# TYPE x gauge\nx " + string(AppendFloat(nil, v)) + "\n"
		if got != want.String() {
			t.Errorf("AppendFloat(%v) line %q, client_golang writes %q", v, got, want.String())
		}
	}
}

func strPtr(s string) *string { return &s }

func TestFragmentLargerThanTheCompressionBufferServesEverySeries(t *testing.T) {
	b := NewBuilder(nil)
	depth := b.Family(testGauge)
	const queues = 20000 // about 1 MB of text: many flushes into one member
	for i := range queues {
		depth.Add(AppendLabel(nil, "queue", "q"+strconv.Itoa(i)), float64(i))
	}
	fr := b.Fragment()
	h := NewHandler(prometheus.NewRegistry(), Fixed(&source{fr}), slog.New(slog.DiscardHandler))
	plain := scrape(t, h, nil)
	if plain.Body.Len() != fr.Size()+len(testGauge.header) {
		t.Errorf("plain body %d bytes, want the fragment's %d plus the header", plain.Body.Len(), fr.Size())
	}
	metrics := parse(t, plain.Body)["test_queue_depth"].GetMetric()
	if len(metrics) != queues {
		t.Fatalf("%d series served, want %d", len(metrics), queues)
	}
	sum := 0.0
	for _, m := range metrics {
		sum += m.GetGauge().GetValue()
	}
	if want := float64(queues*(queues-1)) / 2; sum != want {
		t.Errorf("values sum to %v, want %v", sum, want)
	}
	gz := scrape(t, h, http.Header{"Accept-Encoding": {"gzip"}})
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(parse(t, zr)["test_queue_depth"].GetMetric()); n != queues {
		t.Errorf("gzip scrape has %d series, want %d", n, queues)
	}
}

func TestNegotiationChoosesAsExpfmtNegotiateAmongTheOfferedFormats(t *testing.T) {
	h := NewHandler(testRegistry(), Fixed(testSources()...), slog.New(slog.DiscardHandler))
	for _, accept := range []string{
		"",
		"*/*",
		"text/plain",
		"text/plain;version=0.0.4",
		// Prometheus 2.x by default, and with native histograms on.
		"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
		expositiontest.ProtoAccept,
		// Prometheus 2.49+ scrape_protocols: [PrometheusProto, OpenMetricsText1.0.0, PrometheusText0.0.4].
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
		"text/plain;version=0.0.4;q=0.9,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0,text/plain;q=0.1",
		"application/json",
	} {
		header := http.Header{}
		if accept != "" {
			header.Set("Accept", accept)
		}
		want := expfmt.Negotiate(header)
		got := expfmt.Format(scrape(t, h, header).Header().Get("Content-Type"))
		if got != want {
			t.Errorf("Accept %q: served %q, expfmt.Negotiate chooses %q", accept, got, want)
		}
	}
}
