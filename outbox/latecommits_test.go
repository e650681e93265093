package outbox

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/warrenhq/warren/internal/config"
)

// pollTotals sums what polls counted of event type "t".
type pollTotals struct {
	dispatched, late, sum, within, fresh, crossed float64
}

// poll polls p once and adds its sample to the totals.
func (tot *pollTotals) poll(t *testing.T, p *Poller) {
	t.Helper()
	s, err := p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ts := s.eventType("t")
	tot.dispatched += ts.Dispatched
	tot.late += ts.LateCommits
	tot.sum += ts.LatencySum
	tot.within += ts.Within[0]
	tot.fresh += ts.FreshLate[0]
	tot.crossed += ts.Crossed[0]
}

// pollFor polls p every 100 ms for d.
func (tot *pollTotals) pollFor(t *testing.T, p *Poller, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		tot.poll(t, p)
	}
}

// dispatchLate stamps the pending row id dispatched stampAfter its
// creation in a transaction that commits only when commit is called:
// a dispatcher whose commit comes long after its stamp.
func dispatchLate(t *testing.T, conn *pgx.Conn, id int64, stampAfter time.Duration) (commit func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "UPDATE outbox SET dispatched_at = created_at + $2::interval WHERE id = $1",
		id, stampAfter.String()); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func insertRow(t *testing.T, conn *pgx.Conn) int64 {
	t.Helper()
	var id int64
	if err := conn.QueryRow(context.Background(), "INSERT INTO outbox (event_type) VALUES ('t') RETURNING id").Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// With commit_delay 300 ms and a 1 s threshold, each row below commits
// its dispatch well after a watermark has passed its stamp.
func TestADispatchCommittedAfterTheWatermarkPassedItsStampIsCountedOnceWithItsLatency(t *testing.T) {
	t.Parallel()
	c, o := newOutbox(t)
	p := NewPoller(o)
	defer p.Close()
	conn, relay := c.Connect(t, "orders"), c.Connect(t, "orders")
	var tot pollTotals
	tot.poll(t, p) // the baseline
	cases := []struct {
		what        string
		commitAfter time.Duration
		want        pollTotals
	}{
		// Within the threshold, never seen pending past it: a good event.
		{"a late commit within the threshold", 800 * time.Millisecond, pollTotals{dispatched: 1, late: 1, sum: 0.2, within: 1}},
		// Seen pending past the threshold, so a bad event then; the late
		// commit adds it to the histogram and no event.
		{"a late commit after crossing the threshold pending", 2500 * time.Millisecond, pollTotals{dispatched: 1, late: 1, sum: 0.2, crossed: 1}},
	}
	for _, tc := range cases {
		// Stamped 200 ms after its creation, committed later.
		tot = pollTotals{}
		commit := dispatchLate(t, relay, insertRow(t, conn), 200*time.Millisecond)
		tot.pollFor(t, p, tc.commitAfter)
		commit()
		tot.pollFor(t, p, time.Second)
		if tot.sum = math.Round(tot.sum*1e6) / 1e6; tot != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.what, tot, tc.want)
		}
	}

	// Rows pruned from a window counted already subtract nothing, and
	// later polls count nothing again.
	tot = pollTotals{}
	c.Exec(t, "orders", "DELETE FROM outbox")
	tot.pollFor(t, p, 500*time.Millisecond)
	if tot != (pollTotals{}) {
		t.Errorf("after deleting the counted rows: %+v, want nothing", tot)
	}
}

func TestADispatchCommittedLaterThanTheLateCommitWindowIsNotCounted(t *testing.T) {
	t.Parallel()
	c, o := newOutbox(t)
	o.LateCommitWindow = config.Duration(500 * time.Millisecond)
	p := NewPoller(o)
	defer p.Close()
	conn, relay := c.Connect(t, "orders"), c.Connect(t, "orders")
	var tot pollTotals
	tot.poll(t, p)
	commit := dispatchLate(t, relay, insertRow(t, conn), 100*time.Millisecond)
	tot.pollFor(t, p, 1500*time.Millisecond) // the stamp is 1.1 s behind the watermark
	commit()
	tot.pollFor(t, p, time.Second)
	if tot.dispatched != 0 || tot.late != 0 {
		t.Errorf("a commit 1.4 s after its stamp, with a 300 ms commit delay and a 500 ms window: %+v, want it missed", tot)
	}
}
