package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/analysis/audit"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/snapshot"
)

// scriptedObjects answers each Read with the next of its reads (the last
// one again once they run out), or with err.
type scriptedObjects struct {
	mu    sync.Mutex
	reads []*snapshot.Objects
	err   error
	count int
}

func (s *scriptedObjects) Read(_ context.Context, start time.Time) (*snapshot.Objects, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count++
	if s.err != nil {
		return nil, s.err
	}
	o := *s.reads[min(s.count, len(s.reads))-1]
	o.Time = start
	return &o, nil
}

func (s *scriptedObjects) audits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// autoAckRead is a broker with one auto-ack consumer on a durable queue,
// a plain channel that keeps publishing, and no users listing.
func autoAckRead(published uint64) *snapshot.Objects {
	return &snapshot.Objects{RabbitMQVersion: "3.10.8",
		Channels:     []snapshot.Channel{{Name: "c (1)", Connection: "c", Number: 1, Vhost: "/", Published: published}},
		Consumers:    []snapshot.Consumer{{Vhost: "/", Queue: "orders", Tag: "t", Channel: "c (1)", Connection: "c"}},
		Queues:       []snapshot.Queue{{Vhost: "/", Name: "orders", Type: "classic", StatsKnown: true, Consumers: 1}},
		QueueDetails: []snapshot.QueueDetail{{Durable: true, PersistentKnown: true}},
		Unread:       []snapshot.Unread{{Listing: snapshot.ListUsers, Reason: snapshot.UnreadPermission, Detail: "needs the administrator tag"}},
	}
}

func auditedPipeline(t *testing.T, reader ObjectReader, cfg config.Audit) (*Pipeline, prometheus.Gatherer) {
	t.Helper()
	set := NewSet(collector.NewMetrics())
	p := NewWithSource(testTarget("http://127.0.0.1:1"), &failingSource{}, Options{Metrics: set.Metrics(), Logger: slog.New(slog.DiscardHandler), Objects: reader, Audit: cfg})
	set.Replace([]*Pipeline{p})
	reg := prometheus.NewRegistry()
	reg.MustRegister(set)
	return p, scrapeGatherer{exposition.NewHandler(reg, set.Sources, slog.New(slog.DiscardHandler))}
}

// failingSource is a management API that is down: the audit goes on.
type failingSource struct{}

func (failingSource) Read(context.Context, time.Time, time.Duration) (*snapshot.Snapshot, error) {
	return nil, &snapshot.ReadError{Reason: snapshot.ReasonConnection, Op: "GET overview", Err: errors.New("refused")}
}

func auditConfig(interval time.Duration, ignore ...config.AuditIgnore) config.Audit {
	return config.Audit{Interval: config.Duration(interval), Ignore: ignore}
}

func TestAnAuditIsPublishedInTheStateAndExportedPerCheck(t *testing.T) {
	p, reg := auditedPipeline(t, &scriptedObjects{reads: []*snapshot.Objects{autoAckRead(10)}}, auditConfig(time.Minute))
	if st := p.Audit(context.Background()); st == nil || st.Report == nil {
		t.Fatal("no audit")
	}
	st := p.State().Audit
	if st == nil || st.Report.Result(catalog.CheckAutoAckConsumers).Status != audit.Failed {
		t.Fatalf("state's audit = %+v", st)
	}
	for _, c := range []struct {
		check, severity string
		want            float64
	}{
		{catalog.CheckAutoAckConsumers, "warning", 1},
		{catalog.CheckPublisherWithoutConfirms, "warning", 1},
		{catalog.CheckHeartbeatsDisabled, "warning", 0},
		{catalog.CheckConsumerTimeout, "info", 0},
	} {
		if v := mustGather(t, reg, "warren_audit_findings", map[string]string{"check": c.check, "severity": c.severity}); v != c.want {
			t.Errorf("%s: %v findings, want %v", c.check, v, c.want)
		}
	}
	if v := mustGather(t, reg, "warren_audit_check_ran", map[string]string{"check": catalog.CheckOverPrivilegedUsers}); v != 0 {
		t.Errorf("over_privileged_users ran = %v without the users listing", v)
	}
	if _, ok := gather(t, reg, "warren_audit_findings", map[string]string{"check": catalog.CheckOverPrivilegedUsers}); ok {
		t.Error("a check that did not run has no findings series: it must not look passed")
	}
	if v := mustGather(t, reg, "warren_audit_check_ran", map[string]string{"check": catalog.CheckAutoAckConsumers}); v != 1 {
		t.Errorf("auto_ack_consumers ran = %v", v)
	}
	if v := mustGather(t, reg, "warren_audit_last_run_timestamp_seconds", nil); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last run %v", v)
	}
	mustGather(t, reg, "warren_audit_duration_seconds", nil)
	// A poll (failing here) keeps the audit in the state it publishes.
	p.Poll(context.Background())
	if p.State().Audit != st {
		t.Error("a poll dropped the audit from the state")
	}
}

func TestAFailedAuditIsCountedAndTheLastReportStays(t *testing.T) {
	reader := &scriptedObjects{reads: []*snapshot.Objects{autoAckRead(10)}}
	p, reg := auditedPipeline(t, reader, auditConfig(time.Minute))
	first := p.Audit(context.Background())
	reader.err = &snapshot.ReadError{Reason: snapshot.ReasonTimeout, Op: "GET channels", Err: context.DeadlineExceeded}
	st := p.Audit(context.Background())
	if st.Report != first.Report || st.LastReason != snapshot.ReasonTimeout || st.LastError == "" {
		t.Errorf("after a failed audit: %+v", st)
	}
	if v := mustGather(t, reg, "warren_audit_errors_total", map[string]string{"reason": "timeout"}); v != 1 {
		t.Errorf("timeout errors %v", v)
	}
	if v := mustGather(t, reg, "warren_audit_errors_total", map[string]string{"reason": "auth"}); v != 0 {
		t.Errorf("auth errors %v", v)
	}
}

func TestTheSecondAuditLooksAtWhatChangedSinceTheFirst(t *testing.T) {
	reader := &scriptedObjects{reads: []*snapshot.Objects{autoAckRead(10), autoAckRead(10), autoAckRead(12)}}
	p, _ := auditedPipeline(t, reader, auditConfig(time.Minute))
	for i, want := range []int{1, 0, 1} {
		r := p.Audit(context.Background()).Report
		if n := len(r.Result(catalog.CheckPublisherWithoutConfirms).Findings); n != want {
			t.Errorf("audit %d: %d publishers without confirms, want %d (window %v)", i+1, n, want, r.Window)
		}
		if (i == 0) != (r.Window == 0) {
			t.Errorf("audit %d: window %v", i+1, r.Window)
		}
	}
}

func TestAReloadAppliesNewIgnoresAtOnceAndAnAuditSwitchedOffLeavesNoSeries(t *testing.T) {
	p, reg := auditedPipeline(t, &scriptedObjects{reads: []*snapshot.Objects{autoAckRead(10)}}, auditConfig(time.Minute))
	p.Audit(context.Background())
	re, err := config.NewRegexp("/orders/.*")
	if err != nil {
		t.Fatal(err)
	}
	p.ReconfigureAudit(auditConfig(time.Minute, config.AuditIgnore{Check: catalog.CheckAutoAckConsumers, Object: re, Reason: "replayable"}))
	res := p.State().Audit.Report.Result(catalog.CheckAutoAckConsumers)
	if len(res.Findings) != 0 || len(res.Ignored) != 1 || res.Ignored[0].Reason != "replayable" {
		t.Errorf("after the reload: %+v", res)
	}
	if v := mustGather(t, reg, "warren_audit_findings", map[string]string{"check": catalog.CheckAutoAckConsumers}); v != 0 {
		t.Errorf("an ignored finding still counts: %v", v)
	}
	off := false
	p.ReconfigureAudit(config.Audit{Enabled: &off, Interval: config.Duration(time.Minute)})
	if p.State().Audit != nil {
		t.Error("the audit is off, yet the state holds one")
	}
	if _, ok := gather(t, reg, "warren_audit_last_run_timestamp_seconds", nil); ok {
		t.Error("the audit is off, yet its series are exported")
	}
}

func TestTheAgentAuditsOnItsIntervalUntilStopped(t *testing.T) {
	reader := &scriptedObjects{reads: []*snapshot.Objects{autoAckRead(10)}}
	p, _ := auditedPipeline(t, reader, auditConfig(20*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); reader.audits() < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d audits in 10s at a 20ms interval", reader.audits())
		}
	}
	if p.State().Audit == nil {
		t.Error("the loop's audits are not published")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("the pipeline did not stop within a second of its context")
	}
}
