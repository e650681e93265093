# warren — build, test, lint, bench. `make test` installs what is missing
# (RabbitMQ, Prometheus, Alertmanager from Debian packages) and runs every
# test, the real-broker ones included.

SHELL := /bin/bash
# A fresh machine may have Go installed without it on PATH.
export PATH := $(PATH):/usr/local/go/bin

VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH   ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
           -X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildDate=$(shell date -u +%Y%m%dT%H%M%SZ)

GO_TEST_TIMEOUT ?= 45m
BENCH_OUT ?= bench-results.txt

.PHONY: all build test lint deps bench clean demo

all: lint build test

build:
	go build -ldflags '$(LDFLAGS)' -o bin/warren ./cmd/warren

deps:
	./scripts/install-deps.sh

# Every test, including those against a private RabbitMQ node each test
# package starts for itself.
test: deps lint
	go test -count=1 -timeout $(GO_TEST_TIMEOUT) ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	go vet ./...

# Benchmarks against a real private node: warren at 1k, 5k, 10k and 50k
# queues (one process per size; BENCH_QUEUES to choose), the management
# and the Prometheus-plugin sources compared at each, one audit at 1k
# connections / 2k channels, then the probes.
# Prints a table and writes it to $(BENCH_OUT). Benchmarks are not tests:
# nothing here asserts a time.
BENCH_QUEUES ?= 1000 5000 10000 50000
bench: deps
	WARREN_BENCH_QUEUES="$(BENCH_QUEUES)" BENCH_OUT=$(BENCH_OUT) ./scripts/bench-scale.sh

# warren end to end on this machine (README "Two commands"): a private
# RabbitMQ node, a misbehaving workload, warren, Prometheus and Alertmanager
# on 127.0.0.1, until Ctrl-C. DEMO_DURATION=300 runs that long and prints a summary.
demo: deps build
	./deploy/demo/demo.sh

clean:
	rm -rf bin $(BENCH_OUT)
