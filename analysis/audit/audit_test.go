package audit

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/snapshot"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// objects is a read of a broker with nothing wrong: one TLS connection
// of an application with its own user, a confirming channel, a
// manual-ack consumer with a prefetch on a durable queue holding
// persistent messages, with a dead-letter exchange.
func objects() *snapshot.Objects {
	conn := "10.0.0.7:5000 -> 10.0.0.2:5671"
	o := &snapshot.Objects{
		Cluster: "prod", Time: t0, RabbitMQVersion: "3.13.7", QueueConsumerTimeouts: true,
		Listeners:   []snapshot.Listener{{Protocol: "amqp", Port: 5672}, {Protocol: "amqp/ssl", Port: 5671}},
		Connections: []snapshot.Connection{{Name: conn, Vhost: "shop", User: "orders-app", ClientName: "orders-api", Protocol: "AMQP 0-9-1", Network: true, TLS: true, Heartbeat: time.Minute, HasHeartbeat: true}},
		Channels:    []snapshot.Channel{{Name: conn + " (1)", Connection: conn, Number: 1, Vhost: "shop", User: "orders-app", Confirm: true, PrefetchCount: 50, Published: 100}},
		Consumers:   []snapshot.Consumer{{Vhost: "shop", Queue: "orders", Tag: "c1", Channel: conn + " (1)", Connection: conn, User: "orders-app", AckRequired: true, PrefetchCount: 50}},
		Queues: []snapshot.Queue{{Vhost: "shop", Name: "orders", Type: "classic", StatsKnown: true, Ready: 10, Consumers: 1,
			HasDeadLetterExchange: true, DeadLetterExchange: "dlx",
			Counters: snapshot.Counters{Published: 100, Delivered: 90, DeliveredManual: 90, Acked: 90, Completed: 90}}},
		QueueDetails: []snapshot.QueueDetail{{Durable: true, Persistent: 10, PersistentKnown: true}},
		Users:        []snapshot.User{{Name: "orders-app"}, {Name: "warren", Tags: []string{"monitoring"}}},
		Permissions:  []snapshot.Permission{{User: "orders-app", Vhost: "shop", Configure: "^orders.*", Write: "^orders.*", Read: "^orders.*"}},
	}
	return o
}

func run(t *testing.T, now, before *snapshot.Objects, ignore ...config.AuditIgnore) *Report {
	t.Helper()
	return Run(now, before, Options{Ignore: ignore})
}

// only fails t unless the report's findings are exactly want (check →
// finding ids).
func only(t *testing.T, r *Report, want map[string][]string) {
	t.Helper()
	for _, res := range r.Results {
		var ids []string
		for _, f := range res.Findings {
			ids = append(ids, f.ID)
		}
		if !slices.Equal(ids, want[res.Check]) {
			t.Errorf("%s: findings %q, want %q", res.Check, ids, want[res.Check])
		}
		if res.Status == NotRun {
			t.Errorf("%s did not run: %s", res.Check, res.Reason)
		}
	}
}

func TestEveryCheckOfTheCatalogIsDefinedOnceInItsOrder(t *testing.T) {
	var names []string
	for _, c := range Checks {
		names = append(names, c.Name)
		if c.Title == "" || c.Fix == "" || len(c.Needs) == 0 || c.find == nil || c.Severity == 0 {
			t.Errorf("%s: incomplete: %+v", c.Name, c)
		}
	}
	if !slices.Equal(names, catalog.AuditChecks) {
		t.Errorf("checks %v, the catalog lists %v", names, catalog.AuditChecks)
	}
	for _, name := range catalog.AuditTicketChecks {
		if i := slices.Index(names, name); i < 0 || Checks[i].Severity != Critical {
			t.Errorf("%s raises a ticket: it must be a critical check", name)
		}
	}
}

func TestAWellBehavedBrokerHasNoFinding(t *testing.T) {
	only(t, run(t, objects(), nil), nil)
}

func TestEachBadPracticeIsFoundOnItsObject(t *testing.T) {
	cases := map[string]struct {
		spoil func(*snapshot.Objects)
		check string
		id    string
	}{
		"no confirms":   {func(o *snapshot.Objects) { o.Channels[0].Confirm = false }, catalog.CheckPublisherWithoutConfirms, "shop/orders-api (1)"},
		"drops":         {func(o *snapshot.Objects) { o.Channels[0].DroppedUnroutable = 3 }, catalog.CheckUnroutableDrops, "shop/orders-api"},
		"auto-ack":      {func(o *snapshot.Objects) { o.Consumers[0].AckRequired = false }, catalog.CheckAutoAckConsumers, "shop/orders/orders-api"},
		"prefetch 0":    {func(o *snapshot.Objects) { o.Consumers[0].PrefetchCount = 0 }, catalog.CheckUnboundedPrefetch, "shop/orders/orders-api"},
		"heartbeat 0":   {func(o *snapshot.Objects) { o.Connections[0].Heartbeat = 0 }, catalog.CheckHeartbeatsDisabled, "shop/orders-api"},
		"transient":     {func(o *snapshot.Objects) { o.QueueDetails[0].Persistent = 7 }, catalog.CheckTransientMessages, "shop/orders"},
		"guest":         {func(o *snapshot.Objects) { o.Connections[0].User = "guest" }, catalog.CheckSharedCredentials, "shop/orders-api"},
		"administrator": {func(o *snapshot.Objects) { o.Users[0].Tags = []string{"administrator"} }, catalog.CheckOverPrivilegedUsers, "orders-app"},
		"full access": {func(o *snapshot.Objects) {
			o.Permissions[0] = snapshot.Permission{User: "orders-app", Vhost: "shop", Configure: ".*", Write: ".*", Read: ".*"}
		}, catalog.CheckOverPrivilegedUsers, "orders-app"},
		"plain text": {func(o *snapshot.Objects) { o.Connections[0].TLS = false }, catalog.CheckPlainTextConnections, "shop/orders-api"},
		"ha-mode": {func(o *snapshot.Objects) {
			o.Policies = []snapshot.Policy{{Vhost: "shop", Name: "ha", Definition: map[string]any{"ha-mode": "all"}}}
		}, catalog.CheckDeprecatedFeatures, "shop/ha"},
		"reported": {func(o *snapshot.Objects) { o.DeprecatedFeatures = []snapshot.DeprecatedFeature{{Name: "global_qos"}} }, catalog.CheckDeprecatedFeatures, "global_qos"},
		"queue timeout": {func(o *snapshot.Objects) {
			o.Queues[0].ConsumerTimeout, o.Queues[0].HasConsumerTimeout = 48*time.Hour, true
		}, catalog.CheckConsumerTimeout, "shop/orders"},
		"consumer timeout": {func(o *snapshot.Objects) { o.Consumers[0].Timeout, o.Consumers[0].HasTimeout = 25*time.Hour, true }, catalog.CheckConsumerTimeout, "shop/orders/orders-api"},
		"no DLX rejects": {func(o *snapshot.Objects) {
			o.Queues[0].HasDeadLetterExchange = false
			o.Queues[0].Counters.DeliveredManual += 4 // four deliveries neither acked nor redelivered
		}, catalog.CheckRejectsWithoutDLX, "shop/orders"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			o := objects()
			c.spoil(o)
			only(t, run(t, o, nil), map[string][]string{c.check: {c.id}})
		})
	}
}

func TestAUserSharedByManyApplicationsIsFound(t *testing.T) {
	o := objects()
	for _, name := range []string{"billing", "shipping"} {
		c := o.Connections[0]
		c.Name, c.ClientName = name+"-conn", name
		o.Connections = append(o.Connections, c)
	}
	r := run(t, o, nil)
	res := r.Result(catalog.CheckSharedCredentials)
	if len(res.Findings) != 1 || res.Findings[0].ID != "orders-app" || !slices.Equal(res.Findings[0].Evidence["client_names"].([]string), []string{"billing", "orders-api", "shipping"}) {
		t.Errorf("findings = %+v", res.Findings)
	}
}

func TestCounterChecksLookOnlyAtWhatChangedSinceThePreviousRead(t *testing.T) {
	before := objects()
	before.Channels[0].Confirm, before.Channels[0].DroppedUnroutable = false, 5
	now := objects()
	now.Time = t0.Add(5 * time.Minute)
	now.Channels[0].Confirm, now.Channels[0].DroppedUnroutable = false, 5
	r := run(t, now, before)
	if r.Window != 5*time.Minute {
		t.Errorf("window %v", r.Window)
	}
	only(t, r, nil) // nothing published or dropped since
	now.Channels[0].Published += 2
	now.Channels[0].DroppedUnroutable += 1
	r = run(t, now, before)
	only(t, r, map[string][]string{catalog.CheckPublisherWithoutConfirms: {"shop/orders-api (1)"}, catalog.CheckUnroutableDrops: {"shop/orders-api"}})
	if ev := r.Result(catalog.CheckPublisherWithoutConfirms).Findings[0].Evidence; ev["published"] != uint64(2) {
		t.Errorf("evidence %v, want the 2 published since", ev)
	}
}

func TestRequeuesAcksAndMessagesInFlightAreNotDiscards(t *testing.T) {
	o := objects()
	q := &o.Queues[0]
	q.HasDeadLetterExchange = false
	// 10 deliveries: 6 acked, 2 requeued and delivered again (2
	// redeliveries), 2 still unacknowledged.
	q.Counters = snapshot.Counters{Published: 8, Delivered: 10, DeliveredManual: 10, Acked: 6, Redelivered: 2, Completed: 6}
	q.Unacked, o.QueueDetails[0].Persistent = 2, 12
	only(t, run(t, o, nil), nil)
	// Two more deliveries that end neither way: but with 2 unacked the
	// broker's skew could explain them.
	q.Counters.DeliveredManual += 2
	only(t, run(t, o, nil), nil)
	q.Counters.DeliveredManual++
	only(t, run(t, o, nil), map[string][]string{catalog.CheckRejectsWithoutDLX: {"shop/orders"}})
}

// retryCycle is a work queue that dead-letters into a retry queue whose
// TTL dead-letters back into it, through the default exchange.
func retryCycle(o *snapshot.Objects) {
	work := &o.Queues[0]
	work.DeadLetterExchange, work.DeadLetterRoutingKey, work.HasDeadLetterExchange, work.HasDeadLetterRouting = "", "orders.retry", true, true
	o.Queues = append(o.Queues, snapshot.Queue{Vhost: "shop", Name: "orders.retry", Type: "classic", StatsKnown: true,
		HasMessageTTL: true, MessageTTL: time.Second, HasDeadLetterExchange: true, HasDeadLetterRouting: true, DeadLetterRoutingKey: "orders"})
	o.QueueDetails = append(o.QueueDetails, snapshot.QueueDetail{Durable: true, PersistentKnown: true})
	o.Topology = &snapshot.Topology{ExchangeTypes: map[snapshot.QueueKey]string{}}
}

func TestARetryCycleWithoutAParkingLotHasNoExit(t *testing.T) {
	o := objects()
	retryCycle(o)
	r := run(t, o, nil)
	only(t, r, map[string][]string{catalog.CheckEndlessRetryCycle: {"shop/orders"}})
	if ev := r.Result(catalog.CheckEndlessRetryCycle).Findings[0].Evidence; !slices.Equal(ev["cycle"].([]string), []string{"orders", "orders.retry"}) {
		t.Errorf("evidence %v", ev)
	}
	o.Queues = append(o.Queues, snapshot.Queue{Vhost: "shop", Name: "orders.parking-lot", Type: "classic", StatsKnown: true})
	o.QueueDetails = append(o.QueueDetails, snapshot.QueueDetail{Durable: true, PersistentKnown: true})
	only(t, run(t, o, nil), nil)
}

func TestAQuorumQueueThatRequeuesNeedsADeliveryLimit(t *testing.T) {
	o := objects()
	q := &o.Queues[0]
	q.Type, q.Counters.Delivered, q.Counters.DeliveredManual, q.Counters.Redelivered = "quorum", 95, 95, 5
	o.QueueDetails[0].PersistentKnown = false
	only(t, run(t, o, nil), map[string][]string{catalog.CheckEndlessRetryCycle: {"shop/orders"}})
	o.QueueDetails[0].DeliveryLimit, o.QueueDetails[0].HasDeliveryLimit = 20, true
	only(t, run(t, o, nil), nil)
}

func TestACheckWhoseListingWasNotReadDoesNotRunAndSaysWhy(t *testing.T) {
	o := objects()
	o.Users, o.Permissions = nil, nil
	o.Unread = []snapshot.Unread{
		{Listing: snapshot.ListUsers, Reason: snapshot.UnreadPermission, Detail: "listing users needs the administrator tag"},
		{Listing: snapshot.ListPermissions, Reason: snapshot.UnreadPermission, Detail: "listing permissions needs the administrator tag"},
		{Listing: snapshot.ListQueues, Reason: snapshot.UnreadPermission, Partial: true, Detail: "no permission on vhost payments"},
	}
	r := run(t, o, nil)
	res := r.Result(catalog.CheckOverPrivilegedUsers)
	if res.Status != NotRun || !strings.Contains(res.Reason, "administrator tag") || len(res.Findings) != 0 {
		t.Errorf("over_privileged_users: %+v", res)
	}
	tm := r.Result(catalog.CheckTransientMessages)
	if tm.Status != Passed || len(tm.Notes) != 1 || !strings.Contains(tm.Notes[0], "payments") {
		t.Errorf("a check on a partly read listing runs and says what it could not see: %+v", tm)
	}
}

func TestAnIgnoredFindingIsListedWithItsReasonAndCountsNowhere(t *testing.T) {
	o := objects()
	o.Consumers[0].AckRequired = false
	re, err := config.NewRegexp("shop/orders/.*")
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, o, nil, config.AuditIgnore{Check: catalog.CheckAutoAckConsumers, Object: re, Reason: "replayable from the log"})
	res := r.Result(catalog.CheckAutoAckConsumers)
	if res.Status != Passed || len(res.Findings) != 0 || len(res.Ignored) != 1 || res.Ignored[0].Reason != "replayable from the log" || res.Ignored[0].ID != "shop/orders/orders-api" {
		t.Errorf("result %+v", res)
	}
	if r.Count(Info) != 0 {
		t.Errorf("count %d", r.Count(Info))
	}
}

func TestPlainTextIsAFindingOnlyWhereTheClusterOffersTLS(t *testing.T) {
	o := objects()
	o.Connections[0].TLS = false
	o.Listeners = o.Listeners[:1]
	r := run(t, o, nil)
	only(t, r, nil)
	if notes := r.Result(catalog.CheckPlainTextConnections).Notes; len(notes) != 1 || !strings.Contains(notes[0], "no TLS listener") {
		t.Errorf("notes %q", notes)
	}
}

func TestTheReportMarshalsSeveritiesAndStatusesByName(t *testing.T) {
	b, err := json.Marshal(run(t, objects(), nil).Results[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"severity":"warning"`) || !strings.Contains(string(b), `"status":"passed"`) || !strings.Contains(string(b), `"findings":[]`) {
		t.Errorf("JSON %s", b)
	}
	for _, name := range []string{"info", "warning", "critical"} {
		if s, ok := ParseSeverity(name); !ok || s.String() != name {
			t.Errorf("%s: %v %v", name, s, ok)
		}
	}
	if _, ok := ParseSeverity("page"); ok {
		t.Error("page is not a severity of the audit")
	}
}
