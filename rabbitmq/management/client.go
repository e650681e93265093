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

	"github.com/warrenhq/warren/rabbitmq/brokerhttp"
)

// client reads the RabbitMQ management API. It exists beside
// rabbit-hole because rabbit-hole v2 takes no context (a shutdown could not
// interrupt a slow request), closes the connection after every request,
// and its types cannot tell a missing field from a zero (shape.go);
// warren still decodes the objects it reads only a few plain fields of
// (bindings, exchanges) into rabbit-hole's types.
type client struct {
	*brokerhttp.Client
}

func newClient(baseURL, username string, password func() (string, error), tlsConfig *tls.Config, timeout time.Duration) (*client, error) {
	c, err := brokerhttp.New(brokerhttp.Endpoint{
		What: "management URL", BaseURL: baseURL, Prefix: "/api/",
		Username: username, Password: password, TLS: tlsConfig, Timeout: timeout,
		AuthHint: "check the username and password, and that the user has the monitoring tag",
	})
	if err != nil {
		return nil, err
	}
	return &client{c}, nil
}

// get fetches /api/<path>?<query> and decodes the JSON body into out,
// streaming, within the request timeout. It returns the bytes read.
func (c *client) get(ctx context.Context, path string, query url.Values, out any) (int64, error) {
	return c.stream(ctx, path, query, func(dec *json.Decoder) error { return dec.Decode(out) })
}

// stream fetches /api/<path>?<query> and hands the body to decode as a
// JSON stream, within the request timeout. It returns the bytes read.
func (c *client) stream(ctx context.Context, path string, query url.Values, decode func(*json.Decoder) error) (int64, error) {
	return c.Get(ctx, path, query, "application/json", func(body io.Reader) error {
		if err := decode(json.NewDecoder(body)); err != nil {
			return fmt.Errorf("decoding JSON: %w", err)
		}
		return nil
	})
}
