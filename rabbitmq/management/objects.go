package management

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/snapshot"
)

// ObjectReader reads a target's objects for the audit (analysis/audit):
// its listeners, connections, channels, consumers, queues with their
// durability and persistent messages, policies, users, permissions and
// deprecated features. It has a client of its own, so that an audit,
// whose channel and consumer listings are slow on a big broker, never
// delays a poll. Read is not safe for concurrent use.
type ObjectReader struct {
	target config.Target
	client *client
}

// NewObjectReader returns the object reader of one target.
func NewObjectReader(t config.Target) (*ObjectReader, error) {
	c, err := targetClient(t)
	if err != nil {
		return nil, err
	}
	return &ObjectReader{target: t, client: c}, nil
}

// BytesRead is the total of response bytes the reader has read.
func (r *ObjectReader) BytesRead() int64 { return r.client.BytesRead() }

// objectRead is one Read's work: what was read so far and what the user
// may see.
type objectRead struct {
	*ObjectReader
	objects *snapshot.Objects
	version string
	// tags are the audit user's own (/api/whoami).
	admin, monitor bool
}

// Read reads the target's objects once. A failure to reach the broker,
// or an answer warren cannot decode, fails the read; a listing the user
// may not read (401, 403), or that this broker does not offer (404, 406,
// 400), is recorded in Objects.Unread and the read goes on, so that the
// checks that need it say they could not run instead of passing.
// start is when the read started, the Objects' time.
func (r *ObjectReader) Read(ctx context.Context, start time.Time) (*snapshot.Objects, error) {
	ov, err := r.client.auditOverview(ctx)
	if err != nil {
		return nil, err
	}
	tags, err := r.client.whoami(ctx)
	if err != nil {
		return nil, err
	}
	rd := &objectRead{ObjectReader: r, version: ov.RabbitMQVersion,
		admin: slices.Contains(tags, "administrator"), monitor: slices.Contains(tags, "administrator") || slices.Contains(tags, "monitoring"),
		objects: &snapshot.Objects{Cluster: r.target.Name, Time: start, RabbitMQVersion: ov.RabbitMQVersion,
			QueueConsumerTimeouts: VersionAtLeast(ov.RabbitMQVersion, 3, 12), ConsumerTimeoutArguments: VersionAtLeast(ov.RabbitMQVersion, 4, 3)}}
	for _, l := range ov.Listeners {
		rd.objects.Listeners = append(rd.objects.Listeners, snapshot.Listener{Node: l.Node, Protocol: l.Protocol, Port: l.Port})
	}
	if ov.DisableStats {
		rd.withoutStatistics()
	}
	for _, step := range []struct {
		listing snapshot.Listing
		read    func(context.Context) error
	}{
		{snapshot.ListConnections, rd.connections},
		{snapshot.ListChannels, rd.channels},
		{snapshot.ListConsumers, rd.consumers},
		{snapshot.ListQueues, rd.queues},
		{snapshot.ListPolicies, func(ctx context.Context) error { return rd.policies(ctx, "policies", false) }},
		{snapshot.ListOperatorPolicies, func(ctx context.Context) error { return rd.policies(ctx, "operator-policies", true) }},
		{snapshot.ListUsers, rd.users},
		{snapshot.ListPermissions, rd.permissions},
		{snapshot.ListDeprecatedFeatures, rd.deprecatedFeatures},
	} {
		if u, ok := rd.objects.UnreadListing(step.listing); ok && !u.Partial {
			continue
		}
		if err := rd.take(step.listing, step.read(ctx)); err != nil {
			return nil, err
		}
	}
	if err := rd.visibility(ctx); err != nil {
		return nil, err
	}
	sortObjects(rd.objects)
	return rd.objects, nil
}

// withoutStatistics records what a broker that collects no management
// statistics cannot list: its clients are known only to its statistics,
// and its queues come without depths and counters.
func (rd *objectRead) withoutStatistics() {
	const why = "the broker collects no management statistics (management_agent.disable_metrics_collector = true)"
	for _, l := range []snapshot.Listing{snapshot.ListConnections, snapshot.ListChannels, snapshot.ListConsumers} {
		rd.unread(snapshot.Unread{Listing: l, Reason: snapshot.UnreadNotReported, Detail: why})
	}
	rd.unread(snapshot.Unread{Listing: snapshot.ListQueues, Reason: snapshot.UnreadNotReported, Partial: true,
		Detail: why + ": the queues' depths, persistent messages and counters are unknown"})
}

// take records a listing the user may not read, or the broker does not
// offer, and returns every other error.
func (rd *objectRead) take(l snapshot.Listing, err error) error {
	var re *snapshot.ReadError
	if err == nil || !errors.As(err, &re) {
		return err
	}
	switch {
	case re.Reason == snapshot.ReasonAuth:
		rd.unread(snapshot.Unread{Listing: l, Reason: snapshot.UnreadPermission,
			Detail: fmt.Sprintf("the management API answered %d to %s: %s", re.StatusCode, re.Op, listingNeeds(l))})
	case re.Reason == snapshot.ReasonHTTPStatus && (re.StatusCode == http.StatusNotFound || re.StatusCode == http.StatusNotAcceptable || re.StatusCode == http.StatusBadRequest):
		rd.unread(snapshot.Unread{Listing: l, Reason: snapshot.UnreadNotReported,
			Detail: fmt.Sprintf("RabbitMQ %s does not offer it (%s answered %d)", rd.version, re.Op, re.StatusCode)})
	default:
		return err
	}
	return nil
}

func (rd *objectRead) unread(u snapshot.Unread) {
	rd.objects.Unread = append(rd.objects.Unread, u)
}

// listingNeeds says what a user needs to read l.
func listingNeeds(l snapshot.Listing) string {
	switch l {
	case snapshot.ListUsers, snapshot.ListPermissions:
		return "listing " + string(l) + " needs the administrator tag"
	case snapshot.ListConnections, snapshot.ListChannels, snapshot.ListConsumers:
		return "seeing every user's " + string(l) + " needs the monitoring tag"
	}
	return "reading " + string(l) + " needs a permission on each vhost"
}

// auditOverviewColumns are what the audit reads of /api/overview.
const auditOverviewColumns = "rabbitmq_version,listeners,disable_stats"

type auditOverview struct {
	RabbitMQVersion string `json:"rabbitmq_version"`
	DisableStats    bool   `json:"disable_stats"`
	Listeners       []struct {
		Node     string `json:"node"`
		Protocol string `json:"protocol"`
		Port     int    `json:"port"`
	} `json:"listeners"`
}

func (c *client) auditOverview(ctx context.Context) (*auditOverview, error) {
	var o auditOverview
	if _, err := c.get(ctx, "overview", url.Values{"columns": {auditOverviewColumns}}, &o); err != nil {
		return nil, err
	}
	if o.RabbitMQVersion == "" {
		return nil, &snapshot.ReadError{Reason: snapshot.ReasonInvalidResponse, Op: "GET overview", Err: errors.New("no rabbitmq_version in the response: is this a RabbitMQ management API?")}
	}
	return &o, nil
}

// whoami returns the tags of the user warren reads the broker as.
func (c *client) whoami(ctx context.Context) ([]string, error) {
	var me struct {
		Tags userTags `json:"tags"`
	}
	_, err := c.get(ctx, "whoami", nil, &me)
	return me.Tags, err
}

// visibility records the listings a user who is not an administrator
// sees only in part. A monitoring user sees every connection, channel
// and consumer, but the queues, policies, exchanges and bindings only of
// the vhosts it has a permission on; a user with neither tag sees only
// its own connections too.
func (rd *objectRead) visibility(ctx context.Context) error {
	if rd.admin {
		return nil
	}
	if !rd.monitor {
		for _, l := range []snapshot.Listing{snapshot.ListConnections, snapshot.ListChannels, snapshot.ListConsumers} {
			rd.partial(l, "the user has neither the monitoring nor the administrator tag: it sees only its own "+string(l))
		}
	}
	hidden, err := rd.hiddenVhosts(ctx)
	if err != nil || len(hidden) == 0 {
		return err
	}
	detail := fmt.Sprintf("the user has no permission on vhost %s: their %%s are not visible (a permission on each vhost is enough, even one that matches nothing: ^$)", strings.Join(hidden, ", "))
	for _, l := range []snapshot.Listing{snapshot.ListQueues, snapshot.ListPolicies, snapshot.ListOperatorPolicies} {
		rd.partial(l, fmt.Sprintf(detail, l))
	}
	return nil
}

func (rd *objectRead) partial(l snapshot.Listing, detail string) {
	if _, unread := rd.objects.UnreadListing(l); !unread {
		rd.unread(snapshot.Unread{Listing: l, Reason: snapshot.UnreadPermission, Partial: true, Detail: detail})
	}
}

// hiddenVhosts are the watched vhosts the user may not log into: a
// monitoring user lists every vhost, and the default exchange of a vhost
// it has no permission on answers 401. The probes are one small request
// per vhost, one after the other.
func (rd *objectRead) hiddenVhosts(ctx context.Context) ([]string, error) {
	vhosts, _, err := rd.client.vhosts(ctx)
	if err != nil {
		return nil, err
	}
	var hidden []string
	for _, v := range vhosts {
		if !rd.target.Vhosts.Match(v) {
			continue
		}
		_, err := rd.client.Get(ctx, "exchanges/"+url.PathEscape(v)+"/amq.default", url.Values{"columns": {"name"}}, "application/json", discardBody)
		var re *snapshot.ReadError
		switch {
		case errors.As(err, &re) && re.Reason == snapshot.ReasonAuth:
			hidden = append(hidden, v)
		case isNotFound(err):
			// deleted since it was listed
		case err != nil:
			return nil, err
		}
	}
	slices.Sort(hidden)
	return hidden, nil
}

// sortObjects puts every listing of o in a stable order.
func sortObjects(o *snapshot.Objects) {
	slices.SortFunc(o.Connections, func(a, b snapshot.Connection) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(o.Channels, func(a, b snapshot.Channel) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(o.Consumers, func(a, b snapshot.Consumer) int {
		return cmp.Or(strings.Compare(a.Vhost, b.Vhost), strings.Compare(a.Queue, b.Queue), strings.Compare(a.Tag, b.Tag), strings.Compare(a.Channel, b.Channel))
	})
	slices.SortFunc(o.Policies, func(a, b snapshot.Policy) int {
		return cmp.Or(strings.Compare(a.Vhost, b.Vhost), strings.Compare(a.Name, b.Name), compareBool(a.Operator, b.Operator))
	})
	slices.SortFunc(o.Users, func(a, b snapshot.User) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(o.Permissions, func(a, b snapshot.Permission) int {
		return cmp.Or(strings.Compare(a.User, b.User), strings.Compare(a.Vhost, b.Vhost))
	})
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}
