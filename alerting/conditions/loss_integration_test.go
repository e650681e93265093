package conditions

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/snapshot"
)

// lossRig is a pipeline on a private broker and an evaluator of its
// state with every `for` shortened to a millisecond.
type lossRig struct {
	t    *testing.T
	node *rabbittest.Node
	p    *pipeline.Pipeline
	eval *Evaluator
}

func newLossRig(t *testing.T) *lossRig {
	return newRig(t, "loss", rabbittest.Options{}, time.Minute)
}

// newRig starts a node with opts and a pipeline of target name on it,
// whose conditions fire at once (every rule's for is 1 ms), with the
// given consumer-status window; configure, if any, changes the target
// further.
func newRig(t *testing.T, name string, opts rabbittest.Options, window time.Duration, configure ...func(*config.Target)) *lossRig {
	node := rabbittest.StartT(t, opts)
	target := config.Target{Name: name, ManagementURL: node.MgmtURL, Username: "guest", Password: "guest",
		Timeout: config.Duration(10 * time.Second), PollInterval: config.Duration(time.Second),
		ConsumerStatus: config.ConsumerStatusConfig{Window: config.Duration(window)}}
	for _, c := range configure {
		c(&target)
	}
	p, err := pipeline.New(target, pipeline.Options{Metrics: collector.NewMetrics(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	health := config.HealthAlertsConfig{}
	for _, r := range catalog.HealthRules {
		health[r.Name] = config.HealthAlert{For: config.Duration(time.Millisecond)}
	}
	cfg := &config.Config{}
	cfg.Alerting.Health = health
	h := NewHealth(health, func() []*pipeline.TargetState { return []*pipeline.TargetState{p.State()} })
	return &lossRig{t: t, node: node, p: p, eval: NewEvaluator(cfg, h, nil, "", slog.New(slog.DiscardHandler))}
}

func (r *lossRig) channel() *amqp.Channel {
	r.t.Helper()
	conn, err := amqp.DialConfig(r.node.AMQPURL, amqp.Config{Properties: amqp.Table{"connection_name": "billing-publisher"}})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		r.t.Fatal(err)
	}
	return ch
}

// until polls once a poll interval (a second, the node's stats interval
// too) until cond holds of the published state, failing after two
// minutes with cond's last explanation. Polls are not closer: the loss
// analysis counts a loss once it held for two polls, which takes them to
// be a stats interval apart; two polls half a second apart can both read
// a depth the broker has not yet updated and count the gap as lost.
func (r *lossRig) until(cond func(st *pipeline.TargetState) (bool, string)) {
	r.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r.p.Poll(context.Background())
		ok, why := cond(r.p.State())
		if ok {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("gave up: %s", why)
		}
		time.Sleep(time.Second)
	}
}

// firing evaluates twice (the shortened `for` passes in between) and
// reports whether alertname fires with the given labels.
func (r *lossRig) firing(alertname string, labels map[string]string) bool {
	r.eval.Evaluate(time.Now())
	time.Sleep(5 * time.Millisecond)
	for _, a := range r.eval.Evaluate(time.Now()) {
		if a.Labels["alertname"] != alertname {
			continue
		}
		match := true
		for k, v := range labels {
			match = match && a.Labels[k] == v
		}
		if match {
			return true
		}
	}
	return false
}

func queueLoss(st *pipeline.TargetState, name string) (*snapshot.Queue, *pipeline.QueueState) {
	if st.Snapshot == nil {
		return nil, nil
	}
	for i := range st.Snapshot.Queues {
		if st.Snapshot.Queues[i].Name == name {
			return &st.Snapshot.Queues[i], &st.Queues[i]
		}
	}
	return nil, nil
}

// waitKnown polls until the queue's statistics are known, so that the
// history holds a poll from before the traffic.
func (r *lossRig) waitKnown(name string) {
	r.until(func(st *pipeline.TargetState) (bool, string) {
		q, _ := queueLoss(st, name)
		return q != nil && q.StatsKnown, "statistics of " + name + " unknown"
	})
	r.p.Poll(context.Background())
}

func TestSilentLossIsCountedAndAlertedOnARealBroker(t *testing.T) {
	t.Parallel() // its own node
	r := newLossRig(t)
	ch := r.channel()
	ctx := context.Background()

	t.Run("an unroutable publish without mandatory is counted as dropped, attributed to its connection, and alerts", func(t *testing.T) {
		if err := ch.ExchangeDeclare("nowhere", "direct", true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		// The recent count is the increase since the first poll that saw
		// the vhost: wait for one (a loaded node's first poll can fail)
		// before publishing, or all 7 would be in the vhost's first
		// reading and none recent.
		r.until(func(st *pipeline.TargetState) (bool, string) {
			for _, v := range st.Unroutable {
				if v.Vhost == "/" {
					return true, ""
				}
			}
			return false, fmt.Sprintf("vhost / not read: unroutable %+v (%s)", st.Unroutable, st.Health.LastError)
		})
		for range 7 {
			if err := ch.PublishWithContext(ctx, "nowhere", "k", false, false, amqp.Publishing{Body: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
		r.until(func(st *pipeline.TargetState) (bool, string) {
			for _, v := range st.Unroutable {
				if v.Vhost == "/" && v.Dropped == 7 && v.RecentDropped == 7 {
					return true, ""
				}
			}
			return false, fmt.Sprintf("unroutable %+v", st.Unroutable)
		})
		pubs := r.p.State().Snapshot.UnroutablePublishers
		if len(pubs) != 1 || pubs[0].Connection != "billing-publisher" || pubs[0].User != "guest" || pubs[0].Dropped != 7 {
			t.Errorf("publishers = %+v; want billing-publisher (guest) with 7 dropped", pubs)
		}
		if !r.firing(catalog.MessagesUnroutable, map[string]string{"vhost": "/"}) {
			t.Errorf("%s does not fire", catalog.MessagesUnroutable)
		}
	})

	t.Run("an unroutable publish with mandatory is counted as returned", func(t *testing.T) {
		for range 3 {
			if err := ch.PublishWithContext(ctx, "nowhere", "k", true, false, amqp.Publishing{Body: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
		r.until(func(st *pipeline.TargetState) (bool, string) {
			for _, v := range st.Unroutable {
				if v.Vhost == "/" && v.Returned == 3 && v.Dropped == 7 {
					return true, ""
				}
			}
			return false, fmt.Sprintf("unroutable %+v", st.Unroutable)
		})
	})

	t.Run("a drop-head queue of 100 sent 500 counts 400 dropped within 5% and both alerts fire", func(t *testing.T) {
		if _, err := ch.QueueDeclare("capped", true, false, false, false, amqp.Table{"x-max-length": int32(100)}); err != nil {
			t.Fatal(err)
		}
		r.waitKnown("capped")
		for range 500 {
			if err := ch.PublishWithContext(ctx, "", "capped", false, false, amqp.Publishing{Body: []byte("m")}); err != nil {
				t.Fatal(err)
			}
		}
		r.until(func(st *pipeline.TargetState) (bool, string) {
			q, qs := queueLoss(st, "capped")
			if q == nil {
				return false, "no queue capped"
			}
			return q.Counters.Published == 500 && math.Abs(qs.Loss.Dropped-400) <= 20, fmt.Sprintf("published %d, loss %+v", q.Counters.Published, qs.Loss)
		})
		_, qs := queueLoss(r.p.State(), "capped")
		if qs.Loss.Ratio != 1 || qs.Loss.Discarded != 0 {
			t.Errorf("loss = %+v; want ratio 1, nothing discarded", qs.Loss)
		}
		for _, name := range []string{catalog.QueueNearLengthLimit, catalog.QueueDroppingMessages} {
			if !r.firing(name, map[string]string{"queue": "capped"}) {
				t.Errorf("%s does not fire", name)
			}
		}
	})

	t.Run("nacks without requeue on a queue without a dead-letter exchange are counted as discarded", func(t *testing.T) {
		if _, err := ch.QueueDeclare("refused", true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		r.waitKnown("refused")
		for range 20 {
			if err := ch.PublishWithContext(ctx, "", "refused", false, false, amqp.Publishing{Body: []byte("m")}); err != nil {
				t.Fatal(err)
			}
		}
		consumer := r.channel()
		for got := 0; got < 20; {
			d, ok, err := consumer.Get("refused", false)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			if err := d.Nack(false, false); err != nil {
				t.Fatal(err)
			}
			got++
		}
		r.until(func(st *pipeline.TargetState) (bool, string) {
			_, qs := queueLoss(st, "refused")
			if qs == nil {
				return false, "no queue refused"
			}
			return qs.Loss.Discarded == 20 && qs.Loss.Dropped == 0, fmt.Sprintf("loss %+v", qs.Loss)
		})
	})
}
