// Package management reads a RabbitMQ target through its management
// API: the decoding of the listings warren reads, over the shared broker
// HTTP client (rabbitmq/brokerhttp); Source, which turns one read into a
// snapshot.Snapshot; and ObjectReader, which reads what the audit checks
// into a snapshot.Objects.
//
// Import rule: it imports snapshot, rabbitmq/brokerhttp and
// internal/config, nothing else of warren.
package management

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"time"
	"unsafe"

	"github.com/warrenhq/warren/rabbitmq/brokerhttp"
)

// client reads the RabbitMQ management API. It exists beside
// rabbit-hole because rabbit-hole v2 takes no context (a shutdown could not
// interrupt a slow request), closes the connection after every request,
// reads whole responses into memory, and its types cannot tell a missing
// field from a zero (shape.go); warren still decodes the objects it reads
// only a few plain fields of (bindings, exchanges) into rabbit-hole's
// types.
type client struct {
	*brokerhttp.Client
	// maxResponseBytes is the target's max_response_size: the bound of
	// each response, and of the memory a listing's elements take (list).
	maxResponseBytes int64
}

func newClient(baseURL, username string, password func() (string, error), tlsConfig *tls.Config, timeout time.Duration, maxResponseBytes int64) (*client, error) {
	c, err := brokerhttp.New(brokerhttp.Endpoint{
		What: "management URL", BaseURL: baseURL, Prefix: "/api/",
		Username: username, Password: password, TLS: tlsConfig, Timeout: timeout,
		AuthHint:         "check the username and password, and that the user has the monitoring tag",
		MaxResponseBytes: maxResponseBytes,
	})
	if err != nil {
		return nil, err
	}
	return &client{Client: c, maxResponseBytes: maxResponseBytes}, nil
}

// maxValueBytes bounds one decoded JSON value of the management API: the
// overview, or one element of a listing other than the queues' (whose
// bound grows with the sample history asked for; see queueValueBytes).
// The largest real ones are a few kilobytes (a node, a channel, a
// binding with its arguments); the bound leaves room for the decoder's
// read ahead (brokerhttp.ValueLimiter) and for arguments and policies far
// larger than any seen.
const maxValueBytes = 1 << 20

// get fetches /api/<path>?<query> and decodes the JSON body, one value of
// at most maxValueBytes, into out, streaming, within the request timeout.
// It returns the bytes read.
func (c *client) get(ctx context.Context, path string, query url.Values, out any) (int64, error) {
	return c.stream(ctx, path, query, func(body io.Reader) error {
		return decodeValue(json.NewDecoder(brokerhttp.NewValueLimiter(body, maxValueBytes)), out)
	})
}

// stream fetches /api/<path>?<query> and hands the body to decode, within
// the request timeout. It returns the bytes read.
func (c *client) stream(ctx context.Context, path string, query url.Values, decode func(io.Reader) error) (int64, error) {
	return c.Get(ctx, path, query, "application/json", func(body io.Reader) error {
		if err := decode(body); err != nil {
			return fmt.Errorf("decoding JSON: %w", err)
		}
		return nil
	})
}

// list fetches the JSON array of <of> at /api/<path>?<query> and hands
// its elements to each, one at a time, as they stream in, so that warren
// holds one element's JSON at a time, however long the listing. decode
// decodes element i into an empty T and checks its shape (plain: no
// check). Each element is bounded to valueBytes, the whole response to
// max_response_size, and so are the elements' decoded values: each counts
// as its JSON or, if more, four times the size of its T (what it costs
// kept in a growing slice that is copied as it grows, with the garbage
// collector's headroom of as much again), so that a response of tiny
// elements ("[{},{},…]") costs no more memory than a listing of
// max_response_size does. It returns the bytes read.
func list[T any](ctx context.Context, c *client, path string, query url.Values, of string, valueBytes int64,
	decode func(dec *json.Decoder, i int, v *T) error, each func(*T)) (int64, error) {
	return c.stream(ctx, path, query, func(body io.Reader) error {
		limiter := brokerhttp.NewValueLimiter(body, valueBytes)
		dec := json.NewDecoder(limiter)
		if err := expectArray(dec, of); err != nil {
			return err
		}
		var zero, v T
		least := 4 * int64(unsafe.Sizeof(v))
		var held int64
		for i := 0; dec.More(); i++ {
			limiter.Reset()
			v = zero
			start := dec.InputOffset()
			if err := decode(dec, i, &v); err != nil {
				return err
			}
			if held += max(dec.InputOffset()-start, least); held > c.maxResponseBytes {
				return fmt.Errorf("%d elements take more than max_response_size (%d bytes) decoded, at least %d bytes each", i+1, c.maxResponseBytes, least)
			}
			each(&v)
		}
		return expectDelim(dec, ']')
	})
}

// plain decodes an element of a listing whose shape warren does not check.
func plain[T any](dec *json.Decoder, _ int, v *T) error { return decodeValue(dec, v) }

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("expected %q, found %v", want, tok)
	}
	return nil
}
