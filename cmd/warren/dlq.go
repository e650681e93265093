package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/alecthomas/kingpin/v2"

	"github.com/warrenhq/warren/dlq"
	"github.com/warrenhq/warren/internal/config"
)

// dlqFlags are the flags of `warren dlq` and its subcommands.
type dlqFlags struct {
	target, amqpURL, managementURL, vhost string

	queue               string
	toQueue, toExchange string
	routingKey          string
	toOrigin            bool
	originRoute         string
	stripXDeath         bool
	limit, window       int
	rate, filter        string
	journal             string
	dryRun, force       bool
	summaryJSON         string

	inspectLimit, show, maxBody int
	groupBy                     []string
	format                      string

	olderThan, archive string
	yes                bool
}

// addDlqCommands declares `warren dlq` and its subcommands.
func addDlqCommands(app *kingpin.Application, f *dlqFlags) {
	cmd := app.Command("dlq", "Work on dead-letter queues: list, inspect, replay and purge them without losing a message (docs/dlq.md).")
	cmd.Flag("target", "The configured target to work on (default: the only one).").StringVar(&f.target)
	cmd.Flag("amqp-url", "Connect to this broker instead of a configured target (credentials in the URL are never printed).").StringVar(&f.amqpURL)
	cmd.Flag("management-url", "With --amqp-url: the management API's base URL (default: the URL's host, port 15672).").StringVar(&f.managementURL)
	cmd.Flag("vhost", "The vhost of the queue (default: the URL's).").StringVar(&f.vhost)

	replay := cmd.Command("replay", "Move dead letters back, each acked only after its copy is confirmed; exit 1 if any failed or the run stopped early.")
	replay.Arg("queue", "The dead-letter queue.").Required().StringVar(&f.queue)
	replay.Flag("to-origin", "Send each message back where it first died (the default).").BoolVar(&f.toOrigin)
	replay.Flag("origin-route", "How --to-origin gets there: queue (the source queue, through the default exchange) or exchange (the first death's exchange and routing key, which may also reach other queues).").Default("queue").EnumVar(&f.originRoute, "queue", "exchange")
	replay.Flag("to-queue", "Send every message to this queue.").StringVar(&f.toQueue)
	replay.Flag("to-exchange", "Send every message to this exchange (with --routing-key).").StringVar(&f.toExchange)
	replay.Flag("routing-key", "The routing key with --to-exchange.").StringVar(&f.routingKey)
	replay.Flag("strip-x-death", "Remove the death history (x-death, x-first-death-*, x-last-death-*) from the copies.").BoolVar(&f.stripXDeath)
	replay.Flag("filter", "Move only the messages that meet every condition, DIMENSION=VALUE or DIMENSION!=VALUE separated by commas, the dimensions those of inspect's --group-by (e.g. reason=rejected,field:event_type=order.paid); the others stay.").StringVar(&f.filter)
	replay.Flag("limit", "Move at most this many messages (of those --filter selects; 0: all).").Default("0").IntVar(&f.limit)
	replay.Flag("rate", "Move at most this many messages per second, e.g. 50 or 50/s (0: unlimited).").Default("0").StringVar(&f.rate)
	replay.Flag("window", fmt.Sprintf("Copies awaiting their confirm at once (at most %d).", dlq.MaxWindow)).Default(strconv.Itoa(dlq.MaxWindow)).IntVar(&f.window)
	replay.Flag("dry-run", "Show what would move where; move nothing.").BoolVar(&f.dryRun)
	replay.Flag("force", "Replay into a destination queue that has no consumer.").BoolVar(&f.force)
	replay.Flag("journal", "Record every confirmed move in this file, and skip (ack without copying) what it says an earlier run moved: after a failure, run again with the same journal, and only the copies that were awaiting their confirm can exist twice.").StringVar(&f.journal)
	replay.Flag("summary-json", "Also write the summary to this file as JSON.").StringVar(&f.summaryJSON)

	list := cmd.Command("list", "List the dead-letter queues and parking lots warren discovers, with depth, oldest message age and the queues that route to them; exit 1 if the target could not be read.")
	list.Flag("format", "text, or json.").Default("text").EnumVar(&f.format, "text", "json")

	purge := cmd.Command("purge", "Remove dead letters older than --older-than, each archived (with --archive) and fsynced before it is acked; exit 1 if the run stopped early.")
	purge.Arg("queue", "The dead-letter queue.").Required().StringVar(&f.queue)
	purge.Flag("older-than", "Remove only messages that died longer ago than this, e.g. 36h or 7d; younger ones (and those of unknown age) stay.").Required().StringVar(&f.olderThan)
	purge.Flag("yes", "Really remove them (required).").BoolVar(&f.yes)
	purge.Flag("archive", "Append every removed message to this JSON-lines file first.").StringVar(&f.archive)
	purge.Flag("limit", "Read at most this many messages (0: all).").Default("0").IntVar(&f.limit)
	purge.Flag("summary-json", "Also write the summary to this file as JSON.").StringVar(&f.summaryJSON)

	inspect := cmd.Command("inspect", "Read dead letters without removing them and summarise them in groups; exit 1 if the queue could not be read.")
	inspect.Arg("queue", "The dead-letter queue.").Required().StringVar(&f.queue)
	inspect.Flag("limit", "Read at most this many messages; each stays unacknowledged (held for this connection) until the end.").Default(strconv.Itoa(dlq.DefaultInspectLimit)).IntVar(&f.inspectLimit)
	inspect.Flag("group-by", "A dimension of the groups, repeatable: reason, source, header:NAME or field:JSON.PATH (default: reason, source, field:event_type).").StringsVar(&f.groupBy)
	inspect.Flag("show", "Also print this many messages in full.").Default("0").IntVar(&f.show)
	inspect.Flag("max-body", "The most bytes of a body --show prints.").Default("2048").IntVar(&f.maxBody)
	inspect.Flag("format", "text, or json.").Default("text").EnumVar(&f.format, "text", "json")
}

// runDlqCommand runs `warren dlq SUBCOMMAND`.
func runDlqCommand(sub string, f *dlqFlags, configFile string, getenv func(string) string, stdout, stderr io.Writer, logger *slog.Logger) int {
	t, code := dlqTarget(f, configFile, getenv, stderr)
	if t == nil {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch sub {
	case "replay":
		return runReplay(ctx, t, f, stdout, stderr)
	case "inspect":
		return runInspect(ctx, t, f, stdout, stderr)
	case "purge":
		return runPurge(ctx, t, f, stdout, stderr)
	case "list":
		return runList(ctx, t, f.format, stdout, stderr, logger)
	}
	fmt.Fprintf(stderr, "warren: dlq: unknown subcommand %q\n", sub)
	return exitConfigError
}

// dlqTarget is the target the subcommand works on: --amqp-url's, or the
// configuration's named by --target (or its only one).
func dlqTarget(f *dlqFlags, configFile string, getenv func(string) string, stderr io.Writer) (*config.Target, int) {
	if f.amqpURL != "" {
		cfg, err := config.Default(func(k string) string {
			if k == "RABBIT_URL" {
				return f.amqpURL
			}
			return ""
		})
		if err != nil {
			fmt.Fprintln(stderr, "warren: dlq: --amqp-url must be an amqp:// or amqps:// URL with a host")
			return nil, exitConfigError
		}
		t := cfg.Targets[0]
		if f.managementURL != "" {
			t.ManagementURL = strings.TrimRight(f.managementURL, "/")
		}
		return &t, exitOK
	}
	cfg, err := loadConfig(configFile, getenv)
	if err != nil {
		printConfigError(stderr, err)
		return nil, exitConfigError
	}
	for i, t := range cfg.Targets {
		if t.Name == f.target || (f.target == "" && len(cfg.Targets) == 1) {
			return &cfg.Targets[i], exitOK
		}
	}
	if f.target == "" {
		fmt.Fprintf(stderr, "warren: dlq: %s has several targets (%s): name one with --target\n", describeSource(cfg), targetNames(cfg))
	} else {
		fmt.Fprintf(stderr, "warren: dlq: no target is named %q (%s has %s)\n", f.target, describeSource(cfg), targetNames(cfg))
	}
	return nil, exitConfigError
}

// dlqBroker is where the target's AMQP connections go: its probe URL
// and credentials, in --vhost if given.
func dlqBroker(t *config.Target, vhost string) (dlq.Broker, error) {
	u, err := t.ProbeURL()
	if err != nil {
		return dlq.Broker{}, err
	}
	if vhost != "" {
		u.Path, u.RawPath = "/"+vhost, "/"+url.PathEscape(vhost)
	}
	tlsConfig, err := t.TLS.Build()
	if err != nil {
		return dlq.Broker{}, err
	}
	return dlq.Broker{URL: u.String(), TLS: tlsConfig, Name: "warren-dlq/" + t.Name}, nil
}

// parseRate reads "50", "50/s" or "2.5/s".
func parseRate(s string) (float64, error) {
	r, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "/s"), 64)
	if err != nil || r < 0 {
		return 0, fmt.Errorf("--rate %q is not a rate such as 50 or 50/s", s)
	}
	return r, nil
}

func runReplay(ctx context.Context, t *config.Target, f *dlqFlags, stdout, stderr io.Writer) int {
	opts, err := replayOptions(f)
	if err != nil {
		fmt.Fprintf(stderr, "warren: dlq replay: %v\n", err)
		return exitConfigError
	}
	b, err := dlqBroker(t, f.vhost)
	if err != nil {
		fmt.Fprintf(stderr, "warren: dlq replay: target %s: %v\n", t.Name, err)
		return exitConfigError
	}
	bar := newProgressLine(stderr)
	opts.Progress = bar.show
	if f.dryRun {
		opts.Plan = func(p dlq.Planned) {
			fmt.Fprintf(stdout, "would move %s (%s) to %s\n", orNone(p.MessageID), orNone(p.Reason), p.Destination)
		}
	}
	sum, err := dlq.Replay(ctx, b, opts)
	bar.done()
	printReplaySummary(stdout, sum)
	return finishRun("replay", sum, err, f.summaryJSON, stderr)
}

// finishRun reports a replay's or purge's error, writes its summary where
// --summary-json says, and returns the exit code: 0 only when everything
// asked for was done.
func finishRun(sub string, sum dlq.Summary, err error, summaryJSON string, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintf(stderr, "warren: dlq %s: %v\n", sub, err)
	}
	if summaryJSON != "" {
		if werr := sum.WriteJSON(summaryJSON); werr != nil {
			fmt.Fprintf(stderr, "warren: dlq %s: writing the summary: %v\n", sub, werr)
			return exitFailure
		}
	}
	if err != nil || !sum.OK() {
		return exitFailure
	}
	return exitOK
}

func replayOptions(f *dlqFlags) (dlq.ReplayOptions, error) {
	rate, err := parseRate(f.rate)
	if err != nil {
		return dlq.ReplayOptions{}, err
	}
	to := dlq.Destination{Queue: f.toQueue, Exchange: f.toExchange, RoutingKey: f.routingKey, OriginExchange: f.originRoute == "exchange"}
	switch {
	case (f.toQueue != "" && f.toExchange != "") || (f.toOrigin && (f.toQueue != "" || f.toExchange != "")):
		return dlq.ReplayOptions{}, fmt.Errorf("--to-origin, --to-queue and --to-exchange exclude each other")
	case f.toExchange == "" && f.routingKey != "":
		return dlq.ReplayOptions{}, fmt.Errorf("--routing-key needs --to-exchange")
	case f.limit < 0 || f.window < 1 || f.window > dlq.MaxWindow:
		return dlq.ReplayOptions{}, fmt.Errorf("--limit must be at least 0 and --window between 1 and %d", dlq.MaxWindow)
	}
	filter, err := dlq.ParseFilter(f.filter)
	if err != nil {
		return dlq.ReplayOptions{}, err
	}
	return dlq.ReplayOptions{
		Queue: f.queue, To: to, Limit: f.limit, Rate: rate, Window: f.window, Filter: filter, Journal: f.journal,
		StripXDeath: f.stripXDeath, DryRun: f.dryRun, Force: f.force,
	}, nil
}

func printReplaySummary(w io.Writer, s dlq.Summary) {
	verb := "moved"
	if s.DryRun {
		verb = "would move"
	}
	fmt.Fprintf(w, "replay of %s: %s %d, failed %d, left %s (%.1f s)\n", s.Queue, verb, sumMoved(s), s.Failed, leftText(s.Left), s.Seconds)
	if s.MovedBefore > 0 {
		fmt.Fprintf(w, "  %d acked without a copy: the journal says an earlier run moved them\n", s.MovedBefore)
	}
	if s.NotSelected > 0 {
		fmt.Fprintf(w, "  %d not selected by the filter, left in the queue\n", s.NotSelected)
	}
	dests := make([]string, 0, len(s.Destinations))
	for d := range s.Destinations {
		dests = append(dests, d)
	}
	sort.Strings(dests)
	for _, d := range dests {
		fmt.Fprintf(w, "  %d to %s\n", s.Destinations[d], d)
	}
	reasons := make([]string, 0, len(s.Failures))
	for r := range s.Failures {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "  %d failed: %s (left in %s)\n", s.Failures[r], r, s.Queue)
	}
	if s.InFlightAtFailure > 0 {
		fmt.Fprintf(w, "in flight when it failed: %d (these, and only these, may now exist twice)\n", s.InFlightAtFailure)
	}
	if s.Stopped != "" {
		fmt.Fprintf(w, "stopped: %s\n", s.Stopped)
	}
}

// sumMoved is what the summary line counts: moved, or in a dry run the
// messages that would move.
func sumMoved(s dlq.Summary) int {
	if !s.DryRun {
		return s.Moved
	}
	n := 0
	for _, c := range s.Destinations {
		n += c
	}
	return n
}

func leftText(left int) string {
	if left < 0 {
		return "unknown (the queue could not be read)"
	}
	return strconv.Itoa(left)
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// progressLine redraws one status line on a terminal; elsewhere it
// prints nothing, so logs and pipes get only the summary.
type progressLine struct {
	w  io.Writer
	on bool
}

func newProgressLine(w io.Writer) *progressLine { return &progressLine{w: w, on: isTerminal(w)} }

func (p *progressLine) show(s dlq.Summary) {
	if p.on {
		fmt.Fprintf(p.w, "\r%s: moved %d, failed %d ", s.Queue, s.Moved, s.Failed)
	}
}

func (p *progressLine) done() {
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
