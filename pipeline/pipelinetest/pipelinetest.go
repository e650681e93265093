// Package pipelinetest runs a real target pipeline on snapshots a test
// makes, for the tests of what reads target states (SLIs, health
// conditions, the status API): every analysis runs as in production, only
// the broker is replaced by the test's snapshots.
//
// Import rule: it imports pipeline, collector, snapshot and
// internal/config; only tests import it.
package pipelinetest

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/snapshot"
)

// Replay is a pipeline fed by hand.
type Replay struct {
	Pipeline *pipeline.Pipeline
	source   *source
}

// New returns the pipeline of t, fed by Observe and Fail. Zero windows
// take warren's defaults.
func New(t config.Target) *Replay {
	if t.ConsumerStatus.Window == 0 {
		t.ConsumerStatus.Window = config.Duration(config.DefaultConsumerStatusWindow)
	}
	if t.PollInterval == 0 {
		t.PollInterval = config.Duration(config.DefaultPollInterval)
	}
	src := &source{}
	return &Replay{
		Pipeline: pipeline.NewWithSource(t, src, pipeline.Options{Metrics: collector.NewMetrics(), Logger: slog.New(slog.DiscardHandler)}),
		source:   src,
	}
}

// Observe polls once, reading snap, and returns the state published.
// snap keeps its own Time.
func (t *Replay) Observe(snap *snapshot.Snapshot) *pipeline.TargetState {
	t.source.next, t.source.err = snap, nil
	t.Pipeline.Poll(context.Background())
	return t.Pipeline.State()
}

// Fail polls once, failing for reason, and returns the state published.
func (t *Replay) Fail(reason snapshot.Reason) *pipeline.TargetState {
	t.source.next, t.source.err = nil, &snapshot.ReadError{Reason: reason, Op: "GET overview", Err: errors.New("scripted failure")}
	t.Pipeline.Poll(context.Background())
	return t.Pipeline.State()
}

// source reads whatever the test set last.
type source struct {
	next *snapshot.Snapshot
	err  error
}

func (s *source) Read(context.Context, time.Time, time.Duration) (*snapshot.Snapshot, error) {
	if s.err != nil {
		return nil, s.err
	}
	return s.next, nil
}
