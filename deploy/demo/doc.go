// Package demo holds `make demo`: the driver demo.sh, the configurations it
// renders for RabbitMQ, warren, Prometheus and Alertmanager, the demo
// workload (workload/) and democtl (democtl/), its HTTP helper. The package
// itself has no code; its tests keep the configurations valid and the
// workload doing what the demo's story needs.
//
// Import rule: its tests may import the test harnesses; it has no code of
// its own.
package demo
