package amqpclient

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Sentinel errors. Callers classify a failed call with errors.Is and
// errors.As; because some errors wrap more than one cause (a confirm that
// timed out on a blocked connection is both ErrBlocked and
// context.DeadlineExceeded), classify in this order:
//
//  1. ErrClosed: the Client was closed.
//  2. ErrBlocked: the broker is refusing publishes (resource alarm).
//  3. ErrConfirmTimeout: published, but no confirm before ctx ended.
//  4. *ConnectError (Auth true): the broker refused the credentials or vhost.
//  5. *ConnectError: the connection could not be (re)established, including
//     a ctx that ended while waiting for a reconnect backoff or a dial.
//  6. *ChannelError: a channel exception (missing exchange or queue, ...).
var (
	// ErrBlocked means the publisher connection is blocked by the broker
	// (memory or disk alarm). Publish returns it without publishing when the
	// connection is already blocked at call time, because a blocked
	// connection is not read by the broker and the publish could only wait
	// for ctx; and it returns it (wrapping the ctx error) when ctx ends while
	// waiting for a confirm on a connection that became blocked meanwhile.
	// Declare returns it at call time for the same reason.
	ErrBlocked = errors.New("amqpclient: publisher connection blocked by the broker")

	// ErrConfirmTimeout means the message was handed to the broker but ctx
	// ended before its publisher confirm arrived, and the connection was not
	// blocked. The ctx error is wrapped too.
	ErrConfirmTimeout = errors.New("amqpclient: no publisher confirm before the context ended")

	// ErrBackoff is wrapped in a *ConnectError when a call needed a
	// connection that is in its reconnect backoff: either the caller's
	// deadline falls before the next dial may start (the call returns at
	// once), or ctx ended while waiting for it.
	ErrBackoff = errors.New("amqpclient: waiting to reconnect")

	// ErrClosed is returned by every call made after, or interrupted by,
	// Client.Close.
	ErrClosed = errors.New("amqpclient: client closed")
)

// ConnectError means a connection could not be established: the dial, the
// TLS handshake or the AMQP handshake failed, timed out or was interrupted,
// or the connection was lost while a call used it. Its message never holds
// the URL or the password.
type ConnectError struct {
	Role Role // which connection: publisher or consumer
	// Auth is true when the broker refused the login (ACCESS_REFUSED, 403)
	// or access to the vhost (NOT_ALLOWED, 530) while opening the
	// connection. Retrying will not help until the credentials or
	// permissions change.
	Auth bool
	Err  error // the cause, already stripped of secrets
}

func (e *ConnectError) Error() string {
	what := "connection failed"
	if e.Auth {
		what = "connection refused by the broker (authentication or vhost access)"
	}
	return fmt.Sprintf("amqpclient: %s %s: %v", e.Role, what, e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// ChannelError is a channel-level exception raised by the broker, which
// closed the channel but not the connection: 404 NOT_FOUND (no such exchange
// or queue), 406 PRECONDITION_FAILED (redeclared with other arguments), 403
// ACCESS_REFUSED (no permission on the resource), and so on.
type ChannelError struct {
	Code   int    // AMQP reply code, e.g. 404
	Reason string // the broker's reply text, e.g. "NOT_FOUND - no exchange 'x' in vhost '/'"
}

func (e *ChannelError) Error() string {
	return fmt.Sprintf("amqpclient: channel exception %d: %s", e.Code, e.Reason)
}

// isAuthRefusal reports whether an error returned while opening a
// connection means the broker refused the login or the vhost. amqp091
// reports a refused login as amqp.ErrCredentials (or the broker's own 403
// connection.close) and a refused vhost as the broker's 530 NOT_ALLOWED.
// A 530 for a reached connection limit is not an authentication problem.
func isAuthRefusal(err error) bool {
	var amqpErr *amqp.Error
	if !errors.As(err, &amqpErr) {
		return false
	}
	switch amqpErr.Code {
	case amqp.AccessRefused:
		return true
	case amqp.NotAllowed:
		return !strings.Contains(strings.ToLower(amqpErr.Reason), "limit")
	}
	return false
}

// redactor strips credentials out of error texts. amqp091 and net/url put
// the whole URL into some errors (a URL that does not parse, for one), and
// warren logs and exports error messages, so every error that leaves this
// package passes through it.
type redactor struct {
	secrets []string // longest first, so a URL is replaced before its password
}

const redacted = "xxxxx"

func newRedactor(rawURL string) redactor {
	var secrets []string
	add := func(s string) {
		if s != "" {
			secrets = append(secrets, s)
			// net/url quotes the URL in its errors with %q.
			if quoted := strconv.Quote(s); quoted[1:len(quoted)-1] != s {
				secrets = append(secrets, quoted[1:len(quoted)-1])
			}
		}
	}
	add(rawURL)
	if u, err := url.Parse(rawURL); err == nil && u.User != nil {
		add(u.User.String()) // user:password as written in the URL
		if pw, ok := u.User.Password(); ok {
			add(pw)
			add(url.QueryEscape(pw))
			add(url.PathEscape(pw))
		}
	} else {
		// The URL does not parse, so take the password by hand: whatever
		// sits between the first ':' after "scheme://" and the last '@'
		// before the path.
		rest := rawURL
		if i := strings.Index(rest, "://"); i >= 0 {
			rest = rest[i+3:]
		}
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			userinfo := rest[:at]
			add(userinfo)
			if _, pw, ok := strings.Cut(userinfo, ":"); ok {
				add(pw)
				if unescaped, err := url.PathUnescape(pw); err == nil {
					add(unescaped)
				}
			}
		}
	}
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	return redactor{secrets: secrets}
}

func (r redactor) string(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, redacted)
	}
	return s
}

// error returns err unchanged when its message holds no secret, so callers
// can still unwrap it (to *amqp.Error, *net.OpError, context errors).
// Otherwise it returns a plain error with the cleaned message and drops the
// original, so that nothing reachable from the result holds the secret.
func (r redactor) error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := r.string(msg); clean != msg {
		return errors.New(clean)
	}
	return err
}

// channelFailure turns the error of an operation on a channel of conn into
// the error a caller should see. closeErr is what the channel's NotifyClose
// listener received, if anything: the broker's channel.close or the
// connection's shutdown reason, which explains a later amqp.ErrClosed
// better than ErrClosed itself does.
func channelFailure(ctx context.Context, role Role, redact redactor, conn *amqp.Connection, closeErr *amqp.Error, err error) error {
	if e := closedErr(ctx); e != nil {
		return e
	}
	if conn.IsClosed() {
		cause := err
		if closeErr != nil {
			cause = closeErr
		}
		return &ConnectError{Role: role, Err: fmt.Errorf("connection lost: %w", redact.error(cause))}
	}
	if closeErr != nil {
		return &ChannelError{Code: closeErr.Code, Reason: redact.string(closeErr.Reason)}
	}
	var amqpErr *amqp.Error
	if errors.As(err, &amqpErr) && amqpErr.Server {
		return &ChannelError{Code: amqpErr.Code, Reason: redact.string(amqpErr.Reason)}
	}
	return redact.error(err)
}
