package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/rabbitmq/management"
	"github.com/warrenhq/warren/snapshot"
)

// historyPipeline is a pipeline of one vhost of the test node that asks
// for sample history at the node's stats interval (1 s), with its source.
// Its poll interval, 5 s, makes every poll ask for the last 8 s or more,
// though the tests poll more often: on a loaded machine the broker's
// newest samples can be seconds old.
func historyPipeline(t *testing.T, vhost string) (*Pipeline, *management.Source) {
	t.Helper()
	tg := brokerTarget(vhost, vhost, statusWindow)
	tg.StatsInterval = config.Duration(time.Second)
	tg.PollInterval = config.Duration(5 * time.Second)
	tg.TimeInQueue.Thresholds = []config.Duration{config.Duration(10 * time.Second)}
	src, err := management.New(tg)
	must(t, err)
	return NewWithSource(tg, src, Options{Metrics: collector.NewMetrics(), Logger: slog.New(slog.DiscardHandler)}), src
}

// polledQueue polls p once and returns the named queue of the snapshot.
func polledQueue(t *testing.T, p *Pipeline, name string) snapshot.Queue {
	t.Helper()
	p.Poll(context.Background())
	st := p.State()
	if !st.Health.Up {
		t.Fatalf("poll failed: %s", st.Health.LastError)
	}
	for _, q := range st.Snapshot.Queues {
		if q.Name == name {
			return q
		}
	}
	t.Fatalf("queue %q not in the snapshot", name)
	return snapshot.Queue{}
}

func TestPollAsksSampleHistoryOnlyOfQueuesWithSomethingNew(t *testing.T) {
	const vhost = "historyneeds"
	addVhost(t, broker, vhost)
	_, ch := broker.Channel(t, vhost)
	odd := "odd/name %2F ü"
	// With five queues of which two have something new at every poll,
	// one listing with every queue's history is cheaper than a GET each;
	// twenty quiet queues more make the GETs cheaper.
	queues := []string{"busy", "backlog", "never-used", "drained", odd}
	for i := range 20 {
		queues = append(queues, fmt.Sprintf("filler-%02d", i))
	}
	for _, q := range queues {
		_, err := ch.QueueDeclare(q, true, false, false, false, nil)
		must(t, err)
	}
	publish(t, ch, "", "backlog", 5, time.Time{})
	publish(t, ch, "", "drained", 3, time.Time{})
	publish(t, ch, "", odd, 2, time.Time{})
	for _, q := range []string{"drained", odd} {
		for range 3 {
			if d, ok, err := ch.Get(q, false); err == nil && ok {
				must(t, d.Ack(false))
			}
		}
	}
	// busy has a publisher and a consumer throughout.
	_, cch := broker.Channel(t, vhost)
	deliveries, err := cch.Consume("busy", "", true, false, false, false, nil)
	must(t, err)
	go func() {
		for range deliveries {
		}
	}()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	_, pch := broker.Channel(t, vhost)
	go func() {
		for tick := time.NewTicker(100 * time.Millisecond); ctx.Err() == nil; <-tick.C {
			_ = pch.PublishWithContext(ctx, "", "busy", false, false, amqp.Publishing{Body: []byte("m")})
		}
	}()

	p, src := historyPipeline(t, vhost)
	p.Poll(context.Background())
	if _, all := src.HistoryRequests(); !all {
		t.Fatal("the first poll knows no queue: it must list every queue's history")
	}
	// Once the broker's samples have caught up with each queue's counters,
	// only the queues with something new are asked for.
	want := map[string]bool{"busy": true, "backlog": true} // the others are unchanged
	eventually(t, 30*time.Second, func() (bool, string) {
		p.Poll(context.Background())
		st := p.State()
		if !st.Health.Up {
			return false, st.Health.LastError
		}
		var wrong []string
		asked := 0
		for _, q := range st.Snapshot.Queues {
			if !q.Unchanged {
				asked++
			}
			if q.Unchanged == want[q.Name] || !q.StatsKnown {
				wrong = append(wrong, fmt.Sprintf("%q (stats known %v, unchanged %v, %d samples, depth %d)", q.Name, q.StatsKnown, q.Unchanged, len(q.Samples), q.Messages()))
			}
			// A queue asked for gets the broker's history since the
			// previous poll. This is checked in the same poll: a poll
			// sooner after it than the stats interval rightly finds
			// busy unchanged and asks for nothing.
			if want[q.Name] && len(q.Samples) < 2 {
				wrong = append(wrong, fmt.Sprintf("%q: %d samples, want the broker's history since the previous poll", q.Name, len(q.Samples)))
			}
		}
		perQueue, all := src.HistoryRequests()
		if all || perQueue != asked {
			wrong = append(wrong, fmt.Sprintf("%d history GETs (in the listing: %v) for %d queues not unchanged", perQueue, all, asked))
		}
		return len(wrong) == 0, strings.Join(wrong, "; ")
	})

	// A name that needs escaping in the path gets its history too, not a
	// 404, once it has something new.
	publish(t, ch, "", odd, 1, time.Time{})
	eventually(t, 20*time.Second, func() (bool, string) {
		q := polledQueue(t, p, odd)
		return len(q.Samples) > 0 && q.Messages() == 1, fmt.Sprintf("%q: %d samples, depth %d", odd, len(q.Samples), q.Messages())
	})
}

func TestQuietQueueThatGainsTrafficHasEveryDepartureEstimated(t *testing.T) {
	const vhost = "quietthenbusy"
	addVhost(t, broker, vhost)
	_, ch := broker.Channel(t, vhost)
	// Twenty quiet queues besides make one GET cheaper than every queue's
	// history in the listing, so q's comes in a GET of its own.
	for i := range 21 {
		name := fmt.Sprintf("filler-%02d", i)
		if i == 20 {
			name = "q"
		}
		_, err := ch.QueueDeclare(name, true, false, false, false, nil)
		must(t, err)
	}
	_, cch := broker.Channel(t, vhost)
	deliveries, err := cch.Consume("q", "", false, false, false, false, nil)
	must(t, err)
	go func() {
		for d := range deliveries {
			_ = d.Ack(false)
		}
	}()
	p, _ := historyPipeline(t, vhost)
	estimate := func() (count, within, total float64) {
		for _, e := range p.State().Estimates {
			if e.Name == "q" {
				return e.Count, e.Within[0], e.Total[0]
			}
		}
		return -1, 0, 0
	}
	for round, burst := range []int{20, 10} {
		quiet := 0
		for deadline := time.Now().Add(20 * time.Second); quiet < 3; {
			if polledQueue(t, p, "q").Unchanged {
				quiet++
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the queue never polled as unchanged while nothing happened", round)
			}
			time.Sleep(200 * time.Millisecond)
		}
		before, _, _ := estimate()
		publish(t, ch, "", "q", burst, time.Time{})
		eventually(t, 20*time.Second, func() (bool, string) {
			polledQueue(t, p, "q")
			count, _, _ := estimate()
			return count-before == float64(burst), fmt.Sprintf("round %d: %v departures estimated after %d messages were published and acked", round, count-before, burst)
		})
	}
	if count, within, total := estimate(); within != total || total != count {
		t.Errorf("messages acked within milliseconds: %v of %v events within 10 s, %v departures", within, total, count)
	}
}
