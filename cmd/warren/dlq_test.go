package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/internal/testenv/rabbittest"
)

// dlqBroker is a private node holding n dead letters in orders.dlq,
// rejected by a failing consumer of orders.work.
func deadLetterBroker(t *testing.T, n int) (*rabbittest.Node, *amqp.Channel) {
	t.Helper()
	node := rabbittest.StartT(t, rabbittest.Options{})
	conn, ch := node.Channel(t, "/")
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(ch.ExchangeDeclare("orders.dlx", "fanout", true, false, false, false, nil))
	_, err := ch.QueueDeclare("orders.dlq", true, false, false, false, nil)
	check(err)
	check(ch.QueueBind("orders.dlq", "", "orders.dlx", false, nil))
	_, err = ch.QueueDeclare("orders.work", true, false, false, false, amqp.Table{"x-dead-letter-exchange": "orders.dlx"})
	check(err)
	for i := range n {
		check(ch.PublishWithContext(context.Background(), "", "orders.work", false, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent, MessageId: fmt.Sprintf("order-%d", i), ContentType: "application/json",
			Body: []byte(`{"event_type":"order.paid"}`),
		}))
	}
	nacker, err := conn.Channel()
	check(err)
	deliveries, err := nacker.Consume("orders.work", "", false, false, false, false, nil)
	check(err)
	go func() {
		for d := range deliveries {
			d.Nack(false, false)
		}
	}()
	waitMessages(t, ch, "orders.dlq", n)
	nacker.Close()
	return node, ch
}

func waitMessages(t *testing.T, ch *amqp.Channel, queue string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d messages, want %d", queue, q.Messages, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDlqCommandsInspectDryRunRefuseAndForceAReplay(t *testing.T) {
	t.Parallel()
	node, ch := deadLetterBroker(t, 20)
	url := node.AMQPURL

	stdout, stderr, code := runBuiltWarren(t, "dlq", "--amqp-url", url, "inspect", "orders.dlq", "--show", "1", "--max-body", "5")
	if code != exitOK || !strings.Contains(stdout, "read 20 of 20") || !strings.Contains(stdout, "  20 rejected from orders.work, event_type order.paid, first died ") ||
		!strings.Contains(stdout, `body (27 bytes): "{\"eve" … (22 bytes more)`) {
		t.Fatalf("inspect: exit %d\n%s%s", code, stdout, stderr)
	}
	waitMessages(t, ch, "orders.dlq", 20)

	// The management API's depths lag by its statistics interval.
	listed := regexp.MustCompile(`(?m)^/ +orders\.dlq +20 +\S+ +topology +orders\.work$`)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		stdout, stderr, code = runBuiltWarren(t, "dlq", "--amqp-url", url, "--management-url", node.MgmtURL, "list")
		if code == exitOK && listed.MatchString(stdout) && !strings.Contains(stdout, "orders.work  ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("list: exit %d\n%s%s", code, stdout, stderr)
		}
	}

	stdout, stderr, code = runBuiltWarren(t, "dlq", "--amqp-url", url, "replay", "orders.dlq", "--dry-run")
	if code != exitOK || strings.Count(stdout, "would move order-") != 20 || !strings.Contains(stdout, "to queue orders.work") {
		t.Fatalf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	waitMessages(t, ch, "orders.dlq", 20)

	stdout, stderr, code = runBuiltWarren(t, "dlq", "--amqp-url", url, "replay", "orders.dlq")
	if code != exitFailure || !strings.Contains(stdout, "no consumer") || !strings.Contains(stdout, "moved 0") {
		t.Fatalf("not refused: exit %d\n%s%s", code, stdout, stderr)
	}

	summary := filepath.Join(t.TempDir(), "summary.json")
	stdout, stderr, code = runBuiltWarren(t, "dlq", "--amqp-url", url, "replay", "orders.dlq", "--force", "--limit", "15", "--rate", "200/s", "--summary-json", summary)
	if code != exitOK || !strings.Contains(stdout, "moved 15, failed 0, left 5") {
		t.Fatalf("forced: exit %d\n%s%s", code, stdout, stderr)
	}
	raw, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Moved, Left       int
		InFlightAtFailure int `json:"in_flight_at_failure"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Moved != 15 || doc.Left != 5 {
		t.Fatalf("summary %s: %v", raw, err)
	}
	waitMessages(t, ch, "orders.work", 15)

	archive := filepath.Join(t.TempDir(), "purged.jsonl")
	if _, stderr, code = runBuiltWarren(t, "dlq", "--amqp-url", url, "purge", "orders.dlq", "--older-than", "1h"); code != exitConfigError {
		t.Fatalf("purge without --yes: exit %d, %s", code, stderr)
	}
	stdout, stderr, code = runBuiltWarren(t, "dlq", "--amqp-url", url, "purge", "orders.dlq", "--older-than", "1h", "--yes", "--archive", archive)
	if code != exitOK || !strings.Contains(stdout, "removed 0 older than 1h, left 5") {
		t.Fatalf("purge of young messages: exit %d\n%s%s", code, stdout, stderr)
	}
	interruptReplay(t, url, ch, 5)
	if strings.Contains(stdout+stderr, "guest:guest") {
		t.Errorf("the credentials were printed:\n%s%s", stdout, stderr)
	}
}

func TestDlqCommandsRejectBadFlagsWithExitTwoAndNoCredentials(t *testing.T) {
	for name, args := range map[string][]string{
		"purge age that is not a duration": {"purge", "q", "--older-than", "soon", "--yes"},
		"two destinations":                 {"replay", "q", "--to-queue", "a", "--to-exchange", "b"},
		"routing key alone":                {"replay", "q", "--routing-key", "k"},
		"window above the bound":           {"replay", "q", "--window", "11"},
		"rate that is not a rate":          {"replay", "q", "--rate", "fast"},
	} {
		t.Run(name, func(t *testing.T) {
			_, stderr, code := runWarren(t, append([]string{"dlq", "--amqp-url", "amqp://u:secret@127.0.0.1:1/"}, args...)...)
			if code != exitConfigError || strings.Contains(stderr, "secret") {
				t.Fatalf("exit %d: %s", code, stderr)
			}
		})
	}
}

// interruptReplay starts a slow replay of the dlq's queued messages and
// sends it SIGINT: it must stop, exit 1, and account for every message.
func interruptReplay(t *testing.T, url string, ch *amqp.Channel, queued int) {
	t.Helper()
	summary := filepath.Join(t.TempDir(), "interrupted.json")
	cmd := exec.Command(warrenBinary, "dlq", "--amqp-url", url, "replay", "orders.dlq", "--force", "--rate", "4/s", "--summary-json", summary)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		q, err := ch.QueueDeclarePassive("orders.dlq", false, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages < queued { // running: it took one
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replay took nothing:\n%s", out.String())
		}
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitFailure {
		t.Fatalf("interrupted replay: %v\n%s", err, out.String())
	}
	raw, err := os.ReadFile(summary)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var doc struct {
		Moved, Left int
		Stopped     string
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Stopped != "interrupted" || doc.Moved+doc.Left != queued || doc.Left == 0 {
		t.Fatalf("summary %s: %v\n%s", raw, err, out.String())
	}
}
