// Package demo holds `make demo`: the driver demo.sh, the configurations it
// renders for RabbitMQ, warren, Prometheus and Alertmanager, the demo
// workload (workload/) and democtl (democtl/), its HTTP helper. The package
// itself has no code; its tests keep the configurations valid and the
// workload doing what the demo's story needs.
package demo
