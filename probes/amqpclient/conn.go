package amqpclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// session owns one role's connection: it dials on demand, enforces the
// reconnect backoff, and tracks whether the connection is open and blocked.
type session struct {
	role    Role
	name    string // connection_name client property
	cfg     Config
	redact  redactor
	log     *slog.Logger
	backoff backoff
	// addr is host:port from the URL, safe to show; uriErr is set when the
	// URL does not parse, and then every connect fails with it.
	addr   string
	uriErr error
	// dialLock makes concurrent callers wait for one dial instead of
	// dialling in parallel.
	dialLock semaphore

	mu            sync.Mutex
	conn          *amqp.Connection // nil when never connected or known lost
	blocked       bool
	blockedReason string
	failures      int           // consecutive failed dials
	nextDial      time.Time     // no dial before this (backoff)
	lastFailure   *ConnectError // why the last dial failed
	closed        bool          // Close was called
}

func newSession(role Role, cfg Config, redact redactor, log *slog.Logger) *session {
	s := &session{
		role:     role,
		name:     cfg.Name + "/" + string(role),
		cfg:      cfg,
		redact:   redact,
		backoff:  newBackoff(cfg.MinBackoff, cfg.MaxBackoff),
		dialLock: newSemaphore(),
	}
	if uri, err := amqp.ParseURI(cfg.URL); err != nil {
		s.uriErr = invalidURLError(err, redact)
	} else {
		s.addr = net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port))
	}
	s.log = log.With("role", string(role), "connection_name", s.name, "addr", s.addr)
	return s
}

// invalidURLError describes a URL that does not parse. net/url quotes the
// whole URL in its errors, and when the URL is malformed the redactor cannot
// be sure where the password ends, so such errors are replaced by a generic
// hint rather than redacted.
func invalidURLError(err error, redact redactor) error {
	if redact.string(err.Error()) != err.Error() {
		return errors.New("invalid AMQP URL (not shown, it holds credentials): check the scheme, host and port, " +
			"and percent-encode reserved characters in the user name and password")
	}
	return fmt.Errorf("invalid AMQP URL: %w", err)
}

func (s *session) up() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil && !s.conn.IsClosed()
}

func (s *session) blockedState() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocked, s.blockedReason
}

// connection returns the open connection, dialling a new one if there is
// none. If the last dial failed, the next one waits for the backoff: the
// call waits too, unless ctx's deadline falls before the backoff ends, in
// which case it fails at once rather than wait for nothing. ctx must come
// from Client.bind.
func (s *session) connection(ctx context.Context) (*amqp.Connection, error) {
	if err := s.dialLock.lock(ctx); err != nil {
		return nil, s.interrupted(ctx, "waiting for another dial", nil)
	}
	defer s.dialLock.unlock()

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if s.uriErr != nil {
		s.mu.Unlock()
		return nil, &ConnectError{Role: s.role, Err: s.uriErr}
	}
	if s.conn != nil && !s.conn.IsClosed() {
		conn := s.conn
		s.mu.Unlock()
		return conn, nil
	}
	nextDial, lastFailure := s.nextDial, s.lastFailure
	s.mu.Unlock()

	if wait := time.Until(nextDial); wait > 0 {
		if deadline, ok := ctx.Deadline(); ok && deadline.Before(nextDial) {
			return nil, &ConnectError{Role: s.role, Auth: lastFailure.Auth,
				Err: fmt.Errorf("%w: next dial in %v, after the caller's deadline; last failure: %w",
					ErrBackoff, wait.Round(time.Millisecond), lastFailure.Err)}
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, s.interrupted(ctx, "waiting to reconnect", lastFailure)
		}
	}

	conn, err := s.dial(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up, the broker did not fail: no backoff.
			return nil, s.interrupted(ctx, "dialling "+s.addr, nil)
		}
		return nil, s.recordFailure(err)
	}
	return s.adopt(conn)
}

// interrupted builds the error for a ctx that ended while connection()
// waited. It is still a *ConnectError, so that callers count it as a
// connection problem, and it satisfies errors.Is for the ctx error (and for
// ErrBackoff and the last dial failure when it was waiting for a backoff).
func (s *session) interrupted(ctx context.Context, what string, lastFailure *ConnectError) error {
	if err := closedErr(ctx); err != nil {
		return err
	}
	if lastFailure == nil {
		return &ConnectError{Role: s.role, Err: fmt.Errorf("%s: %w", what, ctx.Err())}
	}
	return &ConnectError{Role: s.role, Auth: lastFailure.Auth,
		Err: fmt.Errorf("%w while %w; last failure: %w", ctx.Err(), ErrBackoff, lastFailure.Err)}
}

// recordFailure counts a failed dial, schedules the next one and returns
// the caller's error.
func (s *session) recordFailure(err error) *ConnectError {
	cerr := &ConnectError{Role: s.role, Auth: isAuthRefusal(err), Err: s.redact.error(err)}
	s.mu.Lock()
	s.failures++
	delay := s.backoff.delay(s.failures)
	s.nextDial = time.Now().Add(delay)
	s.lastFailure = cerr
	failures := s.failures
	s.mu.Unlock()
	s.log.Warn("amqp connect failed", "error", cerr.Err.Error(), "auth", cerr.Auth,
		"failures", failures, "retry_in", delay.Round(time.Millisecond))
	return cerr
}

// adopt makes a freshly dialled connection the session's connection and
// starts watching it.
func (s *session) adopt(conn *amqp.Connection) (*amqp.Connection, error) {
	// Register before publishing conn to callers so that no close or block
	// notification is missed. If conn already died, NotifyClose returns a
	// closed channel and the watcher forgets conn at once.
	closes := conn.NotifyClose(make(chan *amqp.Error, 1))
	blocks := conn.NotifyBlocked(make(chan amqp.Blocking, 4))

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.CloseDeadline(time.Now().Add(closeTimeout))
		return nil, ErrClosed
	}
	s.conn = conn
	s.blocked, s.blockedReason = false, ""
	s.failures, s.nextDial, s.lastFailure = 0, time.Time{}, nil
	s.mu.Unlock()
	s.log.Info("amqp connected")

	go s.watch(conn, closes, blocks)
	return conn, nil
}

// watch follows conn's close and blocked notifications until conn is
// closed; amqp091 closes both listener channels then, which ends it.
// Draining them promptly matters: amqp091 delivers them from the
// connection's reader goroutine.
func (s *session) watch(conn *amqp.Connection, closes <-chan *amqp.Error, blocks <-chan amqp.Blocking) {
	for closes != nil || blocks != nil {
		select {
		case err, ok := <-closes:
			if !ok {
				closes = nil
				s.forget(conn)
				continue
			}
			s.log.Warn("amqp connection lost", "error", s.redact.error(err).Error())
			s.forget(conn)
		case b, ok := <-blocks:
			if !ok {
				blocks = nil
				continue
			}
			s.mu.Lock()
			if s.conn == conn {
				s.blocked, s.blockedReason = b.Active, b.Reason
			}
			s.mu.Unlock()
			if b.Active {
				s.log.Warn("amqp connection blocked by the broker", "reason", b.Reason)
			} else {
				s.log.Info("amqp connection unblocked")
			}
		}
	}
}

// forget drops conn if it is still the session's connection.
func (s *session) forget(conn *amqp.Connection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == conn {
		s.conn = nil
		s.blocked, s.blockedReason = false, ""
	}
}

// close closes the connection, if any, and refuses new ones.
func (s *session) close() {
	s.mu.Lock()
	s.closed = true
	conn := s.conn
	s.mu.Unlock()
	if conn != nil {
		// CloseDeadline, not Close: a blocked connection is not read by the
		// broker, and Close would wait for a close-ok that never comes.
		if err := conn.CloseDeadline(time.Now().Add(closeTimeout)); err != nil && !errors.Is(err, amqp.ErrClosed) {
			s.log.Debug("amqp close", "error", s.redact.error(err).Error())
		}
	}
}

// dial opens a connection, bounded by ctx and DialTimeout. amqp091's
// DialConfig takes no context, so:
//   - TCP connect uses net.Dialer.DialContext with the dial context;
//   - the socket gets the dial deadline, which bounds the TLS and AMQP
//     handshakes (amqp091 clears it once the connection is open);
//   - if the dial context ends during the handshakes, the socket is closed,
//     which makes DialConfig return at once.
func (s *session) dial(ctx context.Context) (*amqp.Connection, error) {
	dialCtx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()

	var mu sync.Mutex
	var raw net.Conn
	abort := false
	closeRaw := func() {
		mu.Lock()
		defer mu.Unlock()
		abort = true
		if raw != nil {
			raw.Close()
		}
	}
	stopAbort := context.AfterFunc(dialCtx, closeRaw)

	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(s.name)
	var tlsConfig *tls.Config
	if s.cfg.TLS != nil {
		// amqp091 writes ServerName into the config it is given; never
		// into the caller's.
		tlsConfig = s.cfg.TLS.Clone()
	}
	conn, err := amqp.DialConfig(s.cfg.URL, amqp.Config{
		Heartbeat:       s.cfg.Heartbeat,
		TLSClientConfig: tlsConfig,
		Properties:      props,
		Locale:          "en_US",
		Dial: func(network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(dialCtx, network, addr)
			if err != nil {
				return nil, err
			}
			deadline, _ := dialCtx.Deadline()
			if err := c.SetDeadline(deadline); err != nil {
				c.Close()
				return nil, err
			}
			mu.Lock()
			defer mu.Unlock()
			if abort {
				c.Close()
				return nil, dialCtx.Err()
			}
			raw = c
			return c, nil
		},
	})
	aborted := !stopAbort()
	if err != nil {
		closeRaw() // amqp091 leaves the socket open after some handshake failures
		if deadline, _ := dialCtx.Deadline(); !time.Now().Before(deadline) {
			// The socket's deadline fired. It is the same instant as the
			// dial context's, whose timer may not have run yet: wait for it,
			// so that callers can tell their own deadline from DialTimeout.
			<-dialCtx.Done()
		}
		if dialCtx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("dial %s: no AMQP handshake within %v: %w", s.addr, s.cfg.DialTimeout, err)
		}
		return nil, err
	}
	if aborted {
		// The dial context ended just as the handshake finished; the socket
		// is being closed under conn.
		conn.CloseDeadline(time.Now())
		if ctx.Err() == nil {
			return nil, fmt.Errorf("dial %s: no AMQP handshake within %v", s.addr, s.cfg.DialTimeout)
		}
		return nil, ctx.Err()
	}
	return conn, nil
}
