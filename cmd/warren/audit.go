package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/warrenhq/warren/analysis/audit"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/statusapi"
)

// auditFlags are `warren audit`'s own flags.
type auditFlags struct {
	target      string
	format      string
	minSeverity string
}

// runAuditCommand is `warren audit`: every target (or --target) read
// once and checked against the practices that keep messages safe, printed
// as text or JSON. It exits 0 when no finding is at or above
// --min-severity, 1 when some are or a target could not be audited, and
// 2 for a --target no target has.
func runAuditCommand(cfg *config.Config, f auditFlags, stdout, stderr io.Writer, logger *slog.Logger) int {
	min, _ := audit.ParseSeverity(f.minSeverity) // kingpin allows only the three names
	targets := cfg.Targets
	if f.target != "" {
		targets = nil
		for _, t := range cfg.Targets {
			if t.Name == f.target {
				targets = append(targets, t)
			}
		}
		if len(targets) == 0 {
			fmt.Fprintf(stderr, "warren: audit: no target is named %q (%s has %s)\n", f.target, describeSource(cfg), targetNames(cfg))
			return exitConfigError
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := exitOK
	states := make([]*pipeline.TargetState, 0, len(targets))
	for _, t := range targets {
		st, err := pipeline.AuditOnce(ctx, t, cfg.Audit, logger)
		if err != nil {
			fmt.Fprintf(stderr, "warren: audit: target %s: %v\n", t.Name, err)
			return exitFailure
		}
		if st.Report == nil {
			fmt.Fprintf(stderr, "warren: audit: target %s could not be audited: %s\n", t.Name, st.LastError)
			code = exitFailure
		}
		states = append(states, &pipeline.TargetState{Cluster: t.Name, Audit: st})
	}
	doc := statusapi.NewAuditDocument(time.Now(), states, min)
	if err := printAudit(stdout, doc, f.format); err != nil {
		fmt.Fprintf(stderr, "warren: audit: %v\n", err)
		return exitFailure
	}
	if doc.Findings > 0 {
		code = exitFailure
	}
	return code
}

func printAudit(w io.Writer, doc statusapi.AuditDocument, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	return statusapi.RenderAudit(w, doc, isTerminal(w))
}

func targetNames(cfg *config.Config) string {
	names := make([]string, len(cfg.Targets))
	for i, t := range cfg.Targets {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}
