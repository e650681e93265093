// Package loopback serves the private servers that tests and the demo
// start on 127.0.0.1 (RabbitMQ, Prometheus, Alertmanager): it picks their
// free ports and waits for them to be ready.
//
// Ports are drawn at random from below the kernel's ephemeral range: a
// port the kernel hands out for "any free port" can be taken by some
// client's outgoing connection (rabbitmqctl, an HTTP request of another
// test package) between the moment it is picked and the moment the server
// binds it, which made server starts fail with "address in use".
//
// Import rule: it imports nothing of warren; only tests and the other
// harnesses import it.
package loopback

import (
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// lowestPort is the bottom of the range ports are drawn from.
const lowestPort = 20000

// FreePorts returns count distinct ports on 127.0.0.1 that were free a
// moment ago. Every port is held until all are picked, so they differ.
func FreePorts(count int) ([]int, error) {
	low, high := lowestPort, ephemeralPortStart()
	var ports []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < count; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("no free port on 127.0.0.1 in %d-%d", low, high)
		}
		port := low + mathrand.IntN(high-low)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		held = append(held, l)
		ports = append(ports, port)
	}
	return ports, nil
}

// FreePort returns one port, as FreePorts.
func FreePort() (int, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// ephemeralPortStart is the first port of the kernel's ephemeral range
// (32768 when it cannot be read).
func ephemeralPortStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if fields := strings.Fields(string(b)); len(fields) == 2 {
			if start, err := strconv.Atoi(fields[0]); err == nil && start > lowestPort+1000 {
				return start
			}
		}
	}
	return 32768
}

// ErrExited is WaitReady's answer when the server's process exited first.
var ErrExited = errors.New("process exited before it was ready")

// WaitReady polls GET url every 100 ms until it answers 200 OK, exited is
// closed (the server's process ended: ErrExited), or timeout passes (an
// error with the last answer).
func WaitReady(url string, timeout time.Duration, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	lastErr := errors.New("no answer yet")
	for {
		select {
		case <-exited:
			return ErrExited
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		lastErr = err
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %v: %v", timeout, lastErr)
		}
		select {
		case <-exited:
			return ErrExited
		case <-time.After(100 * time.Millisecond):
		}
	}
}
