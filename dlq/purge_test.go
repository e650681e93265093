package dlq

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPurgeArchivesThenRemovesOnlyMessagesOlderThanTheAge(t *testing.T) {
	t.Parallel()
	conn, ch := broker.Channel(t, "/")
	s := declareDLQ(t, ch, "purge", nil)
	declareSource(t, ch, s, "purge.work", nil)
	publishEvents(t, ch, "purge.work", "old", "order.paid", 10)
	nackAll(t, conn, "purge.work", s.dlq, 10)
	// x-death times have whole seconds: 3 s apart, a 2 s cut separates
	// the two generations whatever the rounding.
	time.Sleep(3 * time.Second)
	publishEvents(t, ch, "purge.work", "young", "order.paid", 10)
	nackAll(t, conn, "purge.work", s.dlq, 20)

	archive := filepath.Join(t.TempDir(), "purged.jsonl")
	sum, err := Purge(ctxTimeout(t, time.Minute), brokerOf(broker), PurgeOptions{Queue: s.dlq, OlderThan: 2 * time.Second, Archive: archive})
	if err != nil || !sum.OK() || sum.Moved != 10 || sum.Left != 10 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	f, err := os.Open(archive)
	must(t, err)
	defer f.Close()
	lines := 0
	for sc := bufio.NewScanner(f); sc.Scan(); lines++ {
		var a Archived
		must(t, json.Unmarshal(sc.Bytes(), &a))
		if !strings.HasPrefix(a.MessageID, "old-") || !strings.Contains(a.Body, "order.paid") || a.Headers["x-death"] == nil {
			t.Errorf("archived %+v", a)
		}
	}
	if lines != 10 {
		t.Errorf("%d archived lines, want 10", lines)
	}
	for id := range drainIDs(t, conn, s.dlq) {
		if !strings.HasPrefix(id, "young-") {
			t.Errorf("%s is left, but it was older than the cut", id)
		}
	}
}
