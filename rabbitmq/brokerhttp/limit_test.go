package brokerhttp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// endless yields prefix, then filler bytes for ever, counting what it
// yields: a body that is generated as it is read, never held.
type endless struct {
	prefix string
	filler byte
	n      int64
}

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e.filler
		if e.n < int64(len(e.prefix)) {
			p[i] = e.prefix[e.n]
		}
		e.n++
	}
	return len(p), nil
}

func TestValueLimiterFailsOnceOneValuePassesItsBoundAndResetStartsTheCountAnew(t *testing.T) {
	l := NewValueLimiter(strings.NewReader(strings.Repeat("x", 100)), 10)
	buf := make([]byte, 10)
	if n, err := io.ReadFull(l, buf); n != 10 || err != nil {
		t.Fatalf("first 10 bytes: %d, %v; want all of them", n, err)
	}
	l.Reset()
	if n, err := io.ReadFull(l, buf); n != 10 || err != nil {
		t.Fatalf("10 bytes after Reset: %d, %v; want all of them", n, err)
	}
	n, err := l.Read(make([]byte, 50))
	if !errors.Is(err, ErrValueTooLarge) || !strings.Contains(err.Error(), "10 bytes") {
		t.Fatalf("the 11th byte of a value: err %v, want ErrValueTooLarge naming the bound", err)
	}
	if n != 1 {
		t.Errorf("read %d bytes past the bound, want 1: the limiter must not read on", n)
	}
	if _, err := l.Read(buf); !errors.Is(err, ErrValueTooLarge) {
		t.Errorf("a read after the failure: %v, want the failure again", err)
	}
}

// json.Decoder buffers a whole token before it decodes it; through the
// limiter its buffer cannot grow past what the limiter let it read.
func TestValueLimiterKeepsAJSONDecoderWithinItsBoundOnAnUnterminatedString(t *testing.T) {
	const bound = 1 << 20
	body := &endless{prefix: `[{"name":"`, filler: 'a'} // 300 MB and more, never held
	l := NewValueLimiter(body, bound)
	dec := json.NewDecoder(l)
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	readBefore := body.n // the decoder's read ahead while reading the '['
	l.Reset()
	var v map[string]any
	err := dec.Decode(&v)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrValueTooLarge) {
		t.Fatalf("decoding an unterminated string: %v, want ErrValueTooLarge", err)
	}
	if read := body.n - readBefore; read > bound+1 {
		t.Errorf("the decoder read %d bytes of the value, want at most %d", read, bound+1)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("the decoder read %d bytes of the value and allocated %d bytes", body.n-readBefore, alloc)
	if alloc > 8*bound {
		t.Errorf("decoding allocated %d bytes, want at most %d (the decoder's buffer within a few times the bound)", alloc, 8*bound)
	}
}

func TestResponseOverMaxResponseBytesIsAnInvalidResponseNamingTheBoundAndTheSetting(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.Copy(w, &endless{prefix: "[", filler: ' '}) // until the client hangs up
	}))
	t.Cleanup(srv.Close)
	const bound = 64 << 10
	c, err := New(Endpoint{What: "test URL", BaseURL: srv.URL, Prefix: "/api/", Password: func() (string, error) { return "", nil },
		Timeout: 10 * time.Second, MaxResponseBytes: bound})
	if err != nil {
		t.Fatal(err)
	}
	var seen int64
	n, err := c.Get(context.Background(), "queues", nil, "application/json", func(r io.Reader) error {
		var err error
		seen, err = io.Copy(io.Discard, r)
		return err
	})
	var re *snapshot.ReadError
	if !errors.As(err, &re) || re.Reason != snapshot.ReasonInvalidResponse || !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("err %v, want an invalid_response wrapping ErrResponseTooLarge", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "max_response_size") || !strings.Contains(msg, strconv.Itoa(bound)) {
		t.Errorf("error %q does not name max_response_size and its value", msg)
	}
	if seen != bound+1 {
		t.Errorf("read handed over %d bytes, want the bound and one more", seen)
	}
	if n > bound+1+4096 {
		t.Errorf("the client read %d bytes of the response, want the bound and at most the 4 KiB drain", n)
	}
}

func TestNewRefusesAnEndpointWithoutAResponseBound(t *testing.T) {
	if _, err := New(Endpoint{What: "test URL", BaseURL: "http://127.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "bound") {
		t.Fatalf("New without MaxResponseBytes: %v, want an error", err)
	}
}
