package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// This is a small client of the HTTP API rather than client_golang's
// api/prometheus/v1: that package pulls in json-iterator (before Go 1.27)
// and the few calls tests need decode with encoding/json into the
// prometheus/common/model types warren already depends on.

// Warnings are the warnings Prometheus returned with a result.
type Warnings []string

// APIError is an error response of the HTTP API. A PromQL syntax error has
// Type "bad_data" and the parser's message in Msg.
type APIError struct {
	StatusCode int
	Type       string
	Msg        string
}

func (e *APIError) Error() string { return fmt.Sprintf("%s: %s", e.Type, e.Msg) }

// IsBadData reports whether err is an API error of type bad_data: an
// expression that does not parse, or parameters Prometheus refuses.
func IsBadData(err error) bool {
	e, ok := err.(*APIError)
	return ok && e.Type == "bad_data"
}

type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
}

// call POSTs form to path and decodes the data of a successful response
// into data.
func (p *Prometheus) call(ctx context.Context, path string, form url.Values, data any) (Warnings, error) {
	var req *http.Request
	var err error
	if form == nil {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, p.url+path, nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, p.url+path, strings.NewReader(form.Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		return nil, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: %s: undecodable response %.200q: %v", path, resp.Status, body, err)
	}
	if r.Status != "success" {
		return r.Warnings, &APIError{StatusCode: resp.StatusCode, Type: r.ErrorType, Msg: r.Error}
	}
	if data != nil {
		if err := json.Unmarshal(r.Data, data); err != nil {
			return r.Warnings, fmt.Errorf("%s: decode data: %v", path, err)
		}
	}
	return r.Warnings, nil
}

type queryData struct {
	ResultType model.ValueType `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

func (q queryData) value() (model.Value, error) {
	switch q.ResultType {
	case model.ValVector:
		var vec model.Vector
		if err := json.Unmarshal(q.Result, &vec); err != nil {
			return nil, err
		}
		return vec, nil
	case model.ValMatrix:
		var m model.Matrix
		if err := json.Unmarshal(q.Result, &m); err != nil {
			return nil, err
		}
		return m, nil
	case model.ValScalar:
		var s model.Scalar
		if err := json.Unmarshal(q.Result, &s); err != nil {
			return nil, err
		}
		return &s, nil
	case model.ValString:
		var s model.String
		if err := json.Unmarshal(q.Result, &s); err != nil {
			return nil, err
		}
		return &s, nil
	}
	return nil, fmt.Errorf("unknown result type %q", q.ResultType)
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', -1, 64)
}

// Query evaluates expr at the instant at (GET /api/v1/query). An
// expression that does not parse returns an *APIError of type bad_data
// with Prometheus's own message.
func (p *Prometheus) Query(ctx context.Context, expr string, at time.Time) (model.Value, Warnings, error) {
	var d queryData
	w, err := p.call(ctx, "/api/v1/query", url.Values{"query": {expr}, "time": {formatTime(at)}}, &d)
	if err != nil {
		return nil, w, err
	}
	v, err := d.value()
	return v, w, err
}

// QueryRange evaluates expr from start to end every step
// (GET /api/v1/query_range).
func (p *Prometheus) QueryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) (model.Value, Warnings, error) {
	var d queryData
	w, err := p.call(ctx, "/api/v1/query_range", url.Values{
		"query": {expr},
		"start": {formatTime(start)},
		"end":   {formatTime(end)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}, &d)
	if err != nil {
		return nil, w, err
	}
	v, err := d.value()
	return v, w, err
}

// CheckExpr reports whether expr parses, as Prometheus's own parser sees
// it: 2.42 has no parse-only endpoint, so it evaluates expr at Unix time
// 0, before any sample exists, which costs next to nothing. It returns the
// parse error (an *APIError of type bad_data), another error if the server
// could not be asked, or nil.
func (p *Prometheus) CheckExpr(ctx context.Context, expr string) error {
	_, _, err := p.Query(ctx, expr, time.Unix(0, 0))
	return err
}

// ScrapeTarget is the state of one active scrape target.
type ScrapeTarget struct {
	Labels     map[string]string `json:"labels"`
	ScrapeURL  string            `json:"scrapeUrl"`
	Health     string            `json:"health"` // "up", "down" or "unknown"
	LastError  string            `json:"lastError"`
	LastScrape time.Time         `json:"lastScrape"`
}

// Targets returns the active scrape targets (GET /api/v1/targets).
func (p *Prometheus) Targets(ctx context.Context) ([]ScrapeTarget, error) {
	var d struct {
		Active []ScrapeTarget `json:"activeTargets"`
	}
	_, err := p.call(ctx, "/api/v1/targets?state=active", nil, &d)
	return d.Active, err
}

// WaitForTargetsUp waits until every configured scrape target has been
// scraped successfully (health "up"), and fails t with each target's state
// and last error if that does not happen within timeout.
func (p *Prometheus) WaitForTargetsUp(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var state string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		targets, err := p.Targets(ctx)
		cancel()
		if err == nil {
			up := len(targets) > 0
			var lines []string
			for _, tg := range targets {
				if tg.Health != "up" {
					up = false
				}
				lines = append(lines, fmt.Sprintf("job %q %s: %s %s", tg.Labels["job"], tg.ScrapeURL, tg.Health, tg.LastError))
			}
			if up {
				return
			}
			sort.Strings(lines)
			state = strings.Join(lines, "\n")
			if len(lines) == 0 {
				state = "(no active targets)"
			}
		} else {
			state = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("promtest: scrape targets not all up within %v:\n%s", timeout, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// IsEmpty reports whether a query result holds no series and no value.
func IsEmpty(v model.Value) bool {
	switch v := v.(type) {
	case model.Vector:
		return len(v) == 0
	case model.Matrix:
		return len(v) == 0
	case *model.Scalar:
		return v == nil
	case *model.String:
		return v == nil
	}
	return true
}
