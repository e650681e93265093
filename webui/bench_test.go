package webui

import (
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

// BenchmarkOverviewAt10kQueues is one overview page load with one target
// of 10,000 queues, an SLO and a firing alert: the status document (the
// 10k queues ranked, the worst 20 kept) and the page rendered. The goal
// is at most 50 ms of CPU per load (docs/benchmarks.md).
func BenchmarkOverviewAt10kQueues(b *testing.B) {
	benchmarkPage(b, "/", 10_000)
}

// BenchmarkSLOPage is one SLO page load: 2 × 120 trend points over the
// SLO's buckets, the charts and the PromQL.
func BenchmarkSLOPage(b *testing.B) {
	benchmarkPage(b, "/slo/orders-2s", 10_000)
}

// BenchmarkQueuePageAt10kQueues is one queue page load among 10,000
// queues.
func BenchmarkQueuePageAt10kQueues(b *testing.B) {
	benchmarkPage(b, "/queue/prod/%2F/orders", 10_000)
}

func benchmarkPage(b *testing.B, path string, queues int) {
	h := Handler(testSources(b, queues), nil)
	req := httptest.NewRequest(http.MethodGet, path, nil)
	b.ReportAllocs()
	start := processCPU(b)
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
	// The process's CPU, the garbage collector's included, which runs
	// beside the loop on the other core and ns/op does not show.
	b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
