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

// listObjects streams the listing at path to take, one element at a
// time and each at most maxValueBytes (list), after check accepted it; of
// names an element in errors.
func listObjects[T any](ctx context.Context, c *client, path string, q url.Values, of string, check func(*T) error, take func(*T)) error {
	_, err := list(ctx, c, path, q, of+"s", maxValueBytes, func(dec *json.Decoder, i int, v *T) error {
		err := decodeValue(dec, v)
		if err == nil {
			err = check(v)
		}
		if err != nil {
			return fmt.Errorf("element %d of the %s listing: %w", i, of, err)
		}
		return nil
	}, take)
	return err
}

func discardBody(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// named reports the first of the named fields that is empty.
func named(fields ...string) error {
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
	return listObjects(ctx, rd.client, "connections", url.Values{"columns": {connectionColumns}}, "connection", func(a *apiConnection) error {
		return named("name", a.Name)
	}, func(a *apiConnection) {
		if !rd.target.Vhosts.Match(a.Vhost) {
			return
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
	return listObjects(ctx, rd.client, "channels", url.Values{"columns": {channelColumns}}, "channel", func(a *apiChannel) error {
		return named("name", a.Name)
	}, func(a *apiChannel) {
		if !rd.target.Vhosts.Match(a.Vhost) {
			return
		}
		rd.objects.Channels = append(rd.objects.Channels, snapshot.Channel{
			Name: a.Name, Connection: a.ConnectionDetails.Name, Number: a.Number, Vhost: a.Vhost, User: a.User,
			Confirm: a.Confirm, Transactional: a.Transactional, PrefetchCount: a.PrefetchCount, GlobalPrefetchCount: a.GlobalPrefetchCount,
			Published:          counterSetting(a.MessageStats, "publish"),
			DroppedUnroutable:  counterSetting(a.MessageStats, "drop_unroutable"),
			ReturnedUnroutable: counterSetting(a.MessageStats, "return_unroutable"),
		})
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
	return listObjects(ctx, rd.client, "consumers", url.Values{"columns": {consumerColumns}}, "consumer", func(a *apiConsumer) error {
		return named("queue.name", a.Queue.Name, "queue.vhost", a.Queue.Vhost)
	}, func(a *apiConsumer) {
		if !rd.target.Vhosts.Match(a.Queue.Vhost) || !rd.target.Queues.Match(a.Queue.Name) {
			return
		}
		c := snapshot.Consumer{Vhost: intern(a.Queue.Vhost), Queue: intern(a.Queue.Name), Tag: a.Tag,
			Channel: a.ChannelDetails.Name, Connection: a.ChannelDetails.ConnectionName, User: a.ChannelDetails.User,
			AckRequired: a.AckRequired, PrefetchCount: a.PrefetchCount, Exclusive: a.Exclusive}
		c.Timeout, c.HasTimeout = lowerSetting(a.Arguments, "x-consumer-timeout", nil, "")
		rd.objects.Consumers = append(rd.objects.Consumers, c)
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
	MessagesPersistent *int64          `json:"messages_persistent"`
	DeliveryLimit      json.RawMessage `json:"delivery_limit"` // from 4.0: a number, or "unlimited"
}

func (rd *objectRead) queues(ctx context.Context) error {
	var other []snapshot.QueueKey
	anyDLX := false
	// The poll's element bound (no sample history is asked for), and its
	// shape check.
	_, err := list(ctx, rd.client, queuesPath(rd.version), url.Values{"columns": {auditQueueColumns}}, "queues", queueValueBytes(sampleHistory{}),
		func(dec *json.Decoder, i int, a *auditQueue) error {
			if err := dec.Decode(a); err != nil {
				return fmt.Errorf("element %d of the queue listing: %w", i, describeJSONError(err))
			}
			if err := checkQueue(&a.apiQueue); err != nil {
				return fmt.Errorf("element %d of the queue listing (queue %q in vhost %q): %w", i, a.Name, a.Vhost, err)
			}
			return nil
		}, func(a *auditQueue) {
			if !rd.target.Vhosts.Match(a.Vhost) || !rd.target.Queues.Match(a.Name) {
				other = append(other, snapshot.QueueKey{Vhost: intern(a.Vhost), Name: intern(a.Name)})
				return
			}
			q := queueFromAPI(&a.apiQueue, nil) // the audit reads no replicas
			anyDLX = anyDLX || q.HasDeadLetterExchange
			rd.objects.Queues = append(rd.objects.Queues, q)
			rd.objects.QueueDetails = append(rd.objects.QueueDetails, rd.queueDetail(a, q.Type))
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
	d := snapshot.QueueDetail{Durable: a.Durable, AutoDelete: a.AutoDelete, Exclusive: a.Exclusive, Policy: a.Policy}
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
	v4 := VersionAtLeast(version, 4, 0)
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

func (rd *objectRead) policies(ctx context.Context, path string, operator bool) error {
	return listObjects(ctx, rd.client, path, nil, "policy", func(a *apiPolicy) error {
		return named("name", a.Name, "vhost", a.Vhost)
	}, func(a *apiPolicy) {
		if rd.target.Vhosts.Match(a.Vhost) {
			rd.objects.Policies = append(rd.objects.Policies, snapshot.Policy{Vhost: a.Vhost, Name: a.Name, Pattern: a.Pattern,
				ApplyTo: a.ApplyTo, Operator: operator, Definition: a.Definition})
		}
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

// apiUser is what the audit reads of a user: never its password hash.
type apiUser struct {
	Name string   `json:"name"`
	Tags userTags `json:"tags"`
}

func (rd *objectRead) users(ctx context.Context) error {
	return listObjects(ctx, rd.client, "users", url.Values{"columns": {"name,tags"}}, "user", func(a *apiUser) error {
		return named("name", a.Name)
	}, func(a *apiUser) {
		rd.objects.Users = append(rd.objects.Users, snapshot.User{Name: a.Name, Tags: a.Tags})
	})
}

type apiPermission struct {
	User      string `json:"user"`
	Vhost     string `json:"vhost"`
	Configure string `json:"configure"`
	Write     string `json:"write"`
	Read      string `json:"read"`
}

func (rd *objectRead) permissions(ctx context.Context) error {
	return listObjects(ctx, rd.client, "permissions", nil, "permission", func(a *apiPermission) error {
		return named("user", a.User, "vhost", a.Vhost)
	}, func(a *apiPermission) {
		if rd.target.Vhosts.Match(a.Vhost) {
			rd.objects.Permissions = append(rd.objects.Permissions, snapshot.Permission{User: a.User, Vhost: a.Vhost,
				Configure: a.Configure, Write: a.Write, Read: a.Read})
		}
	})
}

// apiDeprecatedFeature is one element of /api/deprecated-features/used
// (rabbit_mgmt_wm_deprecated_features, from 3.13: name, desc,
// deprecation_phase, doc_url, provided_by).
type apiDeprecatedFeature struct {
	Name  string `json:"name"`
	Desc  string `json:"desc"`
	Phase string `json:"deprecation_phase"`
	Doc   string `json:"doc_url"`
}

// deprecatedFeatures reads the deprecated features in use, which the
// broker reports from 3.13 on; an older one is not asked.
func (rd *objectRead) deprecatedFeatures(ctx context.Context) error {
	if !VersionAtLeast(rd.version, 3, 13) {
		rd.unread(snapshot.Unread{Listing: snapshot.ListDeprecatedFeatures, Reason: snapshot.UnreadNotReported,
			Detail: fmt.Sprintf("RabbitMQ %s does not report the deprecated features in use (3.13 and later do)", rd.version)})
		return nil
	}
	return listObjects(ctx, rd.client, "deprecated-features/used", nil, "deprecated feature", func(a *apiDeprecatedFeature) error {
		return named("name", a.Name)
	}, func(a *apiDeprecatedFeature) {
		rd.objects.DeprecatedFeatures = append(rd.objects.DeprecatedFeatures,
			snapshot.DeprecatedFeature{Name: a.Name, Phase: a.Phase, Description: a.Desc, DocURL: a.Doc})
	})
}
