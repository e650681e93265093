// Package garbagetest makes the bodies a broken proxy or a wrong URL
// answers with: an unterminated JSON string hundreds of megabytes long,
// an array of valid elements that never ends, one object that never
// closes. Each is generated as it is read and never held, so a test can
// serve 300 MB of it without taking 300 MB itself; a server writing one
// stops as soon as the client hangs up.
//
// Import rule: it imports nothing of warren; only tests import it.
package garbagetest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// Reader yields prefix, then the pieces piece(0), piece(1), … until size
// bytes have been yielded in all, mid-piece if need be.
func Reader(prefix string, piece func(i int) []byte, size int64) io.Reader {
	return &reader{pending: []byte(prefix), piece: piece, left: size}
}

type reader struct {
	pending []byte
	piece   func(int) []byte
	next    int
	left    int64
}

func (r *reader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	end := len(p)
	if int64(end) > r.left {
		end = int(r.left)
	}
	n := 0
	for n < end {
		if len(r.pending) == 0 {
			r.pending = r.piece(r.next)
			r.next++
		}
		c := copy(p[n:end], r.pending)
		r.pending = r.pending[c:]
		n += c
	}
	r.left -= int64(n)
	return n, nil
}

// MB is a megabyte, as the sizes of garbage bodies are spoken of.
const MB = 1_000_000

// UnterminatedString is a JSON body of size bytes that opens a string
// after prefix and never closes it, as `[{"name":"` followed by 300 MB of
// letters.
func UnterminatedString(prefix string, size int64) io.Reader {
	letters := bytes.Repeat([]byte("a"), 64<<10)
	return Reader(prefix+`"`, func(int) []byte { return letters }, size)
}

// EndlessArray is a JSON array whose elements, element(0), element(1), …,
// never end (past size bytes the body simply stops, unterminated).
func EndlessArray(element func(i int) []byte, size int64) io.Reader {
	return Reader("[", func(i int) []byte {
		if i == 0 {
			return element(0)
		}
		return append([]byte(","), element(i)...)
	}, size)
}

// EndlessObject is a JSON object that opens with prefix (its first
// members, without the closing brace) and goes on with members
// "pad0":"…","pad1":"…", … for size bytes in all, never closing.
func EndlessObject(prefix string, size int64) io.Reader {
	value := bytes.Repeat([]byte("x"), 1000)
	return Reader(prefix, func(i int) []byte {
		return append(append([]byte(`,"pad`+strconv.Itoa(i)+`":"`), value...), '"')
	}, size)
}

// busyQueue is one element of the queue listing warren asks RabbitMQ
// 3.10.8 for (every column it reads, seven samples of each of the seven
// series of a 15 s poll at a 5 s stats interval), as a node of that
// version wrote it for a queue with publishes, acks, redeliveries,
// deliveries and gets without ack (pipeline's sizing test), with the name
// numbered and the vhost and node renamed.
const busyQueue = `{"arguments":{"x-max-length":100000,"x-message-ttl":3600000},"consumer_capacity":0.9998850458679492,"consumers":2,"effective_policy_definition":{"max-length-bytes":1073741824},"head_message_timestamp":null,"message_bytes":5,"message_stats":{"ack":4,"ack_details":{"samples":[{"sample":4,"timestamp":1796134965000},{"sample":0,"timestamp":1796134960000},{"sample":0,"timestamp":1796134955000},{"sample":0,"timestamp":1796134950000},{"sample":0,"timestamp":1796134945000},{"sample":0,"timestamp":1796134940000},{"sample":0,"timestamp":1796134935000}]},"deliver_get":11,"deliver_get_details":{"samples":[{"sample":11,"timestamp":1796134965000},{"sample":0,"timestamp":1796134960000},{"sample":0,"timestamp":1796134955000},{"sample":0,"timestamp":1796134950000},{"sample":0,"timestamp":1796134945000},{"sample":0,"timestamp":1796134940000},{"sample":0,"timestamp":1796134935000}]},"deliver_no_ack":4,"deliver_no_ack_details":{"samples":[{"sample":4,"timestamp":1796134965000},{"sample":0,"timestamp":1796134960000},{"sample":0,"timestamp":1796134955000},{"sample":0,"timestamp":1796134950000},{"sample":0,"timestamp":1796134945000},{"sample":0,"timestamp":1796134940000},{"sample":0,"timestamp":1796134935000}]},"get_no_ack":2,"get_no_ack_details":{"samples":[{"sample":2,"timestamp":1796134965000},{"sample":0,"timestamp":1796134960000},{"sample":0,"timestamp":1796134955000},{"sample":0,"timestamp":1796134950000},{"sample":0,"timestamp":1796134945000},{"sample":0,"timestamp":1796134940000},{"sample":0,"timestamp":1796134935000}]},"publish":10,"publish_details":{"samples":[{"sample":10,"timestamp":1796134965000},{"sample":0,"timestamp":1796134960000},{"sample":0,"timestamp":1796134955000},{"sample":0,"timestamp":1796134950000},{"sample":0,"timestamp":1796134945000},{"sample":0,"timestamp":1796134940000},{"sample":0,"timestamp":1796134935000}]},"redeliver":1},"messages":1,"messages_details":{"samples":[{"sample":1,"timestamp":1796134970000},{"sample":1,"timestamp":1796134965000},{"sample":0,"timestamp":1796134960000},{"sample":0,"timestamp":1796134955000},{"sample":0,"timestamp":1796134950000},{"sample":0,"timestamp":1796134945000},{"sample":0,"timestamp":1796134940000}]},"messages_ready":0,"messages_unacknowledged":1,"messages_unacknowledged_details":{"samples":[{"sample":1,"timestamp":1796134970000},{"sample":1,"timestamp":1796134965000},{"sample":0,"timestamp":1796134960000},{"sample":0,"timestamp":1796134955000},{"sample":0,"timestamp":1796134950000},{"sample":0,"timestamp":1796134945000},{"sample":0,"timestamp":1796134940000}]},"name":"orders.payment-service.events-%d","node":"rabbit@rabbitmq-0","type":"classic","vhost":"/"}`

// BusyQueue is the i-th element of an endless queue listing: a busy
// queue as RabbitMQ 3.10.8 lists it for warren, 2.7 KB, whose name ends
// in i.
func BusyQueue(i int) []byte { return fmt.Appendf(nil, busyQueue, i) }

// TinyQueue is the i-th element of an endless listing of the smallest
// queues a listing can hold: a name and a vhost, 30 bytes.
func TinyQueue(i int) []byte { return fmt.Appendf(nil, `{"name":"q%d","vhost":"/"}`, i) }

// Serve writes body as a response of the given status and content type
// until it ends or the client hangs up.
func Serve(w http.ResponseWriter, status int, contentType string, body io.Reader) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	io.Copy(w, body)
}
