package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/analysis/audit"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
	"github.com/warrenhq/warren/rabbitmq/management"
)

// BenchmarkAudit measures audits of a private node holding 1,000 client
// connections with two channels each (WARREN_BENCH_AUDIT_CONNECTIONS to
// change the count), opened with amqp091-go by this process: on each
// connection one channel published a few messages without confirms and
// one consumes, with manual acks and a prefetch, one of
// benchAuditQueues queues. It measures, per audit (the agent's: each
// compared with the one before), the wall time, warren's CPU, the
// broker's CPU and the bytes read, each beyond the idle rate of its
// process (the clients' heartbeats, the broker's statistics) measured
// just before. With WARREN_BENCH_AUDIT_TABLE set it appends the row to
// that file.
//
// Benchmarks are not tests: nothing here asserts a time.
func BenchmarkAudit(b *testing.B) {
	conns := 1000
	if env := os.Getenv("WARREN_BENCH_AUDIT_CONNECTIONS"); env != "" {
		n, err := strconv.Atoi(env)
		if err != nil || n < 1 {
			b.Fatalf("WARREN_BENCH_AUDIT_CONNECTIONS: %q is not a connection count", env)
		}
		conns = n
	}
	// The broker's default statistics interval, as in production.
	node, err := rabbittest.Start(rabbittest.Options{StatsIntervalMS: 5000})
	if err != nil {
		b.Fatal(err)
	}
	defer node.Destroy()
	beam := beamPID(node.Dir)
	if beam == 0 {
		b.Fatal("cannot find the node's beam.smp process")
	}
	began := time.Now()
	closeAll := openAuditWorkload(b, node, conns)
	defer closeAll()
	b.Logf("opened %d connections and %d channels in %v", conns, 2*conns, time.Since(began).Round(time.Second))

	t := config.Target{Name: "bench", ManagementURL: node.MgmtURL, Username: "guest", Password: "guest", Timeout: config.Duration(10 * time.Minute)}
	reader, err := management.NewObjectReader(t)
	if err != nil {
		b.Fatal(err)
	}
	a := newAuditor(t, reader, config.Audit{Interval: config.Duration(time.Hour)}, slog.New(slog.DiscardHandler))
	waitForAuditWorkload(b, a, conns)
	b.ResetTimer()
	var r auditBenchResult
	for range b.N {
		r = measureAudits(b, a, reader, beam, 5)
	}
	b.StopTimer()
	r.connections, r.channels = conns, 2*conns
	b.ReportMetric(r.wall, "audit-s")
	b.ReportMetric(r.cpu, "audit-cpu-s")
	b.ReportMetric(r.brokerCPU, "broker-cpu-s")
	b.ReportMetric(r.bytes/1e6, "audit-MB")
	b.Log("\n" + AuditTableHeader + "\n" + r.row())
	if path := os.Getenv("WARREN_BENCH_AUDIT_TABLE"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintln(f, r.row())
		f.Close()
	}
}

const benchAuditQueues = 200

// openAuditWorkload opens the connections, eight at a time, and returns
// what closes them.
func openAuditWorkload(b *testing.B, node *rabbittest.Node, conns int) (closeAll func()) {
	setup, err := amqp.Dial(node.AMQPURL)
	if err != nil {
		b.Fatal(err)
	}
	ch, err := setup.Channel()
	if err != nil {
		b.Fatal(err)
	}
	for i := range benchAuditQueues {
		if _, err := ch.QueueDeclare(auditQueue(i), true, false, false, false, nil); err != nil {
			b.Fatal(err)
		}
	}
	setup.Close()
	opened := make([]*amqp.Connection, conns)
	errs := make(chan error, conns)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := openAuditClient(node, i)
			opened[i] = c
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	closeAll = func() {
		for _, c := range opened {
			if c != nil {
				c.Close()
			}
		}
	}
	select {
	case err := <-errs:
		closeAll()
		b.Fatal(err)
	default:
	}
	return closeAll
}

func auditQueue(i int) string { return fmt.Sprintf("bench.audit.%03d", i%benchAuditQueues) }

// openAuditClient is one application: a publisher channel that sent five
// messages without confirms, and a consumer channel.
func openAuditClient(node *rabbittest.Node, i int) (*amqp.Connection, error) {
	c, err := amqp.DialConfig(node.AMQPURL, amqp.Config{Heartbeat: 30 * time.Second, Properties: amqp.Table{"connection_name": fmt.Sprintf("bench-app-%04d", i)}})
	if err != nil {
		return nil, err
	}
	pub, err := c.Channel()
	if err != nil {
		return c, err
	}
	for range 5 {
		if err := pub.Publish("", auditQueue(i), false, false, amqp.Publishing{Body: []byte("x"), DeliveryMode: amqp.Persistent}); err != nil {
			return c, err
		}
	}
	sub, err := c.Channel()
	if err == nil {
		err = sub.Qos(10, 0, false)
	}
	if err != nil {
		return c, err
	}
	deliveries, err := sub.Consume(auditQueue(i), "", false, false, false, false, nil)
	if err != nil {
		return c, err
	}
	go func() {
		for d := range deliveries {
			d.Ack(false)
		}
	}()
	return c, nil
}

// waitForAuditWorkload audits until the broker lists every connection,
// channel and consumer.
func waitForAuditWorkload(b *testing.B, a *auditor, conns int) {
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(5 * time.Second) {
		st, _ := a.auditNow(context.Background())
		if st != nil && st.LastError == "" && a.latest != nil &&
			len(a.latest.Connections) >= conns && len(a.latest.Channels) >= 2*conns && len(a.latest.Consumers) >= conns {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("the broker never listed the workload (%+v)", st)
		}
	}
}

// auditBenchResult is one row of the table: medians of the audits.
type auditBenchResult struct {
	connections, channels int
	wall, cpu, brokerCPU  float64 // seconds
	bytes                 float64
	findings              int
	walls                 []float64
	loadBefore, loadAfter string
}

// AuditTableHeader is the header of the rows auditBenchResult.row prints.
const AuditTableHeader = `| connections | channels | audit wall (median; each) | warren CPU/audit | broker CPU/audit | bytes read/audit | findings | load before → after |
|---:|---:|---:|---:|---:|---:|---:|---|`

func (r auditBenchResult) row() string {
	walls := ""
	for i, w := range r.walls {
		if i > 0 {
			walls += ", "
		}
		walls += fmt.Sprintf("%.2f", w)
	}
	return fmt.Sprintf("| %d | %d | %.2f s (%s) | %.0f ms | %.2f s | %.1f MB | %d | %s → %s |",
		r.connections, r.channels, r.wall, walls, r.cpu*1000, r.brokerCPU, r.bytes/1e6, r.findings, r.loadBefore, r.loadAfter)
}

func measureAudits(b *testing.B, a *auditor, reader *management.ObjectReader, beam, audits int) auditBenchResult {
	r := auditBenchResult{loadBefore: loadAverage()}
	cpu0, beam0, t0 := selfCPU(), procCPU(beam), time.Now()
	time.Sleep(10 * time.Second)
	idle := time.Since(t0).Seconds()
	selfIdle, brokerIdle := (selfCPU()-cpu0).Seconds()/idle, (procCPU(beam)-beam0).Seconds()/idle
	var wall, cpu, broker, bytes []float64
	for range audits {
		read0, c0, b0, t0 := reader.BytesRead(), selfCPU(), procCPU(beam), time.Now()
		st, _ := a.auditNow(context.Background())
		w := time.Since(t0).Seconds()
		if st == nil || st.LastError != "" {
			b.Fatalf("audit failed: %+v", st)
		}
		wall = append(wall, w)
		cpu = append(cpu, (selfCPU()-c0).Seconds()-selfIdle*w)
		broker = append(broker, (procCPU(beam)-b0).Seconds()-brokerIdle*w)
		bytes = append(bytes, float64(reader.BytesRead()-read0))
		r.findings = st.Report.Count(audit.Info)
	}
	r.walls = wall
	r.wall, r.cpu, r.brokerCPU, r.bytes = median(wall), median(cpu), median(broker), median(bytes)
	r.loadAfter = loadAverage()
	return r
}
