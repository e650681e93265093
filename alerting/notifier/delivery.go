package notifier

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"
)

// minBackoff is the first wait after a failed delivery; it doubles up to
// the resend interval.
const minBackoff = time.Second

// alertmanager is one configured Alertmanager: its API client and its
// delivery queue.
type alertmanager struct {
	index   int
	name    string // the URL without credentials: the alertmanager label
	timeout time.Duration
	api     *amclient.AlertmanagerAPI
	wake    chan struct{} // buffered(1): something was queued

	queueState // guarded by Notifier.mu
}

// queueState is the part of an alertmanager guarded by Notifier.mu.
type queueState struct {
	queue    *list.List               // identities owed, oldest first
	owed     map[string]*list.Element // identity -> its element in queue
	failing  bool                     // last delivery failed (for logging state changes)
	dropping bool                     // dropped since the queue last drained (likewise)
}

func newAlertmanager(index int, cfg AlertmanagerConfig) (*alertmanager, error) {
	u := cfg.URL
	switch {
	case u == nil:
		return nil, errors.New("no URL")
	case u.User != nil:
		// Never print such a URL: it holds a secret.
		return nil, errors.New("URL must not contain credentials: use a username and password instead")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("URL %q: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("URL %q: no host", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("URL %q: no query or fragment allowed", u.Redacted())
	case cfg.Username != "" && cfg.Password == nil:
		return nil, fmt.Errorf("URL %q: username without a password", u.Redacted())
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("URL %q: negative timeout", u.Redacted())
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	base := strings.TrimRight(u.Path, "/")
	name := u.Scheme + "://" + u.Host + base

	transport := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.TLSConfig != nil {
		transport.TLSClientConfig = cfg.TLSConfig.Clone()
	}
	var rt http.RoundTripper = boundedBodies{next: transport}
	if cfg.Password != nil {
		rt = &basicAuth{username: cfg.Username, password: cfg.Password, next: rt}
	}
	client := httptransport.NewWithClient(u.Host, base+"/api/v2", []string{u.Scheme}, &http.Client{Transport: rt})
	// The runtime dumps whole requests when DEBUG or SWAGGER_DEBUG is set in
	// the environment; never, here.
	client.SetDebug(false)

	return &alertmanager{
		index:   index,
		name:    name,
		timeout: cfg.Timeout,
		api:     amclient.New(client, strfmt.Default),
		wake:    make(chan struct{}, 1),
		queueState: queueState{
			queue: list.New(),
			owed:  make(map[string]*list.Element),
		},
	}, nil
}

func (am *alertmanager) wakeUp() {
	select {
	case am.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done; returns within one second of
// cancellation even mid-request. Call it once.
func (n *Notifier) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, am := range n.ams {
		wg.Go(func() { n.deliver(ctx, am) })
	}
	wg.Wait()
	<-ctx.Done() // with no Alertmanagers configured, Run still lasts until cancelled
}

// deliver is am's delivery loop: send what is owed, oldest first, batch
// after batch; back off after a failure; when nothing is owed for a resend
// interval, send an empty batch to learn whether am is still up.
func (n *Notifier) deliver(ctx context.Context, am *alertmanager) {
	maxBackoff := max(n.opts.ResendInterval, minBackoff)
	backoff := minBackoff
	var lastRequest time.Time // zero: check am at once
	for {
		batch := n.nextBatch(am)
		if len(batch) == 0 {
			if idle := n.opts.ResendInterval - time.Since(lastRequest); idle > 0 {
				timer := time.NewTimer(idle)
				select {
				case <-ctx.Done():
					timer.Stop()
					return
				case <-am.wake:
				case <-timer.C:
				}
				timer.Stop()
				continue
			}
		}
		err := am.send(ctx, batch)
		lastRequest = time.Now()
		if ctx.Err() != nil {
			return // shutting down: an aborted request is no failure of am
		}
		if !n.finishBatch(am, batch, err) {
			backoff = minBackoff
			continue
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// send posts batch (possibly empty) to am.
func (am *alertmanager) send(ctx context.Context, batch []pending) error {
	body := make(models.PostableAlerts, len(batch)) // empty, not nil: "[]" is a valid request
	for i, p := range batch {
		body[i] = p.alert
	}
	params := alert.NewPostAlertsParamsWithContext(ctx).WithTimeout(am.timeout).WithAlerts(body)
	_, err := am.api.Alert.PostAlerts(params)
	return describeError(err)
}

// rejectedError is Alertmanager refusing the alerts themselves (HTTP 400):
// the same batch can never succeed.
type rejectedError struct{ message string }

func (e *rejectedError) Error() string { return e.message }

// describeError turns the API client's errors into short messages. The
// client's own texts for unexpected statuses embed whole response objects.
func describeError(err error) error {
	var (
		badRequest *alert.PostAlertsBadRequest
		serverErr  *alert.PostAlertsInternalServerError
		apiErr     *runtime.APIError
	)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errResponseTooLarge):
		return fmt.Errorf("POST /api/v2/alerts: %w", err)
	case errors.As(err, &badRequest):
		return &rejectedError{message: "POST /api/v2/alerts: 400 Bad Request: " + excerpt(badRequest.Payload)}
	case errors.As(err, &serverErr):
		return fmt.Errorf("POST /api/v2/alerts: 500 Internal Server Error: %s", excerpt(serverErr.Payload))
	case errors.As(err, &apiErr):
		return fmt.Errorf("POST /api/v2/alerts: HTTP status %d %s", apiErr.Code, http.StatusText(apiErr.Code))
	default:
		return err
	}
}

// excerpt is the start of an error payload, for a message: Alertmanager's
// own are a line or a few, and a log line should not carry more.
func excerpt(payload string) string {
	const most = 500
	s := strings.TrimSpace(payload)
	if len(s) > most {
		s = strings.ToValidUTF8(s[:most], "") + "…"
	}
	return s
}

// maxResponseBytes bounds every response body the notifier reads.
// Alertmanager answers a delivery with an empty body, or with the
// validation errors of a batch (a line per invalid alert: a few kilobytes
// for 64 alerts); a longer body is not Alertmanager's, and reading it
// whole, as the API client would, could take any amount of memory.
const maxResponseBytes = 1 << 20

// errResponseTooLarge is the failure of a response body over
// maxResponseBytes: a failed delivery, retried like any other, so the
// alerts stay queued.
var errResponseTooLarge = fmt.Errorf("response body over %d bytes: not an Alertmanager answer", maxResponseBytes)

// boundedBodies makes every response body fail with errResponseTooLarge
// once more than maxResponseBytes have been read from it.
type boundedBodies struct{ next http.RoundTripper }

func (b boundedBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body}
	return resp, nil
}

// boundedBody is one response body under maxResponseBytes. It asks for no
// more than one byte past the bound, so what it reads stays within it
// however large the caller's buffer.
type boundedBody struct {
	io.ReadCloser
	n int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.n > maxResponseBytes {
		return 0, errResponseTooLarge
	}
	if room := maxResponseBytes - b.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if b.n > maxResponseBytes {
		return n, errResponseTooLarge
	}
	return n, err
}

// basicAuth adds HTTP basic authentication, reading the password at every
// request so a rotated password file takes effect without a restart.
type basicAuth struct {
	username string
	password func() (string, error)
	next     http.RoundTripper
}

func (b *basicAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	password, err := b.password()
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("read Alertmanager password: %w", err)
	}
	req = req.Clone(req.Context())
	req.SetBasicAuth(b.username, password)
	return b.next.RoundTrip(req)
}
