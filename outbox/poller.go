package outbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/warrenhq/warren/internal/config"
)

// Reason classifies a failed poll: the reason label of
// warren_outbox_poll_errors_total.
type Reason string

// The reasons of a failed poll.
const (
	ReasonDSN           Reason = "dsn"            // the connection string cannot be read or parsed
	ReasonConnect       Reason = "connect"        // the database cannot be reached: down, refused, DNS
	ReasonAuth          Reason = "auth"           // the database refused the credentials
	ReasonTimeout       Reason = "timeout"        // connection or query slower than the timeout
	ReasonMissingTable  Reason = "missing_table"  // the table does not exist (or is not visible)
	ReasonMissingColumn Reason = "missing_column" // a configured column does not exist
	ReasonColumnType    Reason = "column_type"    // a timestamp column is not a timestamp
	ReasonPermission    Reason = "permission"     // the user may not read the table
	ReasonQuery         Reason = "query"          // any other error of the query
)

// Reasons lists every Reason, for the metric's series.
var Reasons = []Reason{ReasonDSN, ReasonConnect, ReasonAuth, ReasonTimeout, ReasonMissingTable, ReasonMissingColumn, ReasonColumnType, ReasonPermission, ReasonQuery}

// PollError is a failed poll: its Reason and a message safe to log (it
// never holds the connection string).
type PollError struct {
	Reason Reason
	Err    error
}

func (e *PollError) Error() string { return string(e.Reason) + ": " + e.Err.Error() }
func (e *PollError) Unwrap() error { return e.Err }

// Poller queries one outbox. It is not safe for concurrent use: one
// goroutine polls (Run).
type Poller struct {
	cfg   config.Outbox
	conn  *pgx.Conn
	query query
	// watermark is the previous successful poll's upper bound of
	// dispatched_at; zero before the first poll, and after a failure
	// that forgets it (see Poll).
	watermark time.Time
	late      lateCommits
	// lastSuccess is when the latest successful poll ran (warren's
	// clock); timedOut is set while the latest poll timed out.
	lastSuccess time.Time
	timedOut    bool
}

// maxCatchUp is the longest time without a successful poll after which
// the next poll still counts from the last watermark: the rows
// dispatched, and the pending rows that crossed a threshold, while the
// database could not be read. After a longer outage it is a baseline,
// so that one query never has to aggregate hours of dispatches.
const maxCatchUp = time.Hour

// NewPoller returns a poller for o; it connects at the first Poll.
func NewPoller(o config.Outbox) *Poller {
	return &Poller{cfg: o, late: lateCommits{span: o.LateCommitWindow.Std()}}
}

// Close closes the connection, if any.
func (p *Poller) Close() {
	if p.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		p.conn.Close(ctx)
		p.conn = nil
	}
}

// Poll runs the outbox's query once, connecting first if needed, within
// the outbox's timeout. On error the connection is dropped, so the next
// poll reconnects and checks the columns again.
//
// A failed poll keeps the watermark: the next successful one counts what
// happened in between, so that the rows that crossed a threshold while
// the database was down are bad events and not lost. A second timeout in
// a row forgets it, since a wider window would only be slower (one is
// forgiven: a loaded database stalls now and then), and so does an
// outage longer than maxCatchUp: the next poll is then a baseline.
func (p *Poller) Poll(ctx context.Context) (*Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout.Std())
	defer cancel()
	if !p.watermark.IsZero() && time.Since(p.lastSuccess) > maxCatchUp {
		p.forget()
	}
	if p.conn == nil {
		if err := p.connect(ctx); err != nil {
			return nil, err
		}
	}
	s, err := p.run(ctx)
	if err != nil {
		p.Close()
		err = classify(ctx, err)
		timedOut := err.(*PollError).Reason == ReasonTimeout
		if timedOut && p.timedOut {
			p.forget()
		}
		p.timedOut = timedOut
		return nil, err
	}
	p.lastSuccess, p.timedOut = s.Time, false
	return s, nil
}

// forget makes the next poll a baseline.
func (p *Poller) forget() {
	p.watermark = time.Time{}
	p.late.reset()
}

func (p *Poller) connect(ctx context.Context) error {
	dsn, err := p.cfg.ReadDSN()
	if err != nil {
		return &PollError{ReasonDSN, err}
	}
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the connection string: never pass it on.
		return &PollError{ReasonDSN, errors.New("the connection string is not a valid PostgreSQL URL or key=value string")}
	}
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["application_name"] = "warren"
	cc.RuntimeParams["standard_conforming_strings"] = "on"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return classify(ctx, err)
	}
	types, err := checkColumns(ctx, conn, &p.cfg)
	if err != nil {
		conn.Close(context.Background())
		return classify(ctx, err)
	}
	p.conn, p.query = conn, buildQuery(&p.cfg, types)
	return nil
}

// checkColumns reads the types of the configured columns, so that a
// missing table or column is reported by name and the query can compare
// timestamps in the columns' own type.
func checkColumns(ctx context.Context, conn *pgx.Conn, o *config.Outbox) (map[string]string, error) {
	schema, table, qualified := strings.Cut(o.Table, ".")
	if !qualified {
		schema, table = "", o.Table
	}
	rows, err := conn.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = coalesce(nullif($1, ''), current_schema()) AND table_name = $2`, schema, table)
	if err != nil {
		return nil, err
	}
	types := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		types[name] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(types) == 0 {
		return nil, &PollError{ReasonMissingTable, fmt.Errorf("table %s does not exist or the user may not see it", o.Table)}
	}
	return types, wantColumns(o, types)
}

func wantColumns(o *config.Outbox, types map[string]string) error {
	want := []string{o.CreatedAt, o.DispatchedAt, o.EventType}
	if o.Status != nil {
		want = append(want, o.Status.Column)
	}
	for _, c := range want {
		if _, ok := types[c]; c != "" && !ok {
			return &PollError{ReasonMissingColumn, fmt.Errorf("table %s has no column %q", o.Table, c)}
		}
	}
	for _, c := range []string{o.CreatedAt, o.DispatchedAt} {
		if t := types[c]; c != "" && t != typeTimestampTZ && t != typeTimestamp {
			return &PollError{ReasonColumnType, fmt.Errorf("column %q of %s is %s, not a timestamp", c, o.Table, t)}
		}
	}
	return nil
}

// run executes the query and assembles the sample.
func (p *Poller) run(ctx context.Context) (*Sample, error) {
	baseline := p.watermark.IsZero()
	began := time.Now()
	rows, err := p.conn.Query(ctx, p.query.sql, p.args()...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	s := &Sample{Outbox: p.cfg.Name, Time: began, Baseline: baseline, HasLatency: p.cfg.HasDispatchTime(),
		Thresholds: p.query.thresholds, Buckets: p.query.buckets}
	byType := map[string]*TypeSample{}
	recount := recounted{}
	var next time.Time
	for rows.Next() {
		var r resultRow
		if err := rows.Scan(&r.kind, &r.eventType, &r.n, &r.x, &r.a, &r.b, &r.c, &r.watermark, &r.window, &r.d); err != nil {
			return nil, err
		}
		switch r.kind {
		case kindWatermark:
			next = *r.watermark
		case kindRecount:
			recount.add(&r)
		default:
			r.addTo(s.typeSample(byType, *r.eventType))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if p.query.recount && !baseline {
		p.late.settle(recount, p.watermark, next, func(eventType string) *TypeSample { return s.typeSample(byType, eventType) })
	}
	s.finish(byType, p.cfg.MaxEventTypes, p.cfg.EventType != "")
	p.watermark = next
	return s, nil
}

// args are the query's parameters: the previous watermark (NULL on a
// baseline) and, with the recount, the lower bounds of its windows.
func (p *Poller) args() []any {
	var since any // NULL on the first poll: a baseline
	if !p.watermark.IsZero() {
		since = p.watermark
	}
	if !p.query.recount {
		return []any{since}
	}
	var bounds []time.Time
	if since != nil {
		bounds = p.late.bounds(p.watermark)
	}
	return []any{since, bounds}
}

// resultRow is one row of the statement; see buildQuery for its columns.
type resultRow struct {
	kind       string
	eventType  *string
	n          int64
	x          float64
	a, b, c, d []int64
	watermark  *time.Time
	window     int32
}

func (r *resultRow) addTo(t *TypeSample) {
	switch r.kind {
	case kindPending:
		t.Pending += float64(r.n)
		t.OldestAge = max(t.OldestAge, r.x)
		addInts(t.Crossed, r.a)
	case kindLate:
		addInts(t.Crossed, r.a)
	case kindDispatched:
		t.Dispatched += float64(r.n)
		t.LatencySum += r.x
		addInts(t.BucketCounts, r.a)
		addInts(t.Within, r.b)
		addInts(t.FreshLate, r.c)
	}
}

func addInts(dst []float64, src []int64) {
	for i := range min(len(dst), len(src)) {
		dst[i] += float64(src[i])
	}
}

func (s *Sample) typeSample(byType map[string]*TypeSample, eventType string) *TypeSample {
	t := byType[eventType]
	if t == nil {
		n := len(s.Thresholds)
		t = &TypeSample{EventType: eventType, BucketCounts: make([]float64, len(s.Buckets)),
			Within: make([]float64, n), FreshLate: make([]float64, n), Crossed: make([]float64, n)}
		byType[eventType] = t
	}
	return t
}

// OtherEventType is the event_type of the types beyond max_event_types.
const OtherEventType = "other"

// finish keeps the maxTypes event types with the most rows (pending plus
// dispatched) and sums the rest into OtherEventType, so that a table with
// thousands of types cannot blow up the series. Without an event_type
// column there is always one type, "", even for an empty table.
func (s *Sample) finish(byType map[string]*TypeSample, maxTypes int, hasEventType bool) {
	if len(byType) == 0 && !hasEventType {
		s.typeSample(byType, "")
	}
	all := make([]*TypeSample, 0, len(byType))
	for _, t := range byType {
		all = append(all, t)
	}
	sort.Slice(all, func(i, j int) bool {
		wi, wj := all[i].Pending+all[i].Dispatched, all[j].Pending+all[j].Dispatched
		if wi != wj {
			return wi > wj
		}
		return all[i].EventType < all[j].EventType
	})
	if len(all) > maxTypes {
		other := s.typeSample(map[string]*TypeSample{}, OtherEventType)
		for _, t := range all[maxTypes:] {
			other.merge(t)
		}
		all = append(all[:maxTypes], other)
	}
	for _, t := range all {
		s.Types = append(s.Types, *t)
	}
	slices.SortFunc(s.Types, func(a, b TypeSample) int { return strings.Compare(a.EventType, b.EventType) })
}

func (t *TypeSample) merge(o *TypeSample) {
	t.Pending += o.Pending
	t.OldestAge = max(t.OldestAge, o.OldestAge)
	t.Dispatched += o.Dispatched
	t.LatencySum += o.LatencySum
	for i := range t.BucketCounts {
		t.BucketCounts[i] += o.BucketCounts[i]
	}
	for i := range t.Within {
		t.Within[i] += o.Within[i]
		t.FreshLate[i] += o.FreshLate[i]
		t.Crossed[i] += o.Crossed[i]
	}
}

// classify turns an error of pgx into a PollError with its reason.
func classify(ctx context.Context, err error) error {
	var pe *PollError
	if errors.As(err, &pe) {
		return pe
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return &PollError{ReasonTimeout, errors.New("connection or query took longer than the timeout")}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return &PollError{reasonOfCode(pgErr.Code), fmt.Errorf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code)}
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) {
		return &PollError{ReasonConnect, err}
	}
	return &PollError{ReasonQuery, err}
}

// reasonOfCode maps a SQLSTATE to a reason.
func reasonOfCode(code string) Reason {
	switch {
	case code == "42P01":
		return ReasonMissingTable
	case code == "42703":
		return ReasonMissingColumn
	case code == "42501":
		return ReasonPermission
	case code == "28P01" || code == "28000":
		return ReasonAuth
	case code == "57014":
		return ReasonTimeout
	case strings.HasPrefix(code, "08") || strings.HasPrefix(code, "57P"):
		return ReasonConnect // connection exception, admin/crash shutdown
	}
	return ReasonQuery
}
