package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/snapshot"
)

func TestSlowPollStretchesTheIntervalAndSaysSo(t *testing.T) {
	var logs strings.Builder
	tg := config.Target{Name: "t"}
	tg.PollInterval = config.Duration(10 * time.Second)
	metrics := NewMetrics()
	p := NewPoller(tg, nil, metrics, slog.New(slog.NewTextHandler(&logs, nil)))

	if got := p.stretch(4 * time.Second); got != 10*time.Second {
		t.Errorf("after a 4s poll the interval is %v, want the configured 10s", got)
	}
	// 25s of polling needs 25 × 1.25 / 0.9 ≈ 34.7s to leave a quarter
	// idle under -10% jitter: the next multiple of 10s is 40s.
	if got := p.stretch(25 * time.Second); got != 40*time.Second {
		t.Errorf("after a 25s poll the interval is %v, want 40s", got)
	}
	if v := testutil.ToFloat64(metrics.interval.WithLabelValues("t")); v != 40 {
		t.Errorf("warren_poll_interval_seconds = %v, want 40", v)
	}
	if !strings.Contains(logs.String(), "stretching the interval") || !strings.Contains(logs.String(), "stretched_interval=40s") {
		t.Errorf("no log line says the interval was stretched:\n%s", logs.String())
	}
	if got := p.stretch(2 * time.Second); got != 10*time.Second {
		t.Errorf("after a fast poll again the interval is %v, want 10s", got)
	}
	if v := testutil.ToFloat64(metrics.interval.WithLabelValues("t")); v != 10 {
		t.Errorf("warren_poll_interval_seconds = %v, want 10 again", v)
	}
	if !strings.Contains(logs.String(), "polls fit in the poll interval again") {
		t.Errorf("no log line says the interval is back:\n%s", logs.String())
	}
}

// fixedSource returns the same snapshot, or error, on every read.
type fixedSource struct {
	snap *snapshot.Snapshot
	err  error
}

func (f fixedSource) Read(_ context.Context, start time.Time, _ time.Duration) (*snapshot.Snapshot, error) {
	if f.err != nil {
		return nil, f.err
	}
	s := *f.snap
	s.Queues = slices.Clone(f.snap.Queues)
	s.Time = start
	return &s, nil
}

func TestAFailedReadIsCountedByTheReasonTheSourceGives(t *testing.T) {
	metrics := NewMetrics()
	src := fixedSource{err: fmt.Errorf("listing: %w", &snapshot.ReadError{Reason: snapshot.ReasonAuth, Op: "GET queues", Err: errors.New("401")})}
	p := NewPoller(config.Target{Name: "t"}, src, metrics, slog.New(slog.DiscardHandler))
	snap, h, ok := p.Poll(context.Background())
	if !ok || snap != nil || h.Up || !h.Attempted || h.LastReason != snapshot.ReasonAuth {
		t.Fatalf("poll = %v, %+v, %v; want no snapshot and an auth failure", snap, h, ok)
	}
	if n := testutil.ToFloat64(metrics.errors.WithLabelValues("t", "auth")); n != 1 {
		t.Errorf("auth errors = %v, want 1", n)
	}
	if n := testutil.ToFloat64(metrics.errors.WithLabelValues("t", "timeout")); n != 0 {
		t.Errorf("timeout errors = %v, want 0 (but the series exists from the start)", n)
	}
}

func TestQueuesDroppedByTheGuardStillCountAsExistingForDeadLetterRouting(t *testing.T) {
	q := func(vhost, name string) snapshot.Queue { return snapshot.Queue{Vhost: vhost, Name: name} }
	src := fixedSource{snap: &snapshot.Snapshot{
		Queues:   []snapshot.Queue{q("a", "1"), q("a", "2"), q("a", "3"), q("b", "1")},
		Topology: &snapshot.Topology{OtherQueues: []snapshot.QueueKey{{Vhost: "c", Name: "filtered"}}},
	}}
	p := NewPoller(config.Target{Name: "t", MaxQueuesPerVhost: 2}, src, NewMetrics(), slog.New(slog.DiscardHandler))
	snap, _, _ := p.Poll(context.Background())
	if len(snap.Queues) != 3 || snap.QueuesDropped != 1 {
		t.Fatalf("kept %d, dropped %d; want 3 and 1", len(snap.Queues), snap.QueuesDropped)
	}
	want := []snapshot.QueueKey{{Vhost: "c", Name: "filtered"}, {Vhost: "a", Name: "3"}}
	if !slices.Equal(snap.Topology.OtherQueues, want) {
		t.Errorf("other queues = %v, want %v", snap.Topology.OtherQueues, want)
	}
}
