package collector

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
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
)

// mgmtClient reads the RabbitMQ management API. It exists beside
// rabbit-hole because rabbit-hole v2 takes no context (a shutdown could not
// interrupt a slow request), closes the connection after every request,
// and its QueueInfo lacks fields warren needs; warren still decodes the
// objects rabbit-hole models well (overview, nodes, bindings, exchanges)
// into rabbit-hole's types.
type mgmtClient struct {
	base     *url.URL
	username string
	password func() (string, error)
	http     *http.Client
	timeout  time.Duration
	// bytesRead counts the response bytes of every request, for
	// warren_poll_response_bytes.
	bytesRead atomic.Int64
}

func newMgmtClient(baseURL, username string, password func() (string, error), tlsConfig *tls.Config, timeout time.Duration) (*mgmtClient, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil {
		return nil, errors.New("invalid management URL")
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	transport.MaxIdleConnsPerHost = 4
	return &mgmtClient{
		base:     u,
		username: username,
		password: password,
		http:     &http.Client{Transport: transport},
		timeout:  timeout,
	}, nil
}

// PollError is a failed request, classified for warren_poll_errors_total.
// Its message never holds credentials.
type PollError struct {
	Reason string // timeout, connection, tls, auth, http_status, invalid_response, credentials
	Path   string
	Err    error
}

func (e *PollError) Error() string {
	return fmt.Sprintf("GET %s: %s: %v", e.Path, e.Reason, e.Err)
}

func (e *PollError) Unwrap() error { return e.Err }

// Poll error reasons, the values of the reason label.
const (
	ReasonTimeout         = "timeout"
	ReasonConnection      = "connection"
	ReasonTLS             = "tls"
	ReasonAuth            = "auth"
	ReasonHTTPStatus      = "http_status"
	ReasonInvalidResponse = "invalid_response"
	ReasonCredentials     = "credentials"
)

// get fetches /api/<path>?<query> and decodes the JSON body into out,
// streaming, within the request timeout. It returns the bytes read.
func (c *mgmtClient) get(ctx context.Context, path string, query url.Values, out any) (int64, error) {
	return c.stream(ctx, path, query, func(dec *json.Decoder) error { return dec.Decode(out) })
}

// stream fetches /api/<path>?<query> and hands the body to decode as a
// JSON stream, within the request timeout. It returns the bytes read.
func (c *mgmtClient) stream(ctx context.Context, path string, query url.Values, decode func(*json.Decoder) error) (int64, error) {
	password, err := c.password()
	if err != nil {
		return 0, &PollError{Reason: ReasonCredentials, Path: path, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := *c.base
	// The path is pre-escaped: vhost names like "/" must stay %2F.
	u.RawPath = strings.TrimSuffix(c.base.EscapedPath(), "/") + "/api/" + path
	if u.Path, err = url.PathUnescape(u.RawPath); err != nil {
		return 0, &PollError{Reason: ReasonConnection, Path: path, Err: err}
	}
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, &PollError{Reason: ReasonConnection, Path: path, Err: err}
	}
	req.SetBasicAuth(c.username, password)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, &PollError{Reason: classifyTransportError(err), Path: path, Err: stripURL(err)}
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
		return body.n, &PollError{Reason: ReasonAuth, Path: path, Err: fmt.Errorf("%s: check the username and password, and that the user has the monitoring tag", resp.Status)}
	case resp.StatusCode != http.StatusOK:
		return body.n, &PollError{Reason: ReasonHTTPStatus, Path: path, Err: fmt.Errorf("%s: %s", resp.Status, excerpt(body))}
	}
	if err := decode(json.NewDecoder(body)); err != nil {
		reason := ReasonInvalidResponse
		if ctx.Err() != nil {
			reason = ReasonTimeout
		}
		return body.n, &PollError{Reason: reason, Path: path, Err: fmt.Errorf("decoding JSON: %w", stripURL(err))}
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

func classifyTransportError(err error) string {
	var netErr net.Error
	var tlsRecord tls.RecordHeaderError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ReasonTimeout
	case errors.As(err, &tlsRecord), errors.As(err, &certErr), strings.Contains(err.Error(), "tls:"), strings.Contains(err.Error(), "x509:"):
		return ReasonTLS
	default:
		return ReasonConnection
	}
}

// overview is /api/overview with the cluster name rabbit-hole omits.
type overview struct {
	rabbithole.Overview
	ClusterName string `json:"cluster_name"`
}

func (c *mgmtClient) overview(ctx context.Context) (*overview, error) {
	var o overview
	q := url.Values{"columns": {"rabbitmq_version,erlang_version,management_version,cluster_name,node"}}
	if _, err := c.get(ctx, "overview", q, &o); err != nil {
		return nil, err
	}
	if o.RabbitMQVersion == "" {
		return nil, &PollError{Reason: ReasonInvalidResponse, Path: "overview", Err: errors.New("no rabbitmq_version in the response: is this a RabbitMQ management API?")}
	}
	return &o, nil
}

func (c *mgmtClient) nodes(ctx context.Context) ([]rabbithole.NodeInfo, error) {
	var nodes []rabbithole.NodeInfo
	q := url.Values{"columns": {"name,running,mem_alarm,disk_free_alarm,partitions,fd_used,fd_total"}}
	_, err := c.get(ctx, "nodes", q, &nodes)
	return nodes, err
}

func (c *mgmtClient) exchanges(ctx context.Context) ([]rabbithole.ExchangeInfo, error) {
	var xs []rabbithole.ExchangeInfo
	q := url.Values{"columns": {"name,vhost,type"}}
	_, err := c.get(ctx, "exchanges", q, &xs)
	return xs, err
}

func (c *mgmtClient) bindings(ctx context.Context) ([]rabbithole.BindingInfo, error) {
	var bs []rabbithole.BindingInfo
	_, err := c.get(ctx, "bindings", nil, &bs)
	return bs, err
}

// apiQueue is one element of the queue listing, decoded into warren's own
// type: rabbit-hole's QueueInfo lacks head_message_timestamp and
// consumer_capacity.
type apiQueue struct {
	Name                      string     `json:"name"`
	Vhost                     string     `json:"vhost"`
	Type                      string     `json:"type"`
	Node                      string     `json:"node"`
	Leader                    string     `json:"leader"`
	Arguments                 jsonObject `json:"arguments"`
	EffectivePolicyDefinition jsonObject `json:"effective_policy_definition"`
	Consumers                 int64      `json:"consumers"`
	ConsumerCapacity          *float64   `json:"consumer_capacity"`
	Messages                  *int64     `json:"messages"` // absent until the queue's first stats emission
	MessagesReady             int64      `json:"messages_ready"`
	MessagesUnacknowledged    int64      `json:"messages_unacknowledged"`
	HeadMessageTimestamp      *float64   `json:"head_message_timestamp"`
	MessagesDetails           struct {
		Samples []apiSample `json:"samples"`
	} `json:"messages_details"`
	MessageStats struct {
		PublishDetails      sampleList `json:"publish_details"`
		AckDetails          sampleList `json:"ack_details"`
		DeliverNoAckDetails sampleList `json:"deliver_no_ack_details"`
		GetNoAckDetails     sampleList `json:"get_no_ack_details"`
		Publish             uint64     `json:"publish"`
		DeliverGet          uint64     `json:"deliver_get"`
		Ack                 uint64     `json:"ack"`
		Redeliver           uint64     `json:"redeliver"`
		DeliverNoAck        uint64     `json:"deliver_no_ack"`
		GetNoAck            uint64     `json:"get_no_ack"`
	} `json:"message_stats"`
}

// sampleList is the sample history the broker gives in a *_details
// object when asked for one.
type sampleList struct {
	Samples []apiSample `json:"samples"`
}

// apiSample is one point of the broker's per-object sample history.
type apiSample struct {
	Sample    float64 `json:"sample"`
	Timestamp int64   `json:"timestamp"` // milliseconds, broker clock
}

// sampleHistory asks the broker for each queue's samples of messages,
// publish and the completion counters (ack, deliver_no_ack, get_no_ack)
// over the last age at incr resolution.
type sampleHistory struct{ age, incr time.Duration }

func (h sampleHistory) params(q url.Values) {
	if h.incr <= 0 {
		return
	}
	age := strconv.Itoa(int(h.age.Seconds()))
	incr := strconv.Itoa(max(1, int(h.incr.Seconds())))
	q.Set("lengths_age", age)
	q.Set("lengths_incr", incr)
	q.Set("msg_rates_age", age)
	q.Set("msg_rates_incr", incr)
	q.Set("columns", q.Get("columns")+",messages_details.samples,message_stats.publish_details.samples"+
		",message_stats.ack_details.samples,message_stats.deliver_no_ack_details.samples,message_stats.get_no_ack_details.samples")
}

// queueColumns is every queue field warren reads. Asking for columns
// shrinks the response several-fold; before 3.13 it also makes the listing
// cheaper for the broker.
var queueColumns = strings.Join([]string{
	"name", "vhost", "type", "node", "leader", "arguments", "effective_policy_definition",
	"consumers", "consumer_capacity", "messages", "messages_ready", "messages_unacknowledged",
	"head_message_timestamp", "message_stats.publish", "message_stats.deliver_get",
	"message_stats.ack", "message_stats.redeliver", "message_stats.deliver_no_ack",
	"message_stats.get_no_ack",
}, ",")

// queuesPath is the listing that carries message_stats: from 3.13 the
// plain /api/queues returns a reduced field set and /api/queues/detailed
// the full one.
func queuesPath(version string) string {
	if versionAtLeast(version, 3, 13) {
		return "queues/detailed"
	}
	return "queues"
}

// perVhostListing reports whether the broker can list one vhost's queues
// in full detail (before 3.13, /api/queues/<vhost>), so that a poll of a
// target with a vhost filter asks only for the vhosts it watches.
func perVhostListing(version string) bool { return !versionAtLeast(version, 3, 13) }

// queues streams the queue listing at path (all queues, or one vhost's) to
// fn, one queue at a time, and returns the bytes read.
//
// The listing is asked for in one request, not in pages: RabbitMQ builds
// and sorts the whole listing for every page it serves, so 20 pages of 500
// cost the broker about 3.5 times one unpaged listing of 10,000 queues
// (measured on 3.10; see README "Benchmarks"). Decoding one element at a
// time keeps warren's memory to one queue's JSON, however long the listing.
func (c *mgmtClient) queues(ctx context.Context, path string, history sampleHistory, fn func(*apiQueue)) (int64, error) {
	q := url.Values{"columns": {queueColumns}}
	history.params(q)
	return c.stream(ctx, path, q, func(dec *json.Decoder) error {
		if err := expectDelim(dec, '['); err != nil {
			return err
		}
		var a apiQueue
		for dec.More() {
			a = apiQueue{}
			if err := dec.Decode(&a); err != nil {
				return err
			}
			fn(&a)
		}
		return expectDelim(dec, ']')
	})
}

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

// vhosts lists the names of the broker's virtual hosts.
func (c *mgmtClient) vhosts(ctx context.Context) ([]string, int64, error) {
	var vs []struct {
		Name string `json:"name"`
	}
	n, err := c.get(ctx, "vhosts", url.Values{"columns": {"name"}}, &vs)
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.Name
	}
	return names, n, err
}

// versionAtLeast compares a RabbitMQ version string such as "3.13.7" or
// "4.0.0-beta.1" with major.minor.
func versionAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, ok1 := leadingInt(parts[0])
	mnr, ok2 := leadingInt(parts[1])
	if !ok1 || !ok2 {
		return false
	}
	return maj > major || (maj == major && mnr >= minor)
}

// leadingInt parses the digits at the start of s ("13-rc1" is 13).
func leadingInt(s string) (int, bool) {
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(s[:end])
	return n, err == nil
}
