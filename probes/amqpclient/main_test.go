package amqpclient

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/internal/testenv/rabbittest"
)

// The tests share one private broker, started on first use (starting one
// takes several seconds) and destroyed when the test binary ends. It also
// listens for AMQPS with a certificate from a CA the tests make.
var (
	brokerOnce sync.Once
	brokerNode *rabbittest.Node
	brokerErr  error
	tlsDir     string // the CA and server certificate files
	tlsPort    int
	tlsCA      *x509.CertPool
)

func TestMain(m *testing.M) {
	code := m.Run()
	if brokerNode != nil {
		brokerNode.Destroy()
	}
	if tlsDir != "" {
		os.RemoveAll(tlsDir)
	}
	os.Exit(code)
}

// broker returns the shared test broker, starting it on first use.
func broker(t *testing.T) *rabbittest.Node {
	t.Helper()
	brokerOnce.Do(func() {
		var err error
		tlsDir, err = os.MkdirTemp("", "amqpclient-tls-")
		if err != nil {
			brokerErr = err
			return
		}
		extra, err := writeTLSFiles(tlsDir)
		if err != nil {
			brokerErr = err
			return
		}
		began := time.Now()
		brokerNode, brokerErr = rabbittest.Start(rabbittest.Options{ExtraConfig: extra})
		if brokerErr == nil {
			t.Logf("started %s in %v", brokerNode.Name, time.Since(began).Round(100*time.Millisecond))
		}
	})
	if brokerErr != nil {
		t.Fatalf("starting the test broker: %v", brokerErr)
	}
	return brokerNode
}

// writeTLSFiles makes a CA and a server certificate for localhost in dir
// and returns the rabbitmq.conf lines for a TLS listener that uses them.
func writeTLSFiles(dir string) (string, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "amqpclient test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	srvKeyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		return "", err
	}
	files := map[string]*pem.Block{
		"ca.pem":     {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem": {Type: "CERTIFICATE", Bytes: srvDER},
		"server.key": {Type: "EC PRIVATE KEY", Bytes: srvKeyDER},
	}
	for name, block := range files {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o644); err != nil {
			return "", err
		}
	}
	tlsCA = x509.NewCertPool()
	tlsCA.AddCert(caCert)
	tlsPort = freePort()
	return fmt.Sprintf(`listeners.ssl.1 = 127.0.0.1:%d
ssl_options.cacertfile = %s
ssl_options.certfile = %s
ssl_options.keyfile = %s
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
`, tlsPort, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")), nil
}

// freePort returns a loopback port that nothing listens on right now.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testName is a connection name prefix unique to the test.
func testName(t *testing.T) string {
	return "warren-test/" + t.Name()
}

// newClient returns a Client for the test broker, closed when t ends.
func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = broker(t).AMQPURL
	}
	if cfg.Name == "" {
		cfg.Name = testName(t)
	}
	c := New(cfg)
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// declareQueue declares a non-durable queue (kept: the broker is private).
func declareQueue(t *testing.T, c *Client, name string) {
	t.Helper()
	err := c.Declare(ctxTimeout(t, 10*time.Second), func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(name, false, false, false, false, nil)
		return err
	})
	if err != nil {
		t.Fatalf("declare queue %s: %v", name, err)
	}
}

// message returns a publishing with a body unique to this call.
func message(t *testing.T) amqp.Publishing {
	body := fmt.Sprintf("%s %d", t.Name(), time.Now().UnixNano())
	return amqp.Publishing{MessageId: body, Body: []byte(body)}
}

func publishOK(t *testing.T, c *Client, exchange, key string) Confirmation {
	t.Helper()
	conf, err := c.Publish(ctxTimeout(t, 10*time.Second), exchange, key, message(t))
	if err != nil {
		t.Fatalf("publish to %q/%q: %v", exchange, key, err)
	}
	if !conf.Acked || conf.Returned {
		t.Fatalf("publish to %q/%q: got %+v, want acked and not returned", exchange, key, conf)
	}
	return conf
}

// receive waits for a delivery whose body is body.
func receive(t *testing.T, deliveries <-chan amqp.Delivery, body []byte) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				t.Fatal("delivery channel closed")
			}
			if bytes.Equal(d.Body, body) {
				return
			}
		case <-timeout:
			t.Fatalf("no delivery of %q within 10s", body)
		}
	}
}

// eventually polls cond every 50ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mgmtConnection is the part of GET /api/connections the tests read.
type mgmtConnection struct {
	Name             string `json:"name"`
	User             string `json:"user"`
	Timeout          int    `json:"timeout"` // negotiated heartbeat, seconds
	ClientProperties struct {
		ConnectionName string `json:"connection_name"`
	} `json:"client_properties"`
}

// mgmt calls the management API as guest; keep-alives are off so that no
// HTTP goroutine outlives the call (the goroutine-leak checks count them).
func mgmt(t *testing.T, method, path string, into any) {
	t.Helper()
	req, err := http.NewRequest(method, broker(t).MgmtURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("guest", "guest")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, path, resp.Status, body)
	}
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// connectionsNamed returns the broker's connections whose connection_name
// client property is name.
func connectionsNamed(t *testing.T, name string) []mgmtConnection {
	t.Helper()
	var all []mgmtConnection
	mgmt(t, http.MethodGet, "/api/connections", &all)
	var named []mgmtConnection
	for _, c := range all {
		if c.ClientProperties.ConnectionName == name {
			named = append(named, c)
		}
	}
	return named
}

// waitConnection waits until the management API lists exactly one
// connection named name and returns it. Connections appear in the API
// only after a statistics interval.
func waitConnection(t *testing.T, name string) mgmtConnection {
	t.Helper()
	var found []mgmtConnection
	eventually(t, 15*time.Second, "connection "+name+" in the management API", func() bool {
		found = connectionsNamed(t, name)
		return len(found) == 1
	})
	return found[0]
}

// stableGoroutines waits until the goroutine count stays at or below
// limit, and fails with a dump of all goroutines if it does not.
func stableGoroutines(t *testing.T, limit int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > limit {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines after Close, baseline %d:\n%s", runtime.NumGoroutine(), limit, buf[:n])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// urlWithPassword returns the test broker's URL for user and password on
// host:port and vhost.
func urlWithPassword(user, password, hostport, vhost string) string {
	u := &url.URL{Scheme: "amqp", User: url.UserPassword(user, password), Host: hostport, Path: "/" + vhost}
	if vhost != "" {
		u.RawPath = "/" + url.PathEscape(vhost)
	}
	return u.String()
}

// brokerHostPort is the test broker's AMQP address.
func brokerHostPort(t *testing.T) string {
	return fmt.Sprintf("127.0.0.1:%d", broker(t).AMQPPort)
}

// silentListener accepts TCP connections and never answers, like a broker
// that hangs or a black-holing load balancer.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}
