package dlq

import (
	"context"
	"fmt"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ReplayOptions say what `warren dlq replay` moves and how.
type ReplayOptions struct {
	Queue string
	To    Destination
	// Limit is the most messages taken from the queue (of those Filter
	// selects); 0 is all.
	Limit int
	// Filter selects the messages to move; the others stay in the queue,
	// held unacknowledged until the run ends, so that each is read once.
	Filter Filter
	// Journal, if set, is the file that records the moves across runs
	// (see journal): with it, only the copies awaiting their confirm at
	// a failure can exist twice.
	Journal string
	// Rate is the most messages taken per second; 0 is unlimited.
	Rate float64
	// Window is the batch: the most copies awaiting their confirm
	// (default 16, at most MaxWindow).
	Window int
	// ConfirmTimeout bounds the wait for each confirm (default 10 s).
	ConfirmTimeout time.Duration
	StripXDeath    bool
	DryRun         bool
	// Force replays into a destination queue that has no consumer.
	Force bool
	// Progress, if set, is called after each message is settled.
	Progress func(Summary)
	// Plan, if set, is called in a dry run for each message that would
	// move.
	Plan func(Planned)
}

// Planned is one message a dry run would move.
type Planned struct {
	MessageID   string
	Destination string
	Reason      string // the first death's reason
}

const (
	defaultWindow         = MaxWindow
	defaultConfirmTimeout = 10 * time.Second
	// MaxWindow keeps uncommittedBatches batches of acks below the 32
	// commands a quorum queue's channel sends to the queue before it
	// waits for them to be applied (rabbit_fifo_client's soft limit,
	// 3.10): past it the broker holds acks back and sends them after
	// later commands, so no answer the client sees would bound which
	// acks are committed. Below it, a batch's acks are committed by the
	// time a basic.get of a later batch returns (measured with kill -9:
	// a window of 64 brought back 16 acked originals beyond a count of
	// the current batch's, one of 16 one from the batch before). Without
	// a journal that is all a failure can count; with one, undone acks
	// cost nothing (see journal).
	MaxWindow = 10
)

// inflight is a copy published and not yet settled.
type inflight struct {
	original amqp.Delivery
	confirm  *amqp.DeferredConfirmation
	id       string
	dest     string
}

// replay is one run's state; one goroutine drives it.
type replay struct {
	opts    ReplayOptions
	broker  Broker
	reader  *amqp.Connection
	readCh  *amqp.Channel
	pub     *amqp.Connection
	pubCh   *amqp.Channel
	closed  chan *amqp.Error // publisher channel's close
	returns chan amqp.Return
	checker *consumerCheck
	user    string
	runID   string

	pending []inflight
	// confirmed are the batch's copies the broker confirmed, whose
	// originals are acked once the journal has them.
	confirmed []inflight
	journal   *journal
	// acks are the originals acked in the latest batches, which the
	// broker may not have committed yet (see MaxWindow): a failure now
	// may bring them back.
	acks     recentAcks
	returned map[string]bool
	taken    int
	seq      int
	sum      Summary
	pace     pacer
}

// Replay moves messages of opts.Queue to their destination. It returns a
// summary of what it did whenever it got as far as connecting; the error
// says why it could not start (or, with a summary, why it stopped).
func Replay(ctx context.Context, b Broker, opts ReplayOptions) (Summary, error) {
	if opts.Window <= 0 {
		opts.Window = defaultWindow
	}
	opts.Window = min(opts.Window, MaxWindow)
	if opts.ConfirmTimeout <= 0 {
		opts.ConfirmTimeout = defaultConfirmTimeout
	}
	r := &replay{opts: opts, broker: b, sum: newSummary(opts.Queue, opts.DryRun), returned: map[string]bool{},
		runID: strconv.FormatInt(time.Now().UnixNano(), 36), pace: newPacer(opts.Rate)}
	if opts.Journal != "" && !opts.DryRun {
		var err error
		if r.journal, err = openJournal(opts.Journal); err != nil {
			return r.sum, err
		}
		defer r.journal.close()
	}
	if err := r.open(ctx); err != nil {
		r.close()
		return r.sum, err
	}
	start := time.Now()
	err := r.run(ctx)
	r.sum.Seconds = time.Since(start).Seconds()
	r.close()
	// Counted even after Ctrl-C: the operator needs to know what is left.
	depthCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dialTimeout)
	defer cancel()
	r.sum.Left = queueDepth(depthCtx, b, opts.Queue)
	return r.sum, err
}

func (r *replay) open(ctx context.Context) error {
	var err error
	if r.reader, err = r.broker.dial(ctx, "reader"); err != nil {
		return err
	}
	if r.readCh, err = r.reader.Channel(); err != nil {
		return fmt.Errorf("opening the reader channel: %w", err)
	}
	if _, err = r.readCh.QueueDeclarePassive(r.opts.Queue, false, false, false, false, nil); err != nil {
		return fmt.Errorf("queue %s: %w", r.opts.Queue, err)
	}
	if r.readCh, err = r.reader.Channel(); err != nil { // a failed passive declare closes its channel; this one is fresh
		return fmt.Errorf("opening the reader channel: %w", err)
	}
	r.checker = newConsumerCheck(r.reader)
	if uri, err := amqp.ParseURI(r.broker.URL); err == nil {
		r.user = uri.Username
	}
	if r.opts.DryRun {
		return nil
	}
	if r.pub, err = r.broker.dial(ctx, "publisher"); err != nil {
		return err
	}
	if r.pubCh, err = r.pub.Channel(); err != nil {
		return fmt.Errorf("opening the publisher channel: %w", err)
	}
	r.closed = r.pubCh.NotifyClose(make(chan *amqp.Error, 1))
	// Buffered for every copy in flight: amqp091 hands a return over
	// before the ack that follows it, and must never block doing so.
	r.returns = r.pubCh.NotifyReturn(make(chan amqp.Return, 2*r.opts.Window+1))
	if err := r.pubCh.Confirm(false); err != nil {
		return fmt.Errorf("confirm mode: %w", err)
	}
	return nil
}

// close closes both connections. Originals still unacknowledged (failed,
// or taken in a dry run) go back to the queue.
func (r *replay) close() {
	for _, c := range []*amqp.Connection{r.pub, r.reader} {
		if c != nil {
			c.Close()
		}
	}
}

// run takes, publishes and settles until the queue or --limit is
// exhausted, ctx ends, or a failure stops it. In-flight copies are always
// settled before it returns.
func (r *replay) run(ctx context.Context) error {
	if err := r.checkFixedDestination(); err != nil {
		return err
	}
	exhausted := false
	for {
		r.acks.nextBatch()
		for !exhausted && len(r.pending) < r.opts.Window && r.sum.Stopped == "" {
			var err error
			if exhausted, err = r.takeOne(ctx); err != nil {
				return r.abort(err)
			}
		}
		if len(r.pending) == 0 {
			return nil
		}
		// The whole batch is settled before the next is taken, which
		// bounds the acks the broker may not have committed (MaxWindow).
		for len(r.pending) > 0 {
			if err := r.awaitOldest(); err != nil {
				return r.abort(err)
			}
		}
		if err := r.ackConfirmed(); err != nil {
			return r.abort(err)
		}
	}
}

// abort ends a run that lost a connection: everything in flight may now
// exist twice.
func (r *replay) abort(err error) error {
	r.sum.InFlightAtFailure += len(r.pending)
	switch {
	case r.journal == nil:
		r.sum.InFlightAtFailure += len(r.confirmed) + r.acks.total()
	case r.journal.sync() != nil:
		r.sum.InFlightAtFailure += len(r.confirmed)
	}
	// Confirmed copies not acked: their originals stay, and the journal
	// (where it was written) makes the next run ack them.
	for range r.confirmed {
		r.sum.fail(FailConnAbort)
	}
	r.confirmed = nil
	for range r.pending {
		r.sum.fail(FailConnAbort)
	}
	r.pending = nil
	r.sum.stop("connection lost: " + err.Error())
	return err
}

// checkFixedDestination refuses, before anything is taken, a --to-queue
// destination without consumers.
func (r *replay) checkFixedDestination() error {
	if r.opts.To.Queue == "" {
		return nil
	}
	refused, err := r.checker.refuses(r.opts.To.Queue, r.opts.Force)
	if err != nil {
		return err
	}
	if refused != "" && !r.opts.DryRun {
		r.sum.stop(refused)
	}
	return nil
}

// takeOne takes the next message, if the limit, rate and ctx allow, and
// publishes its copy (or, in a dry run, plans it). It reports whether
// the queue (or the limit) is exhausted.
func (r *replay) takeOne(ctx context.Context) (bool, error) {
	if r.opts.Limit > 0 && r.taken >= r.opts.Limit {
		return true, nil
	}
	if !r.pace.wait(ctx) {
		r.sum.stop("interrupted") // what is in flight is still settled
		return true, nil
	}
	msg, ok, err := r.nextSelected(ctx)
	if err != nil || !ok {
		return true, err
	}
	if r.journal.movedBefore(msg) {
		// Its copy was confirmed in an earlier run and its ack undone.
		if err := msg.Ack(false); err != nil {
			return true, fmt.Errorf("acking a message moved before: %w", err)
		}
		r.sum.MovedBefore++
		return false, nil
	}
	r.taken++
	t, err := r.opts.To.resolve(msg)
	if err != nil {
		r.sum.fail(FailNoOrigin)
		return false, nil
	}
	refused, err := r.checker.refuses(t.queue, r.opts.Force)
	if err != nil {
		return true, err
	}
	if r.opts.DryRun {
		r.plan(msg, t, refused)
		return false, nil
	}
	if refused != "" {
		r.sum.stop(refused) // the message stays unacked and goes back at close
		return true, nil
	}
	return false, r.publish(msg, t)
}

// nextSelected takes messages until one the filter selects, keeping the
// others unacknowledged (they go back at close); ok is false when the
// queue has no more, or ctx ended.
func (r *replay) nextSelected(ctx context.Context) (amqp.Delivery, bool, error) {
	for ctx.Err() == nil {
		msg, ok, err := r.readCh.Get(r.opts.Queue, false)
		if err != nil {
			return msg, false, fmt.Errorf("basic.get from %s: %w", r.opts.Queue, err)
		}
		if !ok || r.opts.Filter.Match(msg) {
			return msg, ok, nil
		}
		r.sum.NotSelected++
	}
	r.sum.stop("interrupted")
	return amqp.Delivery{}, false, nil
}

func (r *replay) plan(msg amqp.Delivery, t target, refused string) {
	dest := t.String()
	if refused != "" {
		dest += " (" + refused + ")"
	}
	r.sum.Destinations[dest]++
	if r.opts.Plan != nil {
		first, _ := First(msg.Headers)
		r.opts.Plan(Planned{MessageID: msg.MessageId, Destination: dest, Reason: first.Reason})
	}
}

func (r *replay) publish(msg amqp.Delivery, t target) error {
	r.seq++
	id := r.runID + "-" + strconv.Itoa(r.seq)
	headers := replayHeaders(msg, r.opts.StripXDeath, time.Now().UTC().Format(time.RFC3339Nano), id)
	// Not ctx: an interrupt stops taking messages, never a publish half
	// done; a publish is a socket write that does not wait for the broker.
	dc, err := r.pubCh.PublishWithDeferredConfirmWithContext(context.Background(), t.exchange, t.key, true, false, copyOf(msg, headers, r.user))
	if err != nil {
		// The original was taken but has no copy: it goes back at close.
		return fmt.Errorf("publishing to %s: %w", t, err)
	}
	r.pending = append(r.pending, inflight{original: msg, confirm: dc, id: id, dest: t.String()})
	return nil
}

// awaitOldest waits for the oldest copy's confirm: a confirmed copy's
// original waits in confirmed for its ack, any other is left and counted
// as failed. A timeout stops the run: the broker is not answering, and
// the copy may still arrive.
func (r *replay) awaitOldest() error {
	p := r.pending[0]
	timer := time.NewTimer(r.opts.ConfirmTimeout)
	defer timer.Stop()
	select {
	case <-p.confirm.Done():
	case e := <-r.closed:
		return closeError("publisher channel", e)
	case <-timer.C:
		r.pending = r.pending[1:]
		r.sum.fail(FailTimeout)
		r.sum.InFlightAtFailure++ // its copy may yet be routed
		r.sum.stop(fmt.Sprintf("no confirm within %v", r.opts.ConfirmTimeout))
		return nil
	}
	r.pending = r.pending[1:]
	r.collectReturns()
	switch {
	case r.returned[p.id]:
		delete(r.returned, p.id)
		r.sum.fail(FailReturned)
	case !p.confirm.Acked():
		r.sum.fail(FailNack)
	default:
		r.confirmed = append(r.confirmed, p)
		r.journal.record(p.original, p.id)
		return nil
	}
	r.progress()
	return nil
}

// ackConfirmed syncs the journal, which has the batch's confirmed
// copies, and then acks their originals.
func (r *replay) ackConfirmed() error {
	if err := r.journal.sync(); err != nil {
		return err
	}
	for len(r.confirmed) > 0 {
		p := r.confirmed[0]
		if err := p.original.Ack(false); err != nil {
			return fmt.Errorf("acking the original: %w", err) // abort counts it: confirmed, not acked
		}
		r.confirmed = r.confirmed[1:]
		r.acks.add()
		r.sum.Moved++
		r.sum.Destinations[p.dest]++
		r.progress()
	}
	return nil
}

func (r *replay) progress() {
	if r.opts.Progress != nil {
		r.opts.Progress(r.sum)
	}
}

// collectReturns takes the returns amqp091 has handed over so far: those
// of every copy confirmed until now.
func (r *replay) collectReturns() {
	for {
		select {
		case ret := <-r.returns:
			if id, ok := ret.Headers[HeaderReplayID].(string); ok {
				r.returned[id] = true
			}
		default:
			return
		}
	}
}

func closeError(what string, e *amqp.Error) error {
	if e == nil {
		return fmt.Errorf("%s closed", what)
	}
	return fmt.Errorf("%s closed: %w", what, e)
}

// queueDepth reads the queue's depth on a connection of its own: -1 when
// it cannot.
func queueDepth(ctx context.Context, b Broker, queue string) int {
	conn, err := b.dial(ctx, "reader")
	if err != nil {
		return -1
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return -1
	}
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		return -1
	}
	return q.Messages
}
