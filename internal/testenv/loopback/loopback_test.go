package loopback

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFreePortsAreDistinctBindableAndBelowTheEphemeralRange(t *testing.T) {
	ports, err := FreePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Errorf("port %d picked twice", p)
		}
		seen[p] = true
		if p < lowestPort || p >= ephemeralPortStart() {
			t.Errorf("port %d outside %d-%d", p, lowestPort, ephemeralPortStart())
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d: %v", p, err)
			continue
		}
		l.Close()
	}
}

func TestWaitReadyWaitsForOKAndStopsWhenTheProcessExits(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls++; calls < 3 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if err := WaitReady(srv.URL, 10*time.Second, nil); err != nil || calls != 3 {
		t.Errorf("WaitReady = %v after %d calls, want nil after 3", err, calls)
	}
	exited := make(chan struct{})
	close(exited)
	if err := WaitReady("http://127.0.0.1:1/-/ready", 10*time.Second, exited); !errors.Is(err, ErrExited) {
		t.Errorf("WaitReady with the process gone = %v, want ErrExited", err)
	}
	if err := WaitReady("http://127.0.0.1:1/-/ready", 300*time.Millisecond, nil); err == nil || !strings.Contains(err.Error(), "not ready within") {
		t.Errorf("WaitReady on a closed port = %v, want a timeout naming the last error", err)
	}
}
