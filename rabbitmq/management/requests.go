package management

import (
	"context"
	"net/url"
	"slices"
	"time"
)

// Requests are requests, path and query under /api/, of Reads of a
// target without a vhost filter of a broker of the given version:
// those of the latest Read (Poll: the listing as it asked it, and the
// queues it asked the sample history of one by one); the same poll with
// every queue's sample history in its listing, asked for after span
// (PollWithEveryHistory: what every Read asked before it asked each
// queue that needs it on its own, and what a Read still asks when many
// do); the listing without history (ListingWithoutHistory); and the
// listing kbudde/rabbitmq_exporter makes on every scrape (every column,
// no paging). Benchmarks fetch them as plain HTTP (Fetch) for the floor
// a poll's wall time is compared with and for the broker's cost of each.
type Requests struct {
	Poll, PollWithEveryHistory, ListingWithoutHistory, FullListing []string
}

// RequestsOf returns the requests of Reads; see Requests.
func (s *Source) RequestsOf(version string, span time.Duration) Requests {
	listing := queuesPath(version)
	plan := s.history.plan
	overviewAndNodes := []string{
		"overview?" + url.Values{"columns": {overviewColumns}}.Encode(),
		"nodes?" + url.Values{"columns": {nodeColumns}}.Encode(),
	}
	vhosts := "vhosts?" + url.Values{"columns": {vhostUnroutableColumns}}.Encode()
	poll := append(slices.Clone(overviewAndNodes), listing+"?"+historyQuery(plan.listing).values.Encode())
	for _, key := range plan.fetched {
		poll = append(poll, queueHistoryPath(key)+"?"+queueHistoryQuery(plan.each).Encode())
	}
	return Requests{
		Poll:                  append(poll, vhosts),
		PollWithEveryHistory:  append(slices.Clone(overviewAndNodes), listing+"?"+historyQuery(s.sampleHistory(span)).values.Encode(), vhosts),
		ListingWithoutHistory: []string{listing + "?" + historyQuery(sampleHistory{}).values.Encode()},
		FullListing:           []string{listing},
	}
}

// HistoryRequests is how many queues the latest Read asked the sample
// history of one by one, and whether its listing asked for every queue's
// instead.
func (s *Source) HistoryRequests() (perQueue int, inListing bool) {
	return len(s.history.plan.fetched), s.history.plan.listing.incr > 0
}

// Fetch makes the requests as plain HTTP, with the target's credentials,
// and discards the bodies. It returns the bytes read.
func (s *Source) Fetch(ctx context.Context, paths []string) (int64, error) {
	return s.client.Discard(ctx, paths)
}
