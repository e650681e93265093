package audit

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/snapshot"
)

// Checks are every check, in catalog.AuditChecks order; docs/audit.md
// has a section for each.
var Checks = []*Check{
	{Name: catalog.CheckPublisherWithoutConfirms, Severity: Warning, Title: "publisher without confirms",
		Fix:   "Put the channel in confirm mode (confirm.select) and wait for each publish's ack; retry on a nack or a timeout.",
		Needs: []snapshot.Listing{snapshot.ListChannels}, Widens: []snapshot.Listing{snapshot.ListConnections}, find: publishersWithoutConfirms},
	{Name: catalog.CheckUnroutableDrops, Severity: Critical, Title: "unroutable messages dropped",
		Fix:   "Bind a queue for every routing key the publisher uses, or publish with mandatory and handle basic.return (or give the exchange an alternate exchange).",
		Needs: []snapshot.Listing{snapshot.ListChannels}, Widens: []snapshot.Listing{snapshot.ListConnections}, find: unroutableDrops},
	{Name: catalog.CheckAutoAckConsumers, Severity: Warning, Title: "automatic acknowledgement on a durable queue",
		Fix:   "Consume with manual acknowledgements (auto-ack off) and ack each message once it is processed.",
		Needs: []snapshot.Listing{snapshot.ListConsumers, snapshot.ListQueues}, Widens: []snapshot.Listing{snapshot.ListConnections}, find: autoAckConsumers},
	{Name: catalog.CheckUnboundedPrefetch, Severity: Warning, Title: "manual-ack consumer without a prefetch limit",
		Fix:   "Set a prefetch (basic.qos) before consuming: a few times the messages the consumer processes in one round trip, often 10 to 300.",
		Needs: []snapshot.Listing{snapshot.ListConsumers}, Widens: []snapshot.Listing{snapshot.ListChannels, snapshot.ListConnections}, find: unboundedPrefetch},
	{Name: catalog.CheckHeartbeatsDisabled, Severity: Warning, Title: "heartbeats disabled",
		Fix:   "Leave heartbeats on: do not ask for a heartbeat of 0 (5 to 60 seconds are usual).",
		Needs: []snapshot.Listing{snapshot.ListConnections}, find: heartbeatsDisabled},
	{Name: catalog.CheckTransientMessages, Severity: Warning, Title: "transient messages in a durable queue",
		Fix:   "Publish with delivery mode 2 (persistent) to durable queues, or use a quorum queue, which stores every message.",
		Needs: []snapshot.Listing{snapshot.ListQueues}, find: transientMessages},
	{Name: catalog.CheckRejectsWithoutDLX, Severity: Critical, Title: "rejected messages discarded: no dead-letter exchange",
		Fix:   "Give the queue a dead-letter exchange (a policy with dead-letter-exchange) bound to a dead-letter queue, so that rejected messages are kept for inspection.",
		Needs: []snapshot.Listing{snapshot.ListQueues}, find: rejectsWithoutDLX},
	{Name: catalog.CheckEndlessRetryCycle, Severity: Critical, Title: "retry cycle without an exit",
		Fix:   "End the retry path: after N attempts (the x-death count) publish the message to a parking-lot queue; on quorum queues set a delivery-limit policy and a dead-letter exchange.",
		Needs: []snapshot.Listing{snapshot.ListQueues}, Widens: []snapshot.Listing{snapshot.ListTopology}, find: endlessRetryCycles},
	{Name: catalog.CheckSharedCredentials, Severity: Warning, Title: "shared or default credentials",
		Fix:   "Give each application a user of its own, never guest, and delete the guest user (or keep it to loopback, the default).",
		Needs: []snapshot.Listing{snapshot.ListConnections}, find: sharedCredentials},
	{Name: catalog.CheckOverPrivilegedUsers, Severity: Warning, Title: "application user with more rights than it needs",
		Fix:   "Drop the administrator tag from application users and grant each the configure, write and read patterns of its own exchanges and queues only.",
		Needs: []snapshot.Listing{snapshot.ListConnections, snapshot.ListUsers, snapshot.ListPermissions}, find: overPrivilegedUsers},
	{Name: catalog.CheckPlainTextConnections, Severity: Warning, Title: "plain-text connection to a cluster that offers TLS",
		Fix:   "Connect through the TLS listener (amqps://) and, once every client does, close the plain-text listener.",
		Needs: []snapshot.Listing{snapshot.ListConnections}, find: plainTextConnections, notes: tlsListenerNotes},
	{Name: catalog.CheckDeprecatedFeatures, Severity: Warning, Title: "deprecated feature in use",
		Fix:   "Migrate before upgrading: classic mirrored queues (ha-mode) to quorum queues, and each feature the broker reports as its doc_url says.",
		Needs: []snapshot.Listing{snapshot.ListPolicies}, Widens: []snapshot.Listing{snapshot.ListOperatorPolicies, snapshot.ListDeprecatedFeatures}, find: deprecatedFeatures},
	{Name: catalog.CheckConsumerTimeout, Severity: Info, Title: "consumer timeout disabled or above 24 h",
		Fix:   "Keep the consumer timeout (30 minutes by default) and ack, or nack, each delivery before it; raise it per queue only as far as the slowest legitimate processing needs.",
		Needs: []snapshot.Listing{snapshot.ListQueues}, Widens: []snapshot.Listing{snapshot.ListConsumers}, find: consumerTimeouts, notes: consumerTimeoutNotes},
}

// publishersWithoutConfirms: channels that published since the previous
// read outside confirm mode (and outside a transaction, which confirms
// by its commit). The broker cannot tell the publisher that it took a
// message, so a message lost on the way (a connection closed, a node
// down, a queue full) is lost without anyone knowing.
func publishersWithoutConfirms(in *input) []Finding {
	var out []Finding
	for i := range in.now.Channels {
		ch := &in.now.Channels[i]
		if published, _ := in.recentChannel(ch); published > 0 && !ch.Confirm && !ch.Transactional {
			out = append(out, finding(in.channelObject(ch), "confirm", false, "published", published))
		}
	}
	return out
}

// unroutableDrops: connections whose channels published, since the
// previous read, messages without mandatory that no queue took. The
// broker drops those; nobody is told.
func unroutableDrops(in *input) []Finding {
	type drops struct {
		dropped  uint64
		channels []int
		first    *snapshot.Channel
	}
	byConn := map[string]*drops{}
	for i := range in.now.Channels {
		ch := &in.now.Channels[i]
		if _, dropped := in.recentChannel(ch); dropped > 0 {
			d := byConn[ch.Connection]
			if d == nil {
				d = &drops{first: ch}
				byConn[ch.Connection] = d
			}
			d.dropped += dropped
			d.channels = append(d.channels, ch.Number)
		}
	}
	var out []Finding
	for name, d := range byConn {
		o := Object{Kind: kindConnection, Vhost: d.first.Vhost, Name: name, Connection: name, User: d.first.User}
		if c := in.connections[name]; c != nil {
			o = connectionObject(c)
		}
		slices.Sort(d.channels)
		out = append(out, finding(o, "dropped_unroutable", d.dropped, "channels", d.channels, "mandatory", false))
	}
	return out
}

// autoAckConsumers: consumers in automatic-acknowledgement mode on a
// durable queue. The broker forgets each message once it is sent: a
// consumer that crashes, or a connection that drops, loses what was on
// its way. (A stream takes manual acknowledgement only; a transient
// queue says its messages may be lost anyway.)
func autoAckConsumers(in *input) []Finding {
	var out []Finding
	for i := range in.now.Consumers {
		c := &in.now.Consumers[i]
		q, d, ok := in.queue(c.Vhost, c.Queue)
		if c.AckRequired || !ok || !d.Durable || q.Type == "stream" {
			continue
		}
		out = append(out, finding(in.consumerObject(c), "ack_required", false, "queue_durable", true, "queue_type", q.Type))
	}
	return out
}

// unboundedPrefetch: consumers that acknowledge manually without a
// prefetch limit, and on a channel without a global one. The broker
// sends such a consumer as much of the queue as it can: one consumer
// hoards the backlog, others idle, and it looks stalled while it works
// through messages nobody else can take.
func unboundedPrefetch(in *input) []Finding {
	var out []Finding
	for i := range in.now.Consumers {
		c := &in.now.Consumers[i]
		if !c.AckRequired || c.PrefetchCount != 0 {
			continue
		}
		ev := []any{"ack_required", true, "prefetch_count", 0}
		if ch := in.channels[c.Channel]; ch != nil {
			if ch.GlobalPrefetchCount > 0 {
				continue
			}
			ev = append(ev, "global_prefetch_count", 0)
		}
		out = append(out, finding(in.consumerObject(c), ev...))
	}
	return out
}

// heartbeatsDisabled: client connections that negotiated a heartbeat of
// 0. Neither side notices a peer that went away without closing (a
// crashed host, a dropped NAT entry) until TCP gives up, minutes to hours
// later: the broker holds the consumer's unacknowledged messages all
// that time, and the publisher writes into the void.
func heartbeatsDisabled(in *input) []Finding {
	var out []Finding
	for i := range in.now.Connections {
		c := &in.now.Connections[i]
		if c.Network && c.HasHeartbeat && c.Heartbeat == 0 {
			out = append(out, finding(connectionObject(c), "heartbeat_seconds", 0, "protocol", c.Protocol))
		}
	}
	return out
}

// guestUser is RabbitMQ's default user, with a default password.
const guestUser = "guest"

// sharedUserClients is how many different client applications (by
// client-provided connection name) make a user shared.
const sharedUserClients = 3

// sharedCredentials: client connections as guest, whose password is
// known to everyone; and users that connect for many different
// applications, so that no permission can be narrowed to one, no
// password rotated without touching them all, and the broker's logs
// cannot tell them apart.
func sharedCredentials(in *input) []Finding {
	var out []Finding
	clients := map[string]map[string]bool{}
	for i := range in.now.Connections {
		c := &in.now.Connections[i]
		if !c.Network {
			continue
		}
		if c.User == guestUser {
			out = append(out, finding(connectionObject(c), "user", guestUser))
			continue
		}
		if c.ClientName != "" {
			if clients[c.User] == nil {
				clients[c.User] = map[string]bool{}
			}
			clients[c.User][c.ClientName] = true
		}
	}
	for user, names := range clients {
		if len(names) >= sharedUserClients {
			list := make([]string, 0, len(names))
			for n := range names {
				list = append(list, n)
			}
			sort.Strings(list)
			out = append(out, finding(Object{Kind: kindUser, Name: user, User: user}, "client_names", list))
		}
	}
	return out
}

// fullAccess is the permission pattern that matches every resource.
const fullAccess = ".*"

// overPrivilegedUsers: users with client connections that are tagged
// administrator, or may configure, write and read every resource of a
// vhost they connect to. A compromised or buggy application can then
// delete any queue, or read any message.
func overPrivilegedUsers(in *input) []Finding {
	vhosts := map[string]map[string]bool{} // user → vhosts it connects to
	for i := range in.now.Connections {
		c := &in.now.Connections[i]
		if c.Network {
			if vhosts[c.User] == nil {
				vhosts[c.User] = map[string]bool{}
			}
			vhosts[c.User][c.Vhost] = true
		}
	}
	var out []Finding
	for _, u := range in.now.Users {
		if vhosts[u.Name] == nil {
			continue
		}
		var full []string
		for _, p := range in.now.Permissions {
			if p.User == u.Name && vhosts[u.Name][p.Vhost] && p.Configure == fullAccess && p.Write == fullAccess && p.Read == fullAccess {
				full = append(full, p.Vhost)
			}
		}
		if admin := slices.Contains(u.Tags, "administrator"); admin || len(full) > 0 {
			sort.Strings(full)
			out = append(out, finding(Object{Kind: kindUser, Name: u.Name, User: u.Name}, "tags", u.Tags, "administrator", admin, "full_access_vhosts", full))
		}
	}
	return out
}

// plainTextConnections: client connections without TLS, on a cluster
// that has a TLS listener for their protocol: credentials and messages
// cross the network in clear text, though the cluster offers better.
func plainTextConnections(in *input) []Finding {
	tls := map[string]string{} // protocol family → a TLS listener of it
	for _, l := range in.now.Listeners {
		if l.TLS() {
			family := strings.TrimSuffix(l.Protocol, "/ssl")
			tls[family] = l.Protocol + ":" + strconv.Itoa(l.Port)
		}
	}
	var out []Finding
	for i := range in.now.Connections {
		c := &in.now.Connections[i]
		if listener, ok := tls[protocolFamily(c.Protocol)]; ok && c.Network && !c.TLS {
			out = append(out, finding(connectionObject(c), "tls", false, "tls_listener", listener, "peer_host", c.PeerHost))
		}
	}
	return out
}

// tlsListenerNotes says so when the cluster has no TLS listener: then
// there is nothing to compare a plain-text connection with.
func tlsListenerNotes(in *input) []string {
	if slices.ContainsFunc(in.now.Listeners, snapshot.Listener.TLS) {
		return nil
	}
	return []string{"the cluster has no TLS listener (/api/overview): plain-text connections are all it offers"}
}

// protocolFamily is the listener protocol a connection's protocol
// belongs to: "AMQP 0-9-1" and "AMQP 1.0" to amqp, "MQTT 3.1.1" to mqtt.
func protocolFamily(protocol string) string {
	first, _, _ := strings.Cut(protocol, " ")
	return strings.ToLower(first)
}
