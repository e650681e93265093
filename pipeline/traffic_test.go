package pipeline

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// benchTrafficEnv makes the test binary, started by BenchmarkScale, a
// traffic generator instead of a test run: a separate process, so that
// the benchmark's CPU figures are warren's alone. Its value is
// "amqpURL vhost queues messagesPerSecondPerQueue".
const benchTrafficEnv = "WARREN_BENCH_TRAFFIC"

// runBenchTraffic publishes to queues bench.queue.000000… at a steady
// rate and consumes them with acknowledgements, until its stdin closes
// (the benchmark ended or died).
func runBenchTraffic(spec string) int {
	var url, vhost string
	var queues, rate int
	if _, err := fmt.Sscan(spec, &url, &vhost, &queues, &rate); err != nil || queues < 1 || rate < 1 {
		fmt.Fprintf(os.Stderr, "%s=%q: want \"amqpURL vhost queues rate\"\n", benchTrafficEnv, spec)
		return 2
	}
	conn, err := amqp.Dial(strings.TrimSuffix(url, "/") + "/" + vhost)
	if err != nil {
		fmt.Fprintln(os.Stderr, "traffic:", err)
		return 1
	}
	defer conn.Close()
	pub, err := conn.Channel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "traffic:", err)
		return 1
	}
	sub, err := conn.Channel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "traffic:", err)
		return 1
	}
	sub.Qos(10, 0, false)
	name := func(i int) string { return "bench.queue." + fmt.Sprintf("%06d", i) }
	var wg sync.WaitGroup
	for i := range queues {
		deliveries, err := sub.Consume(name(i), "", false, false, false, false, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "traffic:", err)
			return 1
		}
		wg.Go(func() {
			for d := range deliveries {
				d.Ack(false)
			}
		})
	}
	stop := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stop) }()
	fmt.Println("ready " + strconv.Itoa(queues))
	tick := time.NewTicker(time.Second / time.Duration(queues*rate))
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return 0
		case <-tick.C:
			pub.Publish("", name(i%queues), false, false, amqp.Publishing{Body: []byte("bench"), Timestamp: time.Now()})
		}
	}
}
