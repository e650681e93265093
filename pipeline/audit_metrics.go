package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/warrenhq/warren/analysis/audit"
	"github.com/warrenhq/warren/snapshot"
)

var (
	auditFindingsDesc = prometheus.NewDesc("warren_audit_findings",
		"Objects failing each check of the target's latest audit (ignored findings excluded); absent for a check that could not run.",
		[]string{"cluster", "check", "severity"}, nil)
	auditCheckRanDesc = prometheus.NewDesc("warren_audit_check_ran",
		"1 if the check ran in the target's latest audit, 0 if it could not (a listing the user may not read, or the broker does not offer: the report says which).",
		[]string{"cluster", "check"}, nil)
	auditLastRunDesc = prometheus.NewDesc("warren_audit_last_run_timestamp_seconds",
		"Unix time the target's latest successful audit finished.",
		[]string{"cluster"}, nil)
	auditDurationDesc = prometheus.NewDesc("warren_audit_duration_seconds",
		"Wall time of the target's latest successful audit.",
		[]string{"cluster"}, nil)
	auditErrorsDesc = prometheus.NewDesc("warren_audit_errors_total",
		"Audits of the target that failed, by reason (as warren_poll_errors_total).",
		[]string{"cluster", "reason"}, nil)
)

// collectAudit renders a target's audit state; nothing while the audit
// is off.
func collectAudit(ch chan<- prometheus.Metric, cluster string, st *AuditState) {
	if st == nil {
		return
	}
	for _, reason := range snapshot.Reasons {
		counter(ch, auditErrorsDesc, float64(st.Errors[reason]), cluster, string(reason))
	}
	r := st.Report
	if r == nil {
		return
	}
	gauge(ch, auditLastRunDesc, float64(st.Finished().UnixNano())/1e9, cluster)
	gauge(ch, auditDurationDesc, st.Duration.Seconds(), cluster)
	for i := range r.Results {
		res := &r.Results[i]
		ran := res.Status != audit.NotRun
		gauge(ch, auditCheckRanDesc, boolValue(ran), cluster, res.Check)
		if ran {
			gauge(ch, auditFindingsDesc, float64(len(res.Findings)), cluster, res.Check, res.Severity.String())
		}
	}
}
