package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// statusDoc is the part of warren's /api/v1/status the summary reads.
type statusDoc struct {
	SLOs []struct {
		Name            string  `json:"name"`
		SLI             string  `json:"sli"`
		Objective       float64 `json:"objective"`
		Window          string  `json:"window"`
		BudgetRemaining float64 `json:"error_budget_remaining"`
		Good            float64 `json:"good_events"`
		Total           float64 `json:"total_events"`
		Page            struct {
			Active bool     `json:"active"`
			Fired  []string `json:"fired"`
		} `json:"page"`
		Ticket struct {
			Active bool     `json:"active"`
			Fired  []string `json:"fired"`
		} `json:"ticket"`
	} `json:"slos"`
}

func summaryCmd(args []string) error {
	fs := flag.NewFlagSet("summary", flag.ExitOnError)
	amURL := fs.String("alertmanager", "http://127.0.0.1:39093", "Alertmanager to read")
	warrenURL := fs.String("warren", "http://127.0.0.1:39842", "warren to read")
	dir := fs.String("dir", ".", "where alertlog keeps alerts.json")
	start := fs.Int64("start", 0, "the demo's start, Unix seconds")
	expect := fs.Bool("expect", false, "exit 1 unless an SLO burn-rate alert and a health alert were seen")
	fs.Parse(args)
	began := time.Unix(*start, 0)

	list, err := seenAlerts(*dir, *amURL)
	if err != nil {
		return err
	}
	printAlerts(list, began)
	printBudgets(*warrenURL)
	fmt.Println()
	burn, health := firstBurnAndHealth(list)
	if ok := printFirsts(began, burn, health); *expect && !ok {
		return errors.New("the demo did not show both an SLO burn-rate alert and a health alert")
	}
	return nil
}

// seenAlerts returns the alerts alertlog recorded in dir, plus those
// Alertmanager lists now, by first firing time. alertlog polls every two
// seconds; this last look catches what arrived since.
func seenAlerts(dir, amURL string) ([]*seenAlert, error) {
	seen := map[string]*seenAlert{}
	if data, err := os.ReadFile(filepath.Join(dir, "alerts.json")); err == nil {
		if err := json.Unmarshal(data, &seen); err != nil {
			return nil, fmt.Errorf("read alerts.json: %w", err)
		}
	}
	var current []amAlert
	if err := getJSON(amURL+"/api/v2/alerts", &current); err != nil {
		fmt.Printf("cannot read Alertmanager: %v\n", err)
	}
	for _, a := range current {
		s := seen[a.Fingerprint]
		if s == nil {
			seen[a.Fingerprint] = &seenAlert{Labels: a.Labels, FirstStartsAt: a.StartsAt, FirstSeen: time.Now(), Firings: 1, Firing: true}
		}
	}

	list := make([]*seenAlert, 0, len(seen))
	for _, s := range seen {
		list = append(list, s)
	}
	sort.Slice(list, func(i, j int) bool {
		if !list[i].FirstStartsAt.Equal(list[j].FirstStartsAt) {
			return list[i].FirstStartsAt.Before(list[j].FirstStartsAt)
		}
		return describe(list[i].Labels) < describe(list[j].Labels)
	})
	return list, nil
}

// printAlerts prints the table of alerts seen, times from the demo's start.
func printAlerts(list []*seenAlert, began time.Time) {
	fmt.Printf("ALERTS SEEN IN ALERTMANAGER (%d; times from the demo's start at %s)\n", len(list), began.Format(time.TimeOnly))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ALERT\tFIRST FIRING\tIN ALERTMANAGER\tFIRINGS\tNOW")
	for _, s := range list {
		now := "resolved"
		if s.Firing {
			now = "firing"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", describe(s.Labels), sinceStart(began, s.FirstStartsAt), sinceStart(began, s.FirstSeen), s.Firings, now)
	}
	tw.Flush()
}

// firstBurnAndHealth picks the first SLO burn-rate alert and the first
// health alert of list; either is nil when none was seen.
func firstBurnAndHealth(list []*seenAlert) (burn, health *seenAlert) {
	for _, s := range list {
		name := s.Labels["alertname"]
		switch {
		case strings.HasPrefix(name, "WarrenSLOBurnRate"):
			if burn == nil {
				burn = s
			}
		case strings.HasPrefix(name, "RabbitMQ"), name == "WarrenTargetDown", strings.HasPrefix(name, "WarrenOutbox"):
			if health == nil {
				health = s
			}
		}
	}
	return burn, health
}

// printBudgets prints the SLO budgets from warren's status API, or why it
// could not read them.
func printBudgets(warrenURL string) {
	var doc statusDoc
	if err := getJSON(warrenURL+"/api/v1/status", &doc); err != nil {
		fmt.Printf("\ncannot read warren's status: %v\n", err)
		return
	}
	fmt.Printf("\nSLO BUDGETS (warren %s/api/v1/status)\n", warrenURL)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SLO\tSLI\tOBJECTIVE\tWINDOW\tGOOD/TOTAL\tBUDGET LEFT\tPAGE\tTICKET")
	for _, s := range doc.SLOs {
		fmt.Fprintf(tw, "%s\t%s\t%g%%\t%s\t%.0f/%.0f\t%.1f%%\t%s\t%s\n", s.Name, s.SLI, s.Objective*100, s.Window,
			s.Good, s.Total, s.BudgetRemaining*100, tier(s.Page.Active, s.Page.Fired), tier(s.Ticket.Active, s.Ticket.Fired))
	}
	tw.Flush()
}

// printFirsts prints when the first burn-rate and health alerts fired, and
// reports whether both did.
func printFirsts(began time.Time, burn, health *seenAlert) (ok bool) {
	ok = true
	for _, c := range []struct {
		what string
		a    *seenAlert
	}{{"SLO burn-rate alert", burn}, {"health alert", health}} {
		if c.a == nil {
			ok = false
			fmt.Printf("no %s reached Alertmanager\n", c.what)
			continue
		}
		fmt.Printf("first %s: %s, firing from %s\n", c.what, describe(c.a.Labels), sinceStart(began, c.a.FirstStartsAt))
	}
	return ok
}

func tier(active bool, fired []string) string {
	s := "-"
	if active {
		s = "FIRING"
	}
	if len(fired) > 0 {
		s += " " + strings.Join(fired, ",")
	}
	return s
}
