package logbuf

import (
	"strings"
	"sync"
	"testing"
)

func TestBufferKeepsEveryConcurrentWrite(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				b.Write([]byte("x"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if n := len(b.String()); n != 800 {
		t.Errorf("%d bytes, want 800", n)
	}
}

func TestLoggerWritesDebugRecordsAsText(t *testing.T) {
	var b Buffer
	b.Logger().Debug("hello", "queue", "orders")
	if out := b.String(); !strings.Contains(out, "level=DEBUG msg=hello queue=orders") {
		t.Errorf("logged %q", out)
	}
}
