// Package notifier delivers warren's alerts to Alertmanager, the way
// Prometheus's notifier does.
//
// warren's evaluators decide which alerts fire; they hand the complete
// firing set to a Notifier at every evaluation (Update). The Notifier sends
// each alert to every configured Alertmanager through its API v2
// (POST /api/v2/alerts, in batches of up to 64):
//
//   - a new or changed alert at once, then every ResendInterval, with
//     endsAt = last evaluation + 4 × max(EvaluationInterval, ResendInterval),
//     so Alertmanager resolves it by itself if warren stops evaluating;
//   - an alert that left the firing set as resolved (endsAt = the time it
//     left), re-sent every ResendInterval for ResolvedRetention, and kept
//     until each Alertmanager has received the resolution at least once.
//
// Each Alertmanager has its own queue and its own delivery goroutine, so
// one that is down or slow never delays another. While one is unreachable
// the queue keeps what it is owed (each alert once, in its latest state), up
// to QueueCapacity alerts; beyond that the oldest are dropped and counted in
// warren_alerts_dropped_total. Delivery is retried with a backoff from 1s up
// to ResendInterval. When nothing is owed for a ResendInterval, an empty
// delivery checks that the Alertmanager still answers, so
// warren_alertmanager_up means something before the first alert fires.
//
// Labels identify an alert. Two warren replicas with the same configuration
// produce identical labels and start times, so Alertmanager de-duplicates
// them: that is warren's high-availability story, as it is Prometheus's.
//
// Import rule: it imports alerting/catalog (the Alert type and label-set
// identity) and nothing else of warren.
package notifier
