package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/common/version"

	"github.com/warrenhq/warren/agent"
	"github.com/warrenhq/warren/internal/config"
)

// runAgent runs the agent until SIGINT or SIGTERM; SIGHUP reloads the
// configuration.
func runAgent(cfg *config.Config, opts agent.Options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts.Logger.Info("starting warren", "version", version.Info(), "build_context", version.BuildContext(), "config", describeSource(cfg), "targets", len(cfg.Targets), "outboxes", len(cfg.Outboxes), "slos", len(cfg.SLOs))
	a, err := agent.New(cfg, opts)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				opts.Logger.Info("SIGHUP: reloading the configuration")
				a.Reload() // logs and reports its own failure
			}
		}
	}()
	return a.Run(ctx)
}
