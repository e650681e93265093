// Command democtl is demo.sh's helper for everything that speaks HTTP, so the
// demo needs neither curl nor jq on a fresh machine:
//
//	democtl wait [--timeout 90s] URL...
//	    wait until every URL answers 200 (user:password@ in a URL is sent
//	    as basic auth and never printed)
//	democtl alertlog --listen ADDR --alertmanager URL --dir DIR --start UNIX
//	    receive Alertmanager's webhook notifications and poll its API v2;
//	    log every alert's firing and resolution to DIR/alerts.log (offsets
//	    from the demo's start) and keep DIR/alerts.json up to date
//	democtl summary --alertmanager URL --warren URL --dir DIR --start UNIX [--expect]
//	    print the alerts seen, with their first firing times, and the SLO
//	    budgets from warren's status API; with --expect, exit 1 unless an
//	    SLO burn-rate alert and a health alert were seen
//
// Import rule: it imports nothing of warren: it reads warren over HTTP, as
// an operator would.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("democtl: ")
	if len(os.Args) < 2 {
		log.Fatal("usage: democtl wait|alertlog|summary [flags]")
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "wait":
		err = waitCmd(args)
	case "alertlog":
		err = alertlogCmd(args)
	case "summary":
		err = summaryCmd(args)
	default:
		err = fmt.Errorf("unknown command %q (want wait, alertlog or summary)", cmd)
	}
	if err != nil {
		log.Fatal(err)
	}
}

var client = &http.Client{Timeout: 5 * time.Second}

// getJSON decodes the JSON answer of a GET into v.
func getJSON(url string, v any) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func waitCmd(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	timeout := fs.Duration("timeout", 90*time.Second, "give up after this long")
	fs.Parse(args)
	deadline := time.Now().Add(*timeout)
	for _, raw := range fs.Args() {
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("bad URL: %v", err)
		}
		for {
			resp, err := client.Get(raw)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				err = errors.New(resp.Status)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not ready after %v: %v", u.Redacted(), *timeout, err) // net/http's errors redact the password too
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return nil
}

// amAlert is the part of Alertmanager's API v2 alert the demo reads.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	Fingerprint string            `json:"fingerprint"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// seenAlert is one alert (one label set) as the alert log tracks it.
type seenAlert struct {
	Labels map[string]string `json:"labels"`
	// FirstStartsAt is the startsAt of its first firing, as Alertmanager
	// holds it: when the evaluator (warren or Prometheus) saw it start.
	FirstStartsAt time.Time `json:"first_starts_at"`
	// FirstSeen is when the API first listed it; Firings counts how often
	// it started firing; Firing says whether it is listed now.
	FirstSeen time.Time `json:"first_seen"`
	Firings   int       `json:"firings"`
	Firing    bool      `json:"firing"`
	LastSeen  time.Time `json:"last_seen"`
}

type alertLog struct {
	mu     sync.Mutex
	start  time.Time
	dir    string
	out    *os.File
	alerts map[string]*seenAlert // by fingerprint
}

func (l *alertLog) offset(t time.Time) string { return sinceStart(l.start, t) }

// sinceStart spells t as an offset from the demo's start, e.g. t+1m30s.
func sinceStart(start, t time.Time) string {
	return "t+" + t.Sub(start).Round(time.Second).String()
}

func (l *alertLog) logf(format string, args ...any) {
	fmt.Fprintf(l.out, "%s %s\n", l.offset(time.Now()), fmt.Sprintf(format, args...))
}

// poll reads the alerts Alertmanager holds and records what changed.
func (l *alertLog) poll(amURL string) error {
	var alerts []amAlert
	if err := getJSON(amURL+"/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true", &alerts); err != nil {
		return err
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	listed := map[string]bool{}
	for _, a := range alerts {
		listed[a.Fingerprint] = true
		s := l.alerts[a.Fingerprint]
		if s == nil {
			s = &seenAlert{Labels: a.Labels, FirstStartsAt: a.StartsAt, FirstSeen: now}
			l.alerts[a.Fingerprint] = s
		}
		if !s.Firing {
			s.Firing = true
			s.Firings++
			l.logf("FIRING   %s (started %s)", describe(a.Labels), l.offset(a.StartsAt))
		}
		s.LastSeen = now
	}
	for fp, s := range l.alerts {
		if s.Firing && !listed[fp] {
			s.Firing = false
			l.logf("RESOLVED %s", describe(s.Labels))
		}
	}
	return l.save()
}

// save writes alerts.json atomically, so summary never reads half a file.
func (l *alertLog) save() error {
	data, err := json.MarshalIndent(l.alerts, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(l.dir, "alerts.json.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(l.dir, "alerts.json"))
}

// webhook logs each notification Alertmanager sends to the demo receiver.
func (l *alertLog) webhook(w http.ResponseWriter, r *http.Request) {
	var n struct {
		Receiver string `json:"receiver"`
		Status   string `json:"status"`
		Alerts   []struct {
			Status string            `json:"status"`
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range n.Alerts {
		l.logf("notified %-8s %s", a.Status, describe(a.Labels))
	}
}

// describe renders an alert's name and the labels that tell it apart.
func describe(labels map[string]string) string {
	var parts []string
	for _, k := range []string{"slo", "queue", "dead_letter_queue", "node", "severity", "evaluator"} {
		if v, ok := labels[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	return labels["alertname"] + "{" + strings.Join(parts, ",") + "}"
}

func alertlogCmd(args []string) error {
	fs := flag.NewFlagSet("alertlog", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:39094", "address of the webhook receiver")
	amURL := fs.String("alertmanager", "http://127.0.0.1:39093", "Alertmanager to poll")
	dir := fs.String("dir", ".", "where alerts.log and alerts.json go")
	start := fs.Int64("start", time.Now().Unix(), "the demo's start, Unix seconds")
	interval := fs.Duration("interval", 2*time.Second, "how often to poll Alertmanager")
	fs.Parse(args)

	out, err := os.OpenFile(filepath.Join(*dir, "alerts.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	l := &alertLog{start: time.Unix(*start, 0), dir: *dir, out: out, alerts: map[string]*seenAlert{}}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: *listen, Handler: http.HandlerFunc(l.webhook), ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ListenAndServe() }()

	ticker := time.NewTicker(*interval)
	defer ticker.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			shutdown, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return srv.Shutdown(shutdown)
		case err := <-serveErr:
			return err
		case <-ticker.C:
			// Log a failing poll once, not every two seconds.
			if err := l.poll(*amURL); err != nil && err.Error() != lastErr {
				lastErr = err.Error()
				l.mu.Lock()
				l.logf("cannot poll Alertmanager: %v", err)
				l.mu.Unlock()
			} else if err == nil {
				lastErr = ""
			}
		}
	}
}
