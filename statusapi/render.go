package statusapi

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/warrenhq/warren/analysis/consumerstatus"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/slo"
)

// ANSI colours, used only on a terminal.
const (
	red    = "\x1b[31m"
	yellow = "\x1b[33m"
	green  = "\x1b[32m"
	dim    = "\x1b[2m"
	reset  = "\x1b[0m"
)

// Render writes doc as the tables of `warren status`: alerts first, then
// SLOs, targets, the outboxes (if any), the vhosts with unroutable publishes (if any), the
// audits' findings and the worst queues. With colour, bad states are red and
// warnings yellow.
func Render(w io.Writer, doc Document, colour bool) error {
	t := &table{tw: newTabWriter(w), colour: colour}
	fmt.Fprintf(t.tw, "warren status at %s\n\n", doc.GeneratedAt.Format(time.RFC3339))
	t.alerts(doc)
	t.slos(doc.SLOs)
	t.targets(doc.Targets)
	t.outboxes(doc.Outboxes, doc.GeneratedAt)
	t.unroutable(doc.Targets)
	t.audits(doc.Targets, doc.GeneratedAt)
	t.queues(doc)
	return t.tw.Flush()
}

func newTabWriter(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// table writes the sections of Render as aligned columns.
//
// tabwriter measures escape codes as text; colour whole cells only at the
// end of a line so that columns stay aligned.
type table struct {
	tw     *tabwriter.Writer
	colour bool
}

// line writes one row of cells.
func (t *table) line(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

// paint colours s with c, when colour is on and c is not "".
func (t *table) paint(c, s string) string {
	if !t.colour || c == "" {
		return s
	}
	return c + s + reset
}

// alerts writes the firing alerts, pages in red and the rest in yellow.
func (t *table) alerts(doc Document) {
	fmt.Fprintf(t.tw, "ALERTS (%d firing)\n", len(doc.Alerts))
	if len(doc.Alerts) > 0 {
		t.line("SEVERITY", "ALERT", "OBJECT", "SINCE", "SUMMARY")
		for _, a := range doc.Alerts {
			sev := a.Labels["severity"]
			c := yellow
			if sev == "page" {
				c = red
			}
			t.line(sev, a.Labels["alertname"], AlertObject(a.Labels), Ago(doc.GeneratedAt.Sub(a.StartsAt)), t.paint(c, a.Annotations["summary"]))
		}
	}
	fmt.Fprintln(t.tw)
}

// slos writes the SLOs, if any, with their burn rates and alert state.
func (t *table) slos(slos []SLOStatus) {
	if len(slos) == 0 {
		return
	}
	fmt.Fprintln(t.tw, "SLOS")
	t.line("SLO", "TARGET", "OBJECTIVE", "WINDOW", "SLI", "BUDGET LEFT", "BURN 1h", "BURN 6h", "BURN 3d", "ALERT")
	for _, s := range slos {
		sli := "no events"
		if w := s.WindowOf("slo"); w != nil && w.SLI != nil {
			sli = Percent(*w.SLI)
		}
		alert, c := "-", ""
		switch {
		case s.Page.Active:
			alert, c = "PAGE "+strings.Join(s.Page.Fired, ","), red
		case s.Ticket.Active:
			alert, c = "TICKET "+strings.Join(s.Ticket.Fired, ","), yellow
		case s.BudgetRemaining < 0:
			c = red
		}
		t.line(s.Name, s.Target, Percent(s.Objective), s.Window, sli, Percent(s.BudgetRemaining),
			burn(s.WindowOf("1h")), burn(s.WindowOf("6h")), burn(s.WindowOf("3d")), t.paint(c, alert))
	}
	fmt.Fprintln(t.tw)
}

// targets writes the monitored clusters; one that is down or has a problem
// is red.
func (t *table) targets(targets []TargetStatus) {
	fmt.Fprintln(t.tw, "TARGETS")
	t.line("TARGET", "UP", "RABBITMQ", "QUEUES", "SNAPSHOT AGE", "NODES", "PROBLEM")
	for _, tg := range targets {
		up, c := "yes", ""
		if !tg.Up {
			up, c = "NO", red
		}
		age := "-"
		if tg.SnapshotAge != nil {
			age = Ago(time.Duration(*tg.SnapshotAge * float64(time.Second)))
		}
		running, problems := targetProblems(tg)
		if len(problems) > 0 {
			c = red
		}
		queues := fmt.Sprint(tg.Queues)
		if tg.QueuesDropped > 0 {
			queues += fmt.Sprintf(" (+%d dropped)", tg.QueuesDropped)
		}
		t.line(tg.Name, up, tg.RabbitMQVersion, queues, age, fmt.Sprintf("%d/%d", running, len(tg.Nodes)), t.paint(c, strings.Join(problems, "; ")))
	}
	fmt.Fprintln(t.tw)
}

// unroutable writes, if any target has them, the vhosts with unroutable
// publishes (since the broker's node started, and within the last
// pipeline.HealthWindow) and the open channels that published them, one
// line each; a vhost that dropped messages within the window is red.
func (t *table) unroutable(targets []TargetStatus) {
	if !slices.ContainsFunc(targets, func(tg TargetStatus) bool { return len(tg.Unroutable) > 0 }) {
		return
	}
	fmt.Fprintln(t.tw, "UNROUTABLE (published, taken by no queue)")
	recent := " " + slo.FormatDuration(pipeline.HealthWindow) // the loss analysis's recent window
	t.line("TARGET", "VHOST", "DROPPED", "RETURNED", "DROPPED"+recent, "RETURNED"+recent, "PUBLISHERS")
	for _, tg := range targets {
		for _, u := range tg.Unroutable {
			c := ""
			if u.RecentDropped > 0 {
				c = red
			}
			publishers := []string{"none open (closed channels are forgotten)"}
			if len(u.Publishers) > 0 {
				publishers = publishers[:0]
				for _, p := range u.Publishers {
					publishers = append(publishers, fmt.Sprintf("%s (user %s): %d dropped, %d returned", p.Connection, p.User, p.Dropped, p.Returned))
				}
			}
			t.line(tg.Name, u.Vhost, fmt.Sprint(u.Dropped), fmt.Sprint(u.Returned), fmt.Sprint(u.RecentDropped), fmt.Sprint(u.RecentReturned), t.paint(c, publishers[0]))
			for _, p := range publishers[1:] {
				t.line("", "", "", "", "", "", t.paint(c, p))
			}
		}
	}
	fmt.Fprintln(t.tw)
}

// targetProblems counts tg's running nodes and lists what is wrong with it:
// the last scrape error, then per node: down, alarms, partitions.
func targetProblems(tg TargetStatus) (running int, problems []string) {
	if tg.LastError != "" {
		problems = append(problems, tg.LastError)
	}
	for _, n := range tg.Nodes {
		if n.Running {
			running++
		} else {
			problems = append(problems, n.Name+" down")
		}
		for _, a := range n.Alarms {
			problems = append(problems, n.Name+" "+a+" alarm")
		}
		if n.Partitions != nil && *n.Partitions > 0 {
			problems = append(problems, n.Name+" partitioned")
		}
	}
	return running, problems
}

// queues writes the worst queues, coloured by status.
func (t *table) queues(doc Document) {
	fmt.Fprintf(t.tw, "QUEUES (worst %d of %d)\n", len(doc.Queues), doc.QueuesTotal)
	t.line("CLUSTER", "VHOST", "QUEUE", "TYPE", "READY", "UNACKED", "CONSUMERS", "OLDEST", "UNACKED/TIMEOUT", "DRAIN", "STATUS")
	withheld := false
	for _, q := range doc.Queues {
		drain := "-"
		switch {
		case q.Ready+q.Unacked == 0:
		case q.NotDraining:
			drain = "∞"
		case q.Drain != nil:
			drain = Ago(time.Duration(*q.Drain * float64(time.Second)))
		}
		oldest := Ago(time.Duration(q.OldestAge * float64(time.Second)))
		switch {
		case q.AgeSource == "estimate":
			oldest += "~"
		case q.TimeInQueueWithheld != "" && q.AgeSource == "":
			oldest = "withheld"
			withheld = true
		case q.TimeInQueueWithheld != "":
			// The head timestamp gives the age; the estimate is still
			// withheld.
			oldest += " (withheld)"
			withheld = true
		}
		// The oldest unacknowledged delivery's age is always an
		// estimate; a stream has neither.
		unacked := "-"
		if q.OldestUnacked != nil && q.ConsumerTimeout != nil {
			age, timeout := time.Duration(*q.OldestUnacked*float64(time.Second)), time.Duration(*q.ConsumerTimeout*float64(time.Second))
			unacked = Ago(age) + "~/" + Ago(timeout)
		}
		t.line(q.Cluster, q.Vhost, q.Name, q.Type, fmt.Sprint(q.Ready), fmt.Sprint(q.Unacked), fmt.Sprint(q.Consumers), oldest, unacked, drain, t.paint(statusColour(q.Status), q.Status))
	}
	if withheld {
		fmt.Fprintln(t.tw, "\nwithheld: the queue does not deliver in arrival order (a priority queue, or many redeliveries), so warren publishes no time-in-queue estimate for it.")
	}
}

// statusColour is the colour of a queue status's level (StatusLevel).
func statusColour(status string) string {
	return map[string]string{"bad": red, "warn": yellow, "good": green, "quiet": dim}[StatusLevel(status)]
}

// StatusLevel is how much a queue status needs a look: bad from
// no_consumers up, warn for lagging, good for ok, quiet below (idle,
// unknown). The terminal colours and the web UI's classes follow it.
func StatusLevel(status string) string {
	s := consumerstatus.Parse(status)
	switch {
	case consumerstatus.Compare(s, consumerstatus.NoConsumers) >= 0:
		return "bad"
	case s == consumerstatus.Lagging:
		return "warn"
	case s == consumerstatus.OK:
		return "good"
	}
	return "quiet"
}

// WindowOf returns the window of that label (5m … 3d, slo), nil if none.
func (s SLOStatus) WindowOf(label string) *Window {
	i := slices.IndexFunc(s.Windows, func(w Window) bool { return w.Window == label })
	if i < 0 {
		return nil
	}
	return &s.Windows[i]
}

// AlertObject names what an alert is about: the queue, node or SLO.
func AlertObject(l map[string]string) string {
	switch {
	case l["slo"] != "":
		return "slo " + l["slo"]
	case l["queue"] != "":
		return l["cluster"] + "/" + l["vhost"] + "/" + l["queue"]
	case l["node"] != "":
		s := l["cluster"] + "/" + l["node"]
		if l["queue_type"] != "" {
			s += " " + l["queue_type"]
		}
		return s
	}
	return l["cluster"]
}

// Percent spells a ratio as a percentage with up to three decimals: 95%,
// 99.9%, -100%.
func Percent(r float64) string {
	return strconv.FormatFloat(math.Round(r*1e5)/1e3, 'f', -1, 64) + "%"
}

func burn(w *Window) string {
	if w == nil || w.Total == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", w.Burn)
}

// Ago spells a duration for a person: 850ms, 42s, 3m10s, 2h5m, 3d4h.
func Ago(d time.Duration) string {
	switch {
	case d < 0 || math.IsNaN(float64(d)):
		return "0s"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}
