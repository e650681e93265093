package collector

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/warrenhq/warren/internal/config"
)

// BenchmarkPollAndRender measures one full poll of a real node holding N
// classic queues, and one /metrics scrape of the resulting snapshot. It
// reports, per operation: the poll's wall time, warren's CPU time during
// the poll, the scrape's wall time and size, and the process RSS after.
func BenchmarkPollAndRender(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("queues=%d", n), func(b *testing.B) {
			vhost := fmt.Sprintf("bench%d", n)
			if err := broker.ImportDefinitions(benchDefinitions(vhost, n)); err != nil {
				b.Fatal(err)
			}
			defer broker.Ctl("delete_vhost", vhost)

			tg := brokerTarget("bench", vhost, time.Minute)
			tg.Timeout = config.Duration(time.Minute)
			coll, reg := newTestCollector(b, tg)
			p := coll.Pollers()[0]
			// Wait until the broker lists every queue with its stats.
			for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
				p.Poll(context.Background())
				if s := p.Snapshot(); s != nil && len(s.Queues) == n && allStatsKnown(s.Queues) {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("the broker never listed %d queues (%s)", n, p.Health().LastError)
				}
			}
			handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})

			var pollWall, pollCPU, scrapeWall, rawWall time.Duration
			var scrapeBytes int
			b.ResetTimer()
			for range b.N {
				cpu0, t0 := cpuTime(), time.Now()
				p.Poll(context.Background())
				pollWall += time.Since(t0)
				pollCPU += cpuTime() - cpu0
				if !p.Health().Up {
					b.Fatalf("poll failed: %s", p.Health().LastError)
				}

				// The floor: the same queue listing fetched by plain HTTP
				// and thrown away undecoded.
				tr := time.Now()
				if err := rawQueueListing(p.client, vhost); err != nil {
					b.Fatal(err)
				}
				rawWall += time.Since(tr)

				t1 := time.Now()
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
				scrapeWall += time.Since(t1)
				scrapeBytes = rec.Body.Len()
			}
			b.StopTimer()
			per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
			b.ReportMetric(per(pollWall), "poll-s/op")
			b.ReportMetric(per(pollCPU), "poll-cpu-s/op")
			b.ReportMetric(per(rawWall), "raw-listing-s/op")
			b.ReportMetric(per(scrapeWall)*1000, "scrape-ms/op")
			b.ReportMetric(float64(scrapeBytes)/1e6, "scrape-MB")
			b.ReportMetric(rssMB(), "rss-MB")
		})
	}
}

func allStatsKnown(queues []Queue) bool {
	for i := range queues {
		if !queues[i].StatsKnown {
			return false
		}
	}
	return true
}

// benchDefinitions is a definitions file with one vhost of n classic
// queues, for rabbitmqctl import_definitions.
func benchDefinitions(vhost string, n int) []byte {
	type queue struct {
		Name       string         `json:"name"`
		Vhost      string         `json:"vhost"`
		Durable    bool           `json:"durable"`
		AutoDelete bool           `json:"auto_delete"`
		Arguments  map[string]any `json:"arguments"`
	}
	defs := map[string]any{
		"vhosts":      []map[string]string{{"name": vhost}},
		"permissions": []map[string]string{{"user": "guest", "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}},
	}
	queues := make([]queue, n)
	for i := range queues {
		queues[i] = queue{Name: fmt.Sprintf("bench.queue.%06d", i), Vhost: vhost, Durable: true, Arguments: map[string]any{}}
	}
	defs["queues"] = queues
	out, err := json.Marshal(defs)
	if err != nil {
		panic(err)
	}
	return out
}

// rawQueueListing fetches every page of the queue listing the way a poll
// does, discarding the bodies: what the broker and the network cost alone.
func rawQueueListing(c *mgmtClient, vhost string) error {
	for page := 1; ; page++ {
		var p struct {
			PageCount int `json:"page_count"`
		}
		q := url.Values{"page": {strconv.Itoa(page)}, "page_size": {strconv.Itoa(pageSize)}, "columns": {queueColumns}}
		req, err := http.NewRequest(http.MethodGet, c.base.String()+"/api/queues?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth(c.username, "guest")
		resp, err := c.http.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		// Only the page count is read, from the tail of the body.
		if i := bytes.LastIndex(body, []byte(`"page_count":`)); i >= 0 {
			fmt.Sscanf(string(body[i+len(`"page_count":`):]), "%d", &p.PageCount)
		}
		if page >= p.PageCount {
			return nil
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssMB reads the resident set size from /proc, after a GC so the figure
// reflects live memory plus the runtime's retained heap.
func rssMB() float64 {
	runtime.GC()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}
