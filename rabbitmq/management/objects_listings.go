package management

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// The listings of an audit read, each decoded one element at a time into
// the few fields the checks read: warren's memory holds one element's
// JSON however many connections or channels the broker has.

// streamList streams the JSON array at path to fn, one element at a
// time; of names the elements in errors.
func streamList[T any](ctx context.Context, c *client, path string, q url.Values, of string, fn func(*T) error) error {
	_, err := c.stream(ctx, path, q, func(dec *json.Decoder) error {
		if err := expectArray(dec, of+"s"); err != nil {
			return err
		}
		for i := 0; dec.More(); i++ {
			var v T
			if err := dec.Decode(&v); err != nil {
				return fmt.Errorf("element %d of the %s listing: %w", i, of, describeJSONError(err))
			}
			if err := fn(&v); err != nil {
				return fmt.Errorf("element %d of the %s listing: %w", i, of, err)
			}
		}
		return expectDelim(dec, ']')
	})
	return err
}

func discardBody(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// requireNames reports the first of the named fields that is empty.
func requireNames(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] == "" {
			return fmt.Errorf("no %q", fields[i])
		}
	}
	return nil
}

const connectionColumns = "name,vhost,user,user_provided_name,client_properties.connection_name,protocol,type,ssl,timeout,peer_host"

type apiConnection struct {
	Name             string `json:"name"`
	Vhost            string `json:"vhost"`
	User             string `json:"user"`
	UserProvidedName string `json:"user_provided_name"`
	ClientProperties struct {
		ConnectionName any `json:"connection_name"` // a client may send any AMQP value
	} `json:"client_properties"`
	Protocol string `json:"protocol"`
	Type     string `json:"type"`
	SSL      bool   `json:"ssl"`
	Timeout  *int64 `json:"timeout"` // seconds; absent for protocols without a heartbeat
	PeerHost any    `json:"peer_host"`
}

func (rd *objectRead) connections(ctx context.Context) error {
	return streamList(ctx, rd.client, "connections", url.Values{"columns": {connectionColumns}}, "connection", func(a *apiConnection) error {
		if err := requireNames("name", a.Name); err != nil {
			return err
		}
		if !rd.target.Vhosts.Match(a.Vhost) {
			return nil
		}
		c := snapshot.Connection{Name: a.Name, Vhost: a.Vhost, User: a.User, ClientName: a.UserProvidedName,
			Protocol: a.Protocol, Network: a.Type != "direct", TLS: a.SSL}
		if c.ClientName == "" {
			c.ClientName, _ = a.ClientProperties.ConnectionName.(string)
		}
		c.PeerHost, _ = a.PeerHost.(string)
		if a.Timeout != nil {
			c.Heartbeat, c.HasHeartbeat = time.Duration(*a.Timeout)*time.Second, true
		}
		rd.objects.Connections = append(rd.objects.Connections, c)
		return nil
	})
}

const channelColumns = "name,number,vhost,user,connection_details.name,confirm,transactional,prefetch_count,global_prefetch_count," +
	"message_stats.publish,message_stats.drop_unroutable,message_stats.return_unroutable"

type apiChannel struct {
	Name              string `json:"name"`
	Number            int    `json:"number"`
	Vhost             string `json:"vhost"`
	User              string `json:"user"`
	ConnectionDetails struct {
		Name string `json:"name"`
	} `json:"connection_details"`
	Confirm             bool       `json:"confirm"`
	Transactional       bool       `json:"transactional"`
	PrefetchCount       int64      `json:"prefetch_count"`
	GlobalPrefetchCount int64      `json:"global_prefetch_count"`
	MessageStats        jsonObject `json:"message_stats"` // [] on a channel nothing happened on
}

func (rd *objectRead) channels(ctx context.Context) error {
	return streamList(ctx, rd.client, "channels", url.Values{"columns": {channelColumns}}, "channel", func(a *apiChannel) error {
		if err := requireNames("name", a.Name); err != nil {
			return err
		}
		if !rd.target.Vhosts.Match(a.Vhost) {
			return nil
		}
		rd.objects.Channels = append(rd.objects.Channels, snapshot.Channel{
			Name: a.Name, Connection: a.ConnectionDetails.Name, Number: a.Number, Vhost: a.Vhost, User: a.User,
			Confirm: a.Confirm, Transactional: a.Transactional, PrefetchCount: a.PrefetchCount, GlobalPrefetchCount: a.GlobalPrefetchCount,
			Published:          counterSetting(a.MessageStats, "publish"),
			DroppedUnroutable:  counterSetting(a.MessageStats, "drop_unroutable"),
			ReturnedUnroutable: counterSetting(a.MessageStats, "return_unroutable"),
		})
		return nil
	})
}

const consumerColumns = "consumer_tag,queue.name,queue.vhost,channel_details.name,channel_details.connection_name,channel_details.user," +
	"ack_required,prefetch_count,exclusive,arguments"

type apiConsumer struct {
	Tag   string `json:"consumer_tag"`
	Queue struct {
		Name  string `json:"name"`
		Vhost string `json:"vhost"`
	} `json:"queue"`
	ChannelDetails struct {
		Name           string `json:"name"`
		ConnectionName string `json:"connection_name"`
		User           string `json:"user"`
	} `json:"channel_details"`
	AckRequired   bool       `json:"ack_required"`
	PrefetchCount int64      `json:"prefetch_count"`
	Exclusive     bool       `json:"exclusive"`
	Arguments     jsonObject `json:"arguments"`
}

func (rd *objectRead) consumers(ctx context.Context) error {
	return streamList(ctx, rd.client, "consumers", url.Values{"columns": {consumerColumns}}, "consumer", func(a *apiConsumer) error {
		if err := requireNames("queue.name", a.Queue.Name, "queue.vhost", a.Queue.Vhost); err != nil {
			return err
		}
		if !rd.target.Vhosts.Match(a.Queue.Vhost) || !rd.target.Queues.Match(a.Queue.Name) {
			return nil
		}
		c := snapshot.Consumer{Vhost: intern(a.Queue.Vhost), Queue: intern(a.Queue.Name), Tag: a.Tag,
			Channel: a.ChannelDetails.Name, Connection: a.ChannelDetails.ConnectionName, User: a.ChannelDetails.User,
			AckRequired: a.AckRequired, PrefetchCount: a.PrefetchCount, Exclusive: a.Exclusive}
		c.Timeout, c.HasTimeout = lowerSetting(a.Arguments, "x-consumer-timeout", nil, "")
		rd.objects.Consumers = append(rd.objects.Consumers, c)
		return nil
	})
}

// auditQueueColumns are the queue fields an audit reads: a poll's, and
// the durability, policy, persistent messages and delivery limit.
var auditQueueColumns = queueColumns + ",durable,auto_delete,exclusive,policy,messages_persistent,delivery_limit"

type auditQueue struct {
	apiQueue
	Durable            bool            `json:"durable"`
	AutoDelete         bool            `json:"auto_delete"`
	Exclusive          bool            `json:"exclusive"`
	Policy             *string         `json:"policy"`
	MessagesPersistent *int64          `json:"messages_persistent"`
	DeliveryLimit      json.RawMessage `json:"delivery_limit"` // from 4.0: a number, or "unlimited"
}

func (rd *objectRead) queues(ctx context.Context) error {
	var other []snapshot.QueueKey
	anyDLX := false
	err := streamList(ctx, rd.client, queuesPath(rd.version), url.Values{"columns": {auditQueueColumns}}, "queue", func(a *auditQueue) error {
		if err := checkQueue(&a.apiQueue); err != nil {
			return err
		}
		if !rd.target.Vhosts.Match(a.Vhost) || !rd.target.Queues.Match(a.Name) {
			other = append(other, snapshot.QueueKey{Vhost: intern(a.Vhost), Name: intern(a.Name)})
			return nil
		}
		q := queueFromAPI(&a.apiQueue)
		anyDLX = anyDLX || q.HasDeadLetterExchange
		rd.objects.Queues = append(rd.objects.Queues, q)
		rd.objects.QueueDetails = append(rd.objects.QueueDetails, rd.queueDetail(a, q.Type))
		return nil
	})
	if err != nil {
		return err
	}
	sortQueues(rd.objects.Queues, rd.objects.QueueDetails)
	if !anyDLX {
		return nil
	}
	topo, err := rd.client.topology(ctx)
	if err := rd.take(snapshot.ListTopology, err); err != nil || topo == nil {
		return err
	}
	topo.OtherQueues = other
	rd.objects.Topology = topo
	return nil
}

func (rd *objectRead) queueDetail(a *auditQueue, queueType string) snapshot.QueueDetail {
	d := snapshot.QueueDetail{Durable: a.Durable, AutoDelete: a.AutoDelete, Exclusive: a.Exclusive}
	if a.Policy != nil {
		d.Policy = *a.Policy
	}
	if a.MessagesPersistent != nil && queueType == "classic" {
		d.Persistent, d.PersistentKnown = *a.MessagesPersistent, true
	}
	if queueType == "quorum" {
		d.DeliveryLimit, d.HasDeliveryLimit = deliveryLimit(rd.version, a.DeliveryLimit, a.Arguments, a.EffectivePolicyDefinition)
	}
	return d
}

// defaultDeliveryLimit is the delivery limit of a quorum queue that sets
// none, from RabbitMQ 4.0 (rabbit_quorum_queue's DEFAULT_DELIVERY_LIMIT);
// before 4.0 such a queue has none.
const defaultDeliveryLimit = 20

// deliveryLimit reads a quorum queue's delivery limit in force. From 4.0
// the listing reports it (a number, or "unlimited"); before, it is the
// lower of the x-delivery-limit argument and the delivery-limit policy
// key. From 4.0 a negative value of either means unlimited, and wins
// only where the other is negative too (rabbit_quorum_queue's
// resolve_delivery_limit).
func deliveryLimit(version string, reported json.RawMessage, arguments, policy map[string]any) (int64, bool) {
	var n float64
	if r := bytes.TrimSpace(reported); len(r) > 0 && !bytes.Equal(r, []byte("null")) {
		if json.Unmarshal(r, &n) != nil || n < 0 {
			return 0, false // "unlimited"
		}
		return int64(n), true
	}
	arg, hasArg := arguments["x-delivery-limit"].(float64)
	pol, hasPol := policy["delivery-limit"].(float64)
	v4 := snapshot.VersionAtLeast(version, 4, 0)
	switch {
	case hasArg && hasPol && v4 && (arg < 0 || pol < 0):
		n = max(arg, pol)
	case hasArg && hasPol:
		n = min(arg, pol)
	case hasArg:
		n = arg
	case hasPol:
		n = pol
	case v4:
		return defaultDeliveryLimit, true
	default:
		return 0, false
	}
	if n < 0 {
		return 0, false
	}
	return int64(n), true
}

// sortQueues sorts queues by vhost and name, and details with them.
func sortQueues(queues []snapshot.Queue, details []snapshot.QueueDetail) {
	idx := make([]int, len(queues))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := strings.Compare(queues[a].Vhost, queues[b].Vhost); c != 0 {
			return c
		}
		return strings.Compare(queues[a].Name, queues[b].Name)
	})
	q, d := slices.Clone(queues), slices.Clone(details)
	for to, from := range idx {
		queues[to], details[to] = q[from], d[from]
	}
}

type apiPolicy struct {
	Vhost      string     `json:"vhost"`
	Name       string     `json:"name"`
	Pattern    string     `json:"pattern"`
	ApplyTo    string     `json:"apply-to"`
	Definition jsonObject `json:"definition"`
}

func (rd *objectRead) policies(ctx context.Context, path string, operator bool) error {
	return streamList(ctx, rd.client, path, nil, "policy", func(a *apiPolicy) error {
		if err := requireNames("name", a.Name, "vhost", a.Vhost); err != nil {
			return err
		}
		if rd.target.Vhosts.Match(a.Vhost) {
			rd.objects.Policies = append(rd.objects.Policies, snapshot.Policy{Vhost: a.Vhost, Name: a.Name, Pattern: a.Pattern,
				ApplyTo: a.ApplyTo, Operator: operator, Definition: a.Definition})
		}
		return nil
	})
}

// userTags are a user's tags: a JSON array from 3.9 on, a comma-separated
// string before.
type userTags []string

func (t *userTags) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*t = nil
		for _, tag := range strings.Split(s, ",") {
			if tag = strings.TrimSpace(tag); tag != "" {
				*t = append(*t, tag)
			}
		}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*t = list
	return nil
}

func (rd *objectRead) users(ctx context.Context) error {
	// Only the name and tags: the listing carries password hashes too,
	// which are never decoded.
	return streamList(ctx, rd.client, "users", url.Values{"columns": {"name,tags"}}, "user", func(a *struct {
		Name string   `json:"name"`
		Tags userTags `json:"tags"`
	}) error {
		if err := requireNames("name", a.Name); err != nil {
			return err
		}
		rd.objects.Users = append(rd.objects.Users, snapshot.User{Name: a.Name, Tags: a.Tags})
		return nil
	})
}

func (rd *objectRead) permissions(ctx context.Context) error {
	return streamList(ctx, rd.client, "permissions", nil, "permission", func(a *struct {
		User      string `json:"user"`
		Vhost     string `json:"vhost"`
		Configure string `json:"configure"`
		Write     string `json:"write"`
		Read      string `json:"read"`
	}) error {
		if err := requireNames("user", a.User, "vhost", a.Vhost); err != nil {
			return err
		}
		if rd.target.Vhosts.Match(a.Vhost) {
			rd.objects.Permissions = append(rd.objects.Permissions, snapshot.Permission{User: a.User, Vhost: a.Vhost,
				Configure: a.Configure, Write: a.Write, Read: a.Read})
		}
		return nil
	})
}

// deprecatedFeatures reads the deprecated features in use, which the
// broker reports from 3.13 on (rabbit_mgmt_wm_deprecated_features: name,
// desc, deprecation_phase, doc_url, provided_by); an older one is not
// asked.
func (rd *objectRead) deprecatedFeatures(ctx context.Context) error {
	if !snapshot.VersionAtLeast(rd.version, 3, 13) {
		rd.unread(snapshot.Unread{Listing: snapshot.ListDeprecatedFeatures, Reason: snapshot.UnreadNotReported,
			Detail: fmt.Sprintf("RabbitMQ %s does not report the deprecated features in use (3.13 and later do)", rd.version)})
		return nil
	}
	return streamList(ctx, rd.client, "deprecated-features/used", nil, "deprecated feature", func(a *struct {
		Name  string `json:"name"`
		Desc  string `json:"desc"`
		Phase string `json:"deprecation_phase"`
		Doc   string `json:"doc_url"`
	}) error {
		if err := requireNames("name", a.Name); err != nil {
			return err
		}
		rd.objects.DeprecatedFeatures = append(rd.objects.DeprecatedFeatures,
			snapshot.DeprecatedFeature{Name: a.Name, Phase: a.Phase, Description: a.Desc, DocURL: a.Doc})
		return nil
	})
}
