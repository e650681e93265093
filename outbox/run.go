package outbox

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Run polls the outbox every poll interval until ctx is done, recording
// every poll in m and handing each sample to every observe function. A
// failed poll is logged once when its reason first appears (and once
// when the outbox recovers), never once per poll; the loop never stops
// on an error.
func (p *Poller) Run(ctx context.Context, m *Metrics, logger *slog.Logger, observe ...func(*Sample)) {
	defer p.Close()
	m.Register(p.cfg.Name)
	logger = logger.With("outbox", p.cfg.Name)
	var failing Reason
	ticker := time.NewTicker(p.cfg.PollInterval.Std())
	defer ticker.Stop()
	for {
		began := time.Now()
		s, err := p.Poll(ctx)
		took := time.Since(began)
		if ctx.Err() != nil {
			return
		}
		var pe *PollError
		switch {
		case errors.As(err, &pe):
			m.Failed(p.cfg.Name, pe.Reason, took)
			if pe.Reason != failing {
				logger.Warn("outbox poll failed; retrying every poll interval", "reason", pe.Reason, "err", pe.Err, "table", p.cfg.Table)
				failing = pe.Reason
			}
		case err != nil: // Poll returns only PollErrors; keep the loop honest anyway
			m.Failed(p.cfg.Name, ReasonQuery, took)
		default:
			if failing != "" {
				logger.Info("outbox poll succeeds again", "after", failing)
				failing = ""
			}
			m.Observe(s, took)
			for _, f := range observe {
				f(s)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
