package dashboards

import (
	"strings"
	"testing"

	"github.com/warrenhq/warren/internal/config"
)

// fullProfileMark is what a panel's description says when some of its
// queries read families only exposition.profile: full exports.
const fullProfileMark = "`exposition.profile: full`"

// fullOnlyMetrics are the metric names of expr that the default profile
// does not export (histogram series by their family's name).
func fullOnlyMetrics(expr string) []string {
	var out []string
	for _, name := range metricNames(expr) {
		family := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			family = strings.TrimSuffix(family, suffix)
		}
		if !config.ProfileExports(config.ProfileStandard, family) || !config.ProfileExports(config.ProfileStandard, name) {
			out = append(out, name)
		}
	}
	return out
}

func TestPanelsReadingFamiliesOutsideTheDefaultProfileSaySo(t *testing.T) {
	for _, d := range loadDashboards(t) {
		for _, p := range d.allPanels() {
			var fullOnly []string
			for _, tg := range p.Targets {
				fullOnly = append(fullOnly, fullOnlyMetrics(tg.Expr)...)
			}
			marked := strings.Contains(p.Description, fullProfileMark)
			switch {
			case len(fullOnly) > 0 && !marked:
				t.Errorf("%s panel %q reads %v, which the default profile does not export; its description must say it needs %s", d.File, p.Title, fullOnly, fullProfileMark)
			case len(fullOnly) == 0 && marked:
				t.Errorf("%s panel %q says it needs %s, but reads only families of the default profile", d.File, p.Title, fullProfileMark)
			}
		}
	}
}

func TestTheAlertRulesReadOnlyFamiliesOfTheMinimalProfile(t *testing.T) {
	for name, where := range usedMetricNames(t, nil) {
		family := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			family = strings.TrimSuffix(family, suffix)
		}
		if !config.ProfileExports(config.ProfileMinimal, family) && !config.ProfileExports(config.ProfileMinimal, name) {
			t.Errorf("%s (%s) is not exported by the minimal profile", name, strings.Join(where, "; "))
		}
	}
}
