package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/warrenhq/warren/internal/config"
)

func TestOneTimedOutPollKeepsTheWatermarkAndTwoInARowMakeTheNextPollABaseline(t *testing.T) {
	t.Parallel()
	c, o := newOutbox(t)
	o.Timeout = config.Duration(500 * time.Millisecond)
	p := NewPoller(o)
	defer p.Close()
	poll := func() (*Sample, error) { return p.Poll(context.Background()) }
	if _, err := poll(); err != nil {
		t.Fatal(err)
	}
	// A transaction holding the table's exclusive lock stalls every
	// query of it past the timeout.
	locker := c.Connect(t, "orders")
	lock := func() (unlock func()) {
		tx, err := locker.Begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(context.Background(), "LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
		return func() { tx.Rollback(context.Background()) }
	}
	timeOut := func() {
		t.Helper()
		if _, err := poll(); err == nil || err.(*PollError).Reason != ReasonTimeout {
			t.Fatalf("a poll of a locked table: %v, want a timeout", err)
		}
	}

	unlock := lock()
	timeOut()
	unlock()
	if s, err := poll(); err != nil || s.Baseline {
		t.Errorf("the poll after one timeout: %v, baseline %v; want it to count from the kept watermark", err, s != nil && s.Baseline)
	}

	unlock = lock()
	timeOut()
	timeOut()
	unlock()
	if s, err := poll(); err != nil || !s.Baseline {
		t.Errorf("the poll after two timeouts in a row: %v, baseline %v; want a baseline", err, s != nil && s.Baseline)
	}
}
