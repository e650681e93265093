// Command warren watches RabbitMQ queues and consumers and serves what it
// sees to Prometheus. This file holds the command line; run.go the agent.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/warrenhq/warren/internal/config"
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
	app := kingpin.New("warren", "Watches RabbitMQ queues and consumers; serves metrics to Prometheus.")
	app.HelpFlag.Short('h')
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	// kingpin exits the process after --help; warren returns instead, so
	// that run stays testable.
	helped := false
	app.Terminate(func(int) { helped = true })

	configFile := app.Flag("config", "Configuration file (YAML). Without one, warren watches one target from $RABBIT_URL or amqp://guest:guest@localhost:5672/.").String()

	webFlags := kingpinflag.AddFlags(app, ":9842")
	logConfig := &promslog.Config{}
	promslogflag.AddFlags(app, logConfig)

	app.Command("run", "Run the agent (the default).").Default()
	app.Command("check", "Validate the configuration and exit: 0 if valid, 2 with every error (file, line, field) if not.")
	app.Command("version", "Print the version and exit.")
	probeCmd := app.Command("probe", "Run the synthetic probes in the foreground and print latencies and outcomes; exit 1 if any round failed.")
	probeCount := probeCmd.Flag("count", "Probe rounds per target, node and queue type.").Default("5").Int()
	probeInterval := probeCmd.Flag("interval", "Pause between rounds.").Default("1s").Duration()

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
		cfg, err := loadConfig(*configFile, getenv)
		if err != nil {
			printConfigError(stderr, err)
			return exitConfigError
		}
		fmt.Fprintf(stdout, "%s: OK, %d target(s)\n", describeSource(cfg), len(cfg.Targets))
		return exitOK
	}

	logConfig.Writer = stderr
	logger := promslog.New(logConfig)
	cfg, err := loadConfig(*configFile, getenv)
	if err != nil {
		printConfigError(stderr, err)
		return exitConfigError
	}
	if cmd == "probe" {
		return runProbeCommand(cfg, *probeCount, *probeInterval, stdout, logger)
	}
	if err := runAgent(cfg, webFlags, logger); err != nil {
		logger.Error("warren stopped", "err", err)
		return exitFailure
	}
	return exitOK
}

func loadConfig(path string, getenv func(string) string) (*config.Config, error) {
	if path == "" {
		return config.Default(getenv)
	}
	return config.Load(path)
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
