#!/usr/bin/env bash
# Installs the Debian packages warren's tests use: rabbitmq-server (the tests
# start private nodes from it, see internal/testenv/rabbittest), prometheus and
# prometheus-alertmanager, postgresql (the outbox tests start private clusters
# from its binaries, see internal/testenv/pgtest) and chromium (the web pages'
# browser test, see internal/testenv/browsertest). Only missing packages are
# installed, and apt-get update runs only then, so with everything present
# this is a quick no-op.
#
# The packages' own system services (a broker on 5672, Prometheus on 9090,
# Alertmanager on 9093, the node exporter Prometheus pulls in on 9100,
# PostgreSQL's main cluster on 5432) are
# never used by the tests; if installing them started them, they are stopped
# again.
set -euo pipefail

packages=(rabbitmq-server prometheus prometheus-alertmanager postgresql chromium)

die() {
	echo "install-deps: $*" >&2
	exit 1
}

command -v dpkg-query >/dev/null || die "dpkg-query not found: this script needs a Debian-based system"

is_installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

missing=()
for p in "${packages[@]}"; do
	is_installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo DEBIAN_FRONTEND=noninteractive "$@"
	else
		die "not root and sudo is not available; cannot run: $*"
	fi
}

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}" >&2
as_root apt-get update
as_root apt-get install -y "${missing[@]}"

for p in "${missing[@]}"; do
	is_installed "$p" || die "$p is still not installed"
done

# Stop whatever the packages' maintainer scripts started.
for svc in rabbitmq-server prometheus prometheus-alertmanager prometheus-node-exporter postgresql; do
	if [ -e "/etc/init.d/$svc" ] || [ -e "/lib/systemd/system/$svc.service" ]; then
		as_root service "$svc" stop >/dev/null 2>&1 || true
	fi
done
# Without an init system the broker may have been started some other way;
# stop the package's default node too (a no-op if it is not running).
if printf '%s\n' "${missing[@]}" | grep -qx rabbitmq-server && command -v rabbitmqctl >/dev/null; then
	as_root timeout 60 rabbitmqctl stop >/dev/null 2>&1 || true
fi
# Without an init system, stop the package's main cluster the way Debian
# does (a no-op if it is not running).
if printf '%s\n' "${missing[@]}" | grep -qx postgresql && command -v pg_ctlcluster >/dev/null; then
	for cluster in /etc/postgresql/*/main; do
		[ -d "$cluster" ] || continue
		version=$(basename "$(dirname "$cluster")")
		as_root pg_ctlcluster "$version" main stop >/dev/null 2>&1 || true
	done
fi
echo "install-deps: done" >&2
