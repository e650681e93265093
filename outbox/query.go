package outbox

import (
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/warrenhq/warren/internal/config"
)

// columnTypes are the types of the timestamp columns, as
// information_schema.columns spells them.
const (
	typeTimestampTZ = "timestamp with time zone"
	typeTimestamp   = "timestamp without time zone"
)

// query is one outbox's poll statement. Its first parameter ($1) is the
// previous poll's watermark, NULL on the first poll (a baseline that
// counts nothing dispatched); with recount, its second ($2) the lower
// bounds of the windows it counts again (see lateCommits), ascending,
// the last one $1.
type query struct {
	sql        string
	thresholds []time.Duration
	buckets    []float64
	recount    bool
}

// Row kinds of the statement, in its first column.
const (
	kindWatermark  = "w" // the new watermark: now() − commit_delay
	kindPending    = "p" // pending rows, oldest age, crossings
	kindLate       = "l" // rows dispatched after the watermark, for crossings
	kindDispatched = "d" // rows dispatched since the previous watermark
	kindRecount    = "r" // per window: the rows dispatched in it, counted again
)

// noExtra are the columns that only the recount rows use: the window's
// index and a fourth array.
const noExtra = ", 0::int4, NULL::int8[]"

// sqlBuilder spells one outbox's identifiers and expressions.
type sqlBuilder struct {
	o                          *config.Outbox
	table, created, dispatched string
	pending, eventType         string
	createdTZ, dispatchedTZ    bool // column types: timestamptz (true) or timestamp
	commitDelay                string
}

// buildQuery builds the poll statement for o, whose created_at and
// dispatched_at columns have the types types (information_schema's
// data_type).
func buildQuery(o *config.Outbox, types map[string]string) query {
	b := sqlBuilder{o: o, table: tableIdentifier(o.Table), created: ident(o.CreatedAt),
		createdTZ: types[o.CreatedAt] == typeTimestampTZ, commitDelay: interval(o.CommitDelay.Std())}
	b.eventType = "''::text"
	if o.EventType != "" {
		b.eventType = "coalesce(" + ident(o.EventType) + "::text, '')"
	}
	if o.DispatchedAt != "" {
		b.dispatched = ident(o.DispatchedAt)
		b.dispatchedTZ = types[o.DispatchedAt] == typeTimestampTZ
	}
	if o.Status != nil {
		b.pending = ident(o.Status.Column) + " <> " + literal(o.Status.Dispatched)
	} else {
		b.pending = b.dispatched + " IS NULL"
	}
	q := query{thresholds: o.CountedThresholds(), buckets: o.Buckets, recount: o.HasDispatchTime() && o.LateCommitWindow > 0}
	parts := []string{
		"SELECT '" + kindWatermark + "', NULL::text, 0::int8, 0::float8, NULL::int8[], NULL::int8[], NULL::int8[], now() - " + b.commitDelay + noExtra,
		b.pendingPart(q.thresholds),
	}
	if o.HasDispatchTime() {
		parts = append(parts, b.latePart(q.thresholds), b.dispatchedPart(q.thresholds, q.buckets))
	}
	if q.recount {
		parts = append(parts, b.recountPart(q.thresholds, q.buckets))
	}
	q.sql = strings.Join(parts, "\nUNION ALL\n")
	return q
}

// pendingPart counts the pending rows, their oldest age, and per
// threshold the rows that crossed it, still pending, since the previous
// watermark.
func (b *sqlBuilder) pendingPart(thresholds []time.Duration) string {
	return fmt.Sprintf("SELECT '%s', %s, count(*), coalesce(extract(epoch FROM now() - min(%s)), 0)::float8, %s, NULL::int8[], NULL::int8[], NULL::timestamptz%s FROM %s WHERE %s GROUP BY 2",
		kindPending, b.eventType, asTZ(b.created, b.createdTZ), b.crossings(thresholds), noExtra, b.table, b.pending)
}

// latePart counts the crossings of rows that were pending at the new
// watermark but are dispatched by now: for them the watermark, not the
// query, is the moment that counts.
func (b *sqlBuilder) latePart(thresholds []time.Duration) string {
	where := b.dispatched + " > " + asColumn("now() - "+b.commitDelay, b.dispatchedTZ)
	if b.o.Status != nil {
		where += " AND NOT (" + b.pending + ")"
	}
	return fmt.Sprintf("SELECT '%s', %s, count(*), 0::float8, %s, NULL::int8[], NULL::int8[], NULL::timestamptz%s FROM %s WHERE %s GROUP BY 2",
		kindLate, b.eventType, b.crossings(thresholds), noExtra, b.table, where)
}

// crossings is, per threshold, the rows whose age crossed it between the
// previous watermark ($1) and the new one.
func (b *sqlBuilder) crossings(thresholds []time.Duration) string {
	created := asTZ(b.created, b.createdTZ)
	var counts []string
	for _, th := range thresholds {
		iv := interval(th)
		counts = append(counts, fmt.Sprintf("count(*) FILTER (WHERE %s > $1::timestamptz - %s AND %s <= now() - %s - %s)", created, iv, created, b.commitDelay, iv))
	}
	return array(counts)
}

// dispatchedPart aggregates the rows dispatched between the two
// watermarks: their count and latency sum, the cumulative bucket counts,
// and per threshold the rows within it and the late ones that had not
// crossed it before the previous watermark (the others were counted when
// they crossed).
func (b *sqlBuilder) dispatchedPart(thresholds []time.Duration, buckets []float64) string {
	var within, freshLate []string
	for _, th := range thresholds {
		secs := th.Seconds()
		within = append(within, fmt.Sprintf("count(*) FILTER (WHERE lat <= %g)", secs))
		freshLate = append(freshLate, fmt.Sprintf("count(*) FILTER (WHERE lat > %g AND created > $1::timestamptz - %s)", secs, interval(th)))
	}
	// The latency is computed once per row, as float8: extract gives a
	// numeric, slow to compare twenty times.
	rows := fmt.Sprintf("SELECT %s AS et, extract(epoch FROM %s - %s)::float8 AS lat, %s AS created FROM %s WHERE %s > %s AND %s <= %s",
		b.eventType, asTZ(b.dispatched, b.dispatchedTZ), asTZ(b.created, b.createdTZ), asTZ(b.created, b.createdTZ), b.table,
		b.dispatched, asColumn("$1::timestamptz", b.dispatchedTZ), b.dispatched, asColumn("now() - "+b.commitDelay, b.dispatchedTZ))
	return fmt.Sprintf("SELECT '%s', et, count(*), coalesce(sum(lat), 0)::float8, %s, %s, %s, NULL::timestamptz%s FROM (%s) AS dispatched GROUP BY 2",
		kindDispatched, array(bucketCounts(buckets)), array(within), array(freshLate), noExtra, rows)
}

// recountPart counts again, per window between two watermarks of the
// lookback ($2) and the new window, the rows dispatched in it: their
// count and exact latency sum, the cumulative bucket counts, and per
// threshold the rows within it that had not crossed it before $1 and
// before the new watermark, and the late ones that had not crossed it
// before $1. What a window gained since it was last counted are the
// dispatches that committed after a watermark had passed their stamp
// (lateCommits).
func (b *sqlBuilder) recountPart(thresholds []time.Duration, buckets []float64) string {
	var withinNow, withinNext, freshLate []string
	for _, th := range thresholds {
		secs, iv := th.Seconds(), interval(th)
		withinNow = append(withinNow, fmt.Sprintf("count(*) FILTER (WHERE lat <= %g AND created > $1::timestamptz - %s)", secs, iv))
		withinNext = append(withinNext, fmt.Sprintf("count(*) FILTER (WHERE lat <= %g AND created > now() - %s - %s)", secs, b.commitDelay, iv))
		freshLate = append(freshLate, fmt.Sprintf("count(*) FILTER (WHERE lat > %g AND created > $1::timestamptz - %s)", secs, iv))
	}
	dispatched, created := asTZ(b.dispatched, b.dispatchedTZ), asTZ(b.created, b.createdTZ)
	// The window of a row is the number of lower bounds before its
	// stamp: width_bucket counts those at or before it, hence the
	// microsecond (PostgreSQL's resolution) that makes the windows open
	// at their lower bound, as the dispatched part's are. The sum is
	// exact (numeric), so that two counts of the same rows subtract to
	// zero.
	rows := fmt.Sprintf("SELECT %s AS et, extract(epoch FROM %s - %s) AS exact, extract(epoch FROM %s - %s)::float8 AS lat, %s AS created, width_bucket(%s - interval '1 microsecond', $2::timestamptz[]) AS win FROM %s WHERE %s > %s AND %s <= %s",
		b.eventType, dispatched, created, dispatched, created, created, dispatched, b.table,
		b.dispatched, asColumn("($2::timestamptz[])[1]", b.dispatchedTZ), b.dispatched, asColumn("now() - "+b.commitDelay, b.dispatchedTZ))
	return fmt.Sprintf("SELECT '%s', et, count(*), coalesce(sum(exact), 0)::float8, %s, %s, %s, NULL::timestamptz, win::int4, %s FROM (%s) AS recounted GROUP BY 2, win",
		kindRecount, array(bucketCounts(buckets)), array(withinNow), array(withinNext), array(freshLate), rows)
}

// bucketCounts are the cumulative counts of the rows' latencies (lat)
// per bucket.
func bucketCounts(buckets []float64) []string {
	counts := make([]string, 0, len(buckets))
	for _, ub := range buckets {
		counts = append(counts, fmt.Sprintf("count(*) FILTER (WHERE lat <= %g)", ub))
	}
	return counts
}

func array(counts []string) string {
	if len(counts) == 0 {
		return "ARRAY[]::int8[]"
	}
	return "ARRAY[" + strings.Join(counts, ", ") + "]::int8[]"
}

// asTZ reads a column as timestamptz: a timestamp column is taken as UTC.
func asTZ(column string, isTZ bool) string {
	if isTZ {
		return column
	}
	return "(" + column + " AT TIME ZONE 'UTC')"
}

// asColumn converts a timestamptz expression to the column's type, so
// that the comparison with the bare column can use its index.
func asColumn(expr string, isTZ bool) string {
	if isTZ {
		return "(" + expr + ")"
	}
	return "((" + expr + ") AT TIME ZONE 'UTC')"
}

func interval(d time.Duration) string {
	return fmt.Sprintf("interval '%d microseconds'", d.Microseconds())
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// tableIdentifier quotes table or schema.table.
func tableIdentifier(table string) string {
	return pgx.Identifier(strings.Split(table, ".")).Sanitize()
}

// literal quotes a string constant (standard_conforming_strings is on,
// the default since PostgreSQL 9.1, and is set by warren's session).
func literal(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
