// Package brokerhttp is the HTTP plumbing warren's RabbitMQ sources
// share: a client for one broker endpoint (base URL and path prefix, basic
// auth with the password read for every request, TLS, a per-request
// timeout, kept-alive connections), responses handed over as streams,
// counted and bounded (a whole response by Endpoint.MaxResponseBytes, one
// decoded value by a ValueLimiter), and failures classified as
// snapshot.ReadError, whose messages hold neither credentials nor URLs.
//
// Import rule: it imports snapshot only, nothing else of warren.
package brokerhttp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// Endpoint describes one broker HTTP endpoint.
type Endpoint struct {
	// What names the endpoint in errors, such as "management URL".
	What string
	// BaseURL is the endpoint's URL as configured; Prefix is prepended to
	// every request path, such as "/api/".
	BaseURL, Prefix string
	// Username, when set, authenticates every request with basic auth.
	Username string
	// Password is read for every request, so that a rotated secret file
	// takes effect without a restart.
	Password func() (string, error)
	TLS      *tls.Config
	// Timeout bounds each request, the body included.
	Timeout time.Duration
	// AuthHint ends the error of a 401 or 403, saying what to check.
	AuthHint string
	// MaxResponseBytes bounds each response body (the target's
	// max_response_size): a longer one fails the read as an
	// invalid_response. It must be positive: no response goes unbounded.
	MaxResponseBytes int64
}

// Client reads one broker endpoint. It is safe for concurrent use.
type Client struct {
	endpoint Endpoint
	base     *url.URL
	http     *http.Client
	// bytesRead counts the response bytes of every request.
	bytesRead atomic.Int64
}

// New returns the client of e.
func New(e Endpoint) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(e.BaseURL, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("invalid %s", e.What) // the URL may hold a password: never echo it
	}
	if e.MaxResponseBytes <= 0 {
		return nil, fmt.Errorf("%s: no bound on the response size", e.What)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = e.TLS
	transport.MaxIdleConnsPerHost = 4
	return &Client{endpoint: e, base: u, http: &http.Client{Transport: transport}}, nil
}

// BytesRead is the total of response bytes the client has read.
func (c *Client) BytesRead() int64 { return c.bytesRead.Load() }

// Get fetches <prefix><path>?<query>, path pre-escaped (a vhost named "/"
// stays %2F), accepting accept, and hands a 200 response's body to read,
// all within the request timeout. It returns the bytes read. read sees at
// most MaxResponseBytes: past them its reads fail with an error wrapping
// ErrResponseTooLarge. An error of read becomes an invalid_response
// ReadError (a timeout where the deadline passed meanwhile).
func (c *Client) Get(ctx context.Context, path string, query url.Values, accept string, read func(io.Reader) error) (int64, error) {
	return c.GetStatus(ctx, path, query, accept, nil, func(_ int, body io.Reader) error { return read(body) })
}

// GetStatus is Get for an endpoint that answers in the body of other
// statuses too, such as a health check's 503: a response whose status is
// in also is handed to read like a 200, with its status.
func (c *Client) GetStatus(ctx context.Context, path string, query url.Values, accept string, also []int, read func(status int, body io.Reader) error) (int64, error) {
	op := "GET " + path
	ctx, cancel := context.WithTimeout(ctx, c.endpoint.Timeout)
	defer cancel()
	req, err := c.request(ctx, path, query, accept)
	if err != nil {
		return 0, &snapshot.ReadError{Reason: snapshot.ReasonConnection, Op: op, Err: err}
	}
	if err := c.authenticate(req); err != nil {
		return 0, &snapshot.ReadError{Reason: snapshot.ReasonCredentials, Op: op, Err: err}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, &snapshot.ReadError{Reason: classifyTransportError(err), Op: op, Err: stripURL(err)}
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
		return body.n, &snapshot.ReadError{Reason: snapshot.ReasonAuth, Op: op, StatusCode: resp.StatusCode, Err: fmt.Errorf("%s: %s", resp.Status, c.endpoint.AuthHint)}
	case resp.StatusCode != http.StatusOK && !slices.Contains(also, resp.StatusCode):
		return body.n, &snapshot.ReadError{Reason: snapshot.ReasonHTTPStatus, Op: op, StatusCode: resp.StatusCode, Err: fmt.Errorf("%s: %s", resp.Status, excerpt(body))}
	}
	if err := read(resp.StatusCode, responseLimit(body, c.endpoint.MaxResponseBytes)); err != nil {
		reason := snapshot.ReasonInvalidResponse
		if ctx.Err() != nil {
			reason = snapshot.ReasonTimeout
		}
		return body.n, &snapshot.ReadError{Reason: reason, Op: op, Err: stripURL(err)}
	}
	return body.n, nil
}

// authenticate sets the endpoint's basic auth on req; an endpoint without
// a username sends none.
func (c *Client) authenticate(req *http.Request) error {
	if c.endpoint.Username == "" {
		return nil
	}
	password, err := c.endpoint.Password()
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.endpoint.Username, password)
	return nil
}

func (c *Client) request(ctx context.Context, path string, query url.Values, accept string) (*http.Request, error) {
	u := *c.base
	u.RawPath = strings.TrimSuffix(c.base.EscapedPath(), "/") + c.endpoint.Prefix + path
	var err error
	if u.Path, err = url.PathUnescape(u.RawPath); err != nil {
		return nil, err
	}
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, stripURL(err)
	}
	req.Header.Set("Accept", accept)
	return req, nil
}

// Discard makes the requests (paths with their queries, under the
// prefix) as plain HTTP with the endpoint's credentials, and discards the
// bodies: the floor a benchmark compares a read's wall time with. It
// returns the bytes read.
func (c *Client) Discard(ctx context.Context, paths []string) (int64, error) {
	var total int64
	for _, path := range paths {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.String()+c.endpoint.Prefix+path, nil)
		if err != nil {
			return total, err
		}
		if err := c.authenticate(req); err != nil {
			return total, err
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return total, err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
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
// a message that already names the path, and it may hold credentials.
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
