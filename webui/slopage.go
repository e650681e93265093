package webui

import (
	"net/http"
	"slices"
	"time"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/slo"
	"github.com/warrenhq/warren/slo/promrules"
	"github.com/warrenhq/warren/statusapi"
)

// chartPoints is how many points each chart of an SLO's page draws.
const chartPoints = 120

// sloPage is what an SLO's page shows.
type sloPage struct {
	Status statusapi.SLOStatus
	Alerts []statusapi.FiringAlert
	// BurnDown is the budget left over the SLO window; Burn and SLI are
	// every window's burn rate and SLI over the fine ring's span.
	BurnDown, Burn, SLI chart
	BurnSpan            string
	// Rules are the alert rules, with their thresholds (drawn on Burn).
	Rules []slo.ScaledRule
	// Events are the events in each window, as the table beside the
	// charts.
	Events []windowEvents
	// PromQL is this SLO's group of `warren rules`.
	PromQL string
}

// windowEvents are one window's events.
type windowEvents struct {
	Label, Length    string
	Good, Bad, Total float64
}

func (h *handler) slo(w http.ResponseWriter, _ *http.Request, path []string) {
	name := path[0]
	doc := statusapi.Build(h.src.Status, statusapi.Filter{SLO: name, NoQueues: true})
	live, ok := (*slo.SLO)(nil), false
	if h.src.Status.Engine != nil {
		live, ok = h.src.Status.Engine.SLO(name)
	}
	if len(doc.SLOs) != 1 || !ok {
		notFound(w, "SLO "+name)
		return
	}
	p := sloPage{Status: doc.SLOs[0], Rules: live.Objective().Rules()}
	for _, a := range doc.Alerts {
		if a.Labels["slo"] == name {
			p.Alerts = append(p.Alerts, a)
		}
	}
	h.sloCharts(&p, live, doc.GeneratedAt)
	p.PromQL = h.promQL(name)
	title := "warren: SLO " + name
	if len(p.Alerts) > 0 {
		title += " firing " + p.Alerts[0].Labels["alertname"]
	}
	h.render(w, "slo.html", page{Title: title, AsOf: doc.GeneratedAt, Data: p})
}

// sloCharts draws the budget over the SLO window and the windows' burn
// rates and SLIs over the span the fine ring holds (the scaled 6h).
func (h *handler) sloCharts(p *sloPage, s *slo.SLO, now time.Time) {
	o := s.Objective()
	down := s.Trend(now, o.Window, chartPoints)
	budget := series{Name: "budget left"}
	for _, pt := range down {
		budget.add(pt.At, pt.Budget.Remaining)
	}
	p.BurnDown = newChart(down[0].At, now, []series{budget}, []threshold{{Label: "budget spent", Value: 0}}, true)

	span := slo.LayoutFor(o.Window).FineSpan()
	p.BurnSpan = slo.FormatDuration(span)
	trend := s.Trend(now, span, chartPoints)
	var burns, slis []series
	for i, w := range trend[0].Windows {
		b, q := series{Name: w.Label}, series{Name: w.Label}
		for _, pt := range trend {
			if !pt.Held[i] {
				continue
			}
			ws := pt.Windows[i]
			b.add(pt.At, ws.Burn)
			if ratio, ok := ws.SLI(); ok {
				q.add(pt.At, ratio)
			}
		}
		burns, slis = append(burns, b), append(slis, q)
	}
	var lines []threshold
	for _, r := range p.Rules {
		if r.Enabled && !slices.ContainsFunc(lines, func(t threshold) bool { return t.Value == r.Factor }) {
			lines = append(lines, threshold{Label: r.ID.String() + " " + formatFactor(r.Factor), Value: r.Factor})
		}
	}
	p.Burn = newChart(trend[0].At, now, burns, lines, false)
	p.SLI = newChart(trend[0].At, now, slis, []threshold{{Label: "objective", Value: o.Target}}, false)
	last := trend[len(trend)-1]
	for _, ws := range last.Windows {
		p.Events = append(p.Events, windowEvents{Label: ws.Label, Length: slo.FormatDuration(ws.Window), Good: ws.Good, Bad: ws.Bad(), Total: ws.Total})
	}
}

// promQL is the SLO's rule group as `warren rules` prints it.
func (h *handler) promQL(name string) string {
	if h.src.Config == nil {
		return ""
	}
	cfg := h.src.Config()
	i := slices.IndexFunc(cfg.SLOs, func(s config.SLO) bool { return s.Name == name })
	if i < 0 {
		return ""
	}
	out, err := promrules.Marshal(promrules.Generate(&config.Config{SLOs: cfg.SLOs[i : i+1]}), "prometheus")
	if err != nil {
		return "# " + err.Error()
	}
	return string(out)
}
