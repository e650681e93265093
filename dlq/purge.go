package dlq

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"
)

// PurgeOptions say what `warren dlq purge` removes.
type PurgeOptions struct {
	Queue string
	// OlderThan: only messages that died (or, without x-death, were
	// published) longer ago than this are removed; messages of unknown
	// age are kept.
	OlderThan time.Duration
	// Archive, if set, is a JSON-lines file every removed message is
	// appended to, and fsynced, before it is acked.
	Archive string
	// Limit is the most messages read; 0 is all.
	Limit int
	// Window is the batch (default and at most MaxWindow).
	Window int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Archived is one line of the archive file.
type Archived struct {
	ArchivedAt time.Time  `json:"archived_at"`
	Queue      string     `json:"queue"`
	MessageID  string     `json:"message_id,omitempty"`
	Properties amqp.Table `json:"properties"`
	Headers    amqp.Table `json:"headers,omitempty"`
	// Body is the body when it is UTF-8 text, BodyBase64 otherwise.
	Body       string `json:"body,omitempty"`
	BodyBase64 []byte `json:"body_base64,omitempty"`
}

// Age is how long ago a message arrived where it is: its last death, else
// its timestamp property; false when it has neither.
func Age(msg amqp.Delivery, now time.Time) (time.Duration, bool) {
	at := LastDeath(msg.Headers)
	if at.IsZero() {
		at = msg.Timestamp
	}
	if at.IsZero() {
		return 0, false
	}
	return now.Sub(at), true
}

// Purge removes the messages of opts.Queue older than opts.OlderThan,
// archiving each first if asked; younger ones go back to the queue when
// it ends. Summary.Moved counts the removed messages.
func Purge(ctx context.Context, b Broker, opts PurgeOptions) (Summary, error) {
	if opts.Window <= 0 {
		opts.Window = defaultWindow
	}
	opts.Window = min(opts.Window, MaxWindow)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	sum := newSummary(opts.Queue, false)
	var archive *os.File
	if opts.Archive != "" {
		f, err := os.OpenFile(opts.Archive, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return sum, fmt.Errorf("opening the archive: %w", err)
		}
		defer f.Close()
		archive = f
	}
	conn, err := b.dial(ctx, "reader")
	if err != nil {
		return sum, err
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return sum, fmt.Errorf("opening a channel: %w", err)
	}
	p := &purge{opts: opts, ch: ch, archive: archive, sum: &sum}
	start := time.Now()
	err = p.run(ctx)
	sum.Seconds = time.Since(start).Seconds()
	conn.Close() // the younger messages go back
	depthCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dialTimeout)
	defer cancel()
	sum.Left = queueDepth(depthCtx, b, opts.Queue)
	return sum, err
}

type purge struct {
	opts    PurgeOptions
	ch      *amqp.Channel
	archive *os.File
	sum     *Summary
	taken   int
	// As in replay: acks of the latest batches may not be committed
	// when a failure strikes.
	acks recentAcks
}

func (p *purge) run(ctx context.Context) error {
	for {
		p.acks.nextBatch()
		batch, exhausted, err := p.takeBatch(ctx)
		if err == nil {
			err = p.archiveBatch(batch)
		}
		if err == nil {
			err = p.ackBatch(batch)
		}
		if err != nil {
			p.sum.InFlightAtFailure += p.acks.total()
			p.sum.stop(err.Error())
			return err
		}
		if exhausted {
			if ctx.Err() != nil {
				p.sum.stop("interrupted")
			}
			return nil
		}
	}
}

// takeBatch takes messages until Window of them are old enough to go;
// the younger ones stay unacknowledged.
func (p *purge) takeBatch(ctx context.Context) ([]amqp.Delivery, bool, error) {
	var batch []amqp.Delivery
	for len(batch) < p.opts.Window {
		if ctx.Err() != nil || (p.opts.Limit > 0 && p.taken >= p.opts.Limit) {
			return batch, true, nil
		}
		msg, ok, err := p.ch.Get(p.opts.Queue, false)
		if err != nil {
			return batch, true, fmt.Errorf("basic.get from %s: %w", p.opts.Queue, err)
		}
		if !ok {
			return batch, true, nil
		}
		p.taken++
		if age, known := Age(msg, p.opts.Now()); known && age > p.opts.OlderThan {
			batch = append(batch, msg)
		}
	}
	return batch, false, nil
}

// archiveBatch appends the batch to the archive and fsyncs it: only then
// may the originals go.
func (p *purge) archiveBatch(batch []amqp.Delivery) error {
	if p.archive == nil || len(batch) == 0 {
		return nil
	}
	w := bufio.NewWriter(p.archive)
	enc := json.NewEncoder(w)
	now := p.opts.Now().UTC()
	for _, msg := range batch {
		line := Archived{ArchivedAt: now, Queue: p.opts.Queue, MessageID: msg.MessageId, Properties: properties(msg), Headers: msg.Headers}
		if utf8.Valid(msg.Body) {
			line.Body = string(msg.Body)
		} else {
			line.BodyBase64 = msg.Body
		}
		if err := enc.Encode(line); err != nil {
			return fmt.Errorf("archiving: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing the archive: %w", err)
	}
	if err := p.archive.Sync(); err != nil {
		return fmt.Errorf("syncing the archive: %w", err)
	}
	return nil
}

func (p *purge) ackBatch(batch []amqp.Delivery) error {
	for _, msg := range batch {
		if err := msg.Ack(false); err != nil {
			return fmt.Errorf("acking: %w", err)
		}
		p.acks.add()
		p.sum.Moved++
	}
	return nil
}
