package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// OutboxSchema creates the table outbox in database db (as the
// superuser): created_at, dispatched_at (NULL while pending), event_type
// and a payload, with the two indexes docs/outbox.md recommends.
const OutboxSchema = `CREATE TABLE outbox (
	id bigserial PRIMARY KEY,
	created_at timestamptz NOT NULL DEFAULT now(),
	dispatched_at timestamptz,
	event_type text NOT NULL,
	payload text NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox (event_type, created_at) WHERE dispatched_at IS NULL;
CREATE INDEX outbox_dispatched ON outbox (dispatched_at) INCLUDE (created_at, event_type);`

// OutboxDB creates database db with OutboxSchema and returns a file, in
// t's temporary directory, holding the DSN warren reads it with (an
// outbox's dsn_file).
func (c *Cluster) OutboxDB(t testing.TB, db string) (dsnFile string) {
	t.Helper()
	c.Exec(t, "postgres", "CREATE DATABASE "+db)
	c.Exec(t, db, OutboxSchema)
	dsnFile = filepath.Join(t.TempDir(), db+".dsn")
	if err := os.WriteFile(dsnFile, []byte(c.DSN(Superuser, db)), 0o600); err != nil {
		t.Fatal(err)
	}
	return dsnFile
}

// Connect opens a connection as the superuser to db, closed when t ends.
func (c *Cluster) Connect(t testing.TB, db string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN(Superuser, db))
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", db, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Exec runs sql on db as the superuser and fails t on error.
func (c *Cluster) Exec(t testing.TB, db, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN(Superuser, db))
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", db, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

// Flow is one event type a Dispatcher writes: a row every Every, each
// dispatched Delay after it was written (dispatched_at = created_at +
// Delay exactly, so the latency is known).
type Flow struct {
	EventType string
	Every     time.Duration
	Delay     time.Duration
}

// Dispatcher writes rows into an outbox table and dispatches them, the
// way a publisher and an outbox relay do: each write and each dispatch
// is its own transaction. OnDispatch, if set, is called for every
// dispatched row, inside the dispatch loop (to publish it).
type Dispatcher struct {
	conn       *pgx.Conn // writer
	relay      *pgx.Conn // dispatcher
	flows      []Flow
	OnDispatch func(id int64, eventType string, createdAt time.Time)

	mu                 sync.Mutex
	stopWrite, stopDis context.CancelFunc
	writeDone, disDone chan struct{}
}

// NewDispatcher returns a dispatcher for the outbox table of db; Start
// starts it.
func (c *Cluster) NewDispatcher(t testing.TB, db string, flows ...Flow) *Dispatcher {
	d := &Dispatcher{conn: c.Connect(t, db), relay: c.Connect(t, db), flows: flows}
	t.Cleanup(d.Stop)
	return d
}

// Start starts writing and dispatching.
func (d *Dispatcher) Start() {
	d.StartWriting()
	d.StartDispatching()
}

// StartWriting starts the writer: one row per flow every Flow.Every.
func (d *Dispatcher) StartWriting() {
	var mu sync.Mutex // one pgx.Conn: one statement at a time
	d.start(&d.stopWrite, &d.writeDone, func(ctx context.Context) {
		var wg sync.WaitGroup
		for _, f := range d.flows {
			wg.Go(func() {
				every(ctx, f.Every, func() {
					mu.Lock()
					defer mu.Unlock()
					d.conn.Exec(statementContext(ctx), "INSERT INTO outbox (event_type) VALUES ($1)", f.EventType)
				})
			})
		}
		wg.Wait()
	})
}

// StartDispatching starts the relay: every 10 ms it dispatches the rows
// whose delay has passed.
func (d *Dispatcher) StartDispatching() {
	d.start(&d.stopDis, &d.disDone, func(ctx context.Context) {
		every(ctx, 10*time.Millisecond, func() {
			for _, f := range d.flows {
				d.dispatch(ctx, f)
			}
		})
	})
}

// start runs run in a goroutine until the cancel function it stores in
// cancel is called; done is closed when run returns.
func (d *Dispatcher) start(cancel *context.CancelFunc, done *chan struct{}, run func(context.Context)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ctx, stop := context.WithCancel(context.Background())
	finished := make(chan struct{})
	*cancel, *done = stop, finished
	go func() {
		defer close(finished)
		run(ctx)
	}()
}

// statementContext is the context of one statement of a writer or relay
// running under ctx: never cancelled by ctx, because pgx closes a
// connection whose statement is cancelled, and a writer or relay stopped
// and started again would then fail every statement on it. Stopping
// waits for the statement under way.
func statementContext(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}

// every calls fn every period until ctx is done.
func every(ctx context.Context, period time.Duration, fn func()) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fn()
		}
	}
}

func (d *Dispatcher) dispatch(ctx context.Context, f Flow) {
	delay := fmt.Sprintf("%d microseconds", f.Delay.Microseconds())
	rows, err := d.relay.Query(statementContext(ctx), `UPDATE outbox SET dispatched_at = created_at + $2::interval
		WHERE dispatched_at IS NULL AND event_type = $1 AND created_at <= now() - $2::interval
		RETURNING id, created_at`, f.EventType, delay)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var created time.Time
		if rows.Scan(&id, &created) == nil && d.OnDispatch != nil {
			d.OnDispatch(id, f.EventType, created)
		}
	}
}

// StopWriting stops the writer and waits for it.
func (d *Dispatcher) StopWriting() { d.stop(&d.stopWrite, &d.writeDone) }

// StopDispatching stops the relay, like a dispatcher that died.
func (d *Dispatcher) StopDispatching() { d.stop(&d.stopDis, &d.disDone) }

// Stop stops both.
func (d *Dispatcher) Stop() {
	d.StopWriting()
	d.StopDispatching()
}

func (d *Dispatcher) stop(cancel *context.CancelFunc, done *chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if *cancel != nil {
		(*cancel)()
		<-*done
		*cancel, *done = nil, nil
	}
}
