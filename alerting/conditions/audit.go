package conditions

import (
	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/webpath"
	"github.com/warrenhq/warren/pipeline"
)

// auditCandidates adds RabbitMQAuditFinding for each check of the
// target's latest audit that raises a ticket and has findings (ignored
// ones do not count). The audit's other checks stay findings.
func auditCandidates(st *pipeline.TargetState, c *collect) {
	if st.Audit == nil || st.Audit.Report == nil {
		return
	}
	for _, res := range st.Audit.Report.Results {
		if n := len(res.Findings); n > 0 && catalog.RaisesTicket(res.Check) {
			l, a := catalog.AuditFindings(st.Cluster, res.Check, n)
			c.add(catalog.AuditFinding, l, a, webpath.Overview(st.Cluster, ""))
		}
	}
}
