package statusapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/analysis/audit"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/snapshot"
)

// auditedState is a target whose latest audit found two auto-ack
// consumers and one ha-mode policy, could not list the users, and has
// its heartbeat finding ignored.
func auditedState(t *testing.T) *pipeline.TargetState {
	t.Helper()
	objs := &snapshot.Objects{Cluster: "prod", Time: now.Add(-time.Minute), RabbitMQVersion: "3.10.8",
		Connections:  []snapshot.Connection{{Name: "c1", Vhost: "/", User: "app", ClientName: "metrics", Network: true, HasHeartbeat: true}},
		Consumers:    []snapshot.Consumer{{Vhost: "/", Queue: "orders", Tag: "a", Connection: "c1"}, {Vhost: "/", Queue: "orders", Tag: "b", Connection: "c2"}},
		Queues:       []snapshot.Queue{{Vhost: "/", Name: "orders", Type: "classic", StatsKnown: true}},
		QueueDetails: []snapshot.QueueDetail{{Durable: true, PersistentKnown: true}},
		Policies:     []snapshot.Policy{{Vhost: "/", Name: "ha", Definition: map[string]any{"ha-mode": "all"}}},
		Unread:       []snapshot.Unread{{Listing: snapshot.ListUsers, Reason: snapshot.UnreadPermission, Detail: "listing users needs the administrator tag"}},
	}
	re, err := config.NewRegexp("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	r := audit.Run(objs, nil, audit.Options{Ignore: []config.AuditIgnore{{Check: catalog.CheckHeartbeatsDisabled, Object: re, Reason: "behind a proxy that pings"}}})
	return &pipeline.TargetState{Cluster: "prod", Audit: &pipeline.AuditState{Report: r, Duration: 120 * time.Millisecond}}
}

func TestTheAuditDocumentCountsTheFindingsAtOrAboveTheMinimumSeverity(t *testing.T) {
	states := []*pipeline.TargetState{auditedState(t), {Cluster: "staging"}}
	doc := NewAuditDocument(now, states, audit.Info)
	if doc.SchemaVersion != 1 || doc.Findings != 3 || len(doc.Targets) != 2 {
		t.Fatalf("document %+v", doc)
	}
	if s := NewAuditDocument(now, states, audit.Critical); s.Findings != 0 || len(s.Targets[0].Checks) != 3 {
		t.Errorf("critical only: %d findings, %d checks", s.Findings, len(s.Targets[0].Checks))
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"schema_version":1`, `"min_severity":"info"`, `"target":"prod"`, `"window_seconds":0`,
		`"check":"auto_ack_consumers"`, `"status":"failed"`, `"findings_total":2`, `"id":"/orders/metrics"`, `"kind":"consumer"`,
		`"evidence":{"ack_required":false,"queue_durable":true,"queue_type":"classic"}`,
		`"check":"over_privileged_users"`, `"status":"not_run"`, `"reason":"users not read: listing users needs the administrator tag"`,
		`"ignored":[{"id":"/metrics"`, `"reason":"behind a proxy that pings"`, `{"target":"staging","duration_seconds":0,"window_seconds":0,"checks":[]}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the JSON lacks %s", want)
		}
	}
}

func TestRenderAuditNamesEachObjectWithItsEvidenceAndTheFix(t *testing.T) {
	var out bytes.Buffer
	if err := RenderAudit(&out, NewAuditDocument(now, []*pipeline.TargetState{auditedState(t)}, audit.Info), false); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"AUDIT OF prod (RabbitMQ 3.10.8)", "counters over each object's life",
		"WARNING auto_ack_consumers: automatic acknowledgement on a durable queue (2)",
		"/orders/c2", "ack_required=false queue_durable=true queue_type=classic", "fix: Consume with manual acknowledgements",
		"WARNING deprecated_features", "/ha", "ha-mode=all",
		"NOT RUN over_privileged_users: users not read: listing users needs the administrator tag",
		"passed: ", "ignored: heartbeats_disabled /metrics: behind a proxy that pings", "3 finding(s) at or above info",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the report lacks %q:\n%s", want, text)
		}
	}
}

func TestTheStatusDocumentCarriesEachTargetsAuditWithinItsLimit(t *testing.T) {
	st := auditedState(t)
	src := Sources{Targets: func() []*pipeline.TargetState { return []*pipeline.TargetState{st} }, Now: func() time.Time { return now }}
	var doc Document
	getStatus(t, src, "/api/v1/status?limit=1", &doc)
	a := doc.Targets[0].Audit
	if a == nil {
		t.Fatal("no audit in the status document")
	}
	for _, c := range a.Checks {
		if c.Check == catalog.CheckAutoAckConsumers && (c.FindingsTotal != 2 || len(c.Findings) != 1) {
			t.Errorf("auto_ack_consumers: %d of %d findings listed, want 1 of 2", len(c.Findings), c.FindingsTotal)
		}
	}
	var out bytes.Buffer
	if err := Render(&out, doc, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"AUDIT", "auto_ack_consumers", "/orders/c2", "… 1 more", "not run", "audited 1m00s ago"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("warren status lacks %q:\n%s", want, out.String())
		}
	}
}
