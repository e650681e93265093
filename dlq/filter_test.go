package dlq

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestParseFilterReadsConditionsAndRefusesWhatIsNotOne(t *testing.T) {
	f, err := ParseFilter("reason=rejected, source!=billing.retry,header:x-tenant=acme,field:order.state=")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.String(), "reason=rejected,source!=billing.retry,header:x-tenant=acme,field:order.state="; got != want {
		t.Errorf("read as %q, want %q", got, want)
	}
	if f, err := ParseFilter("  "); err != nil || f != nil {
		t.Errorf("an empty filter: %v, %v; want none, selecting all", f, err)
	}
	for _, bad := range []string{"rejected", "queue=x", "header:=x", "reason=rejected,"} {
		if _, err := ParseFilter(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestFilterMatchesEveryConditionOnTheDimensionsInspectShows(t *testing.T) {
	msg := amqp.Delivery{
		Headers: amqp.Table{"x-tenant": "acme", "x-death": []any{amqp.Table{
			"reason": "rejected", "queue": "billing.worker", "exchange": "orders", "count": int64(1), "time": time.Now(),
		}}},
		Body: []byte(`{"event_type":"order.paid","order":{"state":"open"}}`),
	}
	for expr, want := range map[string]bool{
		"":                true,
		"reason=rejected": true,
		"reason=expired":  false,
		"reason!=expired": true,
		"source=billing.worker,header:x-tenant=acme":  true,
		"source=billing.worker,header:x-tenant=other": false,
		"field:order.state=open":                      true,
		"field:order.missing=":                        true,
		"field:event_type!=order.paid":                false,
	} {
		f, err := ParseFilter(expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(msg); got != want {
			t.Errorf("%q matched %v, want %v", expr, got, want)
		}
	}
}

// A filtered replay moves only what it selects, and leaves every other
// dead letter in the queue, each read once.
func TestReplayWithAFilterMovesOnlyTheSelectedDeadLetters(t *testing.T) {
	t.Parallel()
	conn, s, billing := mixedDeadLetters(t, "replay-filter", 40, 60)
	got := attachConsumer(t, conn, billing)

	filter, err := ParseFilter("reason=rejected,field:event_type=order.paid")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Replay(ctxTimeout(t, time.Minute), brokerOf(broker), ReplayOptions{Queue: s.dlq, Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Moved != 60 || sum.NotSelected != 40 || sum.Failed != 0 || sum.Left != 40 || !sum.OK() {
		t.Fatalf("summary %+v; want 60 moved, 40 not selected and left", sum)
	}
	ids := map[string]bool{}
	for len(ids) < 60 {
		select {
		case d := <-got:
			if first, _ := First(d.Headers); first.Reason != "rejected" {
				t.Fatalf("moved a message that died %s", first.Reason)
			}
			ids[d.MessageId] = true
		case <-time.After(30 * time.Second):
			t.Fatalf("the billing consumer got %d of the 60", len(ids))
		}
	}
	if left := drainIDs(t, conn, s.dlq); len(left) != 40 {
		t.Errorf("the DLQ holds %d distinct messages, want the 40 expired", len(left))
	}
}
