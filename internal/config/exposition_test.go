package config

import (
	"slices"
	"strings"
	"testing"
)

func TestTheExpositionProfileDefaultsToStandardAndReachesEveryTarget(t *testing.T) {
	for body, want := range map[string]string{
		scaleTarget: ProfileStandard,
		scaleTarget + "exposition: {profile: full}\n":    ProfileFull,
		scaleTarget + "exposition: {profile: minimal}\n": ProfileMinimal,
	} {
		cfg, err := Parse("w.yml", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Exposition.Profile != want || cfg.Targets[0].Profile != want {
			t.Errorf("%q: profile %q, target's %q; want %q", body, cfg.Exposition.Profile, cfg.Targets[0].Profile, want)
		}
	}
	d, err := Default(func(string) string { return "" })
	if err != nil || d.Targets[0].Profile != ProfileStandard {
		t.Errorf("the built-in default's profile is %q (%v), want standard", d.Targets[0].Profile, err)
	}
}

func TestAnUnknownExpositionProfileIsAnErrorNamingLineAndValues(t *testing.T) {
	_, err := Parse("w.yml", []byte(scaleTarget+"exposition:\n  profile: everything\n"))
	if err == nil || !strings.Contains(err.Error(), "w.yml:7") || !strings.Contains(err.Error(), "minimal, standard, full") {
		t.Errorf("error %v; want one at w.yml:7 listing the profiles", err)
	}
	_, err = Parse("w.yml", []byte(scaleTarget+"exposition:\n  profil: full\n"))
	if err == nil {
		t.Errorf("an unknown key of exposition is accepted")
	}
}

func TestTheProfilesNestAndKeepEveryFamilyThatIsNotPerQueue(t *testing.T) {
	for _, name := range PerQueueMetrics {
		m, s, f := ProfileExports(ProfileMinimal, name), ProfileExports(ProfileStandard, name), ProfileExports(ProfileFull, name)
		if (m && !s) || (s && !f) || !f {
			t.Errorf("%s: minimal %v, standard %v, full %v; want each profile to keep the smaller's", name, m, s, f)
		}
	}
	for _, name := range append(append([]string(nil), MinimalMetrics...), StandardMetrics...) {
		if !slices.Contains(PerQueueMetrics, name) {
			t.Errorf("%s is in a profile but not a per-queue family", name)
		}
	}
	if !ProfileExports(ProfileMinimal, "warren_target_up") {
		t.Errorf("the minimal profile drops a target-level family")
	}
}
