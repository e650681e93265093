package rabbittest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// newCookie returns a random Erlang cookie: nodes share one only when
// they form a cluster.
func newCookie() (string, error) {
	cookie := make([]byte, 20)
	if _, err := rand.Read(cookie); err != nil {
		return "", err
	}
	return strings.ToUpper(hex.EncodeToString(cookie)), nil
}

// writeFiles lays out the node's directory, with cookie as its Erlang
// cookie.
func (n *Node) writeFiles(opts Options, cookie string) error {
	for _, d := range []string{"mnesia", "log"} {
		if err := os.MkdirAll(filepath.Join(n.Dir, d), 0o755); err != nil {
			return err
		}
	}
	conf, plugins, err := n.config(opts)
	if err != nil {
		return err
	}
	type nodeFile struct {
		name string
		data string
		mode os.FileMode
	}
	files := []nodeFile{
		{"rabbitmq.conf", conf, 0o644},
		{"enabled_plugins", plugins + "\n", 0o644},
		// An empty env file, so that /etc/rabbitmq/rabbitmq-env.conf is not read.
		{"rabbitmq-env.conf", "", 0o644},
		// Erlang refuses a cookie file that others can read.
		{".erlang.cookie", cookie, 0o400},
	}
	if opts.AdvancedConfig != "" {
		files = append(files, nodeFile{"advanced.config", opts.AdvancedConfig, 0o644})
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(n.Dir, f.name), []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	return nil
}

// config returns the node's rabbitmq.conf and enabled_plugins, and
// writes the TLS files it names.
func (n *Node) config(opts Options) (conf, plugins string, err error) {
	interval := opts.StatsIntervalMS
	if interval <= 0 {
		interval = 1000
	}
	conf = fmt.Sprintf(`# Written by rabbittest for a private test node.
listeners.tcp.1 = 127.0.0.1:%d
management.tcp.ip = 127.0.0.1
management.tcp.port = %d
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = %d
loopback_users = none
collect_statistics_interval = %d
`, n.AMQPPort, n.MgmtPort, n.PromPort, interval)
	plugins = "[rabbitmq_management,rabbitmq_prometheus]."
	if opts.Streams {
		plugins = "[rabbitmq_management,rabbitmq_prometheus,rabbitmq_stream,rabbitmq_stream_management]."
		conf += fmt.Sprintf("stream.listeners.tcp.1 = 127.0.0.1:%d\n", n.StreamPort)
	}
	if opts.TLS {
		listener, err := n.writeTLSFiles(n.AMQPSPort)
		if err != nil {
			return "", "", err
		}
		conf += listener
	}
	if opts.ExtraConfig != "" {
		conf += opts.ExtraConfig
		if !strings.HasSuffix(conf, "\n") {
			conf += "\n"
		}
	}
	return conf, plugins, nil
}

// env is the environment for the node and for rabbitmqctl. Variables of the
// caller that would point the scripts elsewhere are dropped.
func (n *Node) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "RABBITMQ_"), k == "HOME", k == "ERL_LIBS",
			k == "ERL_FLAGS", k == "ERL_AFLAGS", k == "ERL_ZFLAGS", k == "LANG", k == "LC_ALL":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+n.Dir, // where both the node and rabbitmqctl read .erlang.cookie
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8", // Elixir-based CLI warns under a latin1 locale
		"RABBITMQ_NODENAME="+n.Name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(n.AMQPPort),
		// Must be explicit: the default is AMQP port + 20000.
		"RABBITMQ_DIST_PORT="+strconv.Itoa(n.DistPort),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		// 0/0 lets the CLI's own distribution listener take an ephemeral
		// port instead of one of the eleven fixed ports from 35672.
		"RABBITMQ_CTL_DIST_PORT_MIN=0",
		"RABBITMQ_CTL_DIST_PORT_MAX=0",
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(n.Dir, "rabbitmq-env.conf"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(n.Dir, "rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(n.Dir, "advanced.config"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(n.Dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(n.Dir, "log"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(n.Dir, "enabled_plugins"),
	)
}
