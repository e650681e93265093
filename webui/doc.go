// Package webui serves warren's web pages, for a person rather than for
// Prometheus: the overview (/), an SLO's page (/slo/NAME) and a queue's
// page (/queue/CLUSTER/VHOST/NAME). They answer "is anything late, and
// whose budget is burning?" on the first day, in a demo without Grafana,
// and at the end of an alert's generatorURL (docs/web.md).
//
// The pages are HTML rendered on the server from html/template files
// embedded in the binary, with a stylesheet, inline SVG charts drawn here,
// and one small script that re-fetches the page and swaps its content
// every few seconds; without JavaScript they are complete, just not
// refreshed. There is no build step and nothing is loaded from elsewhere.
//
// They read the status API's document (statusapi.Build) and the SLO
// engine, the same in-memory state as /api/v1/status; no page calls the
// broker.
//
// Import rule: it imports statusapi (its document and spellings),
// pipeline (the target states statusapi reads), slo and slo/promrules,
// internal/config and internal/webpath: it sits after statusapi, in
// delivery and exposition.
package webui
