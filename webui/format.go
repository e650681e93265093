package webui

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/warrenhq/warren/internal/webpath"
	"github.com/warrenhq/warren/slo"
	"github.com/warrenhq/warren/statusapi"
)

// funcs are the templates' helpers. Durations and ratios are spelt by
// statusapi's helpers, as `warren status` spells them.
func funcs(base string) template.FuncMap {
	return template.FuncMap{
		"overviewURL": func(cluster, vhost string) string { return webpath.Join(base, webpath.Overview(cluster, vhost)) },
		"sloURL":      func(name string) string { return webpath.Join(base, webpath.SLO(name)) },
		"queueURL": func(cluster, vhost, name string) string {
			return webpath.Join(base, webpath.Queue(cluster, vhost, name))
		},
		"url":         func(path string) string { return webpath.Join(base, path) },
		"when":        when,
		"secondsAgo":  secondsAgo,
		"duration":    func(s float64) string { return statusapi.Ago(seconds(s)) },
		"pct":         statusapi.Percent,
		"level":       statusapi.StatusLevel,
		"object":      statusapi.AlertObject,
		"burn":        burnText,
		"abs":         func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"budgetWidth": budgetWidth,
		"span":        statusapi.Ago,
		"window":      slo.FormatDuration,
		"factor":      formatFactor,
		"deref":       func(p *float64) float64 { return *p },
		"join":        func(s []string) string { return strings.Join(s, ", ") },
		"add":         func(a, b int64) int64 { return a + b },
		"alertList":   func(a []statusapi.FiringAlert, asOf time.Time) alertList { return alertList{a, asOf} },
		"fired":       fired,
	}
}

// alertList is what the alerts table receives.
type alertList struct {
	Alerts []statusapi.FiringAlert
	AsOf   time.Time
}

// fired reports whether an SLO's rule of that id fires.
func fired(s statusapi.SLOStatus, id string) bool {
	return slices.Contains(s.Page.Fired, id) || slices.Contains(s.Ticket.Fired, id)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// when is a time relative to asOf ("3m10s ago"), with the absolute time
// on hover and for machines.
func when(t, asOf time.Time) template.HTML {
	abs := t.UTC().Format(time.RFC3339)
	return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s">%s ago</time>`,
		template.HTMLEscapeString(abs), template.HTMLEscapeString(abs), template.HTMLEscapeString(statusapi.Ago(asOf.Sub(t)))))
}

// secondsAgo is an age in seconds at asOf, spelt as when spells a time.
func secondsAgo(age float64, asOf time.Time) template.HTML {
	return when(asOf.Add(-seconds(age)), asOf)
}

func burnText(w *statusapi.Window) string {
	if w == nil || w.Total == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", w.Burn)
}

// budgetWidth is the budget-left bar's width in percent, 0 to 100.
func budgetWidth(remaining float64) string {
	return fmt.Sprintf("%.1f", math.Max(0, math.Min(1, remaining))*100)
}
