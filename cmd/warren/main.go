// Command warren watches RabbitMQ queues and consumers and serves what it
// sees to Prometheus. This file holds the command line; run.go the agent.
//
// Import rule: it is the top of the graph: it may import every package;
// nothing imports it.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/warrenhq/warren/agent"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/slo/promrules"
)

// Exit codes: 2 for anything the operator must fix in the configuration.
const (
	exitOK          = 0
	exitFailure     = 1
	exitConfigError = 2
)

func init() {
	if version.Version == "" {
		version.Version = "devel" // `make build` sets the real one
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	app, f := newCommandLine(stdout, stderr)
	// kingpin exits the process after --help; warren returns instead, so
	// that run stays testable.
	helped := false
	app.Terminate(func(int) { helped = true })
	cmd, err := app.Parse(args)
	if helped {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "warren: %v (try --help)\n", err)
		return exitConfigError
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, version.Print("warren"))
		return exitOK
	case "check":
		return checkCommand(f, getenv, stdout, stderr)
	case "rules":
		return rulesCommand(f, getenv, stdout, stderr)
	case "status":
		return runStatusCommand(f.statusURL, f.statusQueues, f.statusColour, stdout, stderr)
	}
	f.log.Writer = stderr
	logger := promslog.New(f.log)
	if sub, ok := strings.CutPrefix(cmd, "dlq "); ok {
		return runDlqCommand(sub, &f.dlq, f.configFile, getenv, stdout, stderr, logger)
	}
	cfg, err := loadConfig(f.configFile, getenv)
	if err != nil {
		printConfigError(stderr, err)
		return exitConfigError
	}
	switch cmd {
	case "probe":
		return runProbeCommand(cfg, f.probeCount, f.probeInterval, stdout, logger)
	case "audit":
		return runAuditCommand(cfg, f.audit, stdout, stderr, logger)
	}
	return agentCommand(cfg, f, getenv, logger)
}

// commandLine holds the parsed flags of every subcommand.
type commandLine struct {
	configFile   string
	web          *web.FlagConfig
	externalURL  string
	routePrefix  string
	storagePath  string
	saveInterval time.Duration
	lifecycle    bool
	log          *promslog.Config

	syntaxOnly    bool
	probeCount    int
	probeInterval time.Duration
	rulesFormat   string
	statusURL     string
	statusQueues  int
	statusColour  string
	audit         auditFlags
	dlq           dlqFlags
}

// newCommandLine declares warren's flags and subcommands.
func newCommandLine(stdout, stderr io.Writer) (*kingpin.Application, *commandLine) {
	f := &commandLine{log: &promslog.Config{}}
	app := kingpin.New("warren", "Watches RabbitMQ queues and consumers; serves metrics to Prometheus.")
	app.HelpFlag.Short('h')
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)

	app.Flag("config", "Configuration file (YAML). Without one, warren watches one target from $RABBIT_URL or amqp://guest:guest@localhost:5672/.").StringVar(&f.configFile)
	f.web = kingpinflag.AddFlags(app, ":9842")
	app.Flag("web.external-url", "URL under which warren is reached from outside, the base of alerts' generatorURL and of the web pages' links (default: alerting.external_url, else http://<hostname>:<port of the first listen address><route prefix>).").StringVar(&f.externalURL)
	app.Flag("web.route-prefix", "Path prefix everything is served under: pages, /metrics, the API, /-/healthy (default: the path of the external URL, else /).").StringVar(&f.routePrefix)
	app.Flag("web.enable-lifecycle", "Serve POST /-/reload, which reloads the configuration as SIGHUP does.").BoolVar(&f.lifecycle)
	app.Flag("storage.path", "Directory for the SLO state (event history), saved atomically and loaded at start.").Default("data").StringVar(&f.storagePath)
	app.Flag("storage.save-interval", "How often the SLO state is saved (and once more at shutdown).").Default("1m").DurationVar(&f.saveInterval)
	promslogflag.AddFlags(app, f.log)

	app.Command("run", "Run the agent (the default).").Default()
	checkCmd := app.Command("check", "Validate the configuration and exit: 0 if valid, 2 with every error (file, line, field) if not.")
	checkCmd.Flag("syntax-only", "Check everything but the password and TLS files the configuration names: they are not read (for CI, where the production secrets do not exist).").BoolVar(&f.syntaxOnly)
	app.Command("version", "Print the version and exit.")
	probeCmd := app.Command("probe", "Run the synthetic probes in the foreground and print latencies and outcomes; exit 1 if any round failed.")
	probeCmd.Flag("count", "Probe rounds per target, node and queue type.").Default("5").IntVar(&f.probeCount)
	probeCmd.Flag("interval", "Pause between rounds.").Default("1s").DurationVar(&f.probeInterval)
	rulesCmd := app.Command("rules", "Print Prometheus recording and alerting rules for the configured SLOs: the same burn-rate alerts the agent evaluates. Reads no password or TLS file.")
	rulesCmd.Flag("format", "prometheus (a rule file) or prometheusrule (a Kubernetes PrometheusRule).").Default("prometheus").EnumVar(&f.rulesFormat, "prometheus", "prometheusrule")
	statusCmd := app.Command("status", "Print what a running warren sees: alerts, SLOs, targets and the worst queues; exit 1 while alerts fire.")
	statusCmd.Flag("url", "Base URL of the running warren.").Default("http://localhost:9842").StringVar(&f.statusURL)
	statusCmd.Flag("queues", "How many queues to list, worst first.").Default("20").IntVar(&f.statusQueues)
	statusCmd.Flag("colour", "Colour the output: auto (on a terminal), always or never.").Default("auto").EnumVar(&f.statusColour, "auto", "always", "never")
	auditCmd := app.Command("audit", "Read each target once and check it against the practices that keep messages safe (docs/audit.md); exit 1 if any finding is at or above --min-severity.")
	auditCmd.Flag("target", "Audit only the target of this name.").StringVar(&f.audit.target)
	auditCmd.Flag("format", "text, or json (a stable, versioned schema).").Default("text").EnumVar(&f.audit.format, "text", "json")
	auditCmd.Flag("min-severity", "The least severity reported and failing the exit code: info, warning or critical.").Default("info").EnumVar(&f.audit.minSeverity, "info", "warning", "critical")
	addDlqCommands(app, &f.dlq)
	return app, f
}

// checkCommand is `warren check`: every configuration error, or OK.
func checkCommand(f *commandLine, getenv func(string) string, stdout, stderr io.Writer) int {
	var opts []config.Option
	unread := ""
	if f.syntaxOnly {
		opts, unread = []config.Option{config.WithoutSecrets()}, " (password and TLS files not read)"
	}
	cfg, err := loadConfig(f.configFile, getenv, opts...)
	if err != nil {
		printConfigError(stderr, err)
		return exitConfigError
	}
	for _, w := range sloWarnings(cfg) {
		fmt.Fprintf(stderr, "warren: config warning: %s\n", w)
	}
	outboxes := ""
	if n := len(cfg.Outboxes); n > 0 {
		outboxes = fmt.Sprintf(", %d outbox(es)", n)
	}
	fmt.Fprintf(stdout, "%s: OK%s, %d target(s), %d SLO(s)%s\n", describeSource(cfg), unread, len(cfg.Targets), len(cfg.SLOs), outboxes)
	return exitOK
}

// rulesCommand is `warren rules`: the SLOs as Prometheus rules. The rules
// need no secret, so none is read: CI can generate them without any.
func rulesCommand(f *commandLine, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(f.configFile, getenv, config.WithoutSecrets())
	if err != nil {
		printConfigError(stderr, err)
		return exitConfigError
	}
	out, err := promrules.Marshal(promrules.Generate(cfg), f.rulesFormat)
	if err != nil {
		fmt.Fprintf(stderr, "warren: rules: %v\n", err)
		return exitFailure
	}
	stdout.Write(out)
	return exitOK
}

// agentCommand is `warren run`, the default: the agent until a signal.
func agentCommand(cfg *config.Config, f *commandLine, getenv func(string) string, logger *slog.Logger) int {
	opts := agent.Options{
		Web: f.web, StoragePath: f.storagePath, SaveInterval: f.saveInterval, ExternalURL: f.externalURL,
		EnableLifecycle: f.lifecycle, Logger: logger,
		Load: func() (*config.Config, error) { return loadConfig(f.configFile, getenv) },
	}
	if opts.ExternalURL == "" {
		opts.ExternalURL = cfg.Alerting.ExternalURL
	}
	opts.RoutePrefix = routePrefix(f.routePrefix, opts.ExternalURL)
	if opts.ExternalURL == "" {
		opts.ExternalURL = defaultExternalURL(*f.web.WebListenAddresses) + opts.RoutePrefix
	}
	if err := runAgent(cfg, opts); err != nil {
		logger.Error("warren stopped", "err", err)
		return exitFailure
	}
	return exitOK
}

func loadConfig(path string, getenv func(string) string, opts ...config.Option) (*config.Config, error) {
	if path == "" {
		return config.Default(getenv, opts...)
	}
	return config.Load(path, opts...)
}

// sloWarnings lists what `warren check` reports without failing: SLO
// rules that can never fire for their objective.
func sloWarnings(cfg *config.Config) []string {
	var out []string
	for i, s := range cfg.SLOs {
		for _, reason := range s.Spec().Unreachable() {
			out = append(out, fmt.Sprintf("%s: slos[%d].alerting: %s", describeSource(cfg), i, reason))
		}
	}
	return out
}

// routePrefix is the --web.route-prefix in force, as Prometheus has it:
// the flag, else the external URL's path; "" for the root, else a path
// starting with / and without a trailing one.
func routePrefix(flag, externalURL string) string {
	p := flag
	if p == "" && externalURL != "" {
		if u, err := url.Parse(externalURL); err == nil {
			p = u.Path
		}
	}
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return "/" + p
}

// defaultExternalURL is http://<hostname>:<port> of the first listen
// address: what another machine would use to reach this warren.
func defaultExternalURL(listen []string) string {
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	port := "9842"
	if len(listen) > 0 {
		if _, p, err := net.SplitHostPort(listen[0]); err == nil && p != "" {
			port = p
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

func describeSource(cfg *config.Config) string {
	if cfg.File == "" {
		return "built-in default configuration"
	}
	return cfg.File
}

func printConfigError(w io.Writer, err error) {
	var es config.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			fmt.Fprintf(w, "warren: config error: %s\n", e.Error())
		}
		return
	}
	fmt.Fprintf(w, "warren: config error: %v\n", err)
}
