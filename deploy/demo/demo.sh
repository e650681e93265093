#!/usr/bin/env bash
# demo.sh — warren end to end on one machine, for `make demo`.
#
# Starts, all on 127.0.0.1 and all under one demo directory (.demo/ in the
# repository unless DEMO_DIR says otherwise):
#   - a private RabbitMQ node with its own epmd (never the system broker),
#   - the demo workload (deploy/demo/workload): order events into `orders`,
#     a consumer that is slow for 90 s out of every 180 s, a poison message
#     in every 50 that is dead-lettered into `orders.dlq`,
#   - a private PostgreSQL cluster holding the transactional outbox the
#     workload's invoices go through (a dispatcher publishes them to
#     `invoices`, and is dead for 90 s out of every 180 s),
#   - warren with deploy/demo/warren.yml (five SLOs on a 1d window, so their
#     burn-rate windows are minutes long, one of them end to end from the
#     outbox's commit to the invoice's processing),
#   - Alertmanager, whose only receiver is democtl alertlog (alerts.log),
#   - Prometheus, scraping warren and evaluating alerts/warren-alerts.yml and
#     the rules `warren rules` prints for the demo configuration,
# then prints the URLs and shows `warren status` every 5 s until Ctrl-C or
# SIGTERM, and stops everything it started.
#
# `demo.sh check` only renders the configurations into the demo directory
# and validates them (warren check, promtool, amtool): no process is started.
#
# DEMO_DURATION=N runs N seconds without a terminal UI, then prints a summary
# (alerts seen in Alertmanager with their first firing times, SLO budgets);
# from 300 s on it fails unless an SLO burn-rate alert and a health alert
# were seen. Expects bin/warren (`make demo` builds it) and the Debian
# packages `make deps` installs.

# The stop functions run only from the EXIT trap, which shellcheck takes for
# unreachable code.
# shellcheck disable=SC2317
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
demo_dir=${DEMO_DIR:-$repo/.demo}
duration=${DEMO_DURATION:-0}
warren=${WARREN:-$repo/bin/warren}

# Fixed ports, away from the Debian defaults (5672, 15672, 25672, 4369, 9090,
# 9093, 9842), so the demo runs next to a system broker or Prometheus without
# touching them, and outside 35672-35682, where rabbitmqctl binds its own
# distribution port by default.
EPMD_PORT=36369
AMQP_PORT=36672
MGMT_PORT=36673
DIST_PORT=36674
RABBIT_PROM_PORT=36692
PROM_PORT=39090
AM_PORT=39093
ALERTLOG_PORT=39094
WARREN_PORT=39842
PG_PORT=36543

RABBIT_NODE="warren-demo@localhost"
RABBIT_BIN=/usr/lib/rabbitmq/bin
PROMETHEUS=/usr/bin/prometheus
ALERTMANAGER=/usr/bin/prometheus-alertmanager
PG_BIN=/usr/lib/postgresql/15/bin

WARREN_URL=http://127.0.0.1:$WARREN_PORT
PROM_URL=http://127.0.0.1:$PROM_PORT
AM_URL=http://127.0.0.1:$AM_PORT
MGMT_URL=http://127.0.0.1:$MGMT_PORT

log() { printf 'demo: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

mode=${1:-run}
case $mode in
run | check) ;;
*) die "usage: $0 [run|check]" ;;
esac
case $duration in
'' | *[!0-9]*) die "DEMO_DURATION must be a number of seconds, not '$duration'" ;;
esac
if [ "$mode" = run ]; then
	# The first line, so the page can be opened while the rest starts.
	log "warren's web page: $WARREN_URL/ (it answers once warren is up, in about a minute)"
fi

# --- processes ---------------------------------------------------------------
# Every long-running process is started in a session (and process group) of
# its own, so Ctrl-C in the terminal reaches only this script, which then
# stops them in order. names[i] was started as process group pgids[i].
names=()
pgids=()
started_at=$(date +%s)

# spawn NAME COMMAND... runs COMMAND in the background in a new session,
# output to $demo_dir/NAME.log.
spawn() {
	local name=$1
	shift
	# A background job of a non-interactive shell is not a process group
	# leader, so setsid(1) calls setsid(2) itself instead of forking: $! is
	# the new session's (and process group's) id.
	setsid "$@" >>"$demo_dir/$name.log" 2>&1 </dev/null &
	names+=("$name")
	pgids+=("$!")
}

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

# descendants PID prints PID and every process below it: erl_child_setup
# and inet_gethost leave the broker's process group, so killing the group
# alone would leave them behind.
descendants() {
	local -a queue=("$1")
	local pid child
	while [ "${#queue[@]}" -gt 0 ]; do
		pid=${queue[0]}
		queue=("${queue[@]:1}")
		echo "$pid"
		for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
			queue+=("$child")
		done
	done
}

# stop_group NAME PGID [SECONDS]: SIGTERM the group, SIGKILL what is left
# after SECONDS (default 10).
stop_group() {
	local name=$1 pgid=$2 grace=${3:-10} i
	group_alive "$pgid" || return 0
	kill -TERM -- "-$pgid" 2>/dev/null || true
	for ((i = 0; i < grace * 10; i++)); do
		group_alive "$pgid" || break
		sleep 0.1
	done
	if group_alive "$pgid"; then
		log "$name did not stop within ${grace}s of SIGTERM; killing it"
		kill -KILL -- "-$pgid" 2>/dev/null || true
	fi
	wait "$pgid" 2>/dev/null || true
}

# rabbitmqctl against the demo node, with the node's cookie and epmd.
# At most a minute per command, so a hung node cannot hang the demo.
# --foreground: without it timeout(1) moves the command into a background
# process group, where the Erlang VM, touching the terminal, is stopped by
# SIGTTOU and hangs; stdin from /dev/null for the same reason.
rabbitmqctl() {
	timeout --foreground 60 env -i PATH="$PATH" HOME="$demo_dir/rabbitmq" LANG=C.UTF-8 LC_ALL=C.UTF-8 \
		ERL_EPMD_PORT="$EPMD_PORT" RABBITMQ_CTL_DIST_PORT_MIN=0 RABBITMQ_CTL_DIST_PORT_MAX=0 \
		"$RABBIT_BIN/rabbitmqctl" -n "$RABBIT_NODE" "$@" </dev/null
}

stop_rabbitmq() {
	local pgid=$1 pids pid i
	group_alive "$pgid" || return 0
	pids=$(descendants "$pgid")
	# A clean stop flushes the queues to disk; then make sure nothing of the
	# node outlives it.
	rabbitmqctl stop >/dev/null 2>&1 || log "rabbitmqctl stop failed; killing the node"
	for ((i = 0; i < 300; i++)); do
		group_alive "$pgid" || break
		sleep 0.1
	done
	kill -KILL -- "-$pgid" 2>/dev/null || true
	for pid in $pids; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	wait "$pgid" 2>/dev/null || true
}

cleaned_up=false
cleanup() {
	local status=$? i
	$cleaned_up && return
	cleaned_up=true
	trap '' INT TERM # a second Ctrl-C must not interrupt the stopping
	if [ "${#pgids[@]}" -gt 0 ]; then
		log "stopping everything the demo started"
	fi
	# Reverse start order: the workload first, the broker and epmd last.
	for ((i = ${#pgids[@]} - 1; i >= 0; i--)); do
		case ${names[i]} in
		rabbitmq) stop_rabbitmq "${pgids[i]}" ;;
		*) stop_group "${names[i]}" "${pgids[i]}" ;;
		esac
	done
	if [ "$(cat "$demo_dir/demo.pid" 2>/dev/null)" = "$$" ]; then
		rm -f "$demo_dir/demo.pid"
	fi
	if [ "${#pgids[@]}" -gt 0 ]; then
		log "stopped; logs and state are in $demo_dir"
	fi
	exit "$status"
}
trap cleanup EXIT
# Ctrl-C is how the interactive demo is meant to end: then it is a success.
interactive=false
trap 'if $interactive; then exit 0; else exit 130; fi' INT
trap 'if $interactive; then exit 0; else exit 143; fi' TERM

# show_log NAME: the tail of a component's log, after it failed.
show_log() {
	log "last lines of $demo_dir/$1.log:"
	tail -n 30 "$demo_dir/$1.log" >&2 || true
}

# --- preflight ---------------------------------------------------------------
for bin in "$RABBIT_BIN/rabbitmq-server" "$RABBIT_BIN/rabbitmqctl" "$PROMETHEUS" "$ALERTMANAGER" /usr/bin/promtool /usr/bin/amtool /usr/bin/epmd \
	"$PG_BIN/initdb" "$PG_BIN/postgres" "$PG_BIN/pg_isready" "$PG_BIN/psql"; do
	[ -x "$bin" ] || die "$bin not found: run 'make deps' (or 'make demo', which does)"
done
[ -x "$warren" ] || die "$warren not found: run 'make build' (or 'make demo', which does)"
command -v go >/dev/null || die "go not found on PATH (it builds the demo workload)"

if [ -f "$demo_dir/demo.pid" ] && kill -0 "$(cat "$demo_dir/demo.pid")" 2>/dev/null; then
	die "a demo is already running in $demo_dir (pid $(cat "$demo_dir/demo.pid")); stop it with Ctrl-C or: kill $(cat "$demo_dir/demo.pid")"
fi
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
busy=()
for port in $EPMD_PORT $AMQP_PORT $MGMT_PORT $DIST_PORT $RABBIT_PROM_PORT $PROM_PORT $AM_PORT $ALERTLOG_PORT $WARREN_PORT $PG_PORT; do
	port_in_use "$port" && busy+=("$port")
done
if [ "$mode" = run ] && [ "${#busy[@]}" -gt 0 ]; then
	die "port(s) ${busy[*]} on 127.0.0.1 already in use; the demo needs them free"
fi

# A fresh directory per run, so the five-minute story starts from zero. Only
# a directory an earlier demo made (it has the marker) is ever deleted.
if [ -e "$demo_dir" ]; then
	if [ ! -e "$demo_dir/.warren-demo" ] && [ -n "$(ls -A "$demo_dir")" ]; then
		die "$demo_dir exists and was not made by the demo; set DEMO_DIR to another directory"
	fi
	rm -rf "$demo_dir"
fi
mkdir -p "$demo_dir/rabbitmq/mnesia" "$demo_dir/rabbitmq/log" "$demo_dir/bin"
touch "$demo_dir/.warren-demo"
echo '*' >"$demo_dir/.gitignore" # keeps the whole directory out of git status
echo "$$" >"$demo_dir/demo.pid"

# render TEMPLATE OUT replaces the @NAME@ placeholders of deploy/demo/TEMPLATE.
render() {
	sed -e "s|@REPO@|$repo|g" -e "s|@DEMO_DIR@|$demo_dir|g" \
		-e "s|@AMQP_PORT@|$AMQP_PORT|g" -e "s|@MGMT_PORT@|$MGMT_PORT|g" \
		-e "s|@RABBIT_PROM_PORT@|$RABBIT_PROM_PORT|g" -e "s|@PROM_PORT@|$PROM_PORT|g" \
		-e "s|@AM_PORT@|$AM_PORT|g" -e "s|@ALERTLOG_PORT@|$ALERTLOG_PORT|g" \
		-e "s|@WARREN_PORT@|$WARREN_PORT|g" -e "s|@PG_PORT@|$PG_PORT|g" "$here/$1" >"$2"
}
render rabbitmq.conf "$demo_dir/rabbitmq/rabbitmq.conf"
render warren.yml "$demo_dir/warren.yml"
render prometheus.yml "$demo_dir/prometheus.yml"
render alertmanager.yml "$demo_dir/alertmanager.yml"
echo '[rabbitmq_management,rabbitmq_prometheus].' >"$demo_dir/rabbitmq/enabled_plugins"
# warren reads the outbox as the read-only user warren; the DSN is a file,
# as the configuration wants it (no password: trust on loopback only).
echo "host=127.0.0.1 port=$PG_PORT user=warren dbname=orders sslmode=disable" >"$demo_dir/orders-db.dsn"
: >"$demo_dir/rabbitmq/rabbitmq-env.conf"
# The Erlang cookie of the private node: random, readable by its owner only.
(
	umask 077
	head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr 'a-f' 'A-F' >"$demo_dir/rabbitmq/.erlang.cookie"
)
chmod 400 "$demo_dir/rabbitmq/.erlang.cookie"

# validate COMMAND...: quiet when COMMAND succeeds, its whole output when not.
validate() {
	local out
	out=$("$@" 2>&1) || {
		printf '%s\n' "$out" >&2
		die "$* failed"
	}
}
log "checking the configurations"
validate "$warren" check --config "$demo_dir/warren.yml"
"$warren" rules --config "$demo_dir/warren.yml" >"$demo_dir/warren-slo-rules.yml"
# --lint=none: promtool's duplicate-rules lint compares only the static
# labels of recording rules, and those of `warren rules` differ per SLO in
# their expressions' `slo` label instead, which the lint cannot see.
validate promtool check config --lint=none "$demo_dir/prometheus.yml"
validate amtool check-config "$demo_dir/alertmanager.yml"
if [ "$mode" = check ]; then
	log "the demo's configurations in $demo_dir are valid"
	exit 0
fi

log "building the workload and democtl"
(cd "$repo" && go build -o "$demo_dir/bin/" ./deploy/demo/workload ./deploy/demo/democtl)
democtl=$demo_dir/bin/democtl

# --- RabbitMQ ----------------------------------------------------------------
log "starting RabbitMQ $RABBIT_NODE (AMQP $AMQP_PORT, management $MGMT_PORT)"
# Its own epmd on its own port, in the foreground so the demo can stop it:
# the shared one on 4369 would outlive the demo.
spawn epmd /usr/bin/epmd -port "$EPMD_PORT" -address 127.0.0.1
# The real server script, not the /usr/sbin wrapper (which drops the
# environment), in the foreground, started from its own directory with the
# file descriptor limit raised: a node started otherwise has died here
# without a word. ($1 and $2 in single quotes are the inner shell's.)
# shellcheck disable=SC2016
spawn rabbitmq env -i PATH="$PATH" HOME="$demo_dir/rabbitmq" LANG=C.UTF-8 LC_ALL=C.UTF-8 \
	ERL_EPMD_PORT="$EPMD_PORT" \
	RABBITMQ_NODENAME="$RABBIT_NODE" \
	RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
	RABBITMQ_NODE_PORT="$AMQP_PORT" \
	RABBITMQ_DIST_PORT="$DIST_PORT" \
	RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
	RABBITMQ_CONF_ENV_FILE="$demo_dir/rabbitmq/rabbitmq-env.conf" \
	RABBITMQ_CONFIG_FILE="$demo_dir/rabbitmq/rabbitmq.conf" \
	RABBITMQ_ADVANCED_CONFIG_FILE="$demo_dir/rabbitmq/advanced.config" \
	RABBITMQ_MNESIA_BASE="$demo_dir/rabbitmq/mnesia" \
	RABBITMQ_LOG_BASE="$demo_dir/rabbitmq/log" \
	RABBITMQ_ENABLED_PLUGINS_FILE="$demo_dir/rabbitmq/enabled_plugins" \
	/bin/sh -c 'cd "$1" && ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$2"' sh \
	"$demo_dir/rabbitmq" "$RABBIT_BIN/rabbitmq-server"
rabbit_pgid=${pgids[-1]}
# await_startup fails at once while the node's distribution is not up yet:
# retry it until the node is up, has died, or 90 s have passed.
deadline=$((SECONDS + 90))
until rabbitmqctl await_startup --timeout 30 >/dev/null 2>&1; do
	group_alive "$rabbit_pgid" || {
		show_log rabbitmq
		die "RabbitMQ exited during startup"
	}
	[ "$SECONDS" -lt "$deadline" ] || {
		show_log rabbitmq
		die "RabbitMQ did not start within 90s"
	}
	sleep 1
done
"$democtl" wait --timeout 60s "http://guest:guest@127.0.0.1:$MGMT_PORT/api/overview" ||
	die "the management API did not come up"

# --- PostgreSQL ----------------------------------------------------------------
# initdb and postgres refuse to run as root: as root, they run as the
# postgres user the Debian package creates, owning the cluster's directory.
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
	as_pg=(runuser -u postgres --)
fi
psql_demo() {
	"$PG_BIN/psql" -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}
log "starting PostgreSQL ($PG_PORT) with the outbox database"
mkdir -p "$demo_dir/postgres/data" "$demo_dir/postgres/socket"
chmod 700 "$demo_dir/postgres/data"
if [ "$(id -u)" -eq 0 ]; then
	chown -R postgres: "$demo_dir/postgres"
	chmod o+x "$demo_dir"
fi
validate "${as_pg[@]}" "$PG_BIN/initdb" -D "$demo_dir/postgres/data" -U postgres --auth=trust --encoding=UTF8 --locale=C
spawn postgres "${as_pg[@]}" "$PG_BIN/postgres" -D "$demo_dir/postgres/data" -p "$PG_PORT" -h 127.0.0.1 \
	-k "$demo_dir/postgres/socket"
pg_pgid=${pgids[-1]}
deadline=$((SECONDS + 60))
until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres; do
	if ! group_alive "$pg_pgid" || [ "$SECONDS" -ge "$deadline" ]; then
		show_log postgres
		die "PostgreSQL did not start"
	fi
	sleep 0.2
done
psql_demo -c "CREATE DATABASE orders" -c "CREATE ROLE warren LOGIN" </dev/null
# The outbox and the index warren's query needs (docs/outbox.md).
psql_demo -d orders <<'SQL'
CREATE TABLE outbox (
	id bigserial PRIMARY KEY,
	created_at timestamptz NOT NULL DEFAULT now(),
	dispatched_at timestamptz,
	event_type text NOT NULL,
	payload text NOT NULL
);
CREATE INDEX outbox_dispatched ON outbox (dispatched_at) INCLUDE (created_at, event_type);
GRANT SELECT ON outbox TO warren;
SQL

# --- Alertmanager and its log --------------------------------------------------
log "starting Alertmanager ($AM_PORT) and its webhook receiver ($ALERTLOG_PORT)"
spawn alertlog "$democtl" alertlog --listen "127.0.0.1:$ALERTLOG_PORT" --alertmanager "$AM_URL" \
	--dir "$demo_dir" --start "$started_at"
# --cluster.listen-address= : a single Alertmanager, no gossip port.
spawn alertmanager "$ALERTMANAGER" --config.file="$demo_dir/alertmanager.yml" \
	--storage.path="$demo_dir/alertmanager-data" --web.listen-address="127.0.0.1:$AM_PORT" \
	--cluster.listen-address= --web.external-url="$AM_URL"
"$democtl" wait "$AM_URL/-/ready" || {
	show_log alertmanager
	die "Alertmanager did not become ready"
}

# --- warren ------------------------------------------------------------------
log "starting warren ($WARREN_PORT)"
spawn warren "$warren" --config "$demo_dir/warren.yml" --web.listen-address="127.0.0.1:$WARREN_PORT" \
	--storage.path="$demo_dir/warren-data"
"$democtl" wait "$WARREN_URL/-/ready" || {
	show_log warren
	die "warren did not become ready"
}

# --- Prometheus --------------------------------------------------------------
log "starting Prometheus ($PROM_PORT)"
spawn prometheus "$PROMETHEUS" --config.file="$demo_dir/prometheus.yml" \
	--storage.tsdb.path="$demo_dir/prometheus-data" --web.listen-address="127.0.0.1:$PROM_PORT" \
	--web.external-url="$PROM_URL"
"$democtl" wait "$PROM_URL/-/ready" || {
	show_log prometheus
	die "Prometheus did not become ready"
}

# --- the workload ------------------------------------------------------------
log "starting the workload"
spawn workload "$demo_dir/bin/workload" --amqp-url "amqp://guest:guest@127.0.0.1:$AMQP_PORT/" \
	--outbox-dsn "host=127.0.0.1 port=$PG_PORT user=postgres dbname=orders sslmode=disable"

urls() {
	cat <<EOF
warren       $WARREN_URL/   (the web page: alerts, SLOs, the worst queues)
             $WARREN_URL/metrics
             $WARREN_URL/api/v1/status
Prometheus   $PROM_URL/alerts   (rules: $PROM_URL/rules)
Alertmanager $AM_URL/#/alerts
RabbitMQ     $MGMT_URL/   (guest / guest; AMQP on 127.0.0.1:$AMQP_PORT)
PostgreSQL   127.0.0.1:$PG_PORT, database orders, table outbox (psql -h 127.0.0.1 -p $PG_PORT -U postgres orders)
Grafana      none here: in your own Grafana add a Prometheus data source for
             $PROM_URL, then Dashboards > New > Import each of
             $repo/dashboards/*.json
State, logs  $demo_dir   (alerts.log: every alert Alertmanager held and sent)
EOF
}
log "everything is up, $(($(date +%s) - started_at))s after the start"
urls

# all_alive fails, naming the first component that died, when one did.
all_alive() {
	local i
	for i in "${!pgids[@]}"; do
		if ! group_alive "${pgids[i]}"; then
			show_log "${names[i]}"
			log "error: ${names[i]} exited unexpectedly"
			return 1
		fi
	done
}

elapsed() { echo "$(($(date +%s) - started_at))s"; }

if [ "$duration" -gt 0 ]; then
	# Non-interactive: a status every 30 s, then the summary.
	log "running for ${duration}s (DEMO_DURATION), then printing a summary"
	next_status=$((started_at + 30))
	while [ "$(date +%s)" -lt "$((started_at + duration))" ]; do
		all_alive || exit 1
		if [ "$(date +%s)" -ge "$next_status" ]; then
			echo
			echo "=== t+$(elapsed): warren status ==="
			"$warren" status --url "$WARREN_URL" --queues 5 --colour never || true
			next_status=$((next_status + 30))
		fi
		sleep 1 &
		wait $! # so a SIGTERM is handled at once, not after the sleep
	done
	echo
	echo "=== t+$(elapsed): summary ==="
	expect=()
	if [ "$duration" -ge 300 ]; then
		expect=(--expect)
	fi
	"$democtl" summary --alertmanager "$AM_URL" --warren "$WARREN_URL" --dir "$demo_dir" \
		--start "$started_at" "${expect[@]}"
	exit
fi

# Interactive: redraw every 5 s until Ctrl-C.
interactive=true
while all_alive; do
	if [ -t 1 ]; then
		printf '\033[H\033[2J' # clear the screen
	fi
	echo "warren demo, t+$(elapsed) — Ctrl-C stops everything"
	echo
	"$warren" status --url "$WARREN_URL" --queues 5 || true
	echo
	echo "--- workload ---"
	tail -n 3 "$demo_dir/workload.log"
	echo "--- alerts.log ---"
	tail -n 5 "$demo_dir/alerts.log" 2>/dev/null || true
	echo
	urls
	sleep 5 &
	wait $!
done
exit 1
