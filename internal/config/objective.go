package config

import (
	"maps"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/slo"
)

// Spec is the SLO as the engine evaluates it.
func (s SLO) Spec() slo.Objective {
	o := slo.Objective{
		Name:   s.Name,
		Target: float64(s.Objective),
		Window: s.Window.Std(),
		Page:   slo.TierSwitch{DisableFast: !s.Alerting.Page.FastEnabled(), DisableSlow: !s.Alerting.Page.SlowEnabled()},
		Ticket: slo.TierSwitch{DisableFast: !s.Alerting.Ticket.FastEnabled(), DisableSlow: !s.Alerting.Ticket.SlowEnabled()},
	}
	if s.Alerting.MinEvents != nil {
		o.MinEvents = *s.Alerting.MinEvents
		if o.MinEvents == 0 {
			o.MinEvents = -1 // an explicit 0 means no guard; the engine reads 0 as the default
		}
	}
	return o
}

// Objectives returns the engine's objectives for every configured SLO.
func (c *Config) Objectives() []slo.Objective {
	out := make([]slo.Objective, len(c.SLOs))
	for i, s := range c.SLOs {
		out[i] = s.Spec()
	}
	return out
}

// AlertSpec is what the SLO's burn-rate alerts are made of.
func (s SLO) AlertSpec() catalog.SLOSpec {
	labels := map[string]string{}
	maps.Copy(labels, s.Labels)
	maps.Copy(labels, s.Alerting.Labels)
	return catalog.SLOSpec{
		Name: s.Name, Cluster: s.Target, Description: s.Description,
		Labels: labels, Annotations: s.Alerting.Annotations, RunbookURL: s.Alerting.RunbookURL,
		Objective: s.Spec(),
	}
}
