package config

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Exposition configures what /metrics carries for every target.
type Exposition struct {
	// Profile is the set of per-queue families exported: ProfileMinimal,
	// ProfileStandard (the default, also when empty) or ProfileFull. A
	// target's drop_metrics removes more.
	Profile string `yaml:"profile"`
}

// The values of exposition.profile (docs/exposition.md explains each
// family's place).
const (
	// ProfileMinimal exports what the shipped alert rules need.
	ProfileMinimal = "minimal"
	// ProfileStandard adds what the shipped dashboards' default panels
	// need, the time-in-queue histogram among them: at most 16 series a
	// queue of the families of the original 33 with classic buckets.
	ProfileStandard = "standard"
	// ProfileFull exports every per-queue family.
	ProfileFull = "full"
)

// Profiles are the values exposition.profile takes, smallest first.
var Profiles = []string{ProfileMinimal, ProfileStandard, ProfileFull}

// MinimalMetrics are the per-queue families the shipped alert rules
// (alerts/warren-alerts.yml) read.
var MinimalMetrics = []string{
	"warren_queue_info",
	"warren_queue_messages",
	"warren_queue_oldest_message_age_seconds",
	"warren_queue_published_total",
	"warren_queue_delivered_total",
	"warren_queue_acked_total",
	"warren_queue_redelivered_total",
	"warren_queue_status",
	"warren_dead_letter_route",
	"warren_queue_oldest_unacked_age_seconds",
	"warren_queue_consumer_timeout_seconds",
	"warren_queue_length_limit",
	"warren_queue_length_limit_ratio",
	"warren_queue_dropped_total",
	"warren_queue_retried_total",
	"warren_queue_message_ttl_seconds",
	"warren_stream_consumer_lag_messages",
	"warren_quorum_queue_members",
	"warren_quorum_queue_leader",
}

// StandardMetrics are MinimalMetrics and the per-queue families the
// shipped dashboards' default panels read.
var StandardMetrics = append(slices.Clip(MinimalMetrics),
	"warren_queue_consumers",
	"warren_queue_drain_seconds",
	"warren_queue_time_in_queue_seconds",
)

// fullOnlyMetrics are the per-queue families only ProfileFull exports.
var fullOnlyMetrics = []string{
	"warren_queue_consumer_capacity",
	"warren_queue_processed_within_total",
	"warren_queue_processed_total",
	"warren_queue_processing_seconds",
	"warren_queue_discarded_total",
	"warren_stream_consumers",
	"warren_stream_consumer_lag_seconds",
}

// ProfileExports reports whether the profile exports the metric family:
// every family that is not per queue, and the per-queue families of the
// profile ("" is ProfileStandard).
func ProfileExports(profile, name string) bool {
	if !slices.Contains(PerQueueMetrics, name) {
		return true
	}
	switch profile {
	case ProfileMinimal:
		return slices.Contains(MinimalMetrics, name)
	case ProfileFull:
		return true
	default:
		return slices.Contains(StandardMetrics, name)
	}
}

// validateExposition checks the exposition section and hands its profile
// to every target.
func (p *parser) validateExposition(root *yaml.Node, cfg *Config) {
	e := &cfg.Exposition
	if e.Profile == "" {
		e.Profile = ProfileStandard
	}
	if !slices.Contains(Profiles, e.Profile) {
		p.add(lineOf(root, "exposition", "profile"), "exposition.profile",
			"must be one of %s, not %q", strings.Join(Profiles, ", "), e.Profile)
	}
	for i := range cfg.Targets {
		cfg.Targets[i].Profile = e.Profile
	}
}
