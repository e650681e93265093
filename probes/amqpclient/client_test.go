package amqpclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestPublishIsConfirmedAndConsumedOnSeparateConnections(t *testing.T) {
	c := newClient(t, Config{})
	declareQueue(t, c, "separate-connections")

	deliveries, err := c.Consume(ctxTimeout(t, 10*time.Second), "separate-connections")
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	msg := message(t)
	conf, err := c.Publish(ctxTimeout(t, 10*time.Second), "", "separate-connections", msg)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if !conf.Acked || conf.Returned || conf.Latency <= 0 {
		t.Fatalf("confirmation %+v, want acked, not returned, positive latency", conf)
	}
	receive(t, deliveries, msg.Body)

	if !c.Up(RolePublisher) || !c.Up(RoleConsumer) {
		t.Fatalf("Up(publisher)=%v Up(consumer)=%v, want both up", c.Up(RolePublisher), c.Up(RoleConsumer))
	}
	pub := waitConnection(t, testName(t)+"/publisher")
	con := waitConnection(t, testName(t)+"/consumer")
	if pub.Name == con.Name {
		t.Fatalf("publisher and consumer share the connection %q", pub.Name)
	}
	if pub.Timeout != 10 || con.Timeout != 10 {
		t.Errorf("heartbeats %ds and %ds, want the default 10s", pub.Timeout, con.Timeout)
	}

	again, err := c.Consume(ctxTimeout(t, 10*time.Second), "separate-connections")
	if err != nil {
		t.Fatalf("second consume: %v", err)
	}
	if again != deliveries {
		t.Fatal("Consume on a healthy consumer returned a new delivery channel")
	}
}

func TestUnroutablePublishComesBackReturned(t *testing.T) {
	c := newClient(t, Config{})
	err := c.Declare(ctxTimeout(t, 10*time.Second), func(ch *amqp.Channel) error {
		return ch.ExchangeDeclare("unbound", "direct", false, false, false, false, nil)
	})
	if err != nil {
		t.Fatalf("declare exchange: %v", err)
	}
	for _, target := range []struct{ exchange, key string }{
		{"unbound", "nowhere"},         // exchange without bindings
		{"", "no-such-queue-anywhere"}, // default exchange, missing queue
	} {
		conf, err := c.Publish(ctxTimeout(t, 10*time.Second), target.exchange, target.key, message(t))
		if err != nil {
			t.Fatalf("publish to %+v: %v", target, err)
		}
		if !conf.Acked || !conf.Returned {
			t.Fatalf("publish to %+v: got %+v, want acked and returned", target, conf)
		}
	}
	// A routable message right after is not mistaken for a returned one.
	declareQueue(t, c, "routable")
	publishOK(t, c, "", "routable")
}

func TestPublishToMissingExchangeIsAChannelErrorAndTheNextPublishWorks(t *testing.T) {
	c := newClient(t, Config{})
	declareQueue(t, c, "after-channel-error")
	publishOK(t, c, "", "after-channel-error")

	_, err := c.Publish(ctxTimeout(t, 10*time.Second), "no-such-exchange", "x", message(t))
	var chErr *ChannelError
	if !errors.As(err, &chErr) || chErr.Code != amqp.NotFound {
		t.Fatalf("got %v, want a *ChannelError with code 404", err)
	}
	if !strings.Contains(chErr.Reason, "no-such-exchange") {
		t.Errorf("reason %q does not name the exchange", chErr.Reason)
	}
	if !c.Up(RolePublisher) {
		t.Fatal("a channel exception took the publisher connection down")
	}
	publishOK(t, c, "", "after-channel-error")
}

func TestDeclareReportsChannelExceptions(t *testing.T) {
	c := newClient(t, Config{})
	declareQueue(t, c, "declared-transient")

	err := c.Declare(ctxTimeout(t, 10*time.Second), func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare("declared-transient", true, false, false, false, nil)
		return err
	})
	var chErr *ChannelError
	if !errors.As(err, &chErr) || chErr.Code != amqp.PreconditionFailed {
		t.Fatalf("redeclare as durable: got %v, want a *ChannelError with code 406", err)
	}

	// fn keeps using the channel after the exception: the broker's reason
	// is reported, not amqp091's "channel/connection is not open".
	err = c.Declare(ctxTimeout(t, 10*time.Second), func(ch *amqp.Channel) error {
		ch.QueueDeclarePassive("no-such-queue", false, false, false, false, nil)
		return ch.ExchangeDeclare("never", "direct", false, false, false, false, nil)
	})
	if !errors.As(err, &chErr) || chErr.Code != amqp.NotFound {
		t.Fatalf("passive declare of a missing queue: got %v, want a *ChannelError with code 404", err)
	}

	sentinel := errors.New("caller's own error")
	err = c.Declare(ctxTimeout(t, 10*time.Second), func(*amqp.Channel) error { return sentinel })
	if !errors.Is(err, sentinel) {
		t.Fatalf("got %v, want fn's error back", err)
	}
}

func TestConsumeOnAMissingQueueIsAChannelError(t *testing.T) {
	c := newClient(t, Config{})
	_, err := c.Consume(ctxTimeout(t, 10*time.Second), "never-declared")
	var chErr *ChannelError
	if !errors.As(err, &chErr) || chErr.Code != amqp.NotFound {
		t.Fatalf("got %v, want a *ChannelError with code 404", err)
	}
	if !c.Up(RoleConsumer) {
		t.Fatal("a channel exception took the consumer connection down")
	}
	declareQueue(t, c, "declared-late")
	if _, err := c.Consume(ctxTimeout(t, 10*time.Second), "declared-late"); err != nil {
		t.Fatalf("consume on an existing queue: %v", err)
	}
}

func TestConsumeAfterTheBrokerCancelledTheConsumerStartsANewOne(t *testing.T) {
	c := newClient(t, Config{})
	declareQueue(t, c, "deleted-under-consumer")
	deliveries, err := c.Consume(ctxTimeout(t, 10*time.Second), "deleted-under-consumer")
	if err != nil {
		t.Fatal(err)
	}
	// Deleting the queue makes the broker cancel the consumer (basic.cancel);
	// amqp091 closes the delivery channel but keeps the AMQP channel open.
	err = c.Declare(ctxTimeout(t, 10*time.Second), func(ch *amqp.Channel) error {
		_, err := ch.QueueDelete("deleted-under-consumer", false, false, false)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-deliveries:
		if ok {
			t.Fatal("unexpected delivery")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the delivery channel stayed open after the broker cancelled the consumer")
	}
	declareQueue(t, c, "deleted-under-consumer")
	again, err := c.Consume(ctxTimeout(t, 10*time.Second), "deleted-under-consumer")
	if err != nil {
		t.Fatalf("consume again: %v", err)
	}
	if again == deliveries {
		t.Fatal("Consume returned the cancelled consumer's delivery channel")
	}
	msg := message(t)
	if _, err := c.Publish(ctxTimeout(t, 10*time.Second), "", "deleted-under-consumer", msg); err != nil {
		t.Fatal(err)
	}
	receive(t, again, msg.Body)
}

func TestWrongPasswordIsAnAuthConnectError(t *testing.T) {
	password := "Wr0ng-Pa55-" + fmt.Sprint(time.Now().UnixNano())
	c := newClient(t, Config{URL: urlWithPassword("guest", password, brokerHostPort(t), "")})
	_, err := c.Publish(ctxTimeout(t, 10*time.Second), "", "q", message(t))
	var connErr *ConnectError
	if !errors.As(err, &connErr) || !connErr.Auth {
		t.Fatalf("got %v, want a *ConnectError with Auth", err)
	}
	if connErr.Role != RolePublisher {
		t.Errorf("role %q, want publisher", connErr.Role)
	}
	if strings.Contains(err.Error(), password) {
		t.Fatalf("error contains the password: %v", err)
	}
	if c.Up(RolePublisher) {
		t.Fatal("Up(publisher) after a refused login")
	}
}

func TestVhostAccessRefusedIsAnAuthConnectError(t *testing.T) {
	n := broker(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	user, password, vhost := "novhost-"+suffix, "Pa55-"+suffix, "locked-"+suffix
	if err := n.AddUser(user, password); err != nil {
		t.Fatal(err)
	}
	if err := n.AddVhost(vhost); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, Config{URL: urlWithPassword(user, password, brokerHostPort(t), vhost)})
	_, err := c.Consume(ctxTimeout(t, 10*time.Second), "q")
	var connErr *ConnectError
	if !errors.As(err, &connErr) || !connErr.Auth || connErr.Role != RoleConsumer {
		t.Fatalf("got %v, want a consumer *ConnectError with Auth", err)
	}
	var amqpErr *amqp.Error
	if !errors.As(err, &amqpErr) || amqpErr.Code != amqp.NotAllowed {
		t.Fatalf("got %v, want it to wrap the broker's 530 NOT_ALLOWED", err)
	}
}

func TestResourcePermissionRefusalIsAChannelError(t *testing.T) {
	n := broker(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	user, password := "readonly-"+suffix, "Pa55-"+suffix
	if err := n.AddUser(user, password); err != nil {
		t.Fatal(err)
	}
	if err := n.SetPermissions("/", user, "^$", "^$", ".*"); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, Config{URL: urlWithPassword(user, password, brokerHostPort(t), "")})
	err := c.Declare(ctxTimeout(t, 10*time.Second), func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare("not-allowed-"+suffix, false, false, false, false, nil)
		return err
	})
	var chErr *ChannelError
	if !errors.As(err, &chErr) || chErr.Code != amqp.AccessRefused {
		t.Fatalf("got %v, want a *ChannelError with code 403", err)
	}
	var connErr *ConnectError
	if errors.As(err, &connErr) {
		t.Fatalf("a resource refusal was reported as a connection error: %v", err)
	}
}

func TestTLSConnectionUsesTheCallersConfig(t *testing.T) {
	broker(t)
	// Dial by IP and verify the certificate's name through ServerName.
	tlsURL := fmt.Sprintf("amqps://guest:guest@127.0.0.1:%d/", tlsPort)
	tlsConfig := &tls.Config{RootCAs: tlsCA, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	c := newClient(t, Config{URL: tlsURL, TLS: tlsConfig})
	declareQueue(t, c, "over-tls")
	deliveries, err := c.Consume(ctxTimeout(t, 10*time.Second), "over-tls")
	if err != nil {
		t.Fatalf("consume over TLS: %v", err)
	}
	msg := message(t)
	if _, err := c.Publish(ctxTimeout(t, 10*time.Second), "", "over-tls", msg); err != nil {
		t.Fatalf("publish over TLS: %v", err)
	}
	receive(t, deliveries, msg.Body)

	// amqp091 fills in an empty ServerName; that must not reach the
	// caller's config.
	shared := &tls.Config{RootCAs: tlsCA, MinVersion: tls.VersionTLS12}
	c2 := newClient(t, Config{URL: fmt.Sprintf("amqps://guest:guest@localhost:%d/", tlsPort), TLS: shared})
	if _, err := c2.Publish(ctxTimeout(t, 10*time.Second), "", "over-tls", message(t)); err != nil {
		t.Fatalf("publish over TLS to localhost: %v", err)
	}
	if shared.ServerName != "" {
		t.Fatalf("the caller's tls.Config was modified: ServerName=%q", shared.ServerName)
	}

	// Without the CA (system roots) the certificate is not trusted.
	c3 := newClient(t, Config{URL: tlsURL, TLS: &tls.Config{ServerName: "localhost", MinVersion: tls.VersionTLS12}})
	_, err = c3.Publish(ctxTimeout(t, 10*time.Second), "", "over-tls", message(t))
	var connErr *ConnectError
	if !errors.As(err, &connErr) || connErr.Auth {
		t.Fatalf("untrusted certificate: got %v, want a non-auth *ConnectError", err)
	}
}

func TestBlockedConnectionIsReported(t *testing.T) {
	n := broker(t)
	c := newClient(t, Config{})
	declareQueue(t, c, "blocked")
	publishOK(t, c, "", "blocked")

	t.Cleanup(func() {
		if _, err := n.Ctl("set_vm_memory_high_watermark", "0.4"); err != nil {
			t.Errorf("restoring the memory watermark: %v", err)
		}
	})
	if _, err := n.Ctl("set_vm_memory_high_watermark", "0.0000001"); err != nil {
		t.Fatal(err)
	}
	// RabbitMQ blocks a connection when it publishes after the alarm went
	// off, so the first publishes may still be confirmed.
	var err error
	eventually(t, 30*time.Second, "a publish to report ErrBlocked", func() bool {
		_, err = c.Publish(ctxTimeout(t, 2*time.Second), "", "blocked", message(t))
		return errors.Is(err, ErrBlocked)
	})
	blocked, reason := c.Blocked()
	if !blocked || reason == "" {
		t.Fatalf("Blocked() = %v, %q; want true with the broker's reason", blocked, reason)
	}
	t.Logf("blocked: %q; %v", reason, err)
	if !c.Up(RolePublisher) {
		t.Fatal("a blocked connection is reported down")
	}

	// Blocked at call time: no publish, no wait.
	start := time.Now()
	_, err = c.Publish(ctxTimeout(t, 10*time.Second), "", "blocked", message(t))
	if !errors.Is(err, ErrBlocked) || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("publish while blocked: %v after %v, want ErrBlocked at once", err, time.Since(start))
	}
	if err := c.Declare(ctxTimeout(t, 10*time.Second), func(*amqp.Channel) error { return nil }); !errors.Is(err, ErrBlocked) {
		t.Fatalf("declare while blocked: %v, want ErrBlocked", err)
	}
	// The consumer connection does not publish and is not blocked.
	if _, err := c.Consume(ctxTimeout(t, 10*time.Second), "blocked"); err != nil {
		t.Fatalf("consume while the publisher is blocked: %v", err)
	}

	if _, err := n.Ctl("set_vm_memory_high_watermark", "0.4"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the publisher to be unblocked", func() bool {
		blocked, _ := c.Blocked()
		return !blocked
	})
	publishOK(t, c, "", "blocked")
}

func TestClientReconnectsAfterBrokerRestart(t *testing.T) {
	n := broker(t)
	time.Sleep(200 * time.Millisecond) // let earlier tests' goroutines finish
	baseline := runtime.NumGoroutine()

	c := New(Config{URL: n.AMQPURL, Name: testName(t), MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})
	declareQueue(t, c, "restart")
	deliveries, err := c.Consume(ctxTimeout(t, 10*time.Second), "restart")
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	publishOK(t, c, "", "restart")

	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := n.Restart(); err != nil {
				t.Errorf("restarting the broker: %v", err)
			}
		}
	})
	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "both connections to be down", func() bool {
		return !c.Up(RolePublisher) && !c.Up(RoleConsumer)
	})
	_, err = c.Publish(ctxTimeout(t, 2*time.Second), "", "restart", message(t))
	var connErr *ConnectError
	if !errors.As(err, &connErr) || connErr.Auth {
		t.Fatalf("publish while the broker is down: %v, want a non-auth *ConnectError", err)
	}
	select {
	case _, ok := <-deliveries:
		if ok {
			t.Fatal("got a delivery from a dead broker")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the delivery channel stayed open after the connection died")
	}

	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	// The queue was not durable: declare it again, which reconnects.
	eventually(t, 30*time.Second, "a declare to succeed after the restart", func() bool {
		return c.Declare(ctxTimeout(t, 5*time.Second), func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("restart", false, false, false, false, nil)
			return err
		}) == nil
	})
	deliveries, err = c.Consume(ctxTimeout(t, 10*time.Second), "restart")
	if err != nil {
		t.Fatalf("consume after the restart: %v", err)
	}
	msg := message(t)
	if _, err := c.Publish(ctxTimeout(t, 10*time.Second), "", "restart", msg); err != nil {
		t.Fatalf("publish after the restart: %v", err)
	}
	receive(t, deliveries, msg.Body)

	c.Close()
	stableGoroutines(t, baseline)
}

func TestConsumerReconnectDoesNotTouchPublisher(t *testing.T) {
	c := newClient(t, Config{})
	declareQueue(t, c, "consumer-killed")
	deliveries, err := c.Consume(ctxTimeout(t, 10*time.Second), "consumer-killed")
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	msg := message(t)
	if _, err := c.Publish(ctxTimeout(t, 10*time.Second), "", "consumer-killed", msg); err != nil {
		t.Fatal(err)
	}
	receive(t, deliveries, msg.Body)

	pub := waitConnection(t, testName(t)+"/publisher")
	con := waitConnection(t, testName(t)+"/consumer")
	mgmt(t, http.MethodDelete, "/api/connections/"+url.PathEscape(con.Name), nil)

	eventually(t, 10*time.Second, "the consumer connection to be down", func() bool { return !c.Up(RoleConsumer) })
	select {
	case _, ok := <-deliveries:
		if ok {
			t.Fatal("unexpected delivery")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the delivery channel stayed open after its connection was closed")
	}
	if !c.Up(RolePublisher) {
		t.Fatal("closing the consumer connection took the publisher down")
	}
	// Publishes keep succeeding; this one waits in the queue.
	msg = message(t)
	if _, err := c.Publish(ctxTimeout(t, 10*time.Second), "", "consumer-killed", msg); err != nil {
		t.Fatalf("publish after the consumer connection was closed: %v", err)
	}

	deliveries, err = c.Consume(ctxTimeout(t, 10*time.Second), "consumer-killed")
	if err != nil {
		t.Fatalf("consume again: %v", err)
	}
	receive(t, deliveries, msg.Body)
	if got := waitConnection(t, testName(t)+"/publisher"); got.Name != pub.Name {
		t.Fatalf("publisher connection changed from %q to %q", pub.Name, got.Name)
	}
	if got := waitConnection(t, testName(t)+"/consumer"); got.Name == con.Name {
		t.Fatalf("consumer connection %q was not replaced", got.Name)
	}
}

func TestCancelDuringBackoffReturnsPromptly(t *testing.T) {
	// Nothing listens on the port, so every dial is refused at once.
	c := New(Config{URL: fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", freePort()),
		MinBackoff: 10 * time.Second, MaxBackoff: 20 * time.Second})
	defer c.Close()

	_, err := c.Publish(ctxTimeout(t, 5*time.Second), "", "q", message(t))
	var connErr *ConnectError
	if !errors.As(err, &connErr) || errors.Is(err, ErrBackoff) {
		t.Fatalf("first publish: %v, want a dial *ConnectError", err)
	}

	// The next dial is 5-10s away. A caller without a deadline waits for
	// it, and its cancellation ends the wait.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err = c.Publish(ctx, "", "q", message(t))
	elapsed := time.Since(start)
	if !errors.As(err, &connErr) || !errors.Is(err, context.Canceled) || !errors.Is(err, ErrBackoff) {
		t.Fatalf("cancelled publish: %v, want a *ConnectError wrapping context.Canceled and ErrBackoff", err)
	}
	if !strings.Contains(err.Error(), "refused") {
		t.Errorf("error %q does not carry the last dial failure", err)
	}
	if elapsed < 190*time.Millisecond {
		t.Fatalf("returned after %v, before the cancellation: it did not wait for the backoff", elapsed)
	}
	if elapsed > time.Second {
		t.Fatalf("returned %v after the cancellation, want well under a second", elapsed-200*time.Millisecond)
	}

	// A caller whose deadline comes before the next dial fails at once.
	start = time.Now()
	_, err = c.Publish(ctxTimeout(t, time.Second), "", "q", message(t))
	elapsed = time.Since(start)
	if !errors.As(err, &connErr) || !errors.Is(err, ErrBackoff) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("publish with a short deadline: %v, want an immediate ErrBackoff *ConnectError", err)
	}
	if elapsed > 100*time.Millisecond {
		t.Fatalf("publish with a deadline before the next dial waited %v", elapsed)
	}
}

func TestCancelAbortsDialInProgress(t *testing.T) {
	addr := silentListener(t)
	c := New(Config{URL: "amqp://guest:guest@" + addr + "/", DialTimeout: time.Minute})
	defer c.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Publish(ctx, "", "q", message(t))
	elapsed := time.Since(start)
	var connErr *ConnectError
	if !errors.As(err, &connErr) || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want a *ConnectError wrapping context.Canceled", err)
	}
	if elapsed < 190*time.Millisecond || elapsed > time.Second {
		t.Fatalf("returned after %v, want shortly after the 200ms cancellation", elapsed)
	}

	// An interrupted dial is not the broker's failure: no backoff follows.
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = c.Publish(ctx, "", "q", message(t))
	if errors.Is(err, ErrBackoff) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second publish: %v, want a dial interrupted by the deadline", err)
	}
}

func TestDialTimeoutBoundsAHandshakeThatNeverCompletes(t *testing.T) {
	addr := silentListener(t)
	c := New(Config{URL: "amqp://guest:guest@" + addr + "/", DialTimeout: 300 * time.Millisecond})
	defer c.Close()
	start := time.Now()
	_, err := c.Publish(ctxTimeout(t, 10*time.Second), "", "q", message(t))
	elapsed := time.Since(start)
	var connErr *ConnectError
	if !errors.As(err, &connErr) || connErr.Auth || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a non-auth *ConnectError from the dial timeout", err)
	}
	if elapsed < 290*time.Millisecond || elapsed > 2*time.Second {
		t.Fatalf("returned after %v, want about the 300ms dial timeout", elapsed)
	}
}

func TestCloseInterruptsWaitingCallsAndIsIdempotent(t *testing.T) {
	c := New(Config{URL: fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", freePort()),
		MinBackoff: 10 * time.Second, MaxBackoff: 20 * time.Second})
	if _, err := c.Publish(ctxTimeout(t, 5*time.Second), "", "q", message(t)); err == nil {
		t.Fatal("publish to a closed port succeeded")
	}
	result := make(chan error, 1)
	go func() {
		_, err := c.Consume(context.Background(), "q") // the consumer has its own backoff: dials and fails
		if err == nil {
			result <- errors.New("consume succeeded")
			return
		}
		_, err = c.Publish(context.Background(), "", "q", message(t)) // waits for the publisher's backoff
		result <- err
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case err := <-result:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("interrupted publish: %v, want ErrClosed", err)
		}
	case <-time.After(time.Second):
		t.Fatal("a publish waiting for a backoff did not return within a second of Close")
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("Close took %v", elapsed)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := c.Publish(context.Background(), "", "q", message(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close: %v, want ErrClosed", err)
	}
	if _, err := c.Consume(context.Background(), "q"); !errors.Is(err, ErrClosed) {
		t.Fatalf("consume after close: %v, want ErrClosed", err)
	}
	if err := c.Declare(context.Background(), func(*amqp.Channel) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("declare after close: %v, want ErrClosed", err)
	}
}

func TestCloseOfAHealthyClientClosesItsConnections(t *testing.T) {
	n := broker(t)
	time.Sleep(200 * time.Millisecond)
	baseline := runtime.NumGoroutine()
	c := New(Config{URL: n.AMQPURL, Name: testName(t)})
	declareQueue(t, c, "closing")
	deliveries, err := c.Consume(ctxTimeout(t, 10*time.Second), "closing")
	if err != nil {
		t.Fatal(err)
	}
	publishOK(t, c, "", "closing")
	c.Close()
	if c.Up(RolePublisher) || c.Up(RoleConsumer) {
		t.Fatal("connections up after Close")
	}
	for range deliveries { // drains, and ends once Close closed the channel
	}
	stableGoroutines(t, baseline)
	eventually(t, 15*time.Second, "the broker to drop the connections", func() bool {
		return len(connectionsNamed(t, testName(t)+"/publisher"))+len(connectionsNamed(t, testName(t)+"/consumer")) == 0
	})
}
