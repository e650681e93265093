// Package slo evaluates service level objectives in process:
// occurrence-based good/total events in time buckets over rolling windows,
// error budgets, and multiwindow multi-burn-rate alerts (Google SRE
// Workbook, table 5-8), with state persisted atomically so budgets survive
// restarts and kill -9.
//
// # Objectives and rules
//
// An [Objective] has a name, a target (0.95 = 95% of events good) and a
// window (e.g. 28 days). Its alerts follow the SRE Workbook's table 5-8,
// written for a 30-day window; every rule window is scaled by
// Window/30d and the burn factors are kept (see [DefaultRules]):
//
//	page_fast    14.4× over 1h and over 5m
//	page_slow     6×  over 6h and over 30m
//	ticket_fast   3×  over 1d and over 2h
//	ticket_slow   1×  over 3d and over 6h
//
// Each of the four rules can be disabled on its own ([TierSwitch]).
// [Objective.Unreachable] names the rules that can never fire because
// even 100% errors stay below their burn factor (a 90% target and the
// 14.4× rule would need 144% errors).
//
// # Events and windows
//
// Events are counted, not sampled: a caller adds (good, total) counts at a
// time ([EventHistory.Add]); the SLI over a window is the exact ratio of the sums
// of good and total events in that window, never an average of shorter
// ratios. A window (now−w, now] covers whole buckets except the oldest,
// which straddles now−w and is pro-rated by the share of it inside the
// window (events are assumed uniform within a bucket). Pro-rating is
// unbiased for steady traffic; excluding that bucket would shorten the
// shortest window by up to a fifth, including it whole would lengthen it
// as much.
//
// A window with no events has no SLI: [Counts.SLI] reports ok=false (never
// NaN, never 1), its burn rate is 0 and the remaining budget is 1.
//
// # Buckets and memory
//
// A [EventHistory] keeps two rings of buckets, each bucket two float64 counts
// (16 bytes):
//
//   - fine: width Window/43200 (one fifth of the scaled 5m window: 1 minute
//     for 30d, 56 s for 28d, 83 ms for a compressed 1h window), covering the
//     scaled 6h window, 361 or 362 buckets. It serves every window up to
//     the scaled 6h (5m, 30m, 1h, 2h, 6h), each covered by at least five
//     buckets.
//   - coarse: width Window/4320 (10 minutes for 30d, 9m20s for 28d),
//     covering the whole SLO window, 4321 or 4322 buckets. It serves the
//     longer windows (1d, 3d and the SLO window itself: at least 144
//     buckets each).
//
// Every event goes into both rings. Bucket counts do not depend on the
// window, so memory per SLO is fixed: at most 4684 buckets × 16 bytes =
// 74,944 bytes, plus 136 bytes of headers: 75,080 bytes (73 KiB) per SLO
// on a 64-bit platform ([BytesPerSLO], checked by a test). One fine ring for the whole window
// would need 43,200 buckets (691 kB) per SLO.
//
// Events older than a ring's span are dropped from that ring; an event
// later than the newest bucket advances the ring and clears the buckets it
// passes. Times should therefore be close to the current time: one event
// stamped far in the future would clear the history.
//
// # Alerts
//
// [SLO.Evaluate] reports, for the page and the ticket tier, whether it is
// active, which rules fired and the burn rate of every window involved. A
// rule fires when it is enabled, the burn rate over both its long and its
// short window reaches its factor, and its long window holds at least
// MinEvents events (default [DefaultMinEvents] = 10). The guard means one
// bad message in a quiet hour does not page: below ten events one event
// moves the error ratio by more than ten percentage points, so the ratio
// says more about chance than about the service. Ten is low enough that a
// queue with real traffic is never muted: a complete outage of a queue
// carrying ten messages per (scaled) hour still pages within the hour.
// The guard is a floor, not a statistical test: with a 99.9% target one bad
// event among 10 to 69 in the hour still reaches 14.4×; raise MinEvents for
// such SLOs, or give quiet queues synthetic traffic (probe SLIs).
//
// # State
//
// [Engine.Save] writes all SLOs' buckets to one versioned JSON file
// atomically (temporary file in the same directory, fsync, rename, fsync
// of the directory), with a SHA-256 of the payload. [Engine.Load] merges a
// saved file by SLO name: SLOs no longer configured are dropped, new ones
// start empty, and an SLO whose window (hence bucket layout) changed is
// re-bucketed (each saved bucket spread uniformly over the new buckets it
// overlaps, the fine ring preferred where it has data). A missing file is
// a fresh start; a corrupt file or one of a future version is an error,
// and the file is renamed to <name>.corrupt-<timestamp>, never deleted and
// never trusted.
//
// # Concurrency
//
// [SLO] and [Engine] are safe for concurrent use: Add, Evaluate, Save and
// Load may run from different goroutines. Save copies each SLO under that
// SLO's lock and writes the file without holding it, so Adds are never
// blocked by disk I/O; each SLO in the file is a consistent snapshot, and
// different SLOs may be snapshotted a few microseconds apart. Saves are
// serialized. [EventHistory] is not safe for concurrent use; [SLO] guards one.
//
// Import rule: it imports nothing of warren: it is pure logic, fed events
// by slo/sli.
package slo
