#!/usr/bin/env bash
# Runs warren's scale benchmark (pipeline.BenchmarkScale) once per queue
# count, each in a process of its own so that its RSS is that count's
# alone, and the comparison of the two sources (pipeline.
# BenchmarkScaleSources: the management API's statistics and the
# Prometheus plugin, on a node with statistics on and one with them off),
# then the exposition benchmark (pipeline.BenchmarkExposition, per
# profile and format, without a broker), then one audit benchmark (pipeline.BenchmarkAudit: 1,000
# connections and 2,000 channels, WARREN_BENCH_AUDIT_CONNECTIONS to
# change), then the probe benchmarks and the estimators' memory with most
# queues never used (timeinqueue.BenchmarkObserveIdleQueues), and writes
# the tables to $BENCH_OUT.
#
#   WARREN_BENCH_QUEUES="1000 5000 10000 50000" BENCH_OUT=bench-results.txt scripts/bench-scale.sh
#
# WARREN_BENCH_PROFILE=N writes CPU and heap profiles of the N-queue run
# to bench-N.cpu.prof and bench-N.heap.prof (go tool pprof -top …).
set -euo pipefail

out=${BENCH_OUT:-bench-results.txt}
sizes=${WARREN_BENCH_QUEUES:-1000 5000 10000 50000}
profile=${WARREN_BENCH_PROFILE:-}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The broker wants a file descriptor per queue and then some.
ulimit -n "$(ulimit -Hn)"

go test -c -o "$work/pipeline.test" "$root/pipeline"
table="$work/rows.md"
sources="$work/sources.md"
: >"$table"
: >"$sources"

{
	echo "warren scale benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
	echo "broker:  RabbitMQ $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null || echo '?'), same machine, collect_statistics_interval 5000"
	echo "go:      $(go env GOVERSION)"
	echo
} >"$out"

for n in $sizes; do
	extra=()
	if [[ "$n" == "$profile" ]]; then
		extra=(-test.cpuprofile "$root/bench-$n.cpu.prof" -test.memprofile "$root/bench-$n.heap.prof")
	fi
	echo "== $n queues" >&2
	(cd "$root/pipeline" && WARREN_BENCH_QUEUES=$n WARREN_BENCH_TABLE=$table \
		"$work/pipeline.test" -test.run '^$' -test.bench '^BenchmarkScale$' -test.benchtime 1x \
		-test.timeout 90m -test.v "${extra[@]}") | tee -a "$work/raw.txt" >&2
	echo "== $n queues, by source" >&2
	(cd "$root/pipeline" && WARREN_BENCH_QUEUES=$n WARREN_BENCH_SOURCES_TABLE=$sources \
		"$work/pipeline.test" -test.run '^$' -test.bench '^BenchmarkScaleSources$' -test.benchtime 1x \
		-test.timeout 90m -test.v) | tee -a "$work/raw.txt" >&2
done

echo "== exposition (no broker)" >&2
exposition_table="$work/exposition.md"
: >"$exposition_table"
(cd "$root/pipeline" && WARREN_BENCH_QUEUES=$(echo "$sizes" | tr ' ' ',') WARREN_BENCH_TABLE=$exposition_table \
	"$work/pipeline.test" -test.run '^$' -test.bench '^BenchmarkExposition$' -test.benchtime 1x \
	-test.timeout 60m -test.v) | tee -a "$work/raw.txt" >&2

echo "== audit" >&2
audit_table="$work/audit.md"
: >"$audit_table"
(cd "$root/pipeline" && WARREN_BENCH_AUDIT_TABLE=$audit_table \
	"$work/pipeline.test" -test.run '^$' -test.bench '^BenchmarkAudit$' -test.benchtime 1x \
	-test.timeout 60m -test.v) | tee -a "$work/raw.txt" >&2

{
	sed -n '/^const TableHeader = `/,/`$/p' "$root/pipeline/scale_bench_test.go" | sed 's/^const TableHeader = `//; s/`$//'
	cat "$table"
	echo
	echo "By source (the management API's statistics, the Prometheus plugin):"
	sed -n '/^const SourcesTableHeader = `/,/`$/p' "$root/pipeline/sources_bench_test.go" | sed 's/^const SourcesTableHeader = `//; s/`$//'
	cat "$sources"
	echo
	echo "Exposition per profile and format (pipeline.BenchmarkExposition, no broker):"
	sed -n '/^const ExpositionTableHeader = `/,/`$/p' "$root/pipeline/exposition_bench_test.go" | sed 's/^const ExpositionTableHeader = `//; s/`$//'
	cat "$exposition_table"
	echo
	echo "Audit (one audit, the agent's, of a broker with this many client connections):"
	sed -n '/^const AuditTableHeader = `/,/`$/p' "$root/pipeline/audit_bench_test.go" | sed 's/^const AuditTableHeader = `//; s/`$//'
	cat "$audit_table"
	echo
	echo "Probe fidelity:"
	go test -count=1 -run '^$' -bench . -benchtime 5x -timeout 30m "$root/probes/" | grep -E '^(Benchmark|ok|PASS|FAIL)'
	echo
	echo "Estimator memory with most queues never used (timeinqueue.BenchmarkObserveIdleQueues, no broker):"
	go test -count=1 -run '^$' -bench '^BenchmarkObserveIdleQueues$' -benchtime 20x -benchmem "$root/analysis/timeinqueue/" | grep -E '^(Benchmark|ok|PASS|FAIL)'
} >>"$out"
cat "$out"
