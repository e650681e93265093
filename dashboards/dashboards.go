package dashboards

import "embed"

// FS holds the dashboard JSON files (*.json at the root), for commands that
// write them into a Grafana provisioning directory or serve them.
//
//go:embed *.json
var FS embed.FS
