package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenhq/warren/internal/testenv/cmdtest"
	"github.com/warrenhq/warren/internal/testenv/garbagetest"
)

// These tests run the real warren against servers that answer garbage,
// and read the process's own peak memory (VmHWM) after a steady run
// against good answers and again after the garbage: the garbage must fail
// the poll, or the delivery, and cost at most 64 MB more.

// maxPeakGrowth is how much a garbage body may raise warren's peak RSS.
const maxPeakGrowth = 64 << 20

// fakeManagementAPI serves a management API of 100 busy queues and one
// queue with a backlog and no consumers ("orders"), whose overview counts
// them unless uncounted, but for path, which garbage answers while bad is
// set.
func fakeManagementAPI(t *testing.T, path string, uncounted bool, bad *atomic.Bool, garbage http.HandlerFunc) *httptest.Server {
	listing := []byte("[")
	for i := range 100 {
		listing = append(append(listing, garbagetest.BusyQueue(i)...), ',')
	}
	listing = append(listing, `{"name":"orders","vhost":"/","type":"classic","node":"rabbit@rabbitmq-0","arguments":{},"consumers":0,"messages":3,"messages_ready":3,"messages_unacknowledged":0,"message_stats":{"publish":3}}]`...)
	good := map[string][]byte{
		"/api/overview": []byte(`{"rabbitmq_version":"3.10.8","erlang_version":"25.2.3","management_version":"3.10.8","cluster_name":"fake","node":"rabbit@rabbitmq-0","object_totals":{"queues":101}}`),
		"/api/nodes":    []byte(`[{"name":"rabbit@rabbitmq-0","running":true,"mem_alarm":false,"disk_free_alarm":false,"partitions":[],"fd_used":40,"fd_total":1024}]`),
		"/api/queues":   listing,
		"/api/vhosts":   []byte(`[{"name":"/","message_stats":{"drop_unroutable":0,"return_unroutable":0}}]`),
	}
	if uncounted {
		good["/api/overview"] = []byte(`{"rabbitmq_version":"3.10.8","erlang_version":"25.2.3","management_version":"3.10.8","cluster_name":"fake","node":"rabbit@rabbitmq-0"}`)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path && bad.Load() {
			garbage(w, r)
			return
		}
		body, ok := good[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// boundsConfig is a configuration of one target at api, polled five times
// a second, with the given max_response_size ("" for the default) and
// extra top-level settings.
func boundsConfig(api, maxResponseSize, extra string) string {
	size := ""
	if maxResponseSize != "" {
		size = "    max_response_size: " + maxResponseSize + "\n"
	}
	return fmt.Sprintf("targets:\n  - name: fake\n    management_url: %s\n    username: u\n    password: p\n    poll_interval: 200ms\n    timeout: 1m\n%s    probes:\n      enabled: false\n%s", api, size, extra)
}

// metricValue scrapes the agent at base and returns the value of the
// series whose line starts with series, or -1 if it is not there.
func metricValue(t *testing.T, base, series string) float64 {
	t.Helper()
	_, body := get(t, base+"/metrics")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// waitForMetricAtLeast waits until the series reaches at least min.
func waitForMetricAtLeast(t *testing.T, base, series string, min float64) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); metricValue(t, base, series) < min; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %v (last %v)", series, min, metricValue(t, base, series))
		}
	}
}

func peakRSS(t *testing.T, cmd *exec.Cmd) int64 {
	t.Helper()
	n, err := cmdtest.PeakRSS(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkPeakGrowth fails t if the peak grew by maxPeakGrowth or more.
func checkPeakGrowth(t *testing.T, before, after int64) {
	t.Helper()
	t.Logf("%s: VmHWM %.1f MB after the steady run, %.1f MB after the garbage: +%.1f MB", path.Base(t.Name()), float64(before)/1e6, float64(after)/1e6, float64(after-before)/1e6)
	if after-before >= maxPeakGrowth {
		t.Errorf("the garbage raised warren's peak RSS by %d bytes, want less than %d", after-before, maxPeakGrowth)
	}
}

func TestGarbageManagementResponsesFailThePollAndKeepWarrensPeakMemoryWithin64MB(t *testing.T) {
	const endless = 1 << 40
	cases := []struct {
		name, path, maxResponseSize string
		uncounted                   bool // the overview counts no queues
		body                        func() io.Reader
	}{
		{"a 300 MB unterminated string in the queue listing", "/api/queues", "", false,
			func() io.Reader { return garbagetest.UnterminatedString(`[{"name":`, 300*garbagetest.MB) }},
		// An endless listing of valid elements is stopped by the
		// overview's count of the broker's queues (101), long before the
		// default max_response_size.
		{"valid queues that never end", "/api/queues", "", false,
			func() io.Reader { return garbagetest.EndlessArray(garbagetest.BusyQueue, endless) }},
		{"tiny elements that never end", "/api/queues", "", false,
			func() io.Reader { return garbagetest.EndlessArray(garbagetest.TinyQueue, endless) }},
		// From a broker that counts no queues (a proxy's own overview),
		// max_response_size alone stops it: what warren holds until then
		// grows with it (docs/polling.md#bounded-memory), so this target's
		// is set for its listing of 270 kB.
		{"valid queues that never end, no queue count", "/api/queues", "16MB", true,
			func() io.Reader { return garbagetest.EndlessArray(garbagetest.BusyQueue, endless) }},
		{"a 300 MB overview object", "/api/overview", "", false,
			func() io.Reader { return garbagetest.EndlessObject(`{"rabbitmq_version":"3.10.8"`, 300*garbagetest.MB) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var bad atomic.Bool
			api := fakeManagementAPI(t, c.path, c.uncounted, &bad, func(w http.ResponseWriter, _ *http.Request) {
				garbagetest.Serve(w, http.StatusOK, "application/json", c.body())
			})
			path := writeFile(t, t.TempDir(), "w.yml", boundsConfig(api.URL, c.maxResponseSize, ""))
			cmd, base, _ := startAgent(t, "--config", path)

			waitForMetricAtLeast(t, base, `warren_poll_duration_seconds_count{cluster="fake"}`, 20)
			before := peakRSS(t, cmd)
			bad.Store(true)
			waitForMetricAtLeast(t, base, `warren_poll_errors_total{cluster="fake",reason="invalid_response"}`, 10)
			after := peakRSS(t, cmd)

			if v := metricValue(t, base, `warren_queue_messages{cluster="fake",vhost="/",queue="orders",state="ready"}`); v != 3 {
				t.Errorf("the last good snapshot's depth of orders = %v, want 3", v)
			}
			if up := metricValue(t, base, `warren_target_up{cluster="fake"}`); up != 0 {
				t.Errorf("warren_target_up = %v while the API answers garbage, want 0", up)
			}
			checkPeakGrowth(t, before, after)
		})
	}
}

func TestGarbageAlertmanagerResponsesFailTheDeliveryKeepTheAlertsQueuedAndWarrensPeakMemoryWithin64MB(t *testing.T) {
	cases := []struct {
		name        string
		status      int
		contentType string
	}{
		// The API client decodes a 500's body as a JSON string, a 400's as
		// text when the server says so: both read the body whole.
		{"a 500 whose JSON string never ends", http.StatusInternalServerError, "application/json"},
		{"a 400 whose text never ends", http.StatusBadRequest, "text/plain"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var bad atomic.Bool
			am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if bad.Load() {
					garbagetest.Serve(w, c.status, c.contentType, garbagetest.UnterminatedString("", 300*garbagetest.MB))
				}
			}))
			t.Cleanup(am.Close)
			api := fakeManagementAPI(t, "", false, nil, nil)
			alerting := fmt.Sprintf("alerting:\n  evaluation_interval: 1s\n  resend_interval: 1s\n  alertmanagers:\n    - url: %s\n  health:\n    RabbitMQQueueNoConsumers:\n      for: 1s\n", am.URL)
			path := writeFile(t, t.TempDir(), "w.yml", boundsConfig(api.URL, "", alerting))
			cmd, base, _ := startAgent(t, "--config", path)
			sent := func(result string) string {
				return fmt.Sprintf(`warren_alerts_sent_total{alertmanager=%q,result=%q}`, am.URL, result)
			}
			queued := fmt.Sprintf(`warren_alerts_queued{alertmanager=%q}`, am.URL)

			waitForMetricAtLeast(t, base, sent("success"), 5) // orders has a backlog and no consumers
			before := peakRSS(t, cmd)
			bad.Store(true)
			waitForMetricAtLeast(t, base, sent("error"), 5)
			after := peakRSS(t, cmd)
			if q := metricValue(t, base, queued); q < 1 {
				t.Errorf("%s = %v while deliveries fail, want the alert kept queued", queued, q)
			}
			if up := metricValue(t, base, fmt.Sprintf(`warren_alertmanager_up{alertmanager=%q}`, am.URL)); up != 0 {
				t.Errorf("warren_alertmanager_up = %v while it answers garbage, want 0", up)
			}
			checkPeakGrowth(t, before, after)

			delivered := metricValue(t, base, sent("success"))
			bad.Store(false)
			waitForMetricAtLeast(t, base, sent("success"), delivered+1)
			if q := metricValue(t, base, queued); q != 0 {
				t.Errorf("%s = %v once Alertmanager answers again, want 0", queued, q)
			}
		})
	}
}
