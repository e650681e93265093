package timeinqueue

// The ground-truth harness's traffic: the scenarios, their publishers and
// consumers, and the truth they record (see groundtruth_test.go).

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// trafficScenario is one queue's traffic: how its publisher publishes
// and how its consumers consume.
type trafficScenario struct {
	name      string
	queueType string // x-queue-type: classic or quorum
	// publishAt is when, after traffic starts, the publisher publishes
	// message i; ok is false when message i would come after d (and so
	// would every later one).
	publishAt func(i int, d time.Duration) (at time.Duration, ok bool)
	// consumeRate is the most messages per second the consumer handles:
	// each delivery takes it 1/consumeRate before it is acked, unless
	// service says otherwise.
	consumeRate float64
	// consumers compete for the queue, each on a connection of its own
	// with a prefetch of prefetch; 0 means one.
	consumers int
	prefetch  int
	// service is how long consumer c (from 0) takes over a delivery
	// whose handling begins at since after traffic starts; nil:
	// 1/consumeRate.
	service func(c int, since time.Duration, rng *rand.Rand) time.Duration
	// The consumer handles nothing from pauseAt for pauseFor after
	// traffic starts; what it was delivered waits, unacked.
	pauseAt, pauseFor time.Duration
	// requeueShare of deliveries are rejected with requeue instead of
	// acked, at random.
	requeueShare float64
	// ttl is the queue's x-message-ttl: messages waiting longer expire,
	// unprocessed. 0: none.
	ttl time.Duration
	// maxPriority is the queue's x-max-priority; the publisher gives
	// each message a random priority from 0 to it. 0: not a priority
	// queue.
	maxPriority int
}

// publishSteadily publishes rate messages per second, evenly spaced.
func publishSteadily(rate float64) func(int, time.Duration) (time.Duration, bool) {
	return func(i int, d time.Duration) (time.Duration, bool) {
		at := time.Duration(float64(i) / rate * float64(time.Second))
		return at, at < d
	}
}

// publishInBursts publishes size messages at once every period, from
// the start.
func publishInBursts(size int, period time.Duration) func(int, time.Duration) (time.Duration, bool) {
	return func(i int, d time.Duration) (time.Duration, bool) {
		at := time.Duration(i/size) * period
		return at, at < d
	}
}

// accuracyScenarios are the six scenarios for traffic lasting d;
// three whose departures are not all processed or not FIFO: two TTL
// queues whose consumer is too slow, so about a fifth of their messages
// expire, one with its acked messages' waits well inside the threshold
// and one with them just under it, and a priority queue, whose estimate
// must be withheld; and three for
// processing times around a second: three competing consumers of
// differing speeds, a consumer whose service time switches between two
// every 20 s, and one whose service time varies from message to message.
// Each consumer has a prefetch of 10. Rates stay at or below 40 messages
// per second per queue.
func accuracyScenarios(d time.Duration) []trafficScenario {
	slow := trafficScenario{
		name: "slow-consumer", queueType: "classic",
		publishAt: publishSteadily(20), consumeRate: 15, prefetch: 10,
	}
	quorum := slow
	quorum.name, quorum.queueType = "quorum-slow-consumer", "quorum"
	return []trafficScenario{
		{
			name: "steady", queueType: "classic",
			publishAt: publishSteadily(20), consumeRate: 40, prefetch: 10,
		},
		slow,
		{
			// 40 s without a consumer a third of the way in, then a
			// consumer twice as fast as the publisher catches up.
			name: "stop-resume", queueType: "classic",
			publishAt: publishSteadily(20), consumeRate: 40, prefetch: 10,
			pauseAt: d / 3, pauseFor: min(40*time.Second, d/4),
		},
		{
			// 200 messages every 20 s, each burst drained in about 13 s.
			name: "bursty", queueType: "classic",
			publishAt: publishInBursts(200, 20*time.Second), consumeRate: 15, prefetch: 10,
		},
		quorum,
		{
			name: "requeues", queueType: "classic",
			publishAt: publishSteadily(20), consumeRate: 40, prefetch: 10,
			requeueShare: 0.05,
		},
		{
			// 10/s in, 8/s out: the backlog grows until its head is 5 s
			// old, then about 2/s expire. The acked messages wait 5 s in
			// the queue and 1.25 s in the prefetch, well inside 10 s:
			// what this holds is that every expiry counts as departed
			// and not processed.
			name: "ttl-expiry", queueType: "classic",
			publishAt: publishSteadily(10), consumeRate: 8, prefetch: 10,
			ttl: 5 * time.Second,
		},
		{
			// The same with an 8 s TTL: the acked messages wait 9.2 to
			// 9.6 s, a few tenths of a second under the 10 s threshold,
			// so where the estimate places each sample decides the share.
			name: "ttl-at-threshold", queueType: "classic",
			publishAt: publishSteadily(10), consumeRate: 8, prefetch: 10,
			ttl: 8 * time.Second,
		},
		{
			name: "priority", queueType: "classic",
			publishAt: publishSteadily(20), consumeRate: 15, prefetch: 10,
			maxPriority: 9,
		},
		{
			// Three workers of differing speeds share the queue: 50, 100
			// and 150 ms a message, 36.7/s together against 24/s in. The
			// broker offers each a third; the slowest cannot keep up with
			// its third, keeps its prefetch full and its deliveries wait
			// 1.5 s, the others' a tenth of that.
			name: "competing-consumers", queueType: "classic",
			publishAt: publishSteadily(24), prefetch: 10, consumers: 3,
			service: servicePerConsumer(50*time.Millisecond, 100*time.Millisecond, 150*time.Millisecond),
		},
		{
			// A handler whose downstream slows down every other 20 s: 60
			// ms a message, then 150 ms. 13/s in keeps a backlog from the
			// first slow phase on, so the prefetch stays full: deliveries
			// wait 0.6 s, then 1.5 s, and only the ten in the prefetch
			// buffer at a switch anything in between. (At 12/s the
			// backlog grew so slowly that for a minute its longest waits
			// in each cycle were within a few tenths of a second of 10 s,
			// and the time-in-queue share hung on them.)
			name: "slow-dependency", queueType: "classic",
			publishAt: publishSteadily(13), prefetch: 10,
			service: alternatingService(60*time.Millisecond, 150*time.Millisecond, 20*time.Second),
		},
		{
			// Every message takes 20 to 220 ms, at random; 10/s in against
			// 8.3/s keeps the prefetch full, so a delivery waits for the ten
			// services up to its own: 1.2 s, give or take 0.22 s.
			name: "variable-service", queueType: "classic",
			publishAt: publishSteadily(10), prefetch: 10,
			service: uniformService(20*time.Millisecond, 220*time.Millisecond),
		},
	}
}

// servicePerConsumer gives consumer c the c-th of times as its service
// time.
func servicePerConsumer(times ...time.Duration) func(int, time.Duration, *rand.Rand) time.Duration {
	return func(c int, _ time.Duration, _ *rand.Rand) time.Duration { return times[c] }
}

// alternatingService takes fast for period from the start, then slow
// for period, and so on.
func alternatingService(fast, slow, period time.Duration) func(int, time.Duration, *rand.Rand) time.Duration {
	return func(_ int, since time.Duration, _ *rand.Rand) time.Duration {
		if (since/period)%2 == 0 {
			return fast
		}
		return slow
	}
}

// uniformService takes from lo to hi, uniformly at random.
func uniformService(lo, hi time.Duration) func(int, time.Duration, *rand.Rand) time.Duration {
	return func(_ int, _ time.Duration, rng *rand.Rand) time.Duration {
		return lo + time.Duration(rng.Float64()*float64(hi-lo))
	}
}

// scenarioNamed is the scenario of accuracyScenarios called name.
func scenarioNamed(name string) trafficScenario {
	for _, sc := range accuracyScenarios(time.Minute) {
		if sc.name == name {
			return sc
		}
	}
	return trafficScenario{name: name}
}

// groundTruth is what really happened to one queue's messages.
type groundTruth struct {
	mu   sync.Mutex
	msgs []trueMessage // by sequence id, which is publish order
	// rejections are the deliveries rejected with requeue.
	rejections []trueDelivery
	requeued   int // rejections with requeue
	lost       int // publishes the broker nacked or never confirmed
	// closed is when the last of the queue's consumers closed its
	// channel, which returned what it held unacked to the queue.
	closed time.Time
}

// trueMessage is one message's true publish and final ack time, and
// when a consumer received its latest delivery not rejected. acked is
// zero while it is not acked; delivered is zero while it was never
// delivered or its latest delivery was rejected (it is back in the
// queue).
type trueMessage struct{ published, acked, delivered time.Time }

// trueDelivery is one delivery's receipt by a consumer and its
// settlement: acked, rejected with requeue, or returned to the queue
// when its consumer closed its channel.
type trueDelivery struct {
	delivered, settled time.Time
	acked              bool
}

// publishing records that a message is about to be published now and
// returns its sequence id.
func (tr *groundTruth) publishing() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.msgs = append(tr.msgs, trueMessage{published: time.Now()})
	return len(tr.msgs) - 1
}

// message is message seq, for a consumer that did what to it; the
// caller holds tr.mu.
func (tr *groundTruth) message(seq int, did string) (*trueMessage, error) {
	if seq < 0 || seq >= len(tr.msgs) {
		return nil, fmt.Errorf("%s message %d, which was never published", did, seq)
	}
	m := &tr.msgs[seq]
	if !m.acked.IsZero() {
		return nil, fmt.Errorf("%s message %d, which was acked before", did, seq)
	}
	return m, nil
}

// deliver records that a consumer received a delivery of message seq at
// at.
func (tr *groundTruth) deliver(seq int, at time.Time) error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	m, err := tr.message(seq, "received")
	if err != nil {
		return err
	}
	if !m.delivered.IsZero() {
		return fmt.Errorf("received message %d while a delivery of it was outstanding", seq)
	}
	m.delivered = at
	return nil
}

func (tr *groundTruth) ack(seq int, at time.Time) error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	m, err := tr.message(seq, "acked")
	if err != nil {
		return err
	}
	if m.delivered.IsZero() {
		return fmt.Errorf("acked message %d, which no consumer received", seq)
	}
	m.acked = at
	return nil
}

// reject records that message seq's delivery was rejected with requeue
// at at: the message is back in the queue.
func (tr *groundTruth) reject(seq int, at time.Time) error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	m, err := tr.message(seq, "rejected")
	if err != nil {
		return err
	}
	if m.delivered.IsZero() {
		return fmt.Errorf("rejected message %d, which no consumer received", seq)
	}
	tr.rejections = append(tr.rejections, trueDelivery{delivered: m.delivered, settled: at})
	m.delivered = time.Time{}
	tr.requeued++
	return nil
}

// consumerClosed records that a consumer closed its channel at at.
func (tr *groundTruth) consumerClosed(at time.Time) {
	tr.mu.Lock()
	tr.closed = later(tr.closed, at)
	tr.mu.Unlock()
}

func (tr *groundTruth) lose(n int) {
	tr.mu.Lock()
	tr.lost += n
	tr.mu.Unlock()
}

// runTraffic runs every scenario's publisher and consumer from now for d
// and returns what truly happened, per scenario, and when traffic began.
func runTraffic(ctx context.Context, url string, scenarios []trafficScenario, d time.Duration) ([]*groundTruth, time.Time, error) {
	truths := make([]*groundTruth, len(scenarios))
	for i := range truths {
		truths[i] = &groundTruth{}
	}
	start := time.Now()
	trafficCtx, stop := context.WithDeadline(ctx, start.Add(d))
	defer stop()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	fail := func(sc trafficScenario, role string, err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("scenario %s, %s: %w", sc.name, role, err))
			mu.Unlock()
		}
	}
	for i, sc := range scenarios {
		wg.Go(func() { fail(sc, "publisher", publishTraffic(trafficCtx, url, sc, truths[i], start, d)) })
		cancelled := new(sync.WaitGroup)
		cancelled.Add(sc.consumerCount())
		for c := range sc.consumerCount() {
			seed := uint64(i+1) | uint64(c)<<32
			wg.Go(func() {
				fail(sc, fmt.Sprintf("consumer %d", c), consumeTraffic(trafficCtx, url, sc, c, truths[i], start, seed, cancelled))
			})
		}
	}
	wg.Wait()
	return truths, start, errors.Join(errs...)
}

// declareQueues declares the scenarios' queues, and idle classic queues
// nothing is ever published to, idle-000 and on.
func declareQueues(url string, scenarios []trafficScenario, idle int) error {
	conn, err := amqp.Dial(url)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	for _, sc := range scenarios {
		args := amqp.Table{"x-queue-type": sc.queueType}
		if sc.ttl > 0 {
			args["x-message-ttl"] = sc.ttl.Milliseconds()
		}
		if sc.maxPriority > 0 {
			args["x-max-priority"] = sc.maxPriority
		}
		if _, err := ch.QueueDeclare(sc.name, true, false, false, false, args); err != nil {
			return fmt.Errorf("declare %s: %w", sc.name, err)
		}
	}
	for i := range idle {
		if _, err := ch.QueueDeclare(fmt.Sprintf("idle-%03d", i), true, false, false, false, nil); err != nil {
			return fmt.Errorf("declare idle-%03d: %w", i, err)
		}
	}
	return nil
}

// publishTraffic publishes sc's messages, persistent and with publisher
// confirms, until sc.publishAt says there are no more within d. Confirms
// are waited for at the end: a message the broker did not take is
// counted as lost, which fails the run.
func publishTraffic(ctx context.Context, url string, sc trafficScenario, tr *groundTruth, start time.Time, d time.Duration) error {
	conn, err := amqp.Dial(url)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Confirm(false); err != nil {
		return err
	}
	var confirms []*amqp.DeferredConfirmation
	body := []byte("time-in-queue ground truth")
	rng := rand.New(rand.NewPCG(uint64(len(sc.name)), 0x9917))
	for i := 0; ; i++ {
		at, ok := sc.publishAt(i, d)
		if !ok || !sleepUntilOrDone(ctx, start.Add(at)) {
			break
		}
		var priority uint8
		if sc.maxPriority > 0 {
			priority = uint8(rng.IntN(sc.maxPriority + 1))
		}
		seq := tr.publishing()
		// Not ctx: a message whose publish time is recorded must be
		// published.
		dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "", sc.name, true, false,
			amqp.Publishing{MessageId: strconv.Itoa(seq), DeliveryMode: amqp.Persistent, Priority: priority, Body: body})
		if err != nil {
			return fmt.Errorf("publish message %d: %w", seq, err)
		}
		confirms = append(confirms, dc)
	}
	wait, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lost := 0
	for _, dc := range confirms {
		if ok, err := dc.WaitContext(wait); !ok || err != nil {
			lost++
		}
	}
	tr.lose(lost)
	return nil
}

// consumerCount is how many consumers compete for sc's queue.
func (sc trafficScenario) consumerCount() int { return max(1, sc.consumers) }

// serviceTime is how long consumer c takes over a delivery whose
// handling begins at since after traffic starts.
func (sc trafficScenario) serviceTime(c int, since time.Duration, rng *rand.Rand) time.Duration {
	if sc.service != nil {
		return sc.service(c, since, rng)
	}
	return time.Duration(float64(time.Second) / sc.consumeRate)
}

// receipt is a delivery as its consumer received it: the moment the
// client library handed it over.
type receipt struct {
	amqp.Delivery
	seq int
	at  time.Time
}

// consumeTraffic runs sc's consumer c with manual acks until ctx is
// done. The consumer is a single server: a delivery's handling starts
// when it is received or when the previous one is done, whichever is
// later (and not during the pause), and its ack goes out one service time
// (sc.serviceTime) later. A delivery is received, and its time recorded, the moment the
// client library has it, whatever the handler is doing: until the
// handler takes it, it waits in the consumer's prefetch buffer,
// delivered and unacknowledged. When ctx is done the consumer cancels
// its subscription and receives what was in flight; once every consumer
// of the queue has (cancelled, from the sc.consumerCount() the caller
// added, is done), it closes its channel, which returns what it holds
// unacked to the queue, where no other consumer of the run takes it.
func consumeTraffic(ctx context.Context, url string, sc trafficScenario, c int, tr *groundTruth, start time.Time, seed uint64, cancelled *sync.WaitGroup) error {
	cancel := sync.OnceFunc(cancelled.Done)
	defer cancel()
	conn, err := amqp.Dial(url)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Qos(sc.prefetch, 0, false); err != nil {
		return err
	}
	tag := fmt.Sprintf("ground-truth-%d", c)
	deliveries, err := ch.Consume(sc.name, tag, false, false, false, false, nil)
	if err != nil {
		return err
	}
	// Every received delivery waits for its ack, so no more than a
	// prefetch of them are ever received and not handled: the receiver
	// never blocks.
	received := make(chan receipt, sc.prefetch)
	var receiveErr error
	receiving := make(chan struct{})
	go func() {
		defer close(receiving)
		defer close(received)
		for dl := range deliveries {
			at := time.Now()
			seq, err := strconv.Atoi(dl.MessageId)
			if err != nil {
				err = fmt.Errorf("delivery with message id %q: %w", dl.MessageId, err)
			} else {
				err = tr.deliver(seq, at)
			}
			if err != nil {
				receiveErr = cmp.Or(receiveErr, err)
				continue
			}
			received <- receipt{Delivery: dl, seq: seq, at: at}
		}
	}()

	if err := handleDeliveries(ctx, sc, c, received, tr, start, seed); err != nil {
		return err
	}
	if err := ch.Cancel(tag, false); err != nil {
		return err
	}
	<-receiving
	cancel()
	cancelled.Wait()
	if err := ch.Close(); err != nil {
		return err
	}
	tr.consumerClosed(time.Now())
	return receiveErr
}

// handleDeliveries handles consumer c's received deliveries, one at a
// time, until ctx is done.
func handleDeliveries(ctx context.Context, sc trafficScenario, c int, received <-chan receipt, tr *groundTruth, start time.Time, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0x7715))
	pauseFrom, pauseTo := start.Add(sc.pauseAt), start.Add(sc.pauseAt+sc.pauseFor)
	var free time.Time // when the consumer is done with the previous delivery
	for {
		var dl receipt
		select {
		case <-ctx.Done():
			return nil
		case r, ok := <-received:
			if !ok {
				return errors.New("the broker closed the consumer")
			}
			dl = r
		}
		begin := later(dl.at, free)
		if sc.pauseFor > 0 && !begin.Before(pauseFrom) && begin.Before(pauseTo) {
			begin = pauseTo
		}
		free = begin.Add(sc.serviceTime(c, begin.Sub(start), rng))
		if !sleepUntilOrDone(ctx, free) {
			return nil
		}
		if rng.Float64() < sc.requeueShare {
			// Recorded first: the broker may deliver the message again
			// before Reject returns.
			if err := tr.reject(dl.seq, time.Now()); err != nil {
				return err
			}
			if err := dl.Reject(true); err != nil {
				return err
			}
			continue
		}
		if err := dl.Ack(false); err != nil {
			return err
		}
		if err := tr.ack(dl.seq, time.Now()); err != nil {
			return err
		}
	}
}

// sleepUntilOrDone waits until t; false if ctx ends first.
func sleepUntilOrDone(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
