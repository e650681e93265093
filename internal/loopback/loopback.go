// Package loopback picks free TCP ports on 127.0.0.1 for the private
// servers that tests and the demo start (RabbitMQ, Prometheus,
// Alertmanager).
//
// Ports are drawn at random from below the kernel's ephemeral range: a
// port the kernel hands out for "any free port" can be taken by some
// client's outgoing connection (rabbitmqctl, an HTTP request of another
// test package) between the moment it is picked and the moment the server
// binds it, which made server starts fail with "address in use".
package loopback

import (
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
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
