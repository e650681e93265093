package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/warrenhq/warren/slo"
)

// stateFileName is the SLO state file inside --storage.path.
const stateFileName = "slo-state.json"

// stateStore persists the SLO engine's events under the storage path:
// loaded at start, saved every interval and once more at shutdown, so a
// restart (or kill -9) loses at most one interval of events.
type stateStore struct {
	engine   *slo.Engine
	path     string // "" without a storage path
	interval time.Duration
	logger   *slog.Logger
	// enabled is set while SLOs are configured: without any there is
	// nothing to persist.
	enabled atomic.Bool
}

func newStateStore(engine *slo.Engine, dir string, interval time.Duration, haveSLOs bool, logger *slog.Logger) *stateStore {
	s := &stateStore{engine: engine, interval: interval, logger: logger.With("component", "slo-state")}
	if dir != "" {
		s.path = filepath.Join(dir, stateFileName)
	}
	s.enabled.Store(haveSLOs)
	return s
}

// enable turns persistence on or off, as a reload adds the first SLO or
// removes the last.
func (s *stateStore) enable(haveSLOs bool) { s.enabled.Store(haveSLOs) }

// active reports whether the state is persisted.
func (s *stateStore) active() bool { return s.path != "" && s.enabled.Load() }

// load merges the saved state into the engine. A corrupt or unknown file
// is moved aside and reported, and warren starts with empty budgets; a
// storage directory that cannot be created is an error.
func (s *stateStore) load() error {
	if !s.active() {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o750); err != nil {
		return fmt.Errorf("storage path: %w", err)
	}
	rep, err := s.engine.Load(s.path)
	var fileErr *slo.StateFileError
	switch {
	case errors.As(err, &fileErr):
		s.logger.Error("SLO state file not trusted: set aside, SLOs start empty", "err", err)
	case err != nil:
		return fmt.Errorf("loading SLO state: %w", err)
	default:
		s.logger.Info("SLO state loaded", "file", s.path, "restored", rep.Restored, "rebucketed", rep.Rebucketed, "fresh", rep.Fresh, "dropped", rep.Dropped)
	}
	return nil
}

// run saves every interval until ctx is done.
func (s *stateStore) run(ctx context.Context) {
	if s.path == "" {
		return
	}
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			s.save()
		}
	}
}

// save writes the state now; a failure is logged and retried at the next
// interval.
func (s *stateStore) save() {
	if !s.active() {
		return
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o750); err != nil {
		s.logger.Error("saving SLO state failed", "file", s.path, "err", err)
		return
	}
	if err := s.engine.Save(s.path); err != nil {
		s.logger.Error("saving SLO state failed", "file", s.path, "err", err)
	}
}
