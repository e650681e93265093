package management

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
	"github.com/warrenhq/warren/snapshot"
)

// objectReader reads the management API at url as user.
func objectReader(t *testing.T, url, user, password string) *ObjectReader {
	t.Helper()
	r, err := NewObjectReader(config.Target{Name: "audit", ManagementURL: url, Username: user, Password: config.Secret(password), Timeout: config.Duration(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// readObjectsUntil reads the broker until done accepts what it saw: the
// broker's statistics of new channels and consumers take up to one
// collect_statistics_interval to show.
func readObjectsUntil(t *testing.T, r *ObjectReader, done func(*snapshot.Objects) string) *snapshot.Objects {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		o, err := r.Read(context.Background(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if last = done(o); last == "" {
			return o
		}
	}
	t.Fatalf("the broker never showed the objects: %s", last)
	return nil
}

func TestTheObjectReaderDecodesWhatTheChecksReadFromALiveBroker(t *testing.T) {
	t.Parallel()
	n := rabbittest.StartT(t, rabbittest.Options{})
	conn, err := amqp.DialConfig(n.AMQPURL, amqp.Config{Heartbeat: 7 * time.Second, Properties: amqp.Table{"connection_name": "orders-api"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	plain, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.QueueDeclare("orders", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := plain.Publish("", "orders", false, false, amqp.Publishing{Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := plain.Publish("", "orders", false, false, amqp.Publishing{Body: []byte("x"), DeliveryMode: amqp.Persistent}); err != nil {
		t.Fatal(err)
	}
	if err := plain.Publish("amq.direct", "nowhere", false, false, amqp.Publishing{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	confirmed, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := confirmed.Confirm(false); err != nil {
		t.Fatal(err)
	}
	if err := confirmed.Qos(25, 0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := confirmed.QueueDeclare("orders.quorum", true, false, false, false, amqp.Table{"x-queue-type": "quorum", "x-delivery-limit": 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := confirmed.Consume("orders.quorum", "manual", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Consume("orders", "auto", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Ctl("set_policy", "mirrored", "^ha\\.", `{"ha-mode":"all"}`, "--apply-to", "queues"); err != nil {
		t.Fatal(err)
	}
	if err := n.AddUser("orders-app", "pw", "management"); err != nil {
		t.Fatal(err)
	}
	if err := n.SetPermissions("/", "orders-app", "^orders.*", "^orders.*", "^orders.*"); err != nil {
		t.Fatal(err)
	}

	r := objectReader(t, n.MgmtURL, "guest", "guest")
	o := readObjectsUntil(t, r, func(o *snapshot.Objects) string {
		switch {
		case len(o.Connections) != 1 || len(o.Channels) != 2 || len(o.Consumers) != 2:
			return "the connection, its two channels and the two consumers"
		case slices.IndexFunc(o.Channels, func(c snapshot.Channel) bool { return c.Published == 5 && c.DroppedUnroutable == 1 }) < 0:
			return "the plain channel's publish counters"
		}
		return ""
	})

	c := o.Connections[0]
	if c.ClientName != "orders-api" || c.User != "guest" || c.Vhost != "/" || !c.Network || c.TLS || !c.HasHeartbeat || c.Heartbeat != 7*time.Second || c.Protocol != "AMQP 0-9-1" {
		t.Errorf("connection = %+v", c)
	}
	if !slices.ContainsFunc(o.Listeners, func(l snapshot.Listener) bool { return l.Protocol == "amqp" && l.Port == n.AMQPPort && !l.TLS() }) {
		t.Errorf("listeners = %+v, want the plain AMQP one on %d", o.Listeners, n.AMQPPort)
	}
	for _, ch := range o.Channels {
		if ch.Connection != c.Name || ch.User != "guest" {
			t.Errorf("channel %+v does not name its connection %q and user", ch, c.Name)
		}
		if ch.Confirm != (ch.Number == 2) || (ch.Number == 2 && ch.PrefetchCount != 25) {
			t.Errorf("channel %d: confirm %v, prefetch %d", ch.Number, ch.Confirm, ch.PrefetchCount)
		}
	}
	byTag := map[string]snapshot.Consumer{}
	for _, cs := range o.Consumers {
		byTag[cs.Tag] = cs
	}
	if a, m := byTag["auto"], byTag["manual"]; a.AckRequired || a.Queue != "orders" || !m.AckRequired || m.PrefetchCount != 25 || m.Queue != "orders.quorum" || m.Connection != c.Name {
		t.Errorf("consumers = %+v", o.Consumers)
	}
	checkQueueDetails(t, o)
	if len(o.Policies) != 1 || o.Policies[0].Name != "mirrored" || o.Policies[0].Definition["ha-mode"] != "all" || o.Policies[0].Operator {
		t.Errorf("policies = %+v", o.Policies)
	}
	if i := slices.IndexFunc(o.Users, func(u snapshot.User) bool { return u.Name == "orders-app" }); i < 0 || !slices.Equal(o.Users[i].Tags, []string{"management"}) {
		t.Errorf("users = %+v", o.Users)
	}
	if !slices.Contains(o.Permissions, snapshot.Permission{User: "orders-app", Vhost: "/", Configure: "^orders.*", Write: "^orders.*", Read: "^orders.*"}) {
		t.Errorf("permissions = %+v", o.Permissions)
	}
	if u, ok := o.UnreadListing(snapshot.ListDeprecatedFeatures); !ok || u.Reason != snapshot.UnreadNotReported || !strings.Contains(u.Detail, "3.10.8") {
		t.Errorf("the deprecated features of 3.10: %+v, %v", u, ok)
	}
	if len(o.Unread) != 1 {
		t.Errorf("an administrator reads everything but the deprecated features, unread: %+v", o.Unread)
	}
}

func checkQueueDetails(t *testing.T, o *snapshot.Objects) {
	t.Helper()
	if len(o.Queues) != 2 || len(o.QueueDetails) != 2 {
		t.Fatalf("queues = %+v", o.Queues)
	}
	classic, quorum := o.QueueDetails[0], o.QueueDetails[1]
	if o.Queues[0].Name != "orders" || !classic.Durable || !classic.PersistentKnown || classic.Persistent != 0 || classic.HasDeliveryLimit {
		// The auto-ack consumer took every message: none is left.
		t.Errorf("orders: %+v %+v", o.Queues[0], classic)
	}
	if o.Queues[1].Name != "orders.quorum" || !quorum.Durable || quorum.PersistentKnown || !quorum.HasDeliveryLimit || quorum.DeliveryLimit != 5 {
		t.Errorf("orders.quorum: %+v %+v", o.Queues[1], quorum)
	}
}

func TestAMonitoringUserWithoutVhostPermissionsIsToldWhatItCannotSee(t *testing.T) {
	t.Parallel()
	n := rabbittest.StartT(t, rabbittest.Options{})
	if err := n.AddVhost("payments"); err != nil {
		t.Fatal(err)
	}
	if err := n.AddUser("watcher", "pw", "monitoring"); err != nil {
		t.Fatal(err)
	}
	if err := n.SetPermissions("/", "watcher", "^$", "^$", "^$"); err != nil {
		t.Fatal(err)
	}
	r := objectReader(t, n.MgmtURL, "watcher", "pw")
	o, err := r.Read(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []snapshot.Listing{snapshot.ListUsers, snapshot.ListPermissions} {
		if u, ok := o.UnreadListing(l); !ok || u.Reason != snapshot.UnreadPermission || u.Partial || !strings.Contains(u.Detail, "administrator") {
			t.Errorf("%s: %+v %v, want unread for want of the administrator tag", l, u, ok)
		}
	}
	for _, l := range []snapshot.Listing{snapshot.ListQueues, snapshot.ListPolicies, snapshot.ListOperatorPolicies} {
		if u, ok := o.UnreadListing(l); !ok || !u.Partial || !strings.Contains(u.Detail, "payments") || strings.Contains(u.Detail, "vhost /,") {
			t.Errorf("%s: %+v %v, want partly read, vhost payments hidden", l, u, ok)
		}
	}
	for _, l := range []snapshot.Listing{snapshot.ListConnections, snapshot.ListChannels, snapshot.ListConsumers} {
		if u, ok := o.UnreadListing(l); ok {
			t.Errorf("a monitoring user sees every %s, yet: %+v", l, u)
		}
	}
}

// fixtureBroker serves files (path under /api/ → body) as a broker
// would, and 404 for anything else.
func fixtureBroker(t *testing.T, files map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[strings.TrimPrefix(r.URL.Path, "/api/")]
		if !ok {
			http.Error(w, `{"error":"Object Not Found","reason":"Not Found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestTheObjectReaderReadsTheShapesOfNewerBrokers reads the listings of
// testdata/audit/4.0.9 (SOURCES.md there says where each shape comes
// from): the deprecated features in use, and the delivery limit 4.0
// reports for each quorum queue.
func TestTheObjectReaderReadsTheShapesOfNewerBrokers(t *testing.T) {
	dir := filepath.Join("testdata", "audit", "4.0.9")
	files := map[string]string{}
	for path, file := range map[string]string{
		"overview": "overview.json", "whoami": "whoami.json", "connections": "connections.json", "channels": "channels.json",
		"consumers": "consumers.json", "queues/detailed": "queues-detailed.json", "policies": "policies.json",
		"operator-policies": "empty.json", "users": "users.json", "permissions": "permissions.json",
		"deprecated-features/used": "deprecated-features-used.json",
	} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		files[path] = string(b)
	}
	r := objectReader(t, fixtureBroker(t, files), "guest", "guest")
	o, err := r.Read(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Unread) != 0 {
		t.Errorf("unread: %+v", o.Unread)
	}
	if len(o.DeprecatedFeatures) != 1 || o.DeprecatedFeatures[0].Name != "transient_nonexcl_queues" || o.DeprecatedFeatures[0].Phase != "permitted_by_default" {
		t.Errorf("deprecated features = %+v", o.DeprecatedFeatures)
	}
	limits := map[string]string{}
	for i, q := range o.Queues {
		d := o.QueueDetails[i]
		limits[q.Name] = fmt.Sprintf("%v %d", d.HasDeliveryLimit, d.DeliveryLimit)
	}
	want := map[string]string{"jobs": "true 20", "jobs.unlimited": "false 0", "events": "false 0"}
	for q, w := range want {
		if limits[q] != w {
			t.Errorf("%s: delivery limit %q, want %q", q, limits[q], w)
		}
	}
	if len(o.Users) != 1 || len(o.Users[0].Tags) != 1 || o.Users[0].Tags[0] != "administrator" {
		t.Errorf("users = %+v", o.Users)
	}
}

func TestTheDeliveryLimitFollowsEachVersionsRules(t *testing.T) {
	cases := []struct {
		name        string
		version     string
		reported    string
		arg, pol    any
		want        int64
		wantLimited bool
	}{
		{name: "3.x without a setting has none", version: "3.13.7"},
		{name: "3.x takes the lower", version: "3.10.8", arg: 10.0, pol: 4.0, want: 4, wantLimited: true},
		{name: "4.0 defaults to 20", version: "4.0.9", want: 20, wantLimited: true},
		{name: "4.0: a negative setting is unlimited", version: "4.0.9", arg: -1.0},
		{name: "4.0: a negative one gives way to a positive one", version: "4.0.9", arg: -1.0, pol: 7.0, want: 7, wantLimited: true},
		{name: "the listing's number wins", version: "4.1.8", reported: "12", arg: 3.0, want: 12, wantLimited: true},
		{name: "the listing's unlimited wins", version: "4.1.8", reported: `"unlimited"`, arg: 3.0},
	}
	for _, c := range cases {
		args, pol := map[string]any{}, map[string]any{}
		if c.arg != nil {
			args["x-delivery-limit"] = c.arg
		}
		if c.pol != nil {
			pol["delivery-limit"] = c.pol
		}
		got, limited := deliveryLimit(c.version, json.RawMessage(c.reported), args, pol)
		if got != c.want || limited != c.wantLimited {
			t.Errorf("%s: %d %v, want %d %v", c.name, got, limited, c.want, c.wantLimited)
		}
	}
}

func TestABrokerWithoutStatisticsHasItsClientListingsMarkedNotReported(t *testing.T) {
	files := map[string]string{
		"overview":        `{"rabbitmq_version":"3.13.7","disable_stats":true,"listeners":[]}`,
		"whoami":          `{"name":"guest","tags":["administrator"]}`,
		"queues/detailed": `[{"name":"orders","vhost":"/","type":"classic","durable":true,"arguments":{},"policy":""}]`,
		"policies":        `[]`, "operator-policies": `[]`, "users": `[]`, "permissions": `[]`, "deprecated-features/used": `[]`,
	}
	r := objectReader(t, fixtureBroker(t, files), "guest", "guest")
	o, err := r.Read(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []snapshot.Listing{snapshot.ListConnections, snapshot.ListChannels, snapshot.ListConsumers} {
		if u, ok := o.UnreadListing(l); !ok || u.Partial || u.Reason != snapshot.UnreadNotReported || !strings.Contains(u.Detail, "disable_metrics_collector") {
			t.Errorf("%s: %+v, %v", l, u, ok)
		}
	}
	if u, ok := o.UnreadListing(snapshot.ListQueues); !ok || !u.Partial || len(o.Queues) != 1 {
		t.Errorf("queues: %+v %v, %d listed: the definitions are read, without statistics", u, ok, len(o.Queues))
	}
}
