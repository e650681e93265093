package outbox

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/testenv/logbuf"
	"github.com/warrenhq/warren/internal/testenv/pgtest"
)

// newOutbox starts a cluster with an outbox table in database orders and
// returns it with the configuration of that outbox.
func newOutbox(t *testing.T) (*pgtest.Cluster, config.Outbox) {
	t.Helper()
	c := pgtest.StartT(t)
	c.Exec(t, "postgres", "CREATE DATABASE orders")
	c.Exec(t, "orders", pgtest.OutboxSchema)
	return outboxConfig(t, c)
}

// outboxConfig configures the outbox table of database orders on c.
func outboxConfig(t testing.TB, c *pgtest.Cluster) (*pgtest.Cluster, config.Outbox) {
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsnFile, []byte(c.DSN(pgtest.Superuser, "orders")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := config.Outbox{Name: "orders", DSNFile: dsnFile, Table: "public.outbox", CreatedAt: "created_at",
		DispatchedAt: "dispatched_at", EventType: "event_type", MaxEventTypes: 20,
		PollInterval: config.Duration(400 * time.Millisecond), Timeout: config.Duration(5 * time.Second), // generous: the machine is shared
		CommitDelay: config.Duration(300 * time.Millisecond), LateCommitWindow: config.Duration(time.Minute), Thresholds: []config.Duration{config.Duration(time.Second)},
		Buckets: []float64{0.1, 0.5, 1, 5}}
	return c, o
}

// collected runs a poller in the background, keeping its samples.
type collected struct {
	mu      sync.Mutex
	samples []*Sample
	metrics *Metrics
	stop    func()
}

func runPoller(t *testing.T, o config.Outbox, logs *logbuf.Buffer) *collected {
	t.Helper()
	c := &collected{metrics: NewMetrics()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewPoller(o).Run(ctx, c.metrics, logs.Logger(), func(s *Sample) {
			c.mu.Lock()
			c.samples = append(c.samples, s)
			c.mu.Unlock()
		})
	}()
	var once sync.Once
	c.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(c.stop)
	return c
}

func (c *collected) latest() *Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.samples) == 0 {
		return nil
	}
	return c.samples[len(c.samples)-1]
}

// eventType returns the type's share of s; a type without rows in the
// poll has none, which reads as zeros.
func (s *Sample) eventType(name string) *TypeSample {
	for i := range s.Types {
		if s.Types[i].EventType == name {
			return &s.Types[i]
		}
	}
	return s.typeSample(map[string]*TypeSample{}, name)
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	waitForSaying(t, what, timeout, func() (bool, string) { return cond(), "" })
}

// waitForSaying is waitFor with a condition that also says what it saw,
// which the failure reports.
func waitForSaying(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s%s", timeout, what, saw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDispatchedRowsAtAKnownRateAndDelayGiveTheirCountsLatenciesAndPendingRows(t *testing.T) {
	t.Parallel()
	c, o := newOutbox(t)
	fast := pgtest.Flow{EventType: "order.created", Every: 20 * time.Millisecond, Delay: 200 * time.Millisecond}
	slow := pgtest.Flow{EventType: "order.paid", Every: 50 * time.Millisecond, Delay: 2 * time.Second}
	d := c.NewDispatcher(t, "orders", fast, slow)
	polls := runPoller(t, o, &logbuf.Buffer{})
	waitFor(t, "the baseline poll", 10*time.Second, func() bool { return polls.latest() != nil })
	d.Start()
	time.Sleep(4 * time.Second)

	// Mid-run, the slow type has about 2 s of its rows pending, the
	// oldest about 2 s old (plus the relay's 10 ms tick). The bounds
	// leave room for a writer or relay that a loaded machine delays.
	s := polls.latest()
	paid := s.eventType("order.paid")
	if paid.Pending < 24 || paid.Pending > 46 {
		t.Errorf("order.paid pending = %v, want about 2s/50ms = 40", paid)
	}
	if paid.OldestAge < 1.5 || paid.OldestAge > 3.5 {
		t.Errorf("order.paid oldest pending age = %.3fs, want about 2s", paid.OldestAge)
	}
	if created := s.eventType("order.created"); created.Pending == 0 || created.OldestAge > 1.5 {
		t.Errorf("order.created oldest pending age = %+v, want at most its 200ms delay plus a tick", created)
	}

	d.StopWriting()
	waitFor(t, "every row dispatched and past the watermark", 20*time.Second, func() bool {
		s := polls.latest()
		return s.Time.After(time.Now().Add(-time.Second)) && s.eventType("order.paid").Pending == 0 && s.eventType("order.created").Pending == 0
	})
	// The rows dispatched last are counted once a poll's watermark (its
	// time less the commit delay) has passed them: wait for the counts
	// to reach the table's, which a loaded machine delays by polls.
	conn := c.Connect(t, "orders")
	waitForSaying(t, "polls whose watermark is past the last dispatch", 60*time.Second, func() (bool, string) {
		fastCounted, fastTable := polls.dispatched(fast.EventType), dispatchedRows(t, conn, fast.EventType)
		slowCounted, slowTable := polls.dispatched(slow.EventType), dispatchedRows(t, conn, slow.EventType)
		return fastCounted == fastTable && slowCounted == slowTable, fmt.Sprintf(": counted/in the table %s %v/%v, %s %v/%v; failed polls %v (each makes the next a baseline)",
			fast.EventType, fastCounted, fastTable, slow.EventType, slowCounted, slowTable, polls.failedPolls())
	})
	polls.stop()
	checkTotals(t, c, polls, fast, slow)
}

// failedPolls counts the polls that failed, for any reason.
func (c *collected) failedPolls() float64 {
	var n float64
	for _, r := range Reasons {
		n += testutil.ToFloat64(c.metrics.errors.WithLabelValues("orders", string(r)))
	}
	return n
}

// dispatched sums the rows of eventType the samples so far counted
// dispatched.
func (c *collected) dispatched(eventType string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n float64
	for _, s := range c.samples {
		n += s.eventType(eventType).Dispatched
	}
	return n
}

// dispatchedRows counts the rows of eventType the table holds dispatched.
func dispatchedRows(t *testing.T, conn *pgx.Conn, eventType string) float64 {
	t.Helper()
	var rows int64
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM outbox WHERE event_type = $1 AND dispatched_at IS NOT NULL", eventType).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	return float64(rows)
}

// checkTotals compares the sum of the samples with the rows in the table.
func checkTotals(t *testing.T, c *pgtest.Cluster, polls *collected, flows ...pgtest.Flow) {
	t.Helper()
	conn := c.Connect(t, "orders")
	for _, f := range flows {
		rows := int64(dispatchedRows(t, conn, f.EventType))
		var dispatched, late, sum, within, total, under100ms, under5s float64
		for _, s := range polls.samples {
			ts := s.eventType(f.EventType)
			dispatched += ts.Dispatched
			late += ts.LateCommits
			sum += ts.LatencySum
			within += ts.Within[0]
			total += ts.Total(0)
			under100ms += ts.BucketCounts[0]
			under5s += ts.BucketCounts[3]
		}
		// The test's relay stamps a row at its creation plus the delay
		// however late it runs: on a loaded machine some stamps are
		// older than the commit delay when they commit.
		t.Logf("%s: %d rows dispatched, %v of them found late", f.EventType, rows, late)
		n := float64(rows)
		if rows < 20 || dispatched != n || total != n {
			t.Errorf("%s: %d rows dispatched in the table; the samples counted %v dispatched and %v events against 1s", f.EventType, rows, dispatched, total)
		}
		if math.Abs(sum-n*f.Delay.Seconds()) > 1e-3*n {
			t.Errorf("%s: latency sum %v, want %v × %v", f.EventType, sum, n, f.Delay)
		}
		wantWithin := n
		if f.Delay > time.Second {
			wantWithin = 0
		}
		if within != wantWithin || under100ms != 0 || under5s != n {
			t.Errorf("%s: within 1s %v (want %v), ≤100ms %v (want 0), ≤5s %v (want %v)", f.EventType, within, wantWithin, under100ms, under5s, n)
		}
	}
	checkExported(t, polls)
}

// checkExported compares the exported counters with the samples' sums.
func checkExported(t *testing.T, polls *collected) {
	t.Helper()
	var within, total float64
	for _, s := range polls.samples {
		for _, ts := range s.Types {
			within += ts.Within[0]
			total += ts.Total(0)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(polls.metrics)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.Metric {
			switch f.GetName() {
			case "warren_outbox_dispatched_within_total":
				got["within"] += m.GetCounter().GetValue()
			case "warren_outbox_dispatched_total":
				got["total"] += m.GetCounter().GetValue()
			case "warren_outbox_up":
				got["up"] = m.GetGauge().GetValue()
			}
		}
	}
	if got["within"] != within || got["total"] != total || got["up"] != 1 {
		t.Errorf("exported within %v total %v up %v; the samples sum to within %v total %v", got["within"], got["total"], got["up"], within, total)
	}
}

func TestAStoppedDispatcherCountsEveryPendingRowBadTheMomentItCrossesTheThreshold(t *testing.T) {
	t.Parallel()
	c, o := newOutbox(t)
	flow := pgtest.Flow{EventType: "order.created", Every: 50 * time.Millisecond, Delay: 100 * time.Millisecond}
	d := c.NewDispatcher(t, "orders", flow)
	polls := runPoller(t, o, &logbuf.Buffer{})
	waitFor(t, "the baseline poll", 10*time.Second, func() bool { return polls.latest() != nil })
	d.Start()
	time.Sleep(time.Second)
	d.StopDispatching()
	stoppedAt := time.Now()
	time.Sleep(3 * time.Second)
	d.StopWriting()
	time.Sleep(2 * time.Second)
	polls.stop()

	var crossed, dispatched float64
	for _, s := range polls.samples {
		ts := s.eventType("order.created")
		crossed += ts.Crossed[0]
		if s.Time.After(stoppedAt.Add(time.Second)) {
			dispatched += ts.Dispatched
		}
	}
	var pending, oldCrossed int64
	conn := c.Connect(t, "orders")
	conn.QueryRow(context.Background(), "SELECT count(*), count(*) FILTER (WHERE created_at <= now() - interval '1.3 seconds') FROM outbox WHERE dispatched_at IS NULL").Scan(&pending, &oldCrossed)
	// Every row that has been pending for more than the threshold (plus
	// commit delay) is counted bad already; none is counted twice.
	if crossed < float64(oldCrossed) || crossed > float64(pending) {
		t.Errorf("crossed %v: want between %d (pending > 1.3 s) and %d (all pending)", crossed, oldCrossed, pending)
	}
	if dispatched != 0 {
		t.Errorf("%v rows counted dispatched after the dispatcher stopped", dispatched)
	}
	if last := polls.latest().eventType("order.created"); last.Pending != float64(pending) || last.OldestAge < 4 {
		t.Errorf("last sample: pending %v (want %d), oldest age %.1fs (want > 4s)", last.Pending, pending, last.OldestAge)
	}
}

func TestAStoppedDatabaseSetsTheErrorMetricLogsOnceAndRecoversCountingTheRowsThatCrossedWhileItWasDown(t *testing.T) {
	t.Parallel()
	c, o := newOutbox(t)
	o.Thresholds = []config.Duration{config.Duration(2 * time.Second)}
	var logs logbuf.Buffer
	polls := runPoller(t, o, &logs)
	waitFor(t, "a first poll", 10*time.Second, func() bool { return polls.latest() != nil })
	// Five rows pending when the database stops, which cross the 2 s
	// threshold (plus the commit delay) while it is down.
	c.Exec(t, "orders", "INSERT INTO outbox (event_type) SELECT 'order.created' FROM generate_series(1, 5)")
	written := time.Now()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	errorsOf := func(reason Reason) float64 {
		return testutil.ToFloat64(polls.metrics.errors.WithLabelValues("orders", string(reason)))
	}
	waitFor(t, "three failed polls", 10*time.Second, func() bool { return errorsOf(ReasonConnect) >= 3 })
	if up := testutil.ToFloat64(polls.metrics.up.WithLabelValues("orders")); up != 0 {
		t.Errorf("warren_outbox_up = %v with the database down", up)
	}
	if n := strings.Count(logs.String(), "outbox poll failed"); n != 1 {
		t.Errorf("logged %d failures for one outage, want 1:\n%s", n, logs.String())
	}
	time.Sleep(time.Until(written.Add(3 * time.Second)))
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	polls.mu.Lock()
	before := len(polls.samples)
	polls.mu.Unlock()
	waitFor(t, "the outbox back up", 10*time.Second, func() bool {
		return testutil.ToFloat64(polls.metrics.up.WithLabelValues("orders")) == 1
	})
	polls.stop()
	if polls.samples[before].Baseline {
		t.Error("the first poll after the database came back is a baseline: what happened while it was down is lost")
	}
	var crossed float64
	for _, s := range polls.samples {
		crossed += s.eventType("order.created").Crossed[0]
	}
	if crossed != 5 {
		t.Errorf("%v rows counted bad for crossing the threshold, want the 5 that crossed it while the database was down", crossed)
	}
	if st := polls.metrics.Statuses()[0]; !st.Watching.Equal(polls.samples[before].Time) {
		t.Errorf("the outbox is watched for dispatches from %v, want from the poll after the outage, %v", st.Watching, polls.samples[before].Time)
	}
}

func TestAMissingColumnOrTableIsAReasonNamingIt(t *testing.T) {
	t.Parallel()
	c, o := newOutbox(t)
	cases := []struct {
		change func(*config.Outbox)
		reason Reason
		naming string
	}{
		{func(o *config.Outbox) { o.DispatchedAt = "sent_at" }, ReasonMissingColumn, `"sent_at"`},
		{func(o *config.Outbox) { o.Table = "public.outbx" }, ReasonMissingTable, "public.outbx"},
		{func(o *config.Outbox) { o.EventType = "payload"; o.CreatedAt = "event_type" }, ReasonColumnType, `"event_type"`},
		{func(o *config.Outbox) { o.DSNFile = filepath.Join(t.TempDir(), "gone") }, ReasonDSN, "cannot read"},
	}
	for _, tc := range cases {
		bad := o
		tc.change(&bad)
		_, err := NewPoller(bad).Poll(context.Background())
		pe, ok := err.(*PollError)
		if !ok || pe.Reason != tc.reason || !strings.Contains(pe.Error(), tc.naming) {
			t.Errorf("error %v, want reason %s naming %s", err, tc.reason, tc.naming)
		}
	}
	// A column dropped while warren runs.
	p := NewPoller(o)
	defer p.Close()
	if _, err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Exec(t, "orders", "ALTER TABLE outbox DROP COLUMN event_type")
	if _, err := p.Poll(context.Background()); err == nil || err.(*PollError).Reason != ReasonMissingColumn {
		t.Errorf("after dropping a column: %v, want missing_column", err)
	}
}

func TestTheConnectionStringNeverAppearsInErrors(t *testing.T) {
	t.Parallel()
	o := config.Outbox{Name: "x", DSNFile: filepath.Join(t.TempDir(), "dsn"), Table: "t", CreatedAt: "c", DispatchedAt: "d", Timeout: config.Duration(time.Second)}
	for _, dsn := range []string{"postgres://warren:hunter2@127.0.0.1:1/db", "host=127.0.0.1 port=1 password=hunter2 bad=='", "postgres://warren:hunter2@[::1"} {
		os.WriteFile(o.DSNFile, []byte(dsn), 0o600)
		_, err := NewPoller(o).Poll(context.Background())
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error for %q: %v", strings.ReplaceAll(dsn, "hunter2", "…"), err)
		}
	}
}

func TestAStatusMarkerAndTimestampColumnsWithoutTimeZoneAreReadAsConfigured(t *testing.T) {
	t.Parallel()
	c, o := newOutbox(t)
	c.Exec(t, "orders", `CREATE TABLE "Events" (created timestamp NOT NULL, state text NOT NULL, sent_at timestamp);
		CREATE INDEX ON "Events" (created) WHERE state <> 'it''s sent';
		CREATE INDEX ON "Events" (sent_at)`)
	o.Table, o.CreatedAt, o.EventType = `public.Events`, "created", ""
	o.Status = &config.OutboxStatus{Column: "state", Dispatched: "it's sent"}
	o.DispatchedAt = "sent_at"
	o.Thresholds = []config.Duration{config.Duration(time.Second), config.Duration(5 * time.Second)}
	p := NewPoller(o)
	defer p.Close()
	first, err := p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !first.Baseline || len(first.Types) != 1 || first.Types[0].Pending != 0 {
		t.Fatalf("first poll of an empty table: %+v", first)
	}
	// Three rows pending (one 60 s old), two sent now, 3 s after their
	// creation; the columns hold UTC wall-clock times.
	c.Exec(t, "orders", `INSERT INTO "Events" VALUES
		((now() AT TIME ZONE 'UTC') - interval '60 seconds', 'new', NULL),
		((now() AT TIME ZONE 'UTC') - interval '1 second', 'new', NULL),
		((now() AT TIME ZONE 'UTC') - interval '1 second', 'retrying', NULL),
		((now() AT TIME ZONE 'UTC') - interval '3 seconds', 'it''s sent', now() AT TIME ZONE 'UTC'),
		((now() AT TIME ZONE 'UTC') - interval '3 seconds', 'it''s sent', now() AT TIME ZONE 'UTC')`)
	time.Sleep(2 * o.CommitDelay.Std())
	s, err := p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ts := s.Types[0]
	if ts.Pending != 3 || ts.OldestAge < 59 || ts.OldestAge > 65 {
		t.Errorf("pending %v oldest %.1fs, want 3 and about 60s", ts.Pending, ts.OldestAge)
	}
	if ts.Dispatched != 2 || math.Abs(ts.LatencySum-6) > 0.01 || ts.Within[0] != 0 || ts.Within[1] != 2 {
		t.Errorf("dispatched %v, latency sum %.3f, within 1s %v, within 5s %v: want 2 rows of 3 s", ts.Dispatched, ts.LatencySum, ts.Within[0], ts.Within[1])
	}
}
