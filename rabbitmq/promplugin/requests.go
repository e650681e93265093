package promplugin

import (
	"context"
	"net/url"

	"github.com/warrenhq/warren/rabbitmq/management"
)

// Requests are the requests one Read of a target without a vhost filter
// makes of a broker of the given version: the management API's (paths
// and queries under /api/) and, to each plugin URL, the plugin's (under
// /metrics/). Benchmarks fetch them as plain HTTP (Fetch) to compare the
// sources' costs.
type Requests struct {
	Management, Plugin []string
}

// RequestsOf returns the requests of a Read; see Requests.
func (s *Source) RequestsOf(version string) Requests {
	return Requests{
		Management: management.DefinitionRequests(),
		Plugin:     []string{"detailed?" + url.Values{"family": familiesFor(version)}.Encode()},
	}
}

// Fetch makes the requests as plain HTTP, with the target's credentials,
// and discards the bodies. It returns the bytes read.
func (s *Source) Fetch(ctx context.Context, r Requests) (int64, error) {
	n, err := s.management.Fetch(ctx, r.Management)
	if err != nil {
		return n, err
	}
	for _, e := range s.endpoints {
		m, err := e.client.Discard(ctx, r.Plugin)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
