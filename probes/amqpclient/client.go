// Package amqpclient is an AMQP 0-9-1 client that keeps publishing and
// consuming on separate connections, publishes with confirms and mandatory
// routing, and reconnects with capped, jittered, context-interruptible
// backoff. warren's synthetic probes use it to measure what an application
// would see: publish→confirm and publish→consume latency, and how publishes
// fail (nack, unroutable, blocked, timeout, connection or auth error).
//
// The practices it follows, and why:
//
//   - Publisher and consumer use separate connections. RabbitMQ throttles a
//     publishing connection (credit flow, resource alarms) by not reading
//     from it; a consumer sharing it would stall too. Each connection
//     reconnects on its own, so losing the consumer never tears down a
//     healthy publisher.
//   - Publishes are mandatory, on a channel in confirm mode: an unroutable
//     message comes back as a basic.return (reported as Returned) before its
//     ack, and every publish is matched to its own confirm by delivery tag.
//   - connection.blocked/unblocked are tracked: publishing on a blocked
//     connection would only hang, so it is reported as ErrBlocked instead.
//   - Every wait (reconnect backoff, dial, handshake, channel open, confirm)
//     ends when the caller's context does, so a probe round never overruns
//     its deadline and shutdown is prompt.
//   - Connections carry a connection_name client property, Name+"/publisher"
//     or Name+"/consumer", so operators can tell warren's probes apart in the
//     management UI; heartbeats detect dead peers.
//   - The URL holds credentials: no error or log line from this package
//     contains the URL or the password.
//
// A Client is meant to be driven by one goroutine that calls Publish,
// Declare and Consume; Up, Blocked and Close may be called from any
// goroutine at any time.
//
// Import rule: it imports nothing of warren.
package amqpclient

import (
	"context"
	"crypto/tls"
	"log/slog"
	"sync"
	"time"
)

// Role names one of the two connections of a Client.
type Role string

const (
	RolePublisher Role = "publisher"
	RoleConsumer  Role = "consumer"
)

// Config configures a Client. Zero durations take the defaults below.
type Config struct {
	// URL is the amqp:// or amqps:// URL, with credentials and vhost. It
	// never appears in errors or logs.
	URL string
	// TLS is used for amqps URLs (CA, client certificates, server name);
	// nil means the system roots and the URL's host as server name. The
	// Client never modifies it.
	TLS *tls.Config
	// Name prefixes the connection_name client property: Name+"/publisher"
	// and Name+"/consumer", e.g. "warren-probe/<target>/<node>/publisher".
	Name string
	// Heartbeat is the heartbeat interval proposed to the broker; default
	// 10s. A heartbeat parameter in the URL wins.
	Heartbeat time.Duration
	// DialTimeout bounds TCP connect + TLS + AMQP handshake; default 5s.
	// Keep it above 3s: RabbitMQ waits 3s before it drops a connection
	// whose login it refused (amqp091 cannot ask it to say so at once), and
	// a shorter timeout turns a refused login into a timeout.
	DialTimeout time.Duration
	// MinBackoff is the reconnect delay after the first failed dial; it
	// doubles with each further failure up to MaxBackoff. Defaults 100ms
	// and 30s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// Logger receives connection events (connected, lost, blocked, dial
	// failures); nil discards them.
	Logger *slog.Logger
}

// Defaults for zero Config fields.
const (
	DefaultHeartbeat   = 10 * time.Second
	DefaultDialTimeout = 5 * time.Second
	DefaultMinBackoff  = 100 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
)

// closeTimeout bounds the connection.close handshake in Close. A blocked
// connection is not read by the broker, so its close-ok never comes; the
// socket is closed regardless when this passes.
const closeTimeout = time.Second

// Client holds a publisher and a consumer connection to one broker. Create
// it with New; it connects lazily, on the first call that needs a
// connection.
type Client struct {
	publisher *session
	consumer  *session

	// lifetime ends when Close is called; every call's context is bound to
	// it so that Close interrupts whatever is waiting.
	lifetime    context.Context
	endLifetime context.CancelFunc
	closeOnce   sync.Once
	publishLock semaphore         // serialises Publish on the publisher channel
	publishCh   *publisherChannel // guarded by publishLock
	consumeLock semaphore         // serialises Consume and guards consumers
	consumers   map[string]*consumer
	redact      redactor
}

// New returns a Client for cfg. It does not connect: the first Declare,
// Publish or Consume does. A URL that does not parse makes every call fail
// with a *ConnectError.
func New(cfg Config) *Client {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	red := newRedactor(cfg.URL)
	lifetime, end := context.WithCancel(context.Background())
	c := &Client{
		lifetime:    lifetime,
		endLifetime: end,
		publishLock: newSemaphore(),
		consumeLock: newSemaphore(),
		consumers:   make(map[string]*consumer),
		redact:      red,
	}
	c.publisher = newSession(RolePublisher, cfg, red, log)
	c.consumer = newSession(RoleConsumer, cfg, red, log)
	return c
}

// Close closes both connections (which closes their channels and the
// delivery channels returned by Consume) and makes every later call return
// ErrClosed. Calls in progress are interrupted and return ErrClosed. Close
// is idempotent and safe to call concurrently with any other method; it
// returns within about a second even if the broker does not answer. Its
// error is always nil: a connection that does not close cleanly is closed
// anyway.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.endLifetime()
		var wg sync.WaitGroup
		for _, s := range []*session{c.publisher, c.consumer} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.close()
			}()
		}
		wg.Wait()
	})
	return nil
}

// Up reports whether the role's connection is currently open.
func (c *Client) Up(role Role) bool {
	switch role {
	case RolePublisher:
		return c.publisher.up()
	case RoleConsumer:
		return c.consumer.up()
	}
	return false
}

// Blocked reports whether the publisher connection is blocked by the broker
// (a memory or disk alarm), and the reason the broker gave, e.g. "low on
// memory". RabbitMQ blocks a connection when it next publishes after the
// alarm went off, so an idle publisher reads as not blocked.
func (c *Client) Blocked() (bool, string) {
	return c.publisher.blockedState()
}

// bind returns a context that ends when ctx does or when the Client is
// closed, whichever comes first; in the latter case its cause is ErrClosed.
func (c *Client) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	bound, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(c.lifetime, func() { cancel(ErrClosed) })
	return bound, func() {
		stop()
		cancel(context.Canceled)
	}
}

// closedErr returns ErrClosed if ctx (made by bind) ended because the
// Client was closed, and nil otherwise.
func closedErr(ctx context.Context) error {
	if ctx.Err() != nil && context.Cause(ctx) == ErrClosed {
		return ErrClosed
	}
	return nil
}

// ctxErr is the error for a ctx (made by bind) that ended: ErrClosed if
// Close ended it, else ctx's own error.
func ctxErr(ctx context.Context) error {
	if err := closedErr(ctx); err != nil {
		return err
	}
	return ctx.Err()
}

// semaphore is a mutex whose Lock gives up when a context ends.
type semaphore chan struct{}

func newSemaphore() semaphore { return make(semaphore, 1) }

func (s semaphore) lock(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s semaphore) unlock() { <-s }
