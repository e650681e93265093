// Package management reads a RabbitMQ target through its management
// API: the HTTP client (context-aware, bounded responses, credentials
// never in errors), the decoding of the listings warren reads, and
// Source, which turns one read into a snapshot.Snapshot.
//
// Import rule: it imports snapshot and internal/config, nothing else of
// warren.
package management

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// client reads the RabbitMQ management API. It exists beside
// rabbit-hole because rabbit-hole v2 takes no context (a shutdown could not
// interrupt a slow request), closes the connection after every request,
// and its QueueInfo lacks fields warren needs; warren still decodes the
// objects rabbit-hole models well (overview, nodes, bindings, exchanges)
// into rabbit-hole's types.
type client struct {
	base     *url.URL
	username string
	password func() (string, error)
	http     *http.Client
	timeout  time.Duration
	// bytesRead counts the response bytes of every request, for
	// warren_poll_response_bytes.
	bytesRead atomic.Int64
}

func newClient(baseURL, username string, password func() (string, error), tlsConfig *tls.Config, timeout time.Duration) (*client, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil {
		return nil, errors.New("invalid management URL")
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	transport.MaxIdleConnsPerHost = 4
	return &client{
		base:     u,
		username: username,
		password: password,
		http:     &http.Client{Transport: transport},
		timeout:  timeout,
	}, nil
}

// get fetches /api/<path>?<query> and decodes the JSON body into out,
// streaming, within the request timeout. It returns the bytes read.
func (c *client) get(ctx context.Context, path string, query url.Values, out any) (int64, error) {
	return c.stream(ctx, path, query, func(dec *json.Decoder) error { return dec.Decode(out) })
}

// stream fetches /api/<path>?<query> and hands the body to decode as a
// JSON stream, within the request timeout. It returns the bytes read.
func (c *client) stream(ctx context.Context, path string, query url.Values, decode func(*json.Decoder) error) (int64, error) {
	password, err := c.password()
	if err != nil {
		return 0, &snapshot.ReadError{Reason: snapshot.ReasonCredentials, Op: "GET " + path, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := *c.base
	// The path is pre-escaped: vhost names like "/" must stay %2F.
	u.RawPath = strings.TrimSuffix(c.base.EscapedPath(), "/") + "/api/" + path
	if u.Path, err = url.PathUnescape(u.RawPath); err != nil {
		return 0, &snapshot.ReadError{Reason: snapshot.ReasonConnection, Op: "GET " + path, Err: err}
	}
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, &snapshot.ReadError{Reason: snapshot.ReasonConnection, Op: "GET " + path, Err: err}
	}
	req.SetBasicAuth(c.username, password)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, &snapshot.ReadError{Reason: classifyTransportError(err), Op: "GET " + path, Err: stripURL(err)}
	}
	body := &countingReader{r: resp.Body}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.CopyN(io.Discard, body, 4096)
		resp.Body.Close()
		c.bytesRead.Add(body.n)
	}()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return body.n, &snapshot.ReadError{Reason: snapshot.ReasonAuth, Op: "GET " + path, StatusCode: resp.StatusCode, Err: fmt.Errorf("%s: check the username and password, and that the user has the monitoring tag", resp.Status)}
	case resp.StatusCode != http.StatusOK:
		return body.n, &snapshot.ReadError{Reason: snapshot.ReasonHTTPStatus, Op: "GET " + path, StatusCode: resp.StatusCode, Err: fmt.Errorf("%s: %s", resp.Status, excerpt(body))}
	}
	if err := decode(json.NewDecoder(body)); err != nil {
		reason := snapshot.ReasonInvalidResponse
		if ctx.Err() != nil {
			reason = snapshot.ReasonTimeout
		}
		return body.n, &snapshot.ReadError{Reason: reason, Op: "GET " + path, Err: fmt.Errorf("decoding JSON: %w", stripURL(err))}
	}
	return body.n, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func excerpt(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 200))
	return strings.TrimSpace(string(b))
}

// stripURL drops the request URL from *url.Error messages: it is noise in
// a message that already names the path.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func classifyTransportError(err error) snapshot.Reason {
	var netErr net.Error
	var tlsRecord tls.RecordHeaderError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return snapshot.ReasonTimeout
	case errors.As(err, &tlsRecord), errors.As(err, &certErr), strings.Contains(err.Error(), "tls:"), strings.Contains(err.Error(), "x509:"):
		return snapshot.ReasonTLS
	default:
		return snapshot.ReasonConnection
	}
}
