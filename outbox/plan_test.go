package outbox

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/internal/testenv/pgtest"
)

// fill100k writes 100,000 rows over the last hour: 99,000 dispatched a
// second after their creation, 1,000 pending, in 5 event types.
func fill100k(t testing.TB, c *pgtest.Cluster) {
	c.Exec(t, "orders", `INSERT INTO outbox (created_at, dispatched_at, event_type)
		SELECT now() - (i * interval '36 milliseconds'),
		       CASE WHEN i > 1000 THEN now() - (i * interval '36 milliseconds') + interval '1 second' END,
		       'type.' || (i % 5)
		FROM generate_series(1, 100000) AS i`)
	c.Exec(t, "orders", "VACUUM ANALYZE outbox") // what autovacuum would have done
}

func TestThePollQueryUsesTheIndexesAndNoSequentialScanOn100kRows(t *testing.T) {
	t.Parallel()
	c, o := newOutbox(t)
	fill100k(t, c)
	p := NewPoller(o)
	defer p.Close()
	if _, err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	conn := c.Connect(t, "orders")
	// The newest 15 s of dispatches, about 400 rows, and a minute before
	// them counted again: about 1,700.
	p.watermark = time.Now().Add(-50 * time.Second)
	p.late.windows = []countedWindow{{from: p.watermark.Add(-time.Minute), to: p.watermark}}
	// EXPLAIN returns one row per line of text.
	rows, err := conn.Query(context.Background(), "EXPLAIN (ANALYZE, BUFFERS) "+p.query.sql, p.args()...)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		var line string
		rows.Scan(&line)
		lines = append(lines, line)
	}
	plan := strings.Join(lines, "\n")
	t.Logf("EXPLAIN ANALYZE of the poll query on 100k rows (1k pending):\n%s", plan)
	if strings.Contains(plan, "Seq Scan") {
		t.Errorf("the poll query scans the table sequentially:\n%s", plan)
	}
	if scans := strings.Count(plan, "Index Only Scan") + strings.Count(plan, "Index Scan") + strings.Count(plan, "Bitmap Index Scan"); scans < 4 {
		t.Errorf("the plan has %d index scans, want one for each of pending, late, dispatched and recounted rows", scans)
	}
}

func BenchmarkPollOn100kRows(b *testing.B) {
	c := pgtest.StartT(b)
	c.Exec(b, "postgres", "CREATE DATABASE orders")
	c.Exec(b, "orders", pgtest.OutboxSchema)
	fill100k(b, c)
	_, o := outboxConfig(b, c)
	p := NewPoller(o)
	defer p.Close()
	ctx := context.Background()
	if _, err := p.Poll(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		p.watermark = time.Now().Add(-50 * time.Second)
		p.late.windows = []countedWindow{{from: p.watermark.Add(-time.Minute), to: p.watermark}}
		if _, err := p.Poll(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
