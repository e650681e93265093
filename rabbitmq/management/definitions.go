package management

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/warrenhq/warren/rabbitmq/brokerhttp"
	"github.com/warrenhq/warren/snapshot"
)

// Definitions are what the management API answers with its statistics
// off (verified on 3.10.8 with management_agent.disable_metrics_collector
// = true): the nodes (name and running only; the alarms come from the
// alarms health check), the queues with their arguments and policies
// but no depth, counter or consumer, and the dead-letter topology. A
// source that takes the statistics elsewhere fills them in.
type Definitions struct {
	// Nodes have no partitions or file descriptors: PartitionsUnknown and
	// FDUnknown are set.
	Nodes []snapshot.Node
	// Queues pass the target's filters; StatsKnown is false for all.
	Queues []snapshot.Queue
	// Topology is read when some queue has a dead-letter exchange.
	Topology *snapshot.Topology
	// Vhosts are the watched vhosts; VhostsFiltered is set where the
	// target's vhost filter leaves some out.
	Vhosts         []string
	VhostsFiltered bool
	// Reused is set where the queues are those of the previous read.
	Reused bool
}

// The columns of the queue listing without statistics.
const definitionQueueColumns = "name,vhost,type,node,leader,members,online,arguments,policy"

// Definitions reads the definitions after the overview ov. The nodes
// come from the same listing as with statistics, which then holds only
// their name, type and running. The queues are those of the previous
// read where nothing says they changed (queueDefinitions.reusable), and
// Reused says so.
func (s *Source) Definitions(ctx context.Context, ov *Overview) (*Definitions, error) {
	nodes, err := s.client.nodes(ctx)
	if err != nil {
		return nil, err
	}
	alarms, err := s.client.alarms(ctx)
	if err != nil {
		return nil, err
	}
	d := &Definitions{}
	for _, n := range nodes {
		d.Nodes = append(d.Nodes, snapshot.Node{Name: n.Name, Running: *n.Running,
			MemAlarm: alarms[n.Name]["memory"], DiskAlarm: alarms[n.Name]["disk space"], PartitionsUnknown: true, FDUnknown: true})
	}
	pols, listed, err := s.client.policies(ctx)
	if err != nil {
		return nil, err
	}
	if d.Vhosts, err = s.watchedVhosts(ctx); err != nil {
		return nil, err
	}
	d.VhostsFiltered = s.vhostsFiltered()
	running := runningNodes(nodes)
	st := definitionsState{now: time.Now(), ov: ov, running: runningNames(running), vhosts: d.Vhosts, policies: listed}
	listing, err := s.queueDefinitions(ctx, st, d, pols, running)
	if err != nil {
		return nil, err
	}
	d.Queues = listing.queues
	if listing.anyDLX {
		if d.Topology, err = s.client.topology(ctx); err != nil {
			return nil, err
		}
		d.Topology.OtherQueues = listing.filteredOut
	}
	return d, nil
}

// queueDefinitions lists the queues without statistics, or takes them
// from the previous read where they are reusable in st, and keeps them
// for the next. The queues it returns are the caller's to fill in.
func (s *Source) queueDefinitions(ctx context.Context, st definitionsState, d *Definitions, pols *policies, running map[string]bool) (queueListing, error) {
	prev := s.definitions
	if prev.reusable(st) {
		d.Reused = true
		return queueListing{queues: slices.Clone(prev.queues), filteredOut: prev.filteredOut, anyDLX: prev.anyDLX}, nil
	}
	var perVhost []string
	if d.VhostsFiltered {
		perVhost = d.Vhosts
	}
	listing, err := s.listQueues(ctx, "queues", perVhost, st.ov.bound(definitionsQuery()), pols, running)
	if err != nil {
		s.definitions = nil
		return queueListing{}, err
	}
	settled := prev != nil && prev.sameState(st)
	s.definitions = &queueDefinitions{at: st.now, counted: st.ov.Queues, running: st.running, vhosts: st.vhosts, policies: st.policies,
		settled: settled, queues: slices.Clone(listing.queues), filteredOut: listing.filteredOut, anyDLX: listing.anyDLX}
	return listing, nil
}

// DefinitionRequests are the requests, path and query under /api/, that
// the overview and Definitions make of a target without a vhost filter
// whose queues have no dead-letter exchange (with one, exchanges and
// bindings follow), for benchmarks to fetch as plain HTTP (Fetch).
func DefinitionRequests() []string {
	return []string{
		"overview?" + url.Values{"columns": {overviewColumns}}.Encode(),
		"nodes?" + url.Values{"columns": {nodeColumns}}.Encode(),
		"health/checks/alarms",
		"policies",
		"operator-policies",
		"vhosts?" + url.Values{"columns": {"name"}}.Encode(),
		"queues?" + definitionsQuery().values.Encode(),
	}
}

// definitionsQuery asks the queue listing for the definitions only,
// which with statistics on is also the cheapest listing.
func definitionsQuery() listingQuery {
	return listingQuery{values: url.Values{"columns": {definitionQueueColumns}, "disable_stats": {"true"}}, valueBytes: maxValueBytes}
}

// alarms reads the alarms health check: per node, the resources in alarm
// ("memory", "disk space"). It answers 503 while there are any.
func (c *client) alarms(ctx context.Context) (map[string]map[string]bool, error) {
	var check struct {
		Status string `json:"status"`
		Alarms []struct {
			Node     string `json:"node"`
			Resource string `json:"resource"`
		} `json:"alarms"`
	}
	_, err := c.GetStatus(ctx, "health/checks/alarms", nil, "application/json", []int{http.StatusServiceUnavailable}, func(_ int, body io.Reader) error {
		if err := decodeValue(json.NewDecoder(brokerhttp.NewValueLimiter(body, maxValueBytes)), &check); err != nil {
			return fmt.Errorf("decoding JSON: %w", err)
		}
		if check.Status != "ok" && check.Status != "failed" {
			return fmt.Errorf("the alarms health check answered status %q", check.Status)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]bool{}
	for _, a := range check.Alarms {
		if out[a.Node] == nil {
			out[a.Node] = map[string]bool{}
		}
		out[a.Node][a.Resource] = true
	}
	return out, nil
}
