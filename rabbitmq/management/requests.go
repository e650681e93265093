package management

import (
	"context"
	"net/url"
	"time"
)

// Requests are the requests, path and query under /api/, that one Read of
// a target without a vhost filter makes of a broker of the given version,
// with the sample history it asks for after span (none where withHistory
// is false), and the listing kbudde/rabbitmq_exporter makes on every
// scrape (every column, no paging). Benchmarks fetch them as plain HTTP
// (Fetch) for the floor a poll's wall time is compared with.
type Requests struct {
	Poll, ListingWithoutHistory, FullListing []string
}

// RequestsOf returns the requests of a Read; see Requests.
func (s *Source) RequestsOf(version string, span time.Duration) Requests {
	q := s.statsQuery(span)
	listing := queuesPath(version)
	return Requests{
		Poll: []string{
			"overview?" + url.Values{"columns": {overviewColumns}}.Encode(),
			"nodes?" + url.Values{"columns": {nodeColumns}}.Encode(),
			listing + "?" + q.values.Encode(),
			"vhosts?" + url.Values{"columns": {vhostUnroutableColumns}}.Encode(),
		},
		ListingWithoutHistory: []string{listing + "?" + historyQuery(sampleHistory{}).values.Encode()},
		FullListing:           []string{listing},
	}
}

// Fetch makes the requests as plain HTTP, with the target's credentials,
// and discards the bodies. It returns the bytes read.
func (s *Source) Fetch(ctx context.Context, paths []string) (int64, error) {
	return s.client.Discard(ctx, paths)
}
