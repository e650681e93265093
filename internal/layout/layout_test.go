package layout

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/warrenhq/warren/"

// stage is where each package sits in the data flow. A package may import
// only packages of an earlier stage. Fractions order the vocabularies at
// the bottom, and the queue history below the analyses that read it.
var stage = map[string]float64{
	// Vocabularies and plumbing every stage may use.
	"slo":                 0,
	"snapshot":            0,
	"internal/exposition": 0,
	"internal/webpath":    0,
	"probes/amqpclient":   0,
	"alerting/catalog":    0.1,
	"internal/config":     0.2,
	// Sources.
	"rabbitmq/brokerhttp": 0.5,
	"rabbitmq/management": 1,
	"rabbitmq/promplugin": 1.5,
	"probes":              1,
	"outbox":              1,
	// Scheduling.
	"collector": 2,
	// Analyses.
	"analysis/queuehistory":   3,
	"analysis/consumerstatus": 3.5,
	"analysis/deadletter":     3.5,
	"analysis/timeinqueue":    3.5,
	"analysis/loss":           3.5,
	"analysis/streamlag":      3.5,
	// Roles read the dead-letter routes.
	"analysis/queuerole": 3.7,
	// The audit reads the routes and roles.
	"analysis/audit": 3.8,
	// One target's stages together.
	"pipeline":              4,
	"pipeline/pipelinetest": 4.5,
	// SLOs and alerts.
	"slo/sli":             5,
	"slo/promrules":       5,
	"alerting/conditions": 5,
	// Delivery and exposition.
	"alerting/notifier": 6,
	"statusapi":         6,
	// Operator tools on one target: they reuse the pipeline's collection.
	"dlq":   6,
	"webui": 6.5,
	// Lifecycle and command line.
	"agent":           7,
	"cmd/warren":      8,
	"internal/layout": 9,
	// Shipped files with tests of their own, and the docs.
	"alerts":               9,
	"dashboards":           9,
	"deploy":               9,
	"deploy/demo":          9,
	"deploy/demo/democtl":  9,
	"deploy/demo/workload": 9,
	"docs":                 9,
}

type goPackage struct {
	ImportPath string
	Imports    []string
}

func listPackages(t *testing.T, args ...string) []goPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestEveryPackageImportsOnlyEarlierStagesOfTheFlow(t *testing.T) {
	for _, p := range listPackages(t, "./...") {
		name := strings.TrimPrefix(p.ImportPath, module)
		if strings.HasPrefix(name, "internal/testenv/") {
			continue // test harnesses: servers and helpers, imported by tests only
		}
		own, ok := stage[name]
		if !ok {
			t.Errorf("%s has no place in the layout: add it to stage (and to CONTRIBUTING.md)", name)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			if strings.HasPrefix(dep, "internal/testenv/") {
				t.Errorf("%s imports the test harness %s outside its tests", name, dep)
				continue
			}
			if s, ok := stage[dep]; ok && s >= own {
				t.Errorf("%s (stage %g) imports %s (stage %g): an arrow against the flow", name, own, dep, s)
			}
		}
	}
}

func TestWarrenRulesLinksNoBrokerOrAlertmanagerClient(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./slo/promrules")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, forbidden := range []string{"github.com/rabbitmq/amqp091-go", "github.com/prometheus/alertmanager", "github.com/michaelklishin/rabbit-hole", module + "collector", module + "pipeline"} {
		for _, dep := range strings.Fields(string(out)) {
			if dep == forbidden || strings.HasPrefix(dep, forbidden+"/") {
				t.Errorf("slo/promrules (warren rules) depends on %s", dep)
			}
		}
	}
}
