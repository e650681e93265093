// Package streamtest is a minimal client of RabbitMQ's stream protocol (the
// binary protocol of the rabbitmq_stream plugin, version 1), for tests that
// need a real stream-protocol publisher and consumer: their offsets and lag
// are what the broker reports in /api/stream/consumers, and AMQP 0-9-1
// consumers of a stream report none. It speaks just enough of the protocol
// for that: open a connection (PLAIN), declare a publisher and publish with
// confirms, subscribe with credit and grant credit per chunk, or stop
// granting it to make the consumer fall behind.
//
// Import rule: it imports nothing of warren; only tests import it.
package streamtest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	keyDeclarePublisher = 0x0001
	keyPublish          = 0x0002
	keyPublishConfirm   = 0x0003
	keyPublishError     = 0x0004
	keySubscribe        = 0x0007
	keyDeliver          = 0x0008
	keyCredit           = 0x0009
	keyUnsubscribe      = 0x000c
	keyMetadataUpdate   = 0x0010
	keyPeerProperties   = 0x0011
	keySaslHandshake    = 0x0012
	keySaslAuthenticate = 0x0013
	keyTune             = 0x0014
	keyOpen             = 0x0015
	keyClose            = 0x0016
	keyHeartbeat        = 0x0017
	responseFlag        = 0x8000
	responseOK          = 1
)

// Conn is one stream-protocol connection.
type Conn struct {
	nc   net.Conn
	wmu  sync.Mutex
	corr atomic.Uint32

	mu      sync.Mutex
	pending map[uint32]chan uint16 // correlation id → response code
	subs    map[uint8]*Subscription
	err     error
	done    chan struct{}

	confirmed atomic.Int64 // publishes confirmed, all publishers
}

// Dial opens a connection to 127.0.0.1:port as user/password on vhost.
func Dial(port int, user, password, vhost string) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := &Conn{nc: nc, pending: map[uint32]chan uint16{}, subs: map[uint8]*Subscription{}, done: make(chan struct{})}
	br := bufio.NewReader(nc)
	// The handshake is sequential: peer properties, SASL, the server's tune,
	// open. Read it inline, then hand the reader to the loop.
	steps := []func() error{
		func() error {
			var b buf
			b.u32(c.corr.Add(1))
			b.u32(1)
			b.str("product")
			b.str("warren-streamtest")
			return c.roundTrip(br, keyPeerProperties, b.Bytes())
		},
		func() error {
			var b buf
			b.u32(c.corr.Add(1))
			return c.roundTrip(br, keySaslHandshake, b.Bytes())
		},
		func() error {
			var b buf
			b.u32(c.corr.Add(1))
			b.str("PLAIN")
			b.bytes([]byte("\x00" + user + "\x00" + password))
			return c.roundTrip(br, keySaslAuthenticate, b.Bytes())
		},
		func() error {
			// The server proposes frame max and heartbeat; answer with the
			// same frame max and no heartbeats.
			key, body, err := readFrame(br)
			if err != nil {
				return err
			}
			if key != keyTune || len(body) < 8 {
				return fmt.Errorf("streamtest: expected tune, got key %#x", key)
			}
			var b buf
			b.u32(binary.BigEndian.Uint32(body[0:4]))
			b.u32(0)
			return c.write(keyTune, b.Bytes())
		},
		func() error {
			var b buf
			b.u32(c.corr.Add(1))
			b.str(vhost)
			return c.roundTrip(br, keyOpen, b.Bytes())
		},
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	for _, step := range steps {
		if err := step(); err != nil {
			nc.Close()
			return nil, fmt.Errorf("streamtest: handshake: %w", err)
		}
	}
	nc.SetDeadline(time.Time{})
	go c.loop(br)
	return c, nil
}

// roundTrip sends a request during the handshake and reads its response.
func (c *Conn) roundTrip(br *bufio.Reader, key uint16, body []byte) error {
	if err := c.write(key, body); err != nil {
		return err
	}
	rkey, rbody, err := readFrame(br)
	if err != nil {
		return err
	}
	if rkey != key|responseFlag || len(rbody) < 6 {
		return fmt.Errorf("unexpected frame %#x in answer to %#x", rkey, key)
	}
	if code := binary.BigEndian.Uint16(rbody[4:6]); code != responseOK {
		return fmt.Errorf("command %#x: response code %d", key, code)
	}
	return nil
}

// Close closes the connection.
func (c *Conn) Close() error {
	var b buf
	b.u32(c.corr.Add(1))
	b.u16(1)
	b.str("bye")
	c.write(keyClose, b.Bytes())
	return c.nc.Close()
}

// Confirmed is the number of publishes the broker has confirmed.
func (c *Conn) Confirmed() int64 { return c.confirmed.Load() }

// Err is the error that ended the connection's reader, if any.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Conn) write(key uint16, body []byte) error {
	frame := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint32(frame[0:4], uint32(4+len(body)))
	binary.BigEndian.PutUint16(frame[4:6], key)
	binary.BigEndian.PutUint16(frame[6:8], 1)
	frame = append(frame, body...)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(frame)
	return err
}

// request sends a command with a correlation id and waits for its response.
func (c *Conn) request(key uint16, fill func(*buf)) error {
	id := c.corr.Add(1)
	ch := make(chan uint16, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	c.pending[id] = ch
	c.mu.Unlock()
	var b buf
	b.u32(id)
	fill(&b)
	if err := c.write(key, b.Bytes()); err != nil {
		return err
	}
	select {
	case code := <-ch:
		if code != responseOK {
			return fmt.Errorf("streamtest: command %#x: response code %d", key, code)
		}
		return nil
	case <-c.done:
		return fmt.Errorf("streamtest: connection closed: %w", c.Err())
	case <-time.After(10 * time.Second):
		return fmt.Errorf("streamtest: command %#x: no response", key)
	}
}

func readFrame(r io.Reader) (uint16, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size < 4 || size > 64<<20 {
		return 0, nil, fmt.Errorf("streamtest: frame of %d bytes", size)
	}
	frame := make([]byte, size)
	if _, err := io.ReadFull(r, frame); err != nil {
		return 0, nil, err
	}
	return binary.BigEndian.Uint16(frame[0:2]), frame[4:], nil
}

func (c *Conn) loop(br *bufio.Reader) {
	err := func() error {
		for {
			key, body, err := readFrame(br)
			if err != nil {
				return err
			}
			switch {
			case key&responseFlag != 0:
				if len(body) < 6 {
					continue
				}
				id := binary.BigEndian.Uint32(body[0:4])
				c.mu.Lock()
				ch := c.pending[id]
				delete(c.pending, id)
				c.mu.Unlock()
				if ch != nil {
					ch <- binary.BigEndian.Uint16(body[4:6])
				}
			case key == keyPublishConfirm:
				if len(body) >= 5 {
					c.confirmed.Add(int64(binary.BigEndian.Uint32(body[1:5])))
				}
			case key == keyDeliver:
				if len(body) < 1 {
					continue
				}
				c.mu.Lock()
				s := c.subs[body[0]]
				c.mu.Unlock()
				if s != nil {
					s.deliver(body[1:])
				}
			case key == keyHeartbeat:
				c.write(keyHeartbeat, nil)
			case key == keyPublishError, key == keyMetadataUpdate, key == keyCredit:
				// Credit here is the server's error answer to a bad credit
				// command; the others end nothing the tests rely on.
			case key == keyClose:
				return errors.New("streamtest: the broker closed the connection")
			}
		}
	}()
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	close(c.done)
}

// Publisher publishes to one stream over its connection.
type Publisher struct {
	c    *Conn
	id   uint8
	next uint64
}

// DeclarePublisher declares publisher id (0–255, unique on the connection)
// for stream.
func (c *Conn) DeclarePublisher(id uint8, stream string) (*Publisher, error) {
	err := c.request(keyDeclarePublisher, func(b *buf) {
		b.u8(id)
		b.str("") // no publisher reference (deduplication off); 3.10 rejects a null string here
		b.str(stream)
	})
	if err != nil {
		return nil, err
	}
	return &Publisher{c: c, id: id}, nil
}

// Publish sends the messages in one frame; the broker confirms them
// asynchronously (Conn.Confirmed).
func (p *Publisher) Publish(bodies ...[]byte) error {
	var b buf
	b.u8(p.id)
	b.u32(uint32(len(bodies)))
	for _, body := range bodies {
		p.next++
		b.u64(p.next)
		b.bytes(body)
	}
	return p.c.write(keyPublish, b.Bytes())
}

// Subscription is one consumer of a stream. It grants the broker one chunk
// of credit per chunk received, unless paused.
type Subscription struct {
	c      *Conn
	id     uint8
	paused atomic.Bool
	owed   atomic.Int32 // credits withheld while paused
	count  atomic.Int64 // messages received
}

// Subscribe attaches consumer id to stream from its first offset, with
// credit chunks in flight. properties go to the broker (e.g. "name").
func (c *Conn) Subscribe(id uint8, stream string, credit uint16) (*Subscription, error) {
	s := &Subscription{c: c, id: id}
	c.mu.Lock()
	c.subs[id] = s
	c.mu.Unlock()
	err := c.request(keySubscribe, func(b *buf) {
		b.u8(id)
		b.str(stream)
		b.u16(1) // offset specification: first
		b.u16(credit)
		b.u32(0) // no properties
	})
	if err != nil {
		c.mu.Lock()
		delete(c.subs, id)
		c.mu.Unlock()
		return nil, err
	}
	return s, nil
}

// Received is the number of messages delivered so far.
func (s *Subscription) Received() int64 { return s.count.Load() }

// Pause stops granting credit: the consumer stays attached and falls behind.
func (s *Subscription) Pause() { s.paused.Store(true) }

// Resume grants the credit withheld while paused and goes on granting it.
func (s *Subscription) Resume() {
	s.paused.Store(false)
	if n := s.owed.Swap(0); n > 0 {
		s.credit(uint16(n))
	}
}

// Unsubscribe detaches the consumer.
func (s *Subscription) Unsubscribe() error {
	return s.c.request(keyUnsubscribe, func(b *buf) { b.u8(s.id) })
}

func (s *Subscription) credit(n uint16) {
	var b buf
	b.u8(s.id)
	b.u16(n)
	s.c.write(keyCredit, b.Bytes())
}

// deliver counts a chunk's records and grants one more chunk of credit.
func (s *Subscription) deliver(chunk []byte) {
	// Osiris chunk header: magic/version (1), chunk type (1), entries (2),
	// records (4), timestamp (8), epoch (8), first offset (8), crc (4),
	// data length (4), trailer length (4), reserved (4).
	if len(chunk) >= 8 {
		s.count.Add(int64(binary.BigEndian.Uint32(chunk[4:8])))
	}
	if s.paused.Load() {
		s.owed.Add(1)
		return
	}
	s.credit(1)
}

// buf encodes the protocol's big-endian fields.
type buf struct{ bytes.Buffer }

func (b *buf) u8(v uint8) { b.WriteByte(v) }
func (b *buf) u16(v uint16) {
	b.Write(binary.BigEndian.AppendUint16(nil, v))
}
func (b *buf) u32(v uint32) {
	b.Write(binary.BigEndian.AppendUint32(nil, v))
}
func (b *buf) u64(v uint64) {
	b.Write(binary.BigEndian.AppendUint64(nil, v))
}
func (b *buf) str(s string) {
	b.u16(uint16(len(s)))
	b.WriteString(s)
}
func (b *buf) bytes(p []byte) {
	b.u32(uint32(len(p)))
	b.Write(p)
}
