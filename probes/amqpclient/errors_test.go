package amqpclient

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/internal/testenv/logbuf"
)

// errorTexts returns every text err can show: its message in the usual
// verbs and the messages of everything it wraps.
func errorTexts(err error) []string {
	var texts []string
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		texts = append(texts, e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e))
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				walk(inner)
			}
		}
	}
	walk(err)
	return texts
}

func TestPasswordNeverAppearsInErrors(t *testing.T) {
	n := broker(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	// Reserved characters make the URL carry the password percent-encoded,
	// so both forms are checked.
	password := "S3cret/p@ss:" + suffix
	escaped := url.QueryEscape(password)
	user, vhost := "secretive-"+suffix, "secret-vhost-"+suffix
	if err := n.AddUser(user, password); err != nil {
		t.Fatal(err)
	}
	if err := n.AddVhost(vhost); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		url  string
		cfg  Config
	}{
		{"wrong password", urlWithPassword("guest", password, brokerHostPort(t), ""), Config{}},
		{"vhost refused", urlWithPassword(user, password, brokerHostPort(t), vhost), Config{}},
		{"port closed", urlWithPassword(user, password, fmt.Sprintf("127.0.0.1:%d", freePort()), ""), Config{}},
		{"handshake timeout", urlWithPassword(user, password, silentListener(t), ""), Config{DialTimeout: 200 * time.Millisecond}},
		// These do not parse; net/url quotes the whole URL in its error.
		{"bad port", "amqp://" + user + ":" + password + "@127.0.0.1:notaport/", Config{}},
		{"escaped, bad port", "amqp://" + user + ":" + escaped + "@127.0.0.1:notaport/", Config{}},
		{"whitespace", "amqp://" + user + ":" + password + " x@127.0.0.1/", Config{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs logbuf.Buffer
			cfg := tc.cfg
			cfg.URL, cfg.Name, cfg.Logger = tc.url, testName(t), logs.Logger()
			cfg.MinBackoff = 5 * time.Second // so that the third call hits the backoff
			c := New(cfg)
			defer c.Close()

			var errs []error
			_, err := c.Publish(ctxTimeout(t, 5*time.Second), "", "q", message(t))
			errs = append(errs, err)
			_, err = c.Consume(ctxTimeout(t, 5*time.Second), "q")
			errs = append(errs, err)
			err = c.Declare(ctxTimeout(t, time.Second), func(*amqp.Channel) error { return nil })
			errs = append(errs, err)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err = c.Publish(ctx, "", "q", message(t))
			errs = append(errs, err)

			for i, err := range errs {
				if err == nil {
					t.Fatalf("call %d succeeded", i)
				}
				for _, text := range errorTexts(err) {
					if strings.Contains(text, password) || strings.Contains(text, escaped) {
						t.Fatalf("call %d: error shows the password: %s", i, text)
					}
				}
			}
			if text := logs.String(); strings.Contains(text, password) || strings.Contains(text, escaped) {
				t.Fatalf("log shows the password:\n%s", text)
			}
			t.Logf("first error: %v", errs[0])
			if tc.name == "wrong password" || tc.name == "vhost refused" {
				var connErr *ConnectError
				if !errors.As(errs[0], &connErr) || !connErr.Auth {
					t.Fatalf("got %v, want an auth *ConnectError", errs[0])
				}
			}
		})
	}
}

func TestRedactorRemovesEveryFormOfTheCredentials(t *testing.T) {
	raw := "amqp://probe:p%40ss%2Fw0rd@rabbit.example:5672/prod"
	r := newRedactor(raw)
	for _, leak := range []string{raw, "p@ss/w0rd", "p%40ss%2Fw0rd", "probe:p%40ss%2Fw0rd"} {
		got := r.string("error: " + leak + " happened")
		if strings.Contains(got, "p@ss/w0rd") || strings.Contains(got, "p%40ss%2Fw0rd") {
			t.Errorf("redacting %q left %q", leak, got)
		}
	}
	if got := r.string("dial tcp rabbit.example:5672: connection refused"); got != "dial tcp rabbit.example:5672: connection refused" {
		t.Errorf("a message without secrets was changed to %q", got)
	}

	cause := context.DeadlineExceeded
	if got := r.error(cause); got != cause {
		t.Errorf("an error without secrets was replaced: %v", got)
	}
	leaky := fmt.Errorf("parse %q: bad", raw)
	got := r.error(leaky)
	if strings.Contains(got.Error(), "p%40ss") || errors.Unwrap(got) != nil {
		t.Errorf("leaky error became %v (unwraps to %v)", got, errors.Unwrap(got))
	}
}

func TestAuthRefusalClassification(t *testing.T) {
	for _, tc := range []struct {
		err  error
		auth bool
	}{
		{amqp.ErrCredentials, true},
		{amqp.ErrVhost, true},
		{&amqp.Error{Code: amqp.NotAllowed, Reason: "NOT_ALLOWED - access to vhost 'x' refused for user 'u'", Server: true}, true},
		{&amqp.Error{Code: amqp.NotAllowed, Reason: "NOT_ALLOWED - connection refused for user 'u': user connection limit (1) is reached", Server: true}, false},
		{&amqp.Error{Code: amqp.FrameError, Reason: "EOF"}, false},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), false},
	} {
		if got := isAuthRefusal(tc.err); got != tc.auth {
			t.Errorf("isAuthRefusal(%v) = %v, want %v", tc.err, got, tc.auth)
		}
	}
}

func TestBackoffDoublesToTheCapWithEqualJitter(t *testing.T) {
	lowest := backoff{minDelay: 100 * time.Millisecond, maxDelay: time.Second, randN: func(time.Duration) time.Duration { return 0 }}
	highest := lowest
	highest.randN = func(n time.Duration) time.Duration { return n - 1 }
	for failures, nominal := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 50: time.Second,
	} {
		if got := lowest.delay(failures); got != nominal-nominal/2 {
			t.Errorf("failures=%d: shortest delay %v, want half of %v", failures, got, nominal)
		}
		if got := highest.delay(failures); got != nominal {
			t.Errorf("failures=%d: longest delay %v, want %v", failures, got, nominal)
		}
	}
	huge := backoff{minDelay: time.Second, maxDelay: 1<<63 - 1, randN: lowest.randN}
	if got := huge.delay(200); got <= 0 {
		t.Errorf("delay overflowed: %v", got)
	}
	real := newBackoff(100*time.Millisecond, time.Second)
	for range 1000 {
		if d := real.delay(3); d < 200*time.Millisecond || d > 400*time.Millisecond {
			t.Fatalf("delay(3) = %v, want within [200ms, 400ms]", d)
		}
	}
}
