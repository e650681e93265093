package collector

import (
	"context"
	"io"
	"net/http"
	"net/url"

	dto "github.com/prometheus/client_model/go"
)

// RawFetch makes the requests of one poll (overview, nodes, the queue
// listing with the same query) as plain HTTP and discards the bodies: the
// floor a poll's wall time is compared with. It returns the bytes read.
func RawFetch(ctx context.Context, p *Poller, password string) (int64, error) {
	q := url.Values{"columns": {queueColumns}}
	p.sampleHistory().params(q)
	paths := []string{
		"overview?" + url.Values{"columns": {"rabbitmq_version,erlang_version,management_version,cluster_name,node"}}.Encode(),
		"nodes?" + url.Values{"columns": {"name,running,mem_alarm,disk_free_alarm,partitions,fd_used,fd_total"}}.Encode(),
		"queues?" + q.Encode(),
	}
	return fetchAll(ctx, p.client, password, paths)
}

// ListingWithoutHistory fetches the queue listing a poll makes with
// sample_history: false: the same columns, no per-queue sample history.
func ListingWithoutHistory(ctx context.Context, p *Poller, password string) (int64, error) {
	return fetchAll(ctx, p.client, password, []string{"queues?" + url.Values{"columns": {queueColumns}}.Encode()})
}

// FullListing fetches GET /api/queues with every column and no paging, as
// kbudde/rabbitmq_exporter does on every scrape. It returns the bytes read.
func FullListing(ctx context.Context, p *Poller, password string) (int64, error) {
	return fetchAll(ctx, p.client, password, []string{"queues"})
}

func fetchAll(ctx context.Context, c *mgmtClient, password string, paths []string) (int64, error) {
	var total int64
	for _, path := range paths {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.String()+"/api/"+path, nil)
		if err != nil {
			return total, err
		}
		req.SetBasicAuth(c.username, password)
		resp, err := c.http.Do(req)
		if err != nil {
			return total, err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// ResponseBytes is what the latest successful poll read from the API.
func ResponseBytes(p *Poller) float64 {
	var m dto.Metric
	p.metrics.responseBytes.WithLabelValues(p.target.Name).Write(&m)
	return m.GetGauge().GetValue()
}

// BenchTrafficEnv is the environment variable that makes the test binary
// a traffic generator (see runBenchTraffic).
const BenchTrafficEnv = benchTrafficEnv
