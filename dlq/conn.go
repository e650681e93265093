package dlq

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Broker is where the tool connects: an AMQP URL (with credentials and
// vhost) and, for amqps, its TLS settings. The URL never appears in an
// error or on the terminal.
type Broker struct {
	URL  string
	TLS  *tls.Config
	Name string // connection_name prefix, shown in the management UI
}

// dialTimeout bounds the TCP connect and the AMQP handshake.
const dialTimeout = 10 * time.Second

// dial opens one connection for role ("reader" or "publisher"). It
// returns early when ctx ends; amqp091's handshake takes no context, so
// a connection that completes after that is closed.
func (b Broker) dial(ctx context.Context, role string) (*amqp.Connection, error) {
	uri, err := amqp.ParseURI(b.URL)
	if err != nil {
		return nil, errors.New("the AMQP URL is not valid") // the parser's error may quote it
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(b.Name + "/" + role)
	cfg := amqp.Config{
		Heartbeat:       10 * time.Second,
		Properties:      props,
		TLSClientConfig: b.TLS,
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: dialTimeout}
			conn, err := d.DialContext(ctx, network, addr)
			if err == nil {
				err = conn.SetDeadline(time.Now().Add(dialTimeout))
			}
			return conn, err
		},
	}
	type result struct {
		conn *amqp.Connection
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := amqp.DialConfig(b.URL, cfg)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("connecting to %s as %s: %w", uri.Host, role, redact(r.err, uri))
		}
		return r.conn, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.conn != nil {
				r.conn.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// redact drops an error that quotes the password; amqp091's errors do not,
// but a wrapped net error could quote the address, which is fine.
func redact(err error, uri amqp.URI) error {
	if uri.Password != "" && strings.Contains(err.Error(), uri.Password) {
		return errors.New("connection failed (details withheld: they quote the password)")
	}
	return err
}
