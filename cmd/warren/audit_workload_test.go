package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/internal/testenv/rabbittest"
)

// The workloads of the audit tests: real clients (amqp091-go) on a
// private node with an AMQPS listener. Every application connects over
// TLS as a user of its own with rights to its own objects only, with
// heartbeats, a client-provided name, confirms, persistent messages,
// manual acknowledgements and a prefetch, unless the test gives it one
// bad practice on purpose.

// auditBroker is a private node set up through its management API.
type auditBroker struct {
	*rabbittest.Node
	t *testing.T
}

func startAuditBroker(t *testing.T, extraConfig string) *auditBroker {
	t.Helper()
	return &auditBroker{Node: rabbittest.StartT(t, rabbittest.Options{TLS: true, ExtraConfig: extraConfig}), t: t}
}

// api makes a management API request as guest and decodes the answer
// into out (when not nil); any status but 2xx fails the test.
func (b *auditBroker) api(method, path string, body, out any) {
	b.t.Helper()
	var in io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			b.t.Fatal(err)
		}
		in = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.MgmtURL+"/api/"+path, in)
	if err != nil {
		b.t.Fatal(err)
	}
	req.SetBasicAuth("guest", "guest")
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		b.t.Fatalf("%s /api/%s: %s %s", method, path, resp.Status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			b.t.Fatalf("%s /api/%s: %v", method, path, err)
		}
	}
}

// appRights are an application user's permissions: its own exchanges and
// queues, and the default exchange.
const appRights = "^(orders|jobs|payments).*"

// appOptions change how an application connects.
type appOptions struct {
	heartbeat time.Duration
	plainText bool
	user      string // guest: connect as guest instead of a user of its own
}

// app connects an application called name: a user of its own (created
// here), TLS, a 10 s heartbeat, unless opts say otherwise.
func (b *auditBroker) app(name string, opts appOptions) *amqp.Connection {
	b.t.Helper()
	user, password := opts.user, "guest"
	if user == "" {
		user, password = name, "pw-"+name
		b.api(http.MethodPut, "users/"+url.PathEscape(user), map[string]string{"password": password, "tags": ""}, nil)
		b.api(http.MethodPut, "permissions/%2F/"+url.PathEscape(user), map[string]string{
			"configure": appRights, "write": appRights + `|^amq\.default$`, "read": appRights}, nil)
	}
	heartbeat := opts.heartbeat
	if heartbeat == 0 {
		heartbeat = 10 * time.Second
	}
	cfg := amqp.Config{Heartbeat: heartbeat, Properties: amqp.Table{"connection_name": name}, TLSClientConfig: b.TLSConfig()}
	addr := fmt.Sprintf("amqps://%s:%s@127.0.0.1:%d/", user, password, b.AMQPSPort)
	if opts.plainText {
		cfg.TLSClientConfig = nil
		addr = fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d/", user, password, b.AMQPPort)
	}
	conn, err := amqp.DialConfig(addr, cfg)
	if err != nil {
		b.t.Fatalf("%s connecting: %v", name, err)
	}
	b.t.Cleanup(func() { conn.Close() })
	return conn
}

// channel opens a channel on conn, in confirm mode if confirm.
func (b *auditBroker) channel(conn *amqp.Connection, confirm bool) *amqp.Channel {
	b.t.Helper()
	ch, err := conn.Channel()
	if err == nil && confirm {
		err = ch.Confirm(false)
	}
	if err != nil {
		b.t.Fatal(err)
	}
	return ch
}

// setup declares what the workload needs as guest, on a connection it
// closes: warren audits only what stays.
func (b *auditBroker) setup(declare func(ch *amqp.Channel) error) {
	b.t.Helper()
	conn, err := amqp.Dial(b.AMQPURL)
	if err != nil {
		b.t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		b.t.Fatal(err)
	}
	if err := declare(ch); err != nil {
		b.t.Fatal(err)
	}
}

// queues declares durable queues with their arguments.
func queues(ch *amqp.Channel, args map[string]amqp.Table) error {
	for name, a := range args {
		if _, err := ch.QueueDeclare(name, true, false, false, false, a); err != nil {
			return fmt.Errorf("declaring %s: %w", name, err)
		}
	}
	return nil
}

// publish publishes bodies to the default exchange's queue, with
// mandatory, and waits for every confirm of a confirming channel.
func (b *auditBroker) publish(ch *amqp.Channel, queue string, n int, mode uint8) {
	b.t.Helper()
	for i := range n {
		dc, err := ch.PublishWithDeferredConfirm("", queue, true, false, amqp.Publishing{Body: []byte(fmt.Sprintf("message %d", i)), DeliveryMode: mode})
		if err != nil {
			b.t.Fatal(err)
		}
		if ok, err := dc.WaitContext(b.t.Context()); err != nil || !ok {
			b.t.Fatalf("publish to %s not confirmed: %v", queue, err)
		}
	}
}

// consume consumes queue with manual acks and a prefetch of 10, and
// hands every delivery to handle.
func (b *auditBroker) consume(conn *amqp.Connection, queue string, handle func(amqp.Delivery)) {
	b.t.Helper()
	ch := b.channel(conn, false)
	if err := ch.Qos(10, 0, false); err != nil {
		b.t.Fatal(err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	go func() {
		for d := range deliveries {
			handle(d)
		}
	}()
}

// waitUntil polls cond until it returns "", or fails the test with the
// last thing it said it waits for.
func waitUntil(t *testing.T, timeout time.Duration, cond func() string) {
	t.Helper()
	last := ""
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if last = cond(); last == "" {
			return
		}
	}
	t.Fatalf("gave up after %v waiting for %s", timeout, last)
}

// queueStats are the fields of a queue the tests wait on.
type queueStats struct {
	Messages           int64 `json:"messages"`
	MessagesPersistent int64 `json:"messages_persistent"`
	MessagesUnacked    int64 `json:"messages_unacknowledged"`
	Consumers          int64 `json:"consumers"`
	MessageStats       struct {
		Publish    int64 `json:"publish"`
		DeliverGet int64 `json:"deliver_get"`
		Ack        int64 `json:"ack"`
		Redeliver  int64 `json:"redeliver"`
	} `json:"message_stats"`
}

func (b *auditBroker) queue(name string) queueStats {
	b.t.Helper()
	var q queueStats
	b.api(http.MethodGet, "queues/%2F/"+url.PathEscape(name), nil, &q)
	return q
}

// connections counts the broker's client connections.
func (b *auditBroker) connections() int {
	b.t.Helper()
	var cs []json.RawMessage
	b.api(http.MethodGet, "connections?columns=name", nil, &cs)
	return len(cs)
}

// statsSay is what a wait says of a queue whose statistics do not show
// the workload yet.
func statsSay(name string, q queueStats) string {
	return strings.TrimSpace(fmt.Sprintf("%s: %+v", name, q))
}
